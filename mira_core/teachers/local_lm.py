"""The `transformers` teacher: a local causal LM from a folder, for offline GPU users.

It sends the same prompts as the openai teacher (the model's chat template when it has one) and
validates replies the same way, with the same bounded repair. Generation is greedy unless
`teacher.temperature` > 0, one request at a time: it is meant for a local model on a GPU, where a
serving engine (vLLM, SGLang) behind the openai teacher is the faster choice for large label sets.
`path` and `digest` (`model_digest`) go into the request cache's key: the model's name is only its folder's.

One copy of a model per process: label's chunks and discover's groups each build a teacher, on two threads by
default, and two loads at once are not safe in transformers (`no_tie_weights` swaps a class attribute and an
overlap restores the wrong one: tied embeddings stay on the meta device for the rest of the process).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from mira_core.config import TeacherParams
from mira_core.errors import ConfigError
from mira_core.layout import project_path
from mira_core.teachers import prompts
from mira_core.teachers.base import OnOutcome, Outcome, ReplyError, Request, extract_json, run_each, validate_reply


def model_digest(folder: Path) -> str:
    """A digest of a model folder: config.json's content, and every other file's name, size and mtime.

    Names, sizes and mtimes stand for the weights (hashing gigabytes on every start would be too slow); the
    tokenizer's files count too, since its chat template shapes the prompt. A retrained or replaced
    checkpoint in the same folder gets a new digest, so its answers are not taken for the old one's.
    """
    h = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name != "config.json":
            st = f.stat()
            h.update(f"\0{f.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]



class ContextTooLong(Exception):
    """A prompt that, with the tokens to generate, does not fit the model's context."""


_LOAD = threading.Lock()  # one load at a time, and each model loaded once
_GENERATE = threading.Lock()  # one request at a time on the shared weights
_MODELS: dict[tuple[str, str, str], tuple] = {}  # (path, digest, device) -> (tokenizer, model); the last one only


def _shared_model(path: str, digest: str, device: str) -> tuple:
    with _LOAD:
        # inside the lock: transformers' lazy module is not safe to import from two threads at once (discover's and
        # label's tasks each build a teacher: "cannot import name 'AutoModelForCausalLM'" in a fresh stage process)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        key = (path, digest, device)
        if key not in _MODELS:
            _MODELS.clear()  # a model is gigabytes: another one (a retrained folder) replaces it
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            lm = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
            _MODELS[key] = (tokenizer, lm)
        return _MODELS[key]

class LocalLMBackend:
    """A Hugging Face causal LM answering teacher requests."""

    provider = "transformers"

    def __init__(self, p: TeacherParams, root: Path | None = None) -> None:
        import torch

        path = project_path(p.model, root)  # a relative folder is the project's
        if not (path / "config.json").exists():
            raise ConfigError(f"teacher.model = {p.model!r}: the transformers teacher needs a local model folder")
        self.p = p
        self.model = str(path.name)  # the name shown (Teacher.name, the rubric's teacher); the key uses path and digest
        self.path = str(path.resolve())
        self.digest = model_digest(path)
        self.device = "cuda" if p.device == "cuda" or (p.device == "auto" and torch.cuda.is_available()) else "cpu"
        self.tokenizer, self.lm = _shared_model(self.path, self.digest, self.device)

    def _templated(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _prompt(self, msgs: list[dict]) -> str:
        if not self._templated():
            return "\n\n".join(f"{m['role']}: {m['content']}" for m in msgs) + "\n\nassistant: "
        from jinja2 import TemplateError

        try:
            return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        except TemplateError as e:  # Gemma's and early Mistral-Instruct's templates refuse a system message
            if msgs[0]["role"] != "system" or len(msgs) < 2:
                raise ConfigError(f"teacher.model = {self.p.model!r}: its chat template refuses the teacher's "
                                  f"messages: {e}") from None
            merged = [{"role": "user", "content": f"{msgs[0]['content']}\n\n{msgs[1]['content']}"}, *msgs[2:]]
            try:
                return self.tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
            except TemplateError as e2:
                raise ConfigError(f"teacher.model = {self.p.model!r}: its chat template refuses the teacher's "
                                  f"messages, with the system message folded into the first user one too: {e2}"
                                  ) from None

    def _generate(self, msgs: list[dict]) -> tuple[str, int, int, bool]:
        """The reply, the prompt's and the reply's tokens, and whether the reply filled the room the context left
        it (short of max_tokens: a reply cut by the context, not one the model ended)."""
        with _GENERATE:
            return self._generate_one(msgs)

    def _generate_one(self, msgs: list[dict]) -> tuple[str, int, int, bool]:
        import torch

        # a chat template writes the BOS token itself (Llama, Gemma, Mistral): the tokenizer must not add another
        enc = self.tokenizer(self._prompt(msgs), return_tensors="pt",
                             add_special_tokens=not self._templated()).to(self.device)
        n_in, cfg = enc["input_ids"].shape[1], self.lm.config
        n_ctx = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        if n_ctx and n_in >= n_ctx:  # an index error deep in the model sank the whole batch
            raise ContextTooLong(f"a prompt of {n_in} tokens fills the model's context of {n_ctx} tokens (lower "
                                 "teacher.max_doc_chars)")
        new_tokens = min(self.p.max_tokens, n_ctx - n_in) if n_ctx else self.p.max_tokens  # the reply fits after it
        sample = self.p.temperature > 0
        with torch.inference_mode():
            out = self.lm.generate(**enc, max_new_tokens=new_tokens, do_sample=sample,
                                   temperature=self.p.temperature if sample else None,
                                   pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        new = out[0, enc["input_ids"].shape[1]:]
        ended = len(new) > 0 and int(new[-1]) == self.tokenizer.eos_token_id
        cut = new_tokens < self.p.max_tokens and len(new) >= new_tokens and not ended
        return self.tokenizer.decode(new, skip_special_tokens=True), n_in, len(new), cut

    def _one(self, req: Request) -> Outcome:
        scale = (self.p.scale_min, self.p.scale_max)
        msgs = prompts.messages(req, scale, self.p.max_doc_chars, self.p.max_judgments)
        pt = ct = calls = 0
        error = ""
        for attempt in range(self.p.max_repairs + 1):
            try:
                text, n_in, n_out, cut = self._generate(msgs)
            except ContextTooLong as e:  # this record's failure, not the stage's: the other records still run
                # a repair that overflows keeps the reply's own error: the context is not why the record failed
                why = f"{error} (no room for a repair: {e})" if attempt else str(e)
                return Outcome.failure(req.doc.record_id, why, "permanent", prompt_tokens=pt,
                                       completion_tokens=ct, calls=calls)
            pt, ct, calls = pt + n_in, ct + n_out, calls + 1
            try:
                data = validate_reply(extract_json(text), req, scale, self.p.max_judgments)
                return Outcome(req.doc.record_id, True, data, prompt_tokens=pt, completion_tokens=ct, calls=calls)
            except ReplyError as e:
                if cut:  # the context, not the model, ended the reply: say what to change
                    return Outcome.failure(
                        req.doc.record_id, f"a prompt of {n_in} tokens left {n_out} of the model's context for the "
                        f"reply (teacher.max_tokens {self.p.max_tokens}), which cut it short: {e} (lower "
                        "teacher.max_doc_chars)", "permanent", prompt_tokens=pt, completion_tokens=ct, calls=calls)
                error = str(e)
                if attempt < self.p.max_repairs:
                    msgs = [*msgs, {"role": "assistant", "content": text},
                            {"role": "user", "content": f"That reply was not valid: {error}. Reply again with the "
                                                        "JSON object only."}]
        return Outcome.failure(req.doc.record_id, error, "permanent", prompt_tokens=pt, completion_tokens=ct,
                               calls=calls)

    def run(self, requests: list[Request], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        return run_each(requests, self._one, on_outcome)
