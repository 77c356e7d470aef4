"""Teachers: one protocol, three providers (rules, openai, transformers), all behind the request cache."""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Mapping
from pathlib import Path

from mira_core.config import TeacherParams
from mira_core.errors import ConfigError
from mira_core.layout import project_home, project_path
from mira_core.teachers.base import Doc, Outcome, Request, Teacher
from mira_core.teachers.cache import RequestCache

__all__ = ["Doc", "Outcome", "Request", "Teacher", "api_key", "make_teacher", "spend_stale_s"]


def api_key(p: TeacherParams, env: Mapping[str, str]) -> str | None:
    """The API key from the environment variable named in params; a ConfigError if that variable is unset."""
    if p.provider != "openai" or not p.api_key_env:
        return None
    key = env.get(p.api_key_env)
    if not key:
        raise ConfigError(f"teacher.api_key_env = {p.api_key_env!r}: that environment variable is not set "
                          "(export it, or set api_key_env to null for an endpoint that needs no key)")
    return key


# The modules outside rules/ whose code decides a rule's score (how text is split into words, how a long run of marks
# reaches the parser, which JSON is refused): they count in the version too. The rules' other imports from mira_core
# are plumbing (RULES_PLUMBING); a test holds every import to one list or the other.
RULES_SHARED = ("errors.py", "marks.py", "mojibake.py", "unspaced.py")
# The libraries whose code decides a rule's score the same way: their versions count in the version too.
RULES_LIBRARIES = ("ftfy",)
RULES_PLUMBING = ("io", "rubric", "teachers.base")


def _rules_version() -> str:
    """The rules teacher's 'prompt': its own source, so editing a rule invalidates its cached answers.

    Every .py file of the rules/ package counts, by sorted relative path and content, so that a new
    module (a new dimension file) changes the version as well as an edited one; except table.py, which
    writes the documentation's table of dimensions and scores nothing; and the shared modules of `RULES_SHARED`,
    and the installed versions of `RULES_LIBRARIES` (ftfy's catalogue of mojibake grows between releases).
    """
    folder = Path(__file__).resolve().parent / "rules"
    h = hashlib.sha256()
    files = [f for f in folder.rglob("*.py") if f.relative_to(folder).as_posix() != "table.py"]
    files += [folder.parents[1] / name for name in RULES_SHARED]
    for f in sorted(files, key=lambda f: f.relative_to(folder.parents[1]).as_posix()):
        data = f.read_bytes()
        # The path and the length delimit each file, so moving code between files changes the hash too.
        h.update(f"{f.relative_to(folder.parents[1]).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    for lib in RULES_LIBRARIES:
        h.update(f"{lib}\0{importlib.metadata.version(lib)}\0".encode())
    return f"rules@{h.hexdigest()[:10]}"


def teacher_prompt_version(p: TeacherParams) -> str:
    """The version of the prompts (for `rules`, of its code) the teacher `p` makes would stamp on what it judges."""
    if p.provider == "rules":
        return _rules_version()
    from mira_core.teachers import prompts

    return prompts.prompt_version()


def spend_stale_s(p: TeacherParams) -> float:
    """How old a spend hold must be to belong to a killed process: longer than any live request can take.

    A hold spans one attempt, which the timeout bounds as a whole (both clients); the retries take holds of
    their own, after their waits. Twice the timeout and a minute more leave room for a loaded event loop and
    the settle's thread. A live hold counted stale would let the stage pass teacher.max_cost.
    """
    return 2 * p.timeout_s + 60


def make_teacher(p: TeacherParams, root: Path, env: Mapping[str, str], run_id: str | None = None) -> Teacher:
    """Build the configured teacher with its request cache under `root`.

    `run_id` names the stage run whose spending caps (teacher.max_requests, max_cost) this teacher shares
    with the stage's other tasks, in other threads or processes; None gives this teacher caps of its own.
    """
    from mira_core.teachers import prompts

    scale = (p.scale_min, p.scale_max)
    if p.provider == "rules":
        from mira_core.teachers.rules import RulesBackend

        backend = RulesBackend(p.model, scale, p.max_judgments)
        version = _rules_version()
        identity: dict = {}  # the rules are their own version
    elif p.provider == "openai":
        from mira_core.teachers.openai_teacher import OpenAIBackend
        from mira_core.teachers.spend import SpendLedger

        budget = None
        if p.max_requests is not None or p.max_cost is not None:
            budget = SpendLedger(project_path(p.cache_path, project_home(root)), run_id, p.max_requests, p.max_cost,
                                 p.price_input_per_1m, p.price_output_per_1m, p.max_tokens, stale_s=spend_stale_s(p))
        backend = OpenAIBackend(p, api_key(p, env), budget)
        version = prompts.prompt_version()
        # Which server answered matters as much as the model name: two endpoints serving "llama-3" (a vLLM
        # and a hosted API) must not share answers. max_repairs: an invalid-reply failure is cached as final.
        # (Adding these to the key left the caches written before without hits: they are asked again, once.)
        identity = {"base_url": backend.base_url, "max_repairs": p.max_repairs}
    else:
        from mira_core.teachers.local_lm import LocalLMBackend

        backend = LocalLMBackend(p, root)
        version = prompts.prompt_version()
        # The model's name is its folder's, and checkpoints are often .../runA/final and .../runB/final: the
        # full path and a digest of its files tell them (and a retrained folder) apart. (A new part of the key
        # in this version: caches written before have no hits and are asked again, once.)
        # prompt_encoding 2: a chat template's BOS no longer doubled by the tokenizer (the prompts changed); the
        # device, since greedy decoding on a GPU and on a CPU can part ways at a near tie
        identity = {"model_path": backend.path, "model_digest": backend.digest, "max_repairs": p.max_repairs,
                    "prompt_encoding": 2, "device": backend.device}
    settings = {"temperature": p.temperature, "max_tokens": p.max_tokens, "max_doc_chars": p.max_doc_chars,
                "max_judgments": p.max_judgments, "response_format": p.response_format, **identity}
    # the workspace's cache, for a queued or temporary DVC experiment too: its copy starts without it (git-ignored)
    # and is deleted afterwards, so every answer would be paid for again, and then lost
    cache = RequestCache(project_path(p.cache_path, project_home(root)))  # ~ is the user's home
    return Teacher(backend, cache, version, settings, scale, p.retry_failed)
