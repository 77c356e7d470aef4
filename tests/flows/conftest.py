"""Flow tests run real stage processes, and each project they build starts its own Prefect server
(flows/servers.py): a short idle period stops those servers soon after a test, not ten minutes later.

Most flow tests need a small project that has been through ingest -> dedup -> decontaminate -> embed -> group
(the filter stages with their defaults: HumanEval) before they test a
later stage. `grouped_projects` (session) builds each of the few small corpora below once, in process;
`grouped_project` (per test) copies one into the test's tmp_path and hands back its params (sources,
ingest, embed, group) for the test to add its own sections (teacher, discover, label, ...) to.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flows.servers import IDLE_ENV
from tests.conftest import write_jsonl

os.environ.setdefault(IDLE_ENV, "30")

# name -> raw JSONL files (relative to the project root) and the params of ingest/group; embed is the tiny encoder
CORPORA: dict[str, dict] = {
    # three sources of 8 records, each text naming "record {i}"; k=2 puts two sources in one group
    "three_sources": {
        "raw": {
            "raw/code.jsonl": [{"text": f"def f{i}(x):\n    return x + {i}  # record {i}\n"} for i in range(8)],
            "raw/prose.jsonl": [{"text": f"This is prose record {i}. It explains a topic."} for i in range(8)],
            "raw/qa.jsonl": [{"question": f"What is {i}+1? record {i}", "answer": str(i + 1)} for i in range(8)],
        },
        "params": {"sources": [{"name": "code", "path": "raw/code.jsonl", "format": "code"},
                               {"name": "prose", "path": "raw/prose.jsonl", "format": "text"},
                               {"name": "qa", "path": "raw/qa.jsonl", "format": "qa"}],
                   "group": {"k": 2}},
    },
    # two sources of 30 records in one group, g0 (60 records)
    "one_group": {
        "raw": {
            "raw/code.jsonl": [{"text": f"def f{i}(x):\n    return x + {i}\n"} for i in range(30)],
            "raw/prose.jsonl": [{"text": f"Prose record number {i} explains a topic in a few words."}
                                for i in range(30)],
        },
        "params": {"sources": [{"name": "code", "path": "raw/code.jsonl", "format": "code"},
                               {"name": "prose", "path": "raw/prose.jsonl", "format": "text"}],
                   "group": {"k": 1}},
    },
    # two sources of 40 records of varied length, two groups, ingested into 8 shards of 10 records
    "two_groups_sharded": {
        "raw": {
            "raw/code.jsonl": [{"text": f"def f{i}(x):\n    '''Add {i}.'''\n    return x + {i}\n"} for i in range(40)],
            "raw/prose.jsonl": [{"text": f"Prose record {i}. " * (1 + i % 5)} for i in range(40)],
        },
        "params": {"sources": [{"name": "code", "path": "raw/code.jsonl", "format": "code"},
                               {"name": "prose", "path": "raw/prose.jsonl", "format": "text"}],
                   "ingest": {"shard_max_records": 10},
                   "group": {"k": 2}},
    },
}


def _config(name: str, encoder: Path) -> dict:
    return {**copy.deepcopy(CORPORA[name]["params"]),
            "embed": {"encoder": str(encoder), "dtype": "fp32", "max_length": 64}}


@pytest.fixture(scope="session")
def grouped_projects(tmp_path_factory, tiny_encoder, prefect_harness) -> Callable[[str], Path]:
    """`build(name)`: the folder of corpus `name` (CORPORA) after ingest to group, built once a session.

    Built with the stage cache off, so the folder holds the project's outputs and nothing else (no
    params.yaml either: a test that needs one writes its own). Treat it as read-only: copy it.
    """
    from flows import decontaminate, dedup, embed, group, ingest
    from mira_core.config import parse_params

    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            root = tmp_path_factory.mktemp(f"grouped-{name}")
            for rel, rows in CORPORA[name]["raw"].items():
                write_jsonl(root / rel, rows)
            params = parse_params({**_config(name, tiny_encoder), "cache": {"enabled": False}})
            for stage in (ingest, dedup, decontaminate, embed, group):
                stage.run(params, root)
            built[name] = root
        return built[name]

    return build


@pytest.fixture
def grouped_project(grouped_projects, tiny_encoder, tmp_path) -> Callable[..., dict]:
    """`grouped_project(name, root=tmp_path)`: copies the built corpus `name` into `root` and returns its
    params (sources, ingest, embed, group) as a fresh dict for the test to extend."""

    def make(name: str, root: Path | None = None) -> dict:
        shutil.copytree(grouped_projects(name), root or tmp_path, dirs_exist_ok=True)
        return _config(name, tiny_encoder)

    return make
