"""The README's machines block: the recorded run beside other machines' runs, each judged by the targets' rules,
and MIRA's proxy verdicts stated as agreed only where every run agrees."""

from __future__ import annotations

import copy
import json

import pytest

from bench import machines
from bench.doc_figures import REPO, extract

AMD = json.loads((REPO / "bench" / "figures-amd-429d89b.json").read_text())
INTEL = json.loads((REPO / "bench" / "figures-intel-eb714c8.json").read_text())


def _row(block: str, label: str) -> list[str]:
    (line,) = [x for x in block.splitlines() if x.startswith(f"| {label} |")]
    return [c.strip() for c in line.strip("|").split("|")][1:]


def _on(run: dict, cpu: str) -> dict:
    out = copy.deepcopy(run)
    for v in out["section_measured"].values():
        v["cpu"] = cpu
    return out


def test_two_machines_side_by_side_and_the_verdicts_they_disagree_on():
    block = machines.render(_on(INTEL, "Intel Xeon"), [AMD])
    assert "| this run (Intel Xeon, eb714c8) | another run (AMD EPYC, 429d89b) |" in block
    assert _row(block, "demo proxy, held-out loss: `mira`") == ["5.554 ± 0.011", "5.564 ± 0.006"]
    assert _row(block, "demo proxy: MIRA against `full`") == ["within the noise", "above, beyond the noise"]
    status = _row(block, "MIRA keeps fewer broken tokens than `single_rubric` in every source, every source "
                         "keeping its share")
    assert status == ["**missed on 1 of 3 corpora**", "**missed on 2 of 3 corpora**"]
    assert "Every run agrees on MIRA against `random` (within the noise)." in block
    assert "They disagree on MIRA against `full`, `teacher_scores`, `single_rubric`" in block


def test_runs_that_agree_say_so_and_an_arm_a_run_lacks_is_left_out():
    block = machines.render(AMD, [copy.deepcopy(AMD)])
    assert "They disagree" not in block and "Every run agrees on MIRA against `random` (within the noise), `full`" in block
    no_oracle = copy.deepcopy(AMD)
    del no_oracle["ablations"]["arms"]["teacher_scores"]
    block = machines.render(AMD, [no_oracle])
    assert _row(block, "demo proxy, held-out loss: `teacher_scores`") == ["5.551 ± 0.003", "-"]
    assert "MIRA against `teacher_scores`" not in block


def test_each_section_names_its_cpu_and_a_mixed_run_names_both():
    # a stamp written before sections named their CPU takes the run's, where the run measured that section
    got = extract({"machine": {"CPU": "Some CPU"}, "measured_at": "t1",
                   "section_measured": {"planted": {"at": "t1", "commit": "a"}, "pipeline": {"at": "t0", "commit": "b"},
                                        "ablations": {"at": "t0", "commit": "b", "cpu": "Other CPU"}}})
    assert got["section_measured"] == {"planted": {"at": "t1", "commit": "a", "cpu": "Some CPU"},
                                       "pipeline": {"at": "t0", "commit": "b"},
                                       "ablations": {"at": "t0", "commit": "b", "cpu": "Other CPU"}}
    assert "machine" not in got
    assert machines.run_name(got) == "Other CPU / Some CPU / unknown CPU, a / b"
    assert machines.run_name(AMD) == "AMD EPYC, 429d89b"


def test_the_markers_must_appear_once():
    with pytest.raises(ValueError, match="machines block"):
        machines.replace("no markers here", machines.render(AMD, []))
    text = f"a\n{machines.START}\nold\n{machines.END}\nb"
    assert machines.replace(text, "NEW") == "a\nNEW\nb"
