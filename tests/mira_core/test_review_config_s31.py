"""Review tests (session 31): min > max pairs of the config that left nothing to keep, the line a section's own
check names, and seeded random params: valid ones round-trip through YAML, invalid ones are a ConfigError naming
their key."""

from __future__ import annotations

import math
import random
from typing import Literal, get_args, get_origin

import pytest
import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel

from flows.params import load_params
from mira_core.config import Params, parse_params
from mira_core.errors import ConfigError

SOURCE = "sources:\n  - name: a\n    path: a.jsonl\n    format: text\n"


def _error(tmp_path, text: str) -> str:
    f = tmp_path / "params.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_params(f)
    return str(e.value).replace(f"{f}", "params.yaml")


def test_min_chars_above_the_length_limit_is_refused_naming_its_line(tmp_path):
    # every record was quarantined (a 1,000-character one as empty_text, once cut), and an optional source dropped
    assert _error(tmp_path, SOURCE + "ingest:\n  max_chars: 100\n  min_chars: 200\n") == (
        "params.yaml:7: ingest.min_chars (200) is larger than ingest.max_chars (100): no record is in both bounds")
    text = SOURCE + "  - {name: b, path: b.jsonl, format: text, max_chars: 5}\ningest:\n  min_chars: 10\n"
    assert _error(tmp_path, text) == ("params.yaml:5: sources[1].max_chars (5) is below ingest.min_chars (10): no "
                                      "record of source 'b' is in both bounds")
    equal = SOURCE + "    max_chars: 10\ningest:\n  min_chars: 10\n  max_chars: 10\n"
    (tmp_path / "params.yaml").write_text(equal)
    assert load_params(tmp_path / "params.yaml").ingest.min_chars == 10  # one length is in both bounds


def test_min_file_bytes_above_max_file_bytes_is_refused(tmp_path):
    # every file was skipped, so every demo source was empty
    assert _error(tmp_path, SOURCE + "demo_corpus:\n  max_file_bytes: 100\n  min_file_bytes: 1000\n") == (
        "params.yaml:7: demo_corpus: min_file_bytes (1000) is larger than max_file_bytes (100): no file is in both "
        "bounds")


@pytest.mark.parametrize(("text", "want"), [
    ("select:\n  granularity: group\n  mask: true\n  budget: true\n", "params.yaml:8: select: budget = true: a number"),
    ("group:\n  seed: 0\n  k: 0\n", "params.yaml:7: group: k must be 'auto' or at least 1"),
    ("evaluate:\n  seed: 0\n  seeds: [1, 1]\n", "params.yaml:7: evaluate: seeds [1, 1] names an entry twice"),
    ("teacher:\n  provider: openai\n  scale_max: 1\n", "params.yaml:7: teacher: scale_min (1) must be below scale_max (1)"),
    ("sources:\n  - name: a\n    path: a.jsonl\n    format: text\n    max_chars: yes\n",
     "params.yaml:5: sources[0]: max_chars = true: a number"),
    ("distill:\n  seed: 0\n  student: trees\nembed:\n  stats: false\n", "params.yaml:7: distill.student 'trees': "),
])
def test_a_sections_own_check_names_the_line_of_the_knob_it_is_about(tmp_path, text, want):
    # the line was the section header's (`select:`), which in the shipped params.yaml is 20 lines above `budget:`
    assert _error(tmp_path, text if text.startswith("sources") else SOURCE + text).startswith(want)


def _bounds(field) -> tuple:
    lo = hi = None
    lo_open = hi_open = False
    for m in field.metadata:
        if isinstance(m, Gt):
            lo, lo_open = m.gt, True
        elif isinstance(m, Ge):
            lo = m.ge
        elif isinstance(m, Lt):
            hi, hi_open = m.lt, True
        elif isinstance(m, Le):
            hi = m.le
    return lo, lo_open, hi, hi_open


def _value(r: random.Random, field, valid: bool):
    """A random value of a number, word, boolean or string knob: within its bounds, or just past one."""
    ann = field.annotation
    if ann in (int, float):
        lo, lo_open, hi, hi_open = _bounds(field)
        if not valid:
            step = 1 if ann is int else 0.01
            past = [lo - (0 if lo_open else step)] if lo is not None else []
            past += [hi + (0 if hi_open else step)] if hi is not None else []
            return r.choice([*past, "abc", [1], {"a": 1}, True, None, float("nan")])
        low = lo if lo is not None else -10
        high = hi if hi is not None else low + r.choice([1, 10, 1000, 10**9])
        if ann is int:
            low = math.ceil(low) + (1 if lo_open else 0)
            high = math.floor(high) - (1 if hi_open else 0)
            return r.choice([low, high, r.randint(low, max(low, high))])
        v = r.choice([low, high, r.uniform(low, high)])
        return (low + high) / 2 if (lo_open and v == low) or (hi_open and v == high) else v
    if ann is bool:
        return r.choice([True, False]) if valid else r.choice(["maybe", 3])
    if ann is str:
        return r.choice(["x", "a b [c]", "é ü", "~/p"]) if valid else r.choice([1.5, None, ["x"]])
    return r.choice(get_args(ann)) if valid else "zzz"


def _knobs(model: type[BaseModel]) -> list[tuple[str, object]]:
    return [(n, f) for n, f in model.model_fields.items()
            if f.annotation in (int, float, bool, str) or get_origin(f.annotation) is Literal]


def _consistent(raw: dict) -> None:
    """Set the cross-field rules right (the checks tested above and in test_config.py), so a draw is valid."""
    ev, t, g = raw.setdefault("evaluate", {}), raw.setdefault("teacher", {}), raw.setdefault("group", {})
    ev["enabled"] = False
    ev["n_head"] = 1
    if ev.get("warmup_frac", 0.1) + ev.get("decay_frac", 0.2) > 1:
        ev["warmup_frac"] = ev["decay_frac"] = 0
    ev["eval_tokens"] = max(ev.get("eval_tokens", 32768), ev.get("context", 128))
    if t.get("scale_min", 1) >= t.get("scale_max", 5):
        t["scale_min"], t["scale_max"] = 1, 5
    if t.get("provider", "rules") == "rules":  # its only model (another is refused: provider openai forgotten)
        t["model"] = "rules-v1"
    if t.get("max_cost") is not None:
        t["price_input_per_1m"] = t["price_output_per_1m"] = 1
    if g.get("k_min", 2) > g.get("k_max", 6):
        g["k_min"], g["k_max"] = 2, 6
    s, d, i, dc = (raw.setdefault(k, {}) for k in ("select", "dedup", "ingest", "demo_corpus"))
    if s.get("budget", 0.5) > 1:
        s["budget"] = float(int(s["budget"]))
    if d.get("shingle") == "char" and d.get("shingle_size", 5) < 3:
        d["shingle_size"] = 3
    if i.get("min_chars", 1) > i.get("max_chars", 100_000):
        i["min_chars"] = i.get("max_chars", 100_000)
    if dc.get("min_file_bytes", 64) > dc.get("max_file_bytes", 60_000):
        dc["min_file_bytes"] = dc.get("max_file_bytes", 60_000)
    raw.setdefault("embed", {})["stats"] = True


def test_random_params_round_trip_or_fail_as_a_config_error_naming_the_key(tmp_path):
    sections = {n: f.annotation for n, f in Params.model_fields.items()
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}
    r = random.Random(31)
    for case in range(300):
        raw: dict = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"},
                                 {"name": "b", "path": "b dir [1]", "format": "code"}]}
        for section, model in sections.items():
            knobs = {n: _value(r, f, True) for n, f in _knobs(model) if r.random() < 0.3}
            if knobs:
                raw[section] = knobs
        _consistent(raw)
        bad = None
        if case % 2:
            section = r.choice([s for s, m in sections.items() if _knobs(m)])
            name, field = r.choice(_knobs(sections[section]))
            raw.setdefault(section, {})[name] = _value(r, field, False)
            bad = f"{section}.{name}"
        where = f"case {case}: {raw}"
        if bad is None:
            p = parse_params(raw)
            # libyaml's loader and dumper (the same YAML 1.1 as PyYAML's, ten times faster) for the bulk of them
            text = yaml.dump(p.model_dump(mode="json"), Dumper=yaml.CSafeDumper, allow_unicode=True)
            assert parse_params(yaml.load(text, Loader=yaml.CSafeLoader)) == p, where
            if case % 20 == 0:  # through the file reader too (its own checks: numbers YAML versions read apart ...)
                (tmp_path / "params.yaml").write_text(text)
                assert load_params(tmp_path / "params.yaml") == p, where
        else:
            with pytest.raises(ConfigError) as e:
                parse_params(raw)
            assert bad.split(".")[1] in str(e.value), f"{where}\n{e.value}"


@pytest.mark.parametrize("key", ["baselines", "ablations"])
def test_a_baseline_or_ablation_named_twice_is_refused(key):
    # flows/select.py submits one task per entry into a dict keyed by name: the same manifest written twice, and the
    # first task never waited for
    from mira_core.config import SelectParams

    twice = ["random", "random"] if key == "baselines" else ["no_mask", "no_mask"]
    with pytest.raises(ValueError, match="names an entry twice"):
        SelectParams(**{key: twice})
