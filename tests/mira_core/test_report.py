"""Tests of the report renderer on small in-memory inputs, and of the loader on a sparse project folder."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

import numpy as np
import polars as pl
import pytest
import yaml

from mira_core.config import ReportParams
from mira_core.io import write_parquet
from mira_core.layout import Layout
from mira_core.report import ReportInputs, build_report, load_inputs, render
from mira_core.report.plots import overlap_heatmap
from mira_core.report.sections import SECTIONS
from tests.conftest import REPO

EVIL = "<script>alert(1)</script>"
CORE = [h for h, _ in SECTIONS if h != "Proxy evaluation"]
EVALUATE = {"arms": {"mira": {"loss_mean": 2.31, "loss_std": 0.02, "ppl_mean": 10.1, "seeds": [0, 1, 2]},
                     "random": {"loss_mean": 2.36, "loss_std": 0.03, "ppl_mean": 10.6, "seeds": [0, 1, 2]}},
            "within_noise": [["random", "length"]]}


def _by_source(shares: dict[str, float]) -> dict:
    return {s: {"records": 10, "kept_records": round(10 * v), "tokens": 1000, "kept_tokens": round(1000 * v),
                "kept_token_share": v} for s, v in shares.items()}


def tiny_inputs(evaluate: dict | None = None) -> ReportInputs:
    """Two groups, three sources (one with a hostile name, one held out), two methods."""
    rng = np.random.default_rng(0)
    groups = {"code": "g0", EVIL: "g0", "qa": "g1"}
    rows = []
    for s, g in groups.items():
        for i in range(40):
            held = s == "qa"
            kept = not held and i % 2 == 0
            rows.append({"source": s, "group": g, "score": float(rng.normal(4 if kept else 3, 0.3)), "kept": kept,
                         "reason": "held_out" if held else ("kept" if kept else "over_budget")})
    mask = []
    for g, sources, anchors in (("g0", ["code", EVIL], ["a00", "a01", "a02"]), ("g1", ["qa"], ["a00", "a01"])):
        for s in sources:
            for j, a in enumerate(anchors):
                on = s == "code" and j < 2
                mask.append({"group": g, "source": s, "anchor": a, "name": f"name_{a}", "n_val": 12, "basis": "source",
                             "mae": 0.2 + 0.1 * j, "spearman": None if j == 2 else (0.6 if on else 0.1), "on": on,
                             "why": "reliable" if on else ("Spearman undefined (a constant side)" if j == 2
                                                           else "Spearman 0.10 < 0.3")})
    rubric = {"group": "g0", "version": "abc123", "teacher": "rules/rules-v1", "prompt_version": "rules@1",
              "anchors": [{"id": "a00", "name": "parses", "description": "Parses as <b>code</b> & 'quotes'",
                           "exemplar_reason": "x", "support": 9},
                          {"id": "a01", "name": EVIL, "description": "d", "exemplar_reason": "x", "support": 5},
                          {"id": "a02", "name": "length", "description": "d", "exemplar_reason": "x", "support": 3}]}
    teacher = {"provider": "rules", "model": "rules-v1", "requests": 30, "cache_hits": 10, "calls": 20,
               "prompt_tokens": 0, "completion_tokens": 0, "failures": {}}
    student = {"student": "head", "training": {"model": "ridge"}, "n_train": 48, "n_val": 12, "mean_mae": 0.3,
               "const_mean_mae": 0.6, "median_spearman": 0.5, "student_version": "st1", "rubric_version": "abc123",
               "self_agreement": {"a00": {"spearman": 1.0}}}
    kept = {"records": 120, "kept_records": 40, "kept_tokens": 1000, "kept_token_share": 0.5}
    return ReportInputs(
        ingest={"total": {"read": 125, "kept": 120, "quarantined": 5, "n_tokens": 3000,
                          "by_reason": {"duplicate_content": 5}}, "sources": {s: {"n_tokens": 1000} for s in groups}},
        group={"groups": {"g0": ["code", EVIL], "g1": ["qa"]}, "method": "kmeans(k=2)", "silhouette": 0.4,
               "records": dict.fromkeys(groups, 40), "pinned": {}},
        discover={"teacher": teacher}, label={"teacher": teacher},
        students={"g0": {**student, "rubric_version": "old"}, "g1": student},
        select={"budget": 0.5, "granularity": "group", "budget_tokens": 1000, "no_reliable_anchor": [EVIL],
                "no_shared_anchor": ["qa"],
                "methods": {"mira": {**kept, "selectable_tokens": 2000,
                                     "by_source": _by_source({"code": 0.5, EVIL: 0.5, "qa": 0.0})},
                            "random": {**kept, "by_source": _by_source({"code": 0.4, EVIL: 0.6, "qa": 0.0})}},
                "overlap": {"mira": {"mira": 1.0, "random": 0.3}, "random": {"mira": 0.3, "random": 1.0}},
                "oracle": {"all": {"records": 80, "spearman": 0.91, "val_spearman": 0.87, "kept_overlap": 0.75,
                                   "teacher_kept_share_kept_by_student": 0.86},
                           "by_group": {EVIL: {"records": 40, "spearman": 0.9, "val_spearman": None,
                                               "kept_overlap": 0.7, "teacher_kept_share_kept_by_student": 0.8}},
                           "by_source": {EVIL: {"group": EVIL, "records": 40, "teacher_kept_token_share": 0.42,
                                                "student_kept_token_share": 0.55}}}},
        evaluate=evaluate,
        groups=pl.DataFrame({"source": list(groups), "group": list(groups.values())}),
        mira=pl.DataFrame(rows), mask=pl.DataFrame(mask), rubrics={"g0": rubric},
        similarity_png=overlap_heatmap(["a", "b"], np.eye(2), dpi=50),
        manifests={"mira": "data/selection/mira/manifest.parquet", "random": "data/selection/random/manifest.parquet"},
        params_text="teacher:\n  api_key_env: OPENAI_API_KEY\n  base_url: http://u:s3cret@h:8000/v1\n"
                    "report:\n  title: t\n",
        versions={"mira": "0.1.0", "polars": "2.1.0", "torch": None},
    )


@pytest.fixture(scope="module")
def page() -> str:
    return build_report(tiny_inputs(), ReportParams(dpi=50))


def test_every_section_has_its_heading(page):
    for h in CORE:
        assert f"<h2>{h}</h2>" in page, h
    assert page.count("<h2>") == len(CORE)


def test_images_are_embedded_pngs(page):
    srcs = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert len(srcs) >= 5  # retention, scores, g0's heatmap (g1 holds only the held-out qa), overlap, similarity
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_nothing_is_fetched_from_elsewhere(page):
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert "url(" not in page and "<link" not in page and "@import" not in page
    assert "<script" not in page.lower()  # no script at all, not even the hostile source name
    outside_text = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)  # params.yaml may mention a URL, as text
    assert "http://" not in outside_text and "https://" not in outside_text
    assert page.isascii()


def test_data_is_escaped(page):
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Parses as &lt;b&gt;code&lt;/b&gt; &amp; &#x27;quotes&#x27;" in page


def test_content_of_the_sections(page):
    assert "a heuristic teacher (deterministic rule-based quality signals), not an LLM" in page
    assert "data/selection/random/manifest.parquet" in page
    assert "held out" in page  # the held-out source, in the retention table
    assert "Sources sharing no anchor with their group" in page and "select.unshared_own_budget" in page
    assert "old (stale: rubric changed)" in page  # g0's student was trained on another rubric version
    assert "Group g1" not in page  # it holds only the held-out qa: no rubric, and its mask rows are left out
    inp = tiny_inputs()
    kept_qa = dataclasses.replace(inp, mira=inp.mira.with_columns(reason=pl.lit("over_budget")))  # qa not held out
    other = render(kept_qa, ReportParams(dpi=50)).html
    assert "Not available" in other and "data/rubrics/g1.json" in other  # g1 has no rubric in these inputs
    assert "api_key_env: OPENAI_API_KEY" in page and "not installed" in page
    assert "s3cret" not in page and "base_url: http://***:***@h:8000/v1" in page  # credentials in a URL are cut


def test_missing_evaluate_omits_the_section_and_present_adds_it(page):
    assert "Proxy evaluation" not in page
    with_eval = render(tiny_inputs(EVALUATE), ReportParams(dpi=50))
    assert with_eval.sections.index("Proxy evaluation") == with_eval.sections.index("Baselines and overlap") + 1
    assert "<h2>Proxy evaluation</h2>" in with_eval.html and 'href="#proxy-evaluation"' in with_eval.html
    assert "random vs length" in with_eval.html and "2.3100" in with_eval.html
    assert with_eval.images == render(tiny_inputs(), ReportParams(dpi=50)).images + 1


def test_an_empty_project_renders_with_notes():
    rep = render(ReportInputs(), ReportParams(dpi=50))
    assert list(rep.sections) == [h for h in CORE if h != "Teacher oracle"]  # shown once select has written it
    assert rep.html.count('class="missing"') >= 8
    assert "metrics/select.json" in rep.missing and "params.yaml" in rep.missing


def test_the_summary_names_the_tokenizer_that_counted():
    ingest = {"total": {"read": 3, "kept": 3, "quarantined": 0, "n_tokens": 30, "by_reason": {}}}
    target = {"name": "models/llama-3/tokenizer.json", "sha256": "0123456789abcdef" * 4, "vocab_size": 128256}
    html = render(ReportInputs(ingest={**ingest, "tokenizer": target}), ReportParams(dpi=50)).html
    assert "Tokens counted with" in html
    assert "models/llama-3/tokenizer.json (vocab 128,256, sha256 0123456789ab&#8230;)" in html
    bundled = {"name": "minilm", "sha256": "f" * 64, "vocab_size": 30522}
    html = render(ReportInputs(ingest={**ingest, "tokenizer": bundled}), ReportParams(dpi=50)).html
    assert "minilm, the WordPiece tokenizer bundled with all-MiniLM-L6-v2 (vocab 30,522" in html
    assert "names no tokenizer" in render(ReportInputs(ingest=ingest), ReportParams(dpi=50)).html  # older metrics


def test_rendering_is_deterministic():
    assert build_report(tiny_inputs(), ReportParams(dpi=50)) == build_report(tiny_inputs(), ReportParams(dpi=50))


def test_loader_reads_what_exists_and_leaves_the_rest_empty(tmp_path):
    lay = Layout(tmp_path)
    assert load_inputs(lay).select is None and load_inputs(lay).manifests == {}
    full = tiny_inputs(EVALUATE)
    for name, obj in (("select", full.select), ("evaluate", full.evaluate), ("students", full.students)):
        lay.metrics.mkdir(exist_ok=True)
        lay.metrics_file(name).write_text(json.dumps(obj))
    write_parquet(full.mira.with_columns(record_id=pl.lit("r"), n_tokens=pl.lit(1), method=pl.lit("mira")),
                  tmp_path / "data" / "selection" / "mira" / "manifest.parquet")
    write_parquet(full.mira, tmp_path / "data" / "selection" / "random" / "manifest.parquet")
    (tmp_path / "params.yaml").write_text("report:\n  title: x\n")
    inp = load_inputs(lay)
    assert list(inp.manifests) == ["mira", "random"]
    assert inp.mira.columns == ["source", "group", "score", "kept", "reason"]
    assert inp.evaluate == EVALUATE and inp.params_text.startswith("report:")
    assert set(inp.versions) >= {"mira", "prefect", "dvc", "mlflow", "polars", "torch", "transformers"}
    rep = render(inp, ReportParams(dpi=50))
    assert "Proxy evaluation" in rep.sections and "metrics/ingest.json" in rep.missing


def test_params_yaml_lists_every_report_field():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(params["report"]) == set(ReportParams.model_fields)
    assert all(f.description for f in ReportParams.model_fields.values())


def test_the_filters_section_lists_what_dedup_and_decontaminate_drop():
    inp = tiny_inputs()
    bare = build_report(inp, ReportParams(dpi=50))
    assert "metrics/dedup.json" in bare and "written by the dedup stage" in bare  # absent: said, not an error
    counts = {"sources": {"code": {"records_in": 40, "records_dropped": 3}, EVIL: {"records_in": 40,
                                                                                   "records_dropped": 0}}}
    decon = {"sources": {"code": {"records_in": 40, "records_dropped": 1}}, "benchmarks": {
        "humaneval": {"items": 164, "ngrams": 13000, "records_dropped": 2}}}
    matches = pl.DataFrame({"record_id": ["code/7", "code/9"], "source": ["code", "code"],
                            "benchmark": ["humaneval", "humaneval"], "item": ["HumanEval/0", "HumanEval/10"],
                            "n_matches": [12, 3]})
    page = build_report(ReportInputs(**{**inp.__dict__, "dedup": counts, "decontaminate": decon,
                                        "contaminated": matches}), ReportParams(dpi=50, max_listed=1))
    section = page.split("<h2>Near-duplicates and contamination</h2>")[1].split("<h2>")[0]
    assert "near-duplicates dropped" in section and "HumanEval/0" in section and "code/7" in section
    assert "HumanEval/10" not in section and "1 of 2 matches shown" in section  # max_listed caps the listing
    assert ">164<" in section and "metrics/dedup.json" not in section


def test_a_generative_students_rationales_for_kept_and_dropped_records_are_shown(tmp_path):
    from mira_core.report.inputs import rationale_samples

    lay = Layout(tmp_path)
    ids = [f"s/{i}" for i in range(10)]
    kept = [i < 5 for i in range(10)]
    write_parquet(pl.DataFrame({"record_id": ids, "source": ["s"] * 10, "group": ["g0"] * 10, "n_tokens": [5] * 10,
                                "score": [float(10 - i) for i in range(10)], "kept": kept,
                                "reason": ["kept" if k else "over_budget" for k in kept], "method": ["mira"] * 10,
                                "epochs": [1.0 if k else 0.0 for k in kept]}),
                  lay.selection / "mira" / "manifest.parquet")
    assert rationale_samples(lay) is None  # no score file carries rationales: a student that writes none
    write_parquet(pl.DataFrame({"record_id": ids, "group": ["g0"] * 10, "a00": [1.0] * 10,
                                "rationales": [json.dumps({"a00": f"reason {i}"}) for i in range(10)]}),
                  lay.scores / "g0" / "s" / "part-00000.parquet")
    sample = rationale_samples(lay, n=2)
    assert sample["record_id"].to_list() == ["s/0", "s/1", "s/8", "s/9"]  # best kept first, then worst dropped
    inp = tiny_inputs()
    page = build_report(ReportInputs(**{**inp.__dict__, "rationales": sample}), ReportParams(dpi=50))
    section = page.split("<h2>Students</h2>")[1].split("<h2>")[0]
    assert "What the generative student wrote" in section and "reason 9" in section and "dropped" in section


def test_rationale_samples_break_score_ties_by_record_id_not_by_row_order(tmp_path):
    from mira_core.report.inputs import rationale_samples

    lay = Layout(tmp_path)
    ids = [f"s/{i}" for i in range(6)][::-1]  # the manifest's rows in the other order, every score equal
    write_parquet(pl.DataFrame({"record_id": ids, "source": ["s"] * 6, "group": ["g0"] * 6, "n_tokens": [5] * 6,
                                "score": [1.0] * 6, "kept": [True] * 3 + [False] * 3,
                                "reason": ["kept"] * 3 + ["over_budget"] * 3, "method": ["mira"] * 6,
                                "epochs": [1.0] * 3 + [0.0] * 3}),
                  lay.selection / "mira" / "manifest.parquet")
    write_parquet(pl.DataFrame({"record_id": ids, "group": ["g0"] * 6, "a00": [1.0] * 6,
                                "rationales": [json.dumps({"a00": "r"})] * 6}),
                  lay.scores / "g0" / "s" / "part-00000.parquet")
    assert rationale_samples(lay, n=2)["record_id"].to_list() == ["s/3", "s/4", "s/0", "s/1"]


def _section(html: str, heading: str) -> str:
    return html.split(f"<h2>{heading}</h2>")[1].split("<h2>")[0]


def test_rationales_are_read_from_groups_whose_students_have_different_anchors(tmp_path):
    """Each group's score files have its own anchor columns: reading them all at once failed on the second group's."""
    from mira_core.report.inputs import rationale_samples

    lay = Layout(tmp_path)
    rows, anchors = [], {"g0": ["a00"], "g1": ["a00", "a01", "a02"]}
    for g in anchors:
        for i in range(4):
            rows.append({"record_id": f"{g}/{i}", "source": g, "group": g, "n_tokens": 5, "score": float(4 - i),
                         "kept": i < 2, "reason": "kept" if i < 2 else "over_budget", "method": "mira",
                         "epochs": 1.0 if i < 2 else 0.0})
    write_parquet(pl.DataFrame(rows), lay.selection / "mira" / "manifest.parquet")
    for g, cols in anchors.items():
        ids = [f"{g}/{i}" for i in range(4)]
        write_parquet(pl.DataFrame({"record_id": ids, "group": [g] * 4, **{a: [1.0] * 4 for a in cols},
                                    "rationales": [json.dumps({cols[-1]: f"{g} reason {i}"}) for i in range(4)]}),
                      lay.scores / g / g / "part-00000.parquet")
    sample = rationale_samples(lay, n=1)
    assert sample.select("group", "record_id").rows() == [("g0", "g0/0"), ("g0", "g0/3"), ("g1", "g1/0"),
                                                          ("g1", "g1/3")]
    assert json.loads(sample["rationales"][3]) == {"a02": "g1 reason 3"}


def test_a_disabled_evaluate_stage_is_one_line_not_an_empty_table():
    off = render(tiny_inputs({"enabled": False}), ReportParams(dpi=50))  # what the stage writes when it is off
    section = _section(off.html, "Proxy evaluation")
    assert "Disabled (evaluate.enabled: false" in section and "<table" not in section and "<img" not in section
    empty = _section(render(tiny_inputs({"enabled": True, "arms": {}}), ReportParams(dpi=50)).html, "Proxy evaluation")
    assert "needs arms in metrics/evaluate.json" in empty and "<table" not in empty


def test_records_with_a_nan_or_a_null_score_count_as_unscored():
    inp = tiny_inputs()
    score = pl.Series([float("nan"), float("nan"), None] + inp.mira["score"].to_list()[3:], dtype=pl.Float64)
    mira = inp.mira.with_columns(score=score)  # selection writes NaN for an unscored record; older manifests null
    section = _section(build_report(ReportInputs(**{**inp.__dict__, "mira": mira}), ReportParams(dpi=50)),
                       "Score distributions per group")
    assert "3 records have no score (unscored)" in section


def test_a_conflicted_or_non_object_metrics_file_is_a_config_error_naming_it(tmp_path):
    from mira_core.errors import ConfigError

    lay = Layout(tmp_path)
    lay.metrics.mkdir()
    select = lay.metrics_file("select")
    select.write_text('{\n<<<<<<< HEAD\n  "budget": 0.5\n=======\n  "budget": 0.4\n>>>>>>> exp\n}\n')
    with pytest.raises(ConfigError) as e:
        load_inputs(lay)
    msg = str(e.value)
    assert msg.startswith(f"{select}: not valid JSON (line 2, column 1: ") and "merge-conflict markers" in msg
    assert "re-run the select stage, which writes it (mira stage select, or dvc repro select)" in msg
    select.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"select\.json: holds an array, not a JSON object; re-run the select stage"):
        load_inputs(lay)
    select.unlink()
    (tmp_path / "data" / "rubrics").mkdir(parents=True)
    (tmp_path / "data" / "rubrics" / "g0.json").write_text('{"anchors": [')
    with pytest.raises(ConfigError, match=r"g0\.json: not valid JSON \(line 1, .*re-run the discover stage"):
        load_inputs(lay)


def test_a_select_json_from_an_older_mira_degrades_instead_of_failing():
    inp = tiny_inputs()
    old = {m: {k: v for k, v in r.items() if k not in ("selectable_tokens", "kept_token_share", "by_source")}
           for m, r in inp.select["methods"].items()}
    rep = render(ReportInputs(**{**inp.__dict__, "select": {**inp.select, "methods": old}}), ReportParams(dpi=50))
    assert rep.sections == render(inp, ReportParams(dpi=50)).sections
    summary = _section(rep.html, "Summary")
    assert "40 of 120 records; 1,000 of &#8211; selectable tokens" in summary  # a dash, as the page writes it
    assert ("needs methods.mira.selectable_tokens, methods.mira.kept_token_share in metrics/select.json, which lacks "
            "them") in summary
    assert "needs methods.mira.by_source in metrics/select.json" in _section(rep.html, "Retention per source")
    assert "MIRA keeps" not in rep.html.split("<nav>")[0]  # the subtitle leaves out the share it does not have


def test_the_export_format_is_escaped():
    inp = tiny_inputs()
    export = {"path": "data/selection/mira/records", "format": EVIL}
    html = build_report(ReportInputs(**{**inp.__dict__, "select": {**inp.select, "materialized": export}}),
                        ReportParams(dpi=50))
    assert EVIL not in html and "per source, as &lt;script&gt;alert(1)&lt;/script&gt;;" in html


def test_the_reliability_section_leaves_held_out_sources_out_as_select_json_does():
    """The held-out qa has mask rows (judged on its group's figures, with no labels of its own); they decide nothing,
    so they are not drawn or counted, and the section says why."""
    section = _section(render(tiny_inputs(), ReportParams(dpi=50)).html, "Anchors and reliability")
    assert "Held-out sources (qa) are left out below" in section
    assert "Group g1" not in section  # its one source is held out
    assert "2 of 6 (source, anchor) pairs in use" in section  # g0: code and the hostile source, three anchors each


def test_figures_over_the_selectable_records_leave_filtered_ones_out(monkeypatch):
    # a source that lost records to dedup: its tokens cell is the selectable tokens its shares are over; its
    # near-duplicates are not drawn as dropped by the cut; the filters table counts what select dropped
    from mira_core.report import plots, sections

    inp = tiny_inputs()
    mira = inp.mira.with_columns(reason=pl.when((pl.col("source") == "code") & (pl.col("reason") == "over_budget")
                                                & (pl.int_range(pl.len()) % 4 == 1)).then(pl.lit("near_duplicate"))
                                 .otherwise(pl.col("reason")))
    n_near = mira.filter(pl.col("reason") == "near_duplicate").height
    assert n_near > 0
    by_source = {s: {**v, "selectable_tokens": 400} for s, v in inp.select["methods"]["mira"]["by_source"].items()}
    select = {**inp.select, "methods": {**inp.select["methods"],
                                        "mira": {**inp.select["methods"]["mira"], "by_source": by_source}}}
    inp = dataclasses.replace(inp, mira=mira, select=select, dedup={"sources": {"code": {"records_in": 40,
                                                                                         "records_dropped": 0}}})
    seen = {}
    monkeypatch.setattr(plots, "score_histograms", lambda groups, *a: seen.update(groups) or b"")
    sections.scores(inp, ReportParams(dpi=50))
    near_scores = set(mira.filter(pl.col("reason") == "near_duplicate")["score"].to_list())
    assert not near_scores & set(seen["g0"]["dropped"].tolist()) and len(seen["g0"]["filtered"]) == n_near
    page = build_report(inp, ReportParams(dpi=50))
    retention = page.split("<h2>Retention per source</h2>")[1].split("<h2>")[0]
    assert "selectable tokens" in retention and '<td class="n">400</td>' in retention
    assert '<td class="n">1,000</td>' not in retention
    filters = page.split("<h2>Near-duplicates and contamination</h2>")[1].split("<h2>")[0]
    assert f'<td>code</td><td class="n">40</td><td class="n">{n_near}</td>' in filters, filters[:800]


def test_overlap_is_none_where_neither_method_keeps_a_record():
    from mira_core.selection import overlap

    some = pl.DataFrame({"record_id": ["a", "b"], "kept": [True, False]})
    none = pl.DataFrame({"record_id": ["a", "b"], "kept": [False, False]})
    got = overlap({"m": some, "empty": none})
    assert got["empty"]["empty"] is None and got["m"]["m"] == 1.0 and got["m"]["empty"] == 0.0


def test_the_mask_notes_list_the_flat_labels_rule_once_whatever_each_sources_count():
    """`_why` turns a reason into its rule; the flat labels' reason names each source's count of labeled records,
    so 30 sources with flat labels listed the one rule 30 times."""
    from mira_core.report.sections import _why
    from mira_core.selection import CONSTANT_LABELS_WHY

    rules = {_why(f"{CONSTANT_LABELS_WHY} {n} labeled records of the source: nothing to rank") for n in (32, 35, 40)}
    assert len(rules) == 1 and "32" not in next(iter(rules))
    assert _why("Somers' D 0.14 < 0.3") == "Somers' D < 0.3"


def test_the_proxy_table_puts_mira_first_and_gives_each_arms_verdicts_beyond_the_noise_too():
    # evaluate.json's keys are sorted, so `full` came first; and the only verdicts shown were the pairs within
    # the noise, so an arm MIRA lost to beyond the noise was nowhere in words
    import re

    arms = {"full": {"loss_mean": 2.30, "loss_std": 0.01, "seeds": [0, 1, 2], "note": "lower loss than mira (beyond noise)"},
            "mira": {"loss_mean": 2.35, "loss_std": 0.01, "seeds": [0, 1, 2], "note": "higher loss than full (beyond noise)"},
            "random": {"loss_mean": 2.36, "loss_std": 0.02, "seeds": [0, 1, 2], "note": "within noise of mira"},
            "length": {"loss_mean": 2.40, "loss_std": 0.02, "seeds": [0, 1, 2]}}
    html = build_report(tiny_inputs({"arms": arms, "within_noise": [["mira", "random"]]}), ReportParams(dpi=50))
    section = html[html.index("against the other arms"):]
    rows = re.findall(r"<tr><td>([^<]+)</td>", section)[:4]
    assert rows == ["mira", "random", "full", "length"]
    assert "higher loss than full (beyond noise)" in section and "lower loss than mira (beyond noise)" in section


def test_the_proxy_section_says_how_many_training_records_held_a_target_record():
    evaluate = {**EVALUATE, "target": {"holding_left_out": 108, "holding_examples": [["code/a.py", "qa/a.py::f"]]}}
    html = build_report(tiny_inputs(evaluate), ReportParams(dpi=50))
    assert "108 training records hold a held-out record inside them" in html and "code/a.py, which holds qa/a.py::f" in html
    assert "hold a held-out record" not in build_report(tiny_inputs(EVALUATE), ReportParams(dpi=50))


def test_the_oracle_shows_each_sources_kept_share_by_the_teacher_and_the_student(page):
    row = ("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
           '<td class="n">40</td><td class="n">42.0%</td><td class="n">55.0%</td>')
    assert row in page
    assert "labeled tokens kept by the teacher's labels" in page.replace("&#x27;", "'")
    older = tiny_inputs()
    oracle = {k: v for k, v in older.select["oracle"].items() if k != "by_source"}  # a select.json from before
    html = build_report(ReportInputs(**{**older.__dict__, "select": {**older.select, "oracle": oracle}}),
                        ReportParams(dpi=50))
    assert "Teacher oracle" in html and "labeled tokens kept by the teacher" not in html.replace("&#x27;", "'")
