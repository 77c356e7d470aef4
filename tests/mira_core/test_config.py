"""Tests of the config model and the params.yaml loader: bad values fail early, naming key, value and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.params import load_params
from mira_core.config import Params, parse_params
from mira_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


MINIMAL = """\
sources:
  - name: a
    path: a.jsonl
    format: text
ingest:
  max_chars: 100
"""


def test_repo_params_yaml_is_valid_and_names_every_knob():
    params = load_params(REPO / "params.yaml")
    assert [s.name for s in params.sources][:2] == ["stdlib_code", "site_packages_code"]
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    # every field of every section is written out in params.yaml, so no knob hides behind a default
    for section in Params.model_fields:
        if section == "sources":
            continue
        value = getattr(params, section)
        assert set(raw[section]) == set(type(value).model_fields), section


def test_every_field_has_a_description():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                walk(sub)

    walk(Params)


def test_minimal_params_load(tmp_path):
    p = load_params(_write(tmp_path, MINIMAL))
    assert p.ingest.max_chars == 100
    assert p.sources[0].resolved_reader() == "jsonl"


def test_typo_names_key_line_and_suggestion(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL.replace("max_chars: 100", "max_charz: 100")))
    msg = str(e.value)
    assert "params.yaml:6: ingest.max_charz = 100: unknown key" in msg
    assert "did you mean 'max_chars'" in msg


def test_a_key_set_twice_is_an_error_naming_both_lines(tmp_path):
    """YAML keeps the second of two equal keys: the first, which a user may be editing, would do nothing."""
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL + "  max_chars: 200\n"))
    assert str(e.value) == (f"{tmp_path / 'params.yaml'}:7: ingest.max_chars: set twice (lines 6 and 7); YAML "
                            "would keep the last one silently, so delete one")
    # told once, where it is written, however often an alias repeats it; `1:` and `'1':` are two keys
    from mira_core.config_errors import duplicate_keys, key_lines

    text = "base: &b {x: 1, x: 2}\nuse1: {<<: *b}\nuse2: *b\nkeys: {1: a, '1': b}\nloop: &l [*l]\n"
    assert duplicate_keys(yaml.compose(text), Path("p.yaml")) == [
        "p.yaml:1: base.x: set twice (lines 1 and 1); YAML would keep the last one silently, so delete one"]
    assert key_lines(yaml.compose(text))["loop[0]"] == 5  # a list that holds itself ends the walk


def test_a_number_mira_and_dvc_read_differently_is_refused_with_its_line(tmp_path):
    """PyYAML (YAML 1.1) reads `010` as 8 and `1:30` as 90; DVC's YAML 1.2 reads 10 and the text '1:30', so `dvc
    params diff` would show a value the run never used."""
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL.replace("max_chars: 100", "max_chars: 0100")))
    assert str(e.value) == (f"{tmp_path / 'params.yaml'}:6: ingest.max_chars = 0100: an octal number to YAML 1.1 "
                            "(mira reads 64) and a decimal one to DVC's YAML 1.2 (it reads 100); write 64 or 100")
    from mira_core.config_errors import yaml_version_numbers

    text = "a: {b: 1:30, c: [007, 00, -07, '010', 0b11, 1_000, 0.5, 10]}\nd: &d 010\ne: *d\n"
    assert yaml_version_numbers(yaml.compose(text), Path("p.yaml")) == [
        "p.yaml:1: a.b = 1:30: a base-60 number to YAML 1.1 (mira reads 90) and a string to DVC's YAML 1.2; write 90, "
        "or quote it if it is text",
        "p.yaml:2: d = 010: an octal number to YAML 1.1 (mira reads 8) and a decimal one to DVC's YAML 1.2 (it reads "
        "10); write 8 or 10"]  # 007, 00 and -07 are the same number to both; an alias is told where it is written
    assert load_params(_write(tmp_path, MINIMAL.replace("max_chars: 100", "max_chars: '0100'"))).ingest.max_chars == 100


def test_a_problem_with_a_whole_section_does_not_print_the_section(tmp_path):
    """A misspelt section is named with the suggestion up front, not after a dump of every value under it."""
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL.replace("ingest:", "ingst:")))
    assert str(e.value) == f"{tmp_path / 'params.yaml'}:5: ingst: unknown key (a typo?); did you mean 'ingest'?"


def test_a_check_across_sections_names_its_keys_not_the_whole_file():
    raw = {"sources": [{"name": "x", "path": "x.jsonl", "format": "text"}], "select": {"held_out_sources": ["y"]}}
    with pytest.raises(ConfigError) as e:
        parse_params(raw, "params.yaml")
    assert str(e.value) == "params.yaml: select.held_out_sources names 'y', which is not a source (x)"


def test_a_check_across_sections_names_the_line_of_the_key_it_opens_with(tmp_path):
    text = ("sources:\n  - {name: a, path: x.jsonl, format: text}\n  - {name: a, path: y.jsonl, format: text}\n"
            "select:\n  held_out_sources: [c]\n")
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, text.replace("name: a, path: y", "name: b, path: y")))
    assert str(e.value).startswith(f"{tmp_path / 'params.yaml'}:5: select.held_out_sources names 'c'")
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, text))
    assert str(e.value).startswith(f"{tmp_path / 'params.yaml'}:3: sources[1].name 'a' is used by an earlier source")


def test_holding_out_every_source_leaves_nothing_to_select():
    raw = {"sources": [{"name": "x", "path": "x.jsonl", "format": "text"}], "select": {"held_out_sources": ["x"]}}
    with pytest.raises(ConfigError) as e:
        parse_params(raw, "params.yaml")
    assert str(e.value) == ("params.yaml: select.held_out_sources names every source: nothing is left to judge, "
                            "label or select")


def test_a_renamed_key_says_its_new_name(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL + "select:\n  tau_spearman: 0.3\n"))
    assert "select.tau_spearman = 0.3: renamed: write 'tau_rank' instead" in str(e.value)


def test_bad_value_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL.replace("max_chars: 100", "max_chars: -5")))
    assert "params.yaml:6: ingest.max_chars = -5: Input should be greater than 0" in str(e.value)


def test_a_key_pasted_as_api_key_env_is_refused_and_never_repeated(tmp_path):
    key = "sk-proj-AbC123xyz"
    for section in ("teacher", "score:\n  generative_server"):
        indent = "    " * section.count("\n") + "  "
        with pytest.raises(ConfigError) as e:
            load_params(_write(tmp_path, MINIMAL + f"{section}:\n{indent}api_key_env: {key}\n"))
        assert "api_key_env: must be the NAME of an environment variable" in str(e.value)
        assert key not in str(e.value)  # the error, and so the log, never holds the key
    assert load_params(_write(tmp_path, MINIMAL + "teacher:\n  api_key_env: MY_KEY_2\n")).teacher.api_key_env == "MY_KEY_2"
    assert load_params(_write(tmp_path, MINIMAL + "teacher:\n  api_key_env: null\n")).teacher.api_key_env is None


def test_a_secret_under_a_wrong_key_is_never_repeated(tmp_path):
    for text, secret in (("teacher:\n  api_key: sk-proj-SECRET123\n", "SECRET123"),
                         ("teacher:\n  base_urll: https://user:s3cretPW@h/v1\n", "s3cretPW"),
                         ("score:\n  generative_server:\n    token: abc-SECRET-9\n", "SECRET-9")):
        with pytest.raises(ConfigError) as e:
            load_params(_write(tmp_path, MINIMAL + text))
        assert secret not in str(e.value) and "unknown key" in str(e.value), str(e.value)
    with pytest.raises(ConfigError) as e:  # a known key's bad value is shown, though its name holds "token"
        load_params(_write(tmp_path, MINIMAL + "teacher:\n  max_tokens: -3\n"))
    assert "teacher.max_tokens = -3" in str(e.value)


def test_a_bad_value_of_a_number_or_word_knob_names_the_knob(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL + "group:\n  k: many\n"))
    assert "group.k = 'many':" in str(e.value) and "group.k.int" not in str(e.value), str(e.value)


def test_seeds_and_infinities_the_stages_would_crash_on_are_refused_naming_the_key(tmp_path):
    # a negative seed passed and the random baseline raised OverflowError; budget .inf raised one from a validator
    text = MINIMAL + ("select:\n  seed: -1\n  budget: .inf\nlabel:\n  seed: 4294967296\nevaluate:\n  seeds: [0, -2]\n"
                      "dedup:\n  seed: 4294967296\n")
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, text))
    msg = str(e.value)
    assert "select.seed = -1" in msg and "select.budget = inf: Input should be a finite number" in msg, msg
    assert "label.seed = 4294967296" in msg and "evaluate.seeds[1] = -2" in msg, msg
    assert "dedup.seed = 4294967296" in msg, msg


def test_bad_literal_in_a_source(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_params(_write(tmp_path, MINIMAL.replace("format: text", "format: html")))
    assert "sources[0].format = 'html'" in str(e.value)
    assert ":4:" in str(e.value)


def test_duplicate_source_names_are_rejected():
    raw = {"sources": [{"name": "a", "path": "x", "format": "text"}, {"name": "a", "path": "y", "format": "code"}]}
    with pytest.raises(ConfigError, match=r"sources\[1\].name 'a' is used by an earlier source"):
        parse_params(raw)


def test_source_name_must_be_a_path_segment():
    with pytest.raises(ConfigError, match="sources\\[0\\].name = 'a/b'"):
        parse_params({"sources": [{"name": "a/b", "path": "x", "format": "text"}]})


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(_write(tmp_path, "sources: [unclosed"))
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("path", "reader"), [
    ("x/a.jsonl", "jsonl"), ("a.jsonl.gz", "jsonl"), ("a.JSONL.zst", "jsonl"), ("a.parquet", "parquet"),
    ("some/folder", "folder"),
    # a signed URL's query is not the object's name: it read as a folder
    ("https://h/x.jsonl?sig=abc", "jsonl"), ("s3://b/p/a.parquet?versionId=3", "parquet"), ("https://h/dir/", "folder"),
])
def test_reader_is_inferred_from_the_path(path, reader):
    p = parse_params({"sources": [{"name": "a", "path": path, "format": "code"}]})
    assert p.sources[0].resolved_reader() == reader


def test_params_digest_changes_with_the_sections_it_covers_only(tmp_path):
    from mira_core.config import params_digest

    keys = ("ingest", "select.budget")
    base = load_params(_write(tmp_path, MINIMAL))
    stated = load_params(_write(tmp_path, MINIMAL + "  on_too_long: truncate\n"))  # the default, written out
    other = load_params(_write(tmp_path, MINIMAL + "evaluate:\n  seeds: [7]\nreport:\n  dpi: 80\n"))
    budget = load_params(_write(tmp_path, MINIMAL + "select:\n  budget: 0.3\n"))
    assert params_digest(base, keys) == params_digest(stated, keys) == params_digest(other, keys)
    assert params_digest(budget, keys) != params_digest(base, keys) != params_digest(base, ("ingest",))


def test_a_character_yaml_refuses_is_named_with_its_line(tmp_path):
    # a NUL (or another control character) in a value: PyYAML's ReaderError has no mark, and the message named
    # "<unicode string>", position N, over two lines
    f = tmp_path / "params.yaml"
    f.write_text("sources: []\nselect:\n  budget: 0.5\x00\n")
    with pytest.raises(ConfigError) as e:
        load_params(f)
    assert str(e.value) == (f"{f}:3:14: not valid YAML: character #x0000 is not allowed (special characters are "
                            "not allowed)")
