"""The `generative` student: a causal LM fine-tuned to write every anchor's score and a one-line rationale.

Role: the MIRA paper's student. Any Hugging Face causal LM in a local folder (`distill.generative.model`)
is fine-tuned, fully or through LoRA adapters (peft), on the label stage's records: the prompt is the
versioned template mira_core/prompts/student_generative_v1.txt (the record fenced as the teacher fences
it, so a record cannot close the fence), the target is the teacher's reply shape, one JSON object

    {"scores": [{"anchor": "a00", "rationale": "one line", "score": 3}, ...]}

with the group's anchors in rubric order, followed by the tokenizer's end-of-sequence token. The rationale
comes before its score (JSON key order means nothing to the parser): the score is written conditioned on
the evidence the model just cited (a reasoned choice, not a measured one: the tiny test model learned
neither order while its dropout was on, and learned this one without dropout). The loss is
the causal LM loss on the target tokens only (the prompt is masked). The same shape is what the teacher's
parser (`extract_json`, `ScoreReply`) and its structured-output schema (`reply_schema`) read, so a server
serving the fine-tuned checkpoint can be asked for it with structured outputs.

What is generated and what is scored:
- generated: the whole reply, greedily, bounded by `max_new_tokens`, in batches of records sorted by prompt
  length (left-padded); it is parsed into one integer score and one rationale per anchor. An output that
  does not parse (not JSON, an anchor missing, a score off the scale) is counted and generated once more,
  by sampling at `retry_temperature`; one that fails again is unscored: NaN in every anchor column, with
  the reason in `last_run["failures"]`.
- scored (`read: expected`, the default): at the position where the model wrote an anchor's digit, the
  logits of the scale's digits (the same token with the digit swapped: "3" -> "1".."5", or " 3" -> " 1"..
  " 5") are read and the score is their probability-weighted mean, conditioned on the reply written so
  far. It stays on the scale, tracks the written digit, and is continuous, so ranking the corpus leaves
  few ties. `read: digit` uses the written integer itself. Where the digit's token has no such family
  (a tokenizer that merges digits with punctuation), the written integer is used.

Serving: `use_server(base_url, ...)` sends each record's prompt (as token ids) to an OpenAI-compatible
`/completions` endpoint (vLLM, SGLang) serving the checkpoint's lm/ folder, through the teacher's HTTP
client, with the reply's JSON schema as structured output and top logprobs for `read: expected`; parsing,
the retry and the unscored marking are the same, and the weights are then never loaded locally.

Checkpoint: `config.json` (the student's: kind, anchors, scale, settings, the template's version) and
`lm/`, a plain Hugging Face folder (config.json, model.safetensors, tokenizer files; LoRA adapters merged
into the weights), which any OpenAI-compatible server (vLLM, SGLang) can serve as it is.

Key decisions:
- one reply per record for all anchors (not one per anchor), as the teacher's: a record costs one
  generation, and the earlier anchors' rationales condition the later ones.
- on CPU this is honestly small: the tests train a 2-layer, 64-wide GPT-2 from scratch (640 steps of 8
  records, ~20 s on one core; 100 records generated in ~0.5 s). A real base model (e.g. SmolLM2-135M) was
  not measured on CPU here. CUDA (bf16 autocast) is the intended device; `device: auto` takes it when
  present; for the full corpus, serve the checkpoint (above).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from mira_core.base_models import SMOLLM2_DIR
from mira_core.config import GenerativeParams
from mira_core.errors import ConfigError, MiraError, check_interrupted
from mira_core.redact import redact_credentials
from mira_core.students.base import Inputs, Need, clip, read_config, write_config
from mira_core.students.common import SEEDED, config_head, targets, texts_of, torch_device
from mira_core.students.generative_prompt import (  # noqa: F401  (re-exported for callers of this module)
    TEMPLATE,
    one_line,
    parse_reply,
    rationales_of,
    render_prompt,
    render_target,
    template,
    template_version,
)
from mira_core.teachers.cache import RequestCache

log = logging.getLogger(__name__)
LM_DIR = "lm"
MAX_GRAD_NORM = 1.0
MAX_FAILURES_KEPT = 100  # unscored records whose reason and output `last_run` keeps (all are counted)
_ANCHOR = re.compile(r'"anchor"\s*:\s*"([^"\\]*)"')
_SCORE_AT = re.compile(r'"score"\s*:\s*$')


class GenerativeStudent:
    """A causal LM that writes a score and a rationale for every anchor of its group."""

    kind = "generative"
    needs: Need = "text"
    reads_rationales = True  # fit() takes the teacher's rationales beside the scores

    def __init__(self, params: GenerativeParams, anchors: list[str], scale: tuple[int, int], seed: int = 0) -> None:
        self.params = params
        self.anchors = list(anchors)
        self.scale = (int(scale[0]), int(scale[1]))
        self.seed = seed
        self.device = torch_device(params.device, "distill.generative.device")
        self.model = None
        self.tokenizer = None
        self.lm_path: Path | None = None  # a loaded checkpoint's lm/ folder: the model is read on first local use
        self.base_dir: Path | None = None  # params.model as found (relative paths read from the project)
        self.server: dict | None = None  # set by use_server: replies come from an OpenAI-compatible server
        self.prompt_version = template_version()
        self.last_run: dict = {}  # the figures of the latest predict: outputs, parsed, retried, unscored, failures
        self.last_rationales: list[dict[str, str] | None] = []  # per record of the latest predict; None: unscored
        self._families: tuple | None = None
        # The score stage shares one student between threads: one generation at a time loads the model once and
        # keeps the seeded sampling of retries (global torch RNG state) reproducible; on one device, parallel
        # generate calls would not be faster anyway.
        self._lock = threading.Lock()
        self._cached = 0  # served replies read from the request cache by the latest predict

    # ------------------------------------------------------------------ protocol

    def fit(self, x: Inputs, y: np.ndarray, rationales: list | None = None) -> dict:
        """Fine-tune on (n, n_anchors) labels; `rationales`: per record, the label table's rationales (JSON
        string or dict, anchor -> text); without them the student learns empty rationales."""
        import torch

        texts = texts_of(x, self.kind)
        y = targets(y, len(texts), self.anchors)
        if rationales is not None and len(rationales) != len(texts):
            raise ValueError(f"{len(rationales)} rationales for {len(texts)} records")
        start = time.perf_counter()
        path = self._base_path()
        devices = [torch.device(self.device).index or 0] if self.device == "cuda" else []
        with SEEDED, torch.random.fork_rng(devices=devices):  # LoRA's init and dropout, one group at a time
            torch.manual_seed(self.seed)
            self._load(path)
            eos = self.tokenizer.eos_token_id
            rows = []
            for i, text in enumerate(texts):
                prompt = self._prompt_ids(text)
                answer = render_target(y[i], rationales_of(rationales[i]) if rationales is not None else None,
                                       self.anchors, self.params.rationale_chars)
                rows.append((prompt, self.tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos]))
            self._check_lengths(max(len(t) for _, t in rows) if rows else 0)
            trainable = self._adapt()
            train_start = time.perf_counter()
            losses, steps = self._train(rows)
            if self.params.lora:
                self.model = self.model.merge_and_unload()
        self.model.eval()
        train_seconds = time.perf_counter() - train_start
        return {"kind": self.kind, "n_train": len(texts), "epochs": self.params.epochs, "train_loss": losses,
                "steps": steps, "device": self.device, "lora": self.params.lora, "trainable_params": trainable,
                "prompt_version": self.prompt_version, "target_tokens_mean": round(float(np.mean(
                    [len(t) for _, t in rows])), 1), "seconds": round(time.perf_counter() - start, 3),
                "seconds_per_step": round(train_seconds / max(steps, 1), 4)}

    def predict(self, x: Inputs, clipped: bool = True) -> np.ndarray:
        """(n, n_anchors) scores; NaN rows for records whose reply did not parse twice (see `last_run`)."""
        out, self.last_rationales, self.last_run = self.predict_explained(x, clipped)
        return out

    def predict_explained(self, x: Inputs, clipped: bool = True
                          ) -> tuple[np.ndarray, list[dict[str, str] | None], dict]:
        """(scores, per record its rationales (None: unscored), the run's figures), with no state kept on the
        student: the score stage shares one student between threads."""
        with self._lock:
            return self._predict_explained(x, clipped)

    def _predict_explained(self, x: Inputs, clipped: bool) -> tuple[np.ndarray, list[dict[str, str] | None], dict]:
        if self.model is None and self.lm_path is None:
            raise RuntimeError("the generative student is not fitted")
        texts = texts_of(x, self.kind)
        n, k = len(texts), len(self.anchors)
        out = np.full((n, k), np.nan, np.float32)
        why: list[dict[str, str] | None] = [None] * n
        run = {"outputs": n, "parsed": 0, "retried": 0, "parsed_on_retry": 0, "unscored": 0,
               "reasons": Counter(), "failures": []}
        self._cached = 0  # served replies read from the request cache
        if not n:
            return out, why, run | {"reasons": {}, "parse_rate": None}
        prompts = [self._prompt_ids(t) for t in texts]
        generate = self._serve_into if self.server else self._generate_into
        failed = generate(prompts, np.arange(n), out, why, sample=False)
        run["parsed"] = n - len(failed)
        run["retried"] = len(failed)
        if failed:
            again = generate(prompts, np.array(sorted(failed)), out, why, sample=True)
            run["parsed_on_retry"] = len(failed) - len(again)
            for i, (reason, text) in sorted(again.items()):
                run["unscored"] += 1
                run["reasons"][reason.split(":")[0]] += 1
                if len(run["failures"]) < MAX_FAILURES_KEPT:
                    run["failures"].append({"index": int(i), "reason": reason, "output": text[:200]})
        run["reasons"] = dict(run["reasons"])
        if self.server and self.server.get("cache"):
            run["cached"] = self._cached
        run["parse_rate"] = round((run["parsed"] + run["parsed_on_retry"]) / n, 4)
        return clip(out, self.scale, clipped), why, run

    def save(self, folder: Path) -> None:
        if self.model is None and self.lm_path is not None:
            self._load(self.lm_path)
        if self.model is None:
            raise RuntimeError("the generative student is not fitted")
        folder = Path(folder)
        lm = folder / LM_DIR
        lm.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(lm), safe_serialization=True)
        self.tokenizer.save_pretrained(str(lm))
        config = config_head(self.kind, self.anchors, self.scale, self.params.model_dump())
        config.update(seed=self.seed, prompt_version=self.prompt_version, lm=LM_DIR,
                      base_model=self.params.model, max_input_tokens=self.params.max_input_tokens)
        write_config(folder, config)

    @classmethod
    def load(cls, folder: Path) -> GenerativeStudent:
        folder = Path(folder)
        cfg = read_config(folder)
        if cfg.get("kind") != cls.kind:
            raise ConfigError(f"{folder}: config.json says kind {cfg.get('kind')!r}, not {cls.kind!r}")
        lm = folder / cfg.get("lm", LM_DIR)
        if not (lm / "config.json").is_file():
            raise ConfigError(f"{folder}: no {LM_DIR}/config.json; not a generative student checkpoint")
        # the device it was fitted on is no setting of the scoring host: a CUDA-fitted student scores on a CPU one
        student = cls(GenerativeParams(**cfg["settings"] | {"device": "auto"}), cfg["anchors"], tuple(cfg["scale"]),
                      cfg.get("seed", 0))
        student.params = GenerativeParams(**cfg["settings"])  # as saved: a re-save keeps its version
        if cfg.get("prompt_version") != student.prompt_version:
            raise ConfigError(f"{folder}: trained on prompt {cfg.get('prompt_version')!r}, this code renders "
                              f"{student.prompt_version!r} (the template changed: re-run distill)")
        student._load(lm, model=False)  # the weights are read on first local use (not at all behind a server)
        return student

    def use_server(self, base_url: str, model: str | None = None, concurrency: int = 16, timeout: float = 120.0,
                   max_retries: int = 3, structured: bool = True, logprobs: int = 20, api_key: str | None = None,
                   cache: str | Path | None = None, version: str = "") -> None:
        """Generate through an OpenAI-compatible server (vLLM, SGLang) serving this student's lm/ folder.

        Each record is one POST to `base_url`/completions (the raw prompt, as token ids: exactly the tokens
        the student was trained on; no chat template), `concurrency` at a time, with the teacher's HTTP
        client (keep-alive, retries with backoff). `structured`: the reply's JSON schema goes along as
        `response_format` (json_schema), the teacher's score schema with the rationale before the score, so
        the server's structured outputs keep the shape. `logprobs`: top log-probabilities per generated
        token, from which `read: expected` takes the digits' distribution (a digit outside the top ones counts
        as improbable). `model`: the name the server serves it under (vLLM --served-model-name); default the
        lm/ folder's path, as vLLM names a model served from a path. `cache`: the teacher's SQLite request
        cache (a file of its own), keyed by the request and the student's `version`, so a re-run or a retried
        shard asks the server only for replies it has not had."""
        if self.tokenizer is None:
            raise RuntimeError("the generative student is not fitted")
        if cache and not version:
            raise ValueError("a reply cache needs the student's version (student_version of its folder): without it, "
                             "two students would share replies")
        self.server = {"base_url": base_url.rstrip("/"), "model": model or str(self.lm_path or ""),
                       "concurrency": concurrency, "timeout": timeout, "max_retries": max_retries,
                       "structured": structured, "logprobs": logprobs, "api_key": api_key,
                       "cache": str(cache) if cache else None, "version": version}

    def use_local(self) -> None:
        """Generate in process again, after `use_server`."""
        self.server = None

    # ------------------------------------------------------------------ training

    def _base_path(self) -> Path:
        if not self.params.model:
            raise ConfigError("distill.student = 'generative' needs distill.generative.model: a local folder with a "
                              "Hugging Face causal LM and its tokenizer")
        path = self.base_dir or Path(self.params.model)
        if not (path / "config.json").is_file():
            hint = (": make it with `mira base-model smollm2` (`make smollm2`)" if path.as_posix().endswith(SMOLLM2_DIR)
                    else " (nothing is downloaded at run time)")
            raise ConfigError(f"distill.generative.model = {self.params.model!r}: no model folder with config.json "
                              f"at {path}{hint}")
        return path

    def _load(self, path: Path, model: bool = True) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if self.tokenizer.eos_token_id is None:
            raise ConfigError(f"{path}: the tokenizer has no end-of-sequence token; the student needs one to stop")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._families = None
        self.lm_path = path
        if model:
            # from_pretrained swaps process-wide functions while it runs (tie_weights, the init functions): two groups'
            # students loading at once (score's threads) left an lm_head untied or uninitialised, so one at a time
            with SEEDED:
                self.model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True,
                                                                  dtype=torch.float32)
            self.model.to(self.device)

    def _check_lengths(self, longest_reply: int) -> None:
        """A ConfigError, before any training, when a reply could not be generated whole: longer than
        max_new_tokens, or a prompt and its reply beyond the model's positions (an IndexError deep in torch)."""
        p = self.params
        if longest_reply > p.max_new_tokens:
            raise ConfigError(f"distill.generative.max_new_tokens = {p.max_new_tokens}, but a training reply takes "
                              f"{longest_reply} tokens with this tokenizer; raise it, or lower rationale_chars")
        cfg = self.model.config if self.model is not None else None
        limit = next((v for v in (getattr(cfg, "max_position_embeddings", None), getattr(cfg, "n_positions", None))
                      if isinstance(v, int) and v > 0), None)
        if limit is not None and p.max_input_tokens + p.max_new_tokens > limit:
            raise ConfigError(f"distill.generative.max_input_tokens + max_new_tokens = {p.max_input_tokens} + "
                              f"{p.max_new_tokens} exceeds the model's {limit} positions ({p.model}); lower them")

    def _adapt(self) -> int:
        """Wrap the model in LoRA adapters when asked; the number of trainable parameters."""
        if self.params.lora:
            try:
                from peft import LoraConfig, get_peft_model
            except ImportError:
                raise ConfigError("distill.generative.lora: true needs peft (pip install peft)") from None
            cfg = LoraConfig(r=self.params.lora_r, lora_alpha=self.params.lora_alpha, lora_dropout=0.0,
                             target_modules="all-linear", task_type="CAUSAL_LM")
            self.model = get_peft_model(self.model, cfg)
        return int(sum(p.numel() for p in self.model.parameters() if p.requires_grad))

    def _train(self, rows: list[tuple[list[int], list[int]]]) -> tuple[list[float], int]:
        import torch

        opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=self.params.lr,
                                weight_decay=0.0)
        rng = np.random.default_rng(self.seed)
        pad = self.tokenizer.pad_token_id
        self.model.train()
        losses, steps = [], 0
        for _ in range(self.params.epochs):
            total = tokens = 0.0
            order = rng.permutation(len(rows))
            for i in range(0, len(order), self.params.batch_size):
                check_interrupted()
                batch = [rows[j] for j in order[i : i + self.params.batch_size]]
                width = max(len(p) + len(t) for p, t in batch)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                labels = torch.full((len(batch), width), -100, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for r, (p, t) in enumerate(batch):  # right-padded; the loss sees the reply only
                    seq = p + t
                    ids[r, : len(seq)] = torch.tensor(seq)
                    labels[r, len(p) : len(seq)] = torch.tensor(t)
                    mask[r, : len(seq)] = 1
                with self._autocast():
                    loss = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      labels=labels.to(self.device)).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
                opt.step()
                n_tok = float((labels[:, 1:] != -100).sum())
                total, tokens, steps = total + loss.item() * n_tok, tokens + n_tok, steps + 1
            losses.append(round(total / max(tokens, 1.0), 6))
        return losses, steps

    def _prompt_ids(self, text: str) -> list[int]:
        """The prompt's token ids, the document cut (head, middle and tail) until the prompt fits `max_input_tokens`:
        each try cuts to the share that should fit, and at least by half, so a cut always ends in a prompt that fits
        or in none of the text, which is a ConfigError. An earlier version gave up after four tries and sent the
        prompt of an empty record, uncounted, where a cut of 150 characters would have fit."""
        limit = self.params.max_input_tokens
        budget = min(self.params.max_doc_chars, len(text))
        while True:
            ids = self.tokenizer(render_prompt(text, self.anchors, self.scale, budget))["input_ids"]
            if len(ids) <= limit:
                return ids
            if budget == 0:
                raise ConfigError(f"distill.generative.max_input_tokens = {limit}: the prompt takes {len(ids)} tokens "
                                  "with none of the record's text; raise it")
            budget = min(budget // 2, int(budget * limit / len(ids) * 0.9))

    # ------------------------------------------------------------------ generation

    def _generate_into(self, prompts: list[list[int]], which: np.ndarray, out: np.ndarray,
                       why: list[dict[str, str] | None], sample: bool) -> dict[int, tuple[str, str]]:
        """Generate replies for records `which` in length-sorted batches, parse them into `out` (and the
        rationales); returns {record: (reason, output)} for those that did not parse."""
        import torch
        from transformers import LogitsProcessorList

        from mira_core.teachers.base import ReplyError

        if self.model is None:
            self._load(self.lm_path)
            self.model.eval()
        cand, families = self._digit_families()
        order = which[np.argsort([-len(prompts[i]) for i in which], kind="stable")]
        pad = self.tokenizer.pad_token_id
        failed: dict[int, tuple[str, str]] = {}
        devices = [torch.device(self.device).index or 0] if self.device == "cuda" else []
        with SEEDED, torch.random.fork_rng(devices=devices):  # the retries' sampling: other groups' students too
            torch.manual_seed(self.seed + 1)
            for b in range(0, len(order), self.params.predict_batch):
                idx = order[b : b + self.params.predict_batch]
                width = max(len(prompts[i]) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):  # left-padded: every reply starts at column `width`
                    ids[r, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                    mask[r, width - len(prompts[i]) :] = 1
                capture = _Capture(cand)
                kwargs = {"do_sample": True, "temperature": self.params.retry_temperature, "top_k": 0,
                          "top_p": 1.0} if sample else {"do_sample": False}
                with torch.inference_mode(), self._autocast():
                    gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                              max_new_tokens=self.params.max_new_tokens, pad_token_id=pad,
                                              eos_token_id=self.tokenizer.eos_token_id,
                                              logits_processor=LogitsProcessorList([capture]), **kwargs)
                new = gen[:, width:].cpu().tolist()
                steps = torch.stack(capture.steps, 1).numpy() if capture.steps else None  # (batch, steps, cand)
                for r, i in enumerate(idx):
                    toks = _until_eos(new[r], self.tokenizer.eos_token_id)
                    text = self.tokenizer.decode(toks, skip_special_tokens=True)
                    try:
                        scores, reasons = parse_reply(text, self.anchors, self.scale)
                    except ReplyError as e:
                        failed[int(i)] = (f"unparseable: {e}" if "JSON" in str(e) else f"invalid: {e}", text)
                        continue
                    if self.params.read == "expected" and steps is not None:
                        scores = {**scores, **self._expected(toks, steps[r], families, scores)}
                    out[i] = [scores[a] for a in self.anchors]
                    why[i] = reasons
        return failed

    def _serve_into(self, prompts: list[list[int]], which: np.ndarray, out: np.ndarray,
                    why: list[dict[str, str] | None], sample: bool) -> dict[int, tuple[str, str]]:
        """`_generate_into` through the server: one completion per record, parsed the same way."""
        import asyncio

        from mira_core.teachers.base import ReplyError, reply_schema
        from mira_core.teachers.http import JSONClient, masked
        from mira_core.teachers.openai_teacher import _run_sync

        srv = self.server
        body = {"model": srv["model"], "max_tokens": self.params.max_new_tokens, "seed": self.seed,
                "temperature": self.params.retry_temperature if sample else 0.0}
        if self.params.read == "expected" and srv["logprobs"]:
            body["logprobs"] = srv["logprobs"]
        if srv["structured"]:
            name, schema = reply_schema("score", tuple(self.anchors), self.scale, 0)
            item = schema["properties"]["scores"]["items"]
            item["properties"] = {k: item["properties"][k] for k in ("anchor", "rationale", "score")}
            item["required"] = list(item["properties"])
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": name, "schema": schema, "strict": True}}
        headers = {"Authorization": f"Bearer {srv['api_key']}"} if srv["api_key"] else {}
        cache = RequestCache(srv["cache"], "score.generative_server.cache_path",
                             "the student's served replies") if srv.get("cache") else None
        keys = {int(i): _reply_key(body, prompts[int(i)], srv["version"]) for i in which} if cache else {}
        replies: dict[int, dict | BaseException] = {}
        if cache:
            hits = cache.get_many(list(keys.values()))
            replies = {i: hits[k].data for i, k in keys.items() if k in hits and hits[k].ok}
            self._cached += len(replies)
        ask = [int(i) for i in which if int(i) not in replies]

        async def run_all() -> list:
            client = JSONClient(srv["base_url"], headers, srv["timeout"], srv["max_retries"],
                                secret=srv["api_key"] or None)  # masked in every body an error quotes, before a cut
            gate = asyncio.Semaphore(srv["concurrency"])

            async def one(i: int) -> dict:
                async with gate:
                    reply = await client.post("/completions", body | {"prompt": prompts[i]})
                if cache and ((reply.get("choices") or [{}])[0].get("text")):  # each as it arrives: a killed run
                    try:  # keeps what it was given; an empty reply is not worth keeping
                        cache.put_data("student", [(keys[i], "", reply)])
                    except (sqlite3.Error, MiraError) as e:  # a locked or full cache costs a re-ask later, not this reply
                        log.warning("generative reply cache %s: %s", srv["cache"], e)
                return reply

            try:
                return await asyncio.gather(*(one(i) for i in ask), return_exceptions=True)
            finally:
                await client.close()

        try:
            replies |= dict(zip(ask, _run_sync(run_all()), strict=True)) if ask else {}
        finally:
            if cache:
                cache.close()
        failed: dict[int, tuple[str, str]] = {}
        for i in (int(i) for i in which):
            reply = replies[i]
            if isinstance(reply, BaseException):
                # The server, not the reply, failed (after the client's retries): fail the shard, so the task is
                # retried and nothing is cached, rather than write a shard of unscored records that looks done.
                # The key is masked (a server may echo it) before the message is cut, and the raw error is not
                # chained: its text, with the key, would reach the traceback. The message keeps the HTTP status.
                raise MiraError(f"generative scoring server {redact_credentials(srv['base_url'])}: {type(reply).__name__}: "
                                f"{masked(str(reply), srv['api_key'])[:200]}") from None
            choice = (reply.get("choices") or [{}])[0]
            text = str(choice.get("text") or "")
            try:
                scores, reasons = parse_reply(text, self.anchors, self.scale)
            except ReplyError as e:
                failed[i] = (f"unparseable: {e}" if "JSON" in str(e) else f"invalid: {e}", text)
                continue
            if self.params.read == "expected":
                scores = {**scores, **self._expected_from_logprobs(choice.get("logprobs"), scores)}
            out[i] = [scores[a] for a in self.anchors]
            why[i] = reasons
        return failed

    def _expected_from_logprobs(self, lp: dict | None, written: dict[str, int]) -> dict[str, float]:
        """`_expected` from a completions reply's logprobs (tokens, token_logprobs, top_logprobs)."""
        lo, hi = self.scale
        if not lp or not lp.get("tokens") or not lp.get("top_logprobs") or lo < 0 or hi > 9:
            return {}  # a score past 9 is written as two tokens ("1", "0"): one digit's distribution does not read it
        got: dict[str, float] = {}
        prefix = ""
        for t, (tok, top) in enumerate(zip(lp["tokens"], lp["top_logprobs"], strict=False)):
            d = tok.strip()
            # ASCII digits only: str.isdigit() also takes '²' or '٣', which int() refuses or the parser never wrote
            if len(d) == 1 and "0" <= d <= "9" and lo <= int(d) <= hi and top and _SCORE_AT.search(prefix):
                anchor = ([m.group(1) for m in _ANCHOR.finditer(prefix)] or [None])[-1]
                if anchor in self.anchors and anchor not in got and written.get(anchor) == int(d):
                    own = (lp.get("token_logprobs") or [None] * (t + 1))[t]
                    lps = np.array([top.get(tok.replace(d, str(k), 1), own if k == int(d) and own is not None
                                            else -np.inf) for k in range(lo, hi + 1)], np.float64)
                    if np.isfinite(lps).any():
                        p = np.exp(lps - lps[np.isfinite(lps)].max())
                        got[anchor] = float((p / p.sum()) @ np.arange(lo, hi + 1))
            prefix += tok
        return got

    def _expected(self, toks: list[int], steps: np.ndarray, families: dict[int, tuple[np.ndarray, np.ndarray]],
                  written: dict[str, int]) -> dict[str, float]:
        """Per anchor, the probability-weighted mean digit at the position where its score was written. A digit is
        read for the last anchor named before it only where it is that anchor's written score: a reply that writes
        "score" before "anchor" (parse_reply takes any key order) gave each anchor its neighbour's score."""
        got: dict[str, float] = {}
        for t, tok in enumerate(toks):
            if tok not in families:
                continue
            before = self.tokenizer.decode(toks[:t], skip_special_tokens=True)
            anchor = ([m.group(1) for m in _ANCHOR.finditer(before)] or [None])[-1]
            if not _SCORE_AT.search(before) or anchor not in self.anchors or anchor in got:
                continue
            if str(written.get(anchor)) != self.tokenizer.decode([tok]).strip():
                continue
            cols, digits = families[tok]
            logits = steps[t, cols].astype(np.float64)
            p = np.exp(logits - logits.max())
            got[anchor] = float((p / p.sum()) @ digits)
        return got

    def _digit_families(self) -> tuple[list[int], dict[int, tuple[np.ndarray, np.ndarray]]]:
        """Token ids of the scale's digits, by family: a token whose text is one digit of the scale (with the
        same surroundings, e.g. a leading space marker) maps to the columns of its family's digits."""
        if self._families is None:
            lo, hi = self.scale
            digits = [str(d) for d in range(lo, hi + 1)] if hi <= 9 and lo >= 0 else []
            groups: dict[str, dict[int, int]] = {}
            for raw, tid in self.tokenizer.get_vocab().items():
                found = [c for c in raw if c.isdigit()]
                if len(raw) > 4 or len(found) != 1 or found[0] not in digits:
                    continue
                if self.tokenizer.decode([tid]).strip() != found[0]:
                    continue
                groups.setdefault(raw.replace(found[0], "{}", 1), {})[int(found[0])] = tid
            cand: list[int] = []
            families: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            for members in groups.values():
                if len(members) != len(digits):
                    continue
                cols = np.arange(len(cand), len(cand) + len(members))
                ds = np.array(sorted(members), dtype=np.float64)
                cand += [members[int(d)] for d in ds]
                for tid in members.values():
                    families[tid] = (cols, ds)
            self._families = (cand, families)
        return self._families

    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch

        if self.device == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


class _Capture:
    """A logits processor that keeps, per generation step, the logits of the digit tokens and changes nothing."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.steps: list = []

    def __call__(self, input_ids, scores):
        import torch

        if self.ids:
            self.steps.append(scores[:, self.ids].float().cpu())
        else:
            self.steps.append(torch.zeros((scores.shape[0], 0)))
        return scores


def _reply_key(body: dict, prompt: list[int], version: str) -> str:
    """The cache key of one served reply: the whole request (sampling settings and schema included), the
    prompt's token ids and the student's version."""
    blob = json.dumps({"body": body, "prompt": prompt, "student": version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _until_eos(toks: list[int], eos: int) -> list[int]:
    return toks[: toks.index(eos)] if eos in toks else toks
