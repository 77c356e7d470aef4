"""Tests of the students: fit/predict contract, checkpoints, versions, learning, and the n-gram featurizer.

Data are built here: embeddings whose labels are a noisy function of them, and texts whose labels
count the words they contain. Every kind is fitted once per module (fixtures) and reused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from scipy.stats import spearmanr

from mira_core.config import DistillParams, EmbedParams, FinetuneParams, HeadParams, LinearParams
from mira_core.errors import ConfigError
from mira_core.students import Inputs, load_student, make_student, student_version
from mira_core.students.ngrams import NgramHasher

SCALE = (1, 5)
ANCHORS = ["a00", "a01", "a02"]
GOOD = ["excellent", "clear", "precise", "thorough"]
BAD = ["sloppy", "vague", "broken", "wrong"]


# ----------------------------------------------------------------------------------------------- data


def labels(raw: np.ndarray) -> np.ndarray:
    """Integer scores on the scale, as a teacher gives them."""
    return np.clip(np.rint(raw), *SCALE).astype(np.int64)


def embedding_task(n: int = 800, dim: int = 24, seed: int = 0) -> tuple[Inputs, np.ndarray]:
    """Labels a noisy linear function of the embedding, one direction per anchor."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    w = rng.normal(size=(dim, len(ANCHORS)))
    w /= np.linalg.norm(w, axis=0)
    return Inputs(embeddings=x), labels(3 + 1.3 * x @ w + rng.normal(scale=0.3, size=(n, len(ANCHORS))))


def nonlinear_task(n: int = 1200, dim: int = 8, seed: int = 1) -> tuple[Inputs, np.ndarray]:
    """Labels of x0 * x1 (and x2 * x3): no linear function of x correlates with them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    raw = np.stack([3 + 1.8 * np.tanh(x[:, 0] * x[:, 1]), 3 - 1.8 * np.tanh(x[:, 2] * x[:, 3]),
                    3 + 1.8 * np.tanh(x[:, 0] * x[:, 3])], axis=1)
    return Inputs(embeddings=x), labels(raw)


def text_task(n: int = 480, seed: int = 2) -> tuple[Inputs, np.ndarray]:
    """Filler words plus some good and bad words; the anchors count them."""
    rng = np.random.default_rng(seed)
    stems, ends = ("data", "file", "line", "node", "text", "word"), ("set", "map", "run", "log")
    filler = [a + b for a in stems for b in ends]
    texts, counts = [], []
    for _ in range(n):
        k_good, k_bad = rng.integers(0, 4, size=2)
        words = list(rng.choice(filler, size=20)) + list(rng.choice(GOOD, k_good)) + list(rng.choice(BAD, k_bad))
        texts.append(" ".join(rng.permutation(words)))
        counts.append((k_good, k_bad))
    g, b = np.array(counts, dtype=float).T
    return Inputs(texts=texts), labels(np.stack([3 + g - b, 1 + 1.3 * g, 5 - 1.3 * b], axis=1))


def split(x: Inputs, y: np.ndarray, n_train: int) -> tuple[Inputs, np.ndarray, Inputs, np.ndarray]:
    idx = np.arange(len(y))
    return x.take(idx[:n_train]), y[:n_train], x.take(idx[n_train:]), y[n_train:]


# -------------------------------------------------------------------------------------------- students

TINY_FINETUNE = FinetuneParams(epochs=6, lr=1e-3, batch_size=16, max_length=48, device="cpu")


def build(kind: str, tiny_encoder: Path | None = None, scale: tuple[int, int] = SCALE, seed: int = 0,
          finetune: FinetuneParams = TINY_FINETUNE):
    """A fresh student of `kind` through make_student, with settings fit for tiny data."""
    p = {
        "head-ridge": DistillParams(student="head", seed=seed),
        "head-mlp": DistillParams(student="head", seed=seed, head=HeadParams(model="mlp", lr=3e-3)),
        "linear": DistillParams(student="linear", seed=seed, linear=LinearParams(n_features=2**16)),
        "finetune": DistillParams(student="finetune", seed=seed, finetune=finetune),
    }[kind]
    embed = EmbedParams(encoder=str(tiny_encoder)) if tiny_encoder else EmbedParams()
    return make_student(p, ANCHORS, scale, embed, {"encoder": "test", "dim": 24} if kind.startswith("head") else None)


def task(kind: str) -> tuple[Inputs, np.ndarray, Inputs, np.ndarray]:
    if kind.startswith("head"):
        return split(*embedding_task(), 600)
    return split(*text_task(), 360)


KINDS = ["head-ridge", "head-mlp", "linear", "finetune"]


@pytest.fixture(scope="module")
def fit_once(tiny_encoder):
    """kind -> (fitted student, fit report, held-out inputs, held-out labels, train labels); each kind fitted once."""
    cache: dict[str, tuple] = {}

    def get(kind: str) -> tuple:
        if kind not in cache:
            x, y, x_test, y_test = task(kind)
            student = build(kind, tiny_encoder)
            cache[kind] = (student, student.fit(x, y), x_test, y_test, y)
        return cache[kind]

    return get


@pytest.fixture(params=KINDS)
def fitted(request, fit_once):
    """(kind, fitted student, fit report, held-out inputs, held-out labels, train labels) for each kind."""
    return (request.param, *fit_once(request.param))


def test_make_student_builds_the_kind_asked_for(tiny_encoder):
    assert [(build(k, tiny_encoder).kind, build(k, tiny_encoder).needs) for k in KINDS] == [
        ("head", "embedding"), ("head", "embedding"), ("linear", "text"), ("finetune", "text")]


def test_predict_is_float32_one_column_per_anchor_on_the_scale(fitted):
    kind, student, _, x_test, _, _ = fitted
    pred = student.predict(x_test)
    assert pred.dtype == np.float32 and pred.shape == (len(x_test), len(ANCHORS))
    assert np.isfinite(pred).all() and pred.min() >= SCALE[0] and pred.max() <= SCALE[1]
    assert student.predict(x_test.take(np.arange(0))).shape == (0, len(ANCHORS))


@pytest.mark.parametrize("kind", ["head-ridge", "head-mlp", "linear"])
def test_predictions_are_clipped_to_a_narrower_scale(kind):
    x, y, x_test, _ = task(kind)
    student = build(kind, scale=(2, 4))  # labels run 1..5, so unclipped predictions leave 2..4
    student.fit(x, y)
    pred = student.predict(x_test)
    assert pred.min() == 2.0 and pred.max() == 4.0


def test_each_student_beats_the_train_mean_on_held_out_data(fitted):
    kind, student, _, x_test, y_test, y_train = fitted
    pred = student.predict(x_test)
    for j, anchor in enumerate(ANCHORS):
        mae, const_mae = np.abs(pred[:, j] - y_test[:, j]).mean(), np.abs(y_train[:, j].mean() - y_test[:, j]).mean()
        rho = spearmanr(pred[:, j], y_test[:, j])[0]
        assert mae < 0.8 * const_mae, f"{kind} {anchor}: MAE {mae:.3f} vs constant {const_mae:.3f}"
        assert rho > 0.4, f"{kind} {anchor}: Spearman {rho:.3f}"


def test_checkpoint_round_trips_with_identical_predictions_and_no_pickles(fitted, tmp_path):
    kind, student, _, x_test, _, _ = fitted
    student.save(tmp_path / "ckpt")
    names = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"model.safetensors", "config.json"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".pt", ".pth", ".bin", ".joblib", ".npy"))]
    if kind != "finetune":
        assert names == {"model.safetensors", "config.json"}
    with safe_open(str(tmp_path / "ckpt" / "model.safetensors"), framework="numpy") as f:
        assert list(f.keys())
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["kind"] == student.kind and config["anchors"] == ANCHORS and config["scale"] == list(SCALE)

    loaded = load_student(tmp_path / "ckpt")
    assert type(loaded) is type(student) and loaded.needs == student.needs
    np.testing.assert_array_equal(loaded.predict(x_test), student.predict(x_test))
    loaded.save(tmp_path / "again")  # a loaded student saves the same checkpoint
    assert student_version(tmp_path / "again") == student_version(tmp_path / "ckpt")


@pytest.mark.parametrize("kind", KINDS)
def test_version_is_stable_for_the_same_training_and_changes_with_other_labels(kind, tiny_encoder, tmp_path):
    x, y, _, _ = task(kind)
    if kind == "finetune":  # one short epoch is enough to tell versions apart
        x, y = x.take(np.arange(64)), y[:64]
    versions = []
    for name, labels_ in (("a", y), ("b", y), ("c", y[::-1].copy())):
        student = build(kind, tiny_encoder, finetune=TINY_FINETUNE.model_copy(update={"epochs": 1}))
        student.fit(x, labels_)
        student.save(tmp_path / name)
        versions.append(student_version(tmp_path / name))
    assert versions[0] == versions[1], "the same data and seed must give the same checkpoint"
    assert versions[2] != versions[0]


def test_mlp_head_learns_a_nonlinear_target_that_ridge_cannot():
    x, y, x_test, y_test = split(*nonlinear_task(), 900)
    errors, rhos = {}, {}
    for kind in ("head-ridge", "head-mlp"):
        student = build(kind)
        student.fit(x, y)
        pred = student.predict(x_test)
        errors[kind] = np.abs(pred - y_test).mean()
        rhos[kind] = min(spearmanr(pred[:, j], y_test[:, j])[0] for j in range(len(ANCHORS)))
    assert errors["head-mlp"] < 0.75 * errors["head-ridge"], errors
    assert rhos["head-mlp"] > 0.5 and rhos["head-ridge"] < 0.25, rhos


def test_mlp_reports_a_falling_loss_and_training_is_seeded():
    x, y, x_test, _ = task("head-mlp")
    a, b, c = build("head-mlp"), build("head-mlp"), build("head-mlp", seed=1)
    report = a.fit(x, y)
    b.fit(x, y)
    c.fit(x, y)
    assert len(report["train_loss"]) == 200 and report["train_loss"][-1] < 0.5 * report["train_loss"][0]
    np.testing.assert_array_equal(a.predict(x_test), b.predict(x_test))
    assert not np.array_equal(a.predict(x_test), c.predict(x_test))


def test_finetune_loss_falls_across_epochs(fit_once):
    _, report, _, _, _ = fit_once("finetune")
    losses = report["train_loss"]
    assert len(losses) == TINY_FINETUNE.epochs and report["device"] == "cpu"
    assert losses[-1] < 0.7 * losses[0], losses
    assert report["steps"] == TINY_FINETUNE.epochs * int(np.ceil(360 / TINY_FINETUNE.batch_size))


def test_finetune_checkpoint_is_self_contained(fit_once, tmp_path):
    student = fit_once("finetune")[0]
    student.save(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["encoder_config"]["hidden_size"] == 32 and config["pooling"] == "mean"
    assert {"tokenizer.json", "tokenizer_config.json"} <= set(config["tokenizer_files"])
    assert all((tmp_path / "ckpt" / name).exists() for name in config["tokenizer_files"])
    with safe_open(str(tmp_path / "ckpt" / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert {"head.weight", "head.bias", "y_mean", "y_std"} <= keys and any(k.startswith("encoder.") for k in keys)


# ------------------------------------------------------------------------------------------ head extras


@pytest.mark.parametrize("kind", ["head-ridge", "head-mlp"])
def test_head_refuses_embeddings_of_another_encoder(kind, fit_once, tmp_path):
    student = fit_once(kind)[0]
    student.save(tmp_path / "h")
    loaded = load_student(tmp_path / "h")
    loaded.check_encoder({"encoder": "test", "dim": 24})  # the one it was trained on
    loaded.check_encoder(None)  # unknown: nothing to compare
    with pytest.raises(ConfigError, match="another encoder.*encoder"):
        loaded.check_encoder({"encoder": "other", "dim": 24})
    with pytest.raises(ConfigError, match="24-dim"):
        loaded.predict(Inputs(embeddings=np.zeros((2, 16), np.float32)))


def test_bad_labels_are_refused():
    x, y, _, _ = task("head-ridge")
    with pytest.raises(ValueError, match="shape"):
        build("head-ridge").fit(x, y[:, :2])
    y_nan = y.astype(float)
    y_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        build("head-ridge").fit(x, y_nan)
    with pytest.raises(ValueError, match="reads texts"):
        build("linear").fit(x, y)


# ------------------------------------------------------------------------------------------ load errors


def test_load_of_an_unknown_kind_names_the_folder(tmp_path):
    folder = tmp_path / "weird"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"kind": "forest", "anchors": ANCHORS}))
    with pytest.raises(ConfigError, match=r"weird.*'forest'"):
        load_student(folder)
    with pytest.raises(ConfigError, match="no config.json"):
        load_student(tmp_path / "missing")


def test_load_refuses_features_of_another_scheme(tmp_path):
    x, y, _, _ = task("linear")
    student = build("linear")
    student.fit(x, y)
    student.save(tmp_path / "lin")
    config = json.loads((tmp_path / "lin" / "config.json").read_text())
    config["features"]["scheme"] = "mira-ngram-hash/0"
    (tmp_path / "lin" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="lin.*scheme"):
        load_student(tmp_path / "lin")


# --------------------------------------------------------------------------------------------- n-grams


def test_ngram_features_of_a_record_do_not_depend_on_its_batch():
    texts = [f"record {i}: " + "some words here and there " * (i % 7) for i in range(300)] + ["", "   \n\t "]
    h = NgramHasher(n_features=2**12)
    together = h.transform(texts)
    alone = [h.transform([t]) for t in texts]
    for i in (0, 5, 127, 128, 129, 299, 300, 301):  # across chunk boundaries, and empty records
        np.testing.assert_array_equal(together[i].toarray(), alone[i].toarray())
    assert together[300].nnz == 0 and together[301].nnz == 0
    assert together.dtype == np.float32 and together.shape == (302, 2**12)


def test_ngram_blocks_are_each_unit_length_and_words_follow_sklearn():
    from sklearn.feature_extraction.text import CountVectorizer

    text = "The quick brown fox, the QUICK dog: a x_y 42 Ünïcödé\n\n   spaces"
    both = NgramHasher(n_features=2**20).transform([text]).toarray()[0]
    words = NgramHasher(n_features=2**20, char_ngrams=()).transform([text]).toarray()[0]
    np.testing.assert_allclose(np.linalg.norm(words), 1.0, rtol=1e-6)
    np.testing.assert_allclose(both @ both, 2.0, rtol=1e-5)  # two unit blocks, (almost surely) disjoint buckets
    sk = CountVectorizer(ngram_range=(1, 2)).fit([text])
    assert np.count_nonzero(words) == len(sk.vocabulary_)  # same tokens (\w\w+, lowercased), same bigrams
    same_case = NgramHasher(n_features=2**20).transform([text.lower().replace("\n\n   ", " ")]).toarray()[0]
    np.testing.assert_array_equal(both, same_case)  # lowercased, whitespace runs are one space


def test_ngram_words_above_the_bmp_follow_sklearn():
    """Emoji are not word characters and CJK extension B ideographs are; both lie above the BMP."""
    from sklearn.feature_extraction.text import CountVectorizer

    for text in ("ship it \U0001F680\U0001F680 now \U00020000\U00020001 ok done", "\U0001F6A8" * 40, "a\U0001F389b cd"):
        words = NgramHasher(n_features=2**20, char_ngrams=()).transform([text]).toarray()[0]
        try:
            vocabulary = CountVectorizer(ngram_range=(1, 2)).fit([text]).vocabulary_
        except ValueError:  # sklearn refuses a text without any word
            vocabulary = {}
        assert np.count_nonzero(words) == len(vocabulary), text


def test_ngram_settings_round_trip_and_are_checked():
    h = NgramHasher(n_features=1000, max_chars=50, word_ngrams=(1,), char_ngrams=(4,))
    assert NgramHasher.from_settings(json.loads(json.dumps(h.settings()))) == h
    text = "words of a record " * 3 + "and a tail that is never read"
    np.testing.assert_array_equal(h.transform([text]).toarray(), h.transform([text[:50]]).toarray())
    with pytest.raises(ValueError):
        NgramHasher(n_features=2**30)
    with pytest.raises(ValueError):
        NgramHasher(word_ngrams=(), char_ngrams=())


def test_the_linear_student_reads_a_long_record_to_its_end_by_default():
    """A TODO 20,000 characters into a module moves the default linear student's features, as it moves the teacher's
    `todo_markers`: with the head of 4,000 characters it read before, the two records below had the same features."""
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(1200))
    assert len(body) > 20_000
    todo, clean = body + "# TODO: handle the empty case\n", body + "# the empty case is handled above\n"
    student = make_student(DistillParams(student="linear"), ["a00"], (1, 5), EmbedParams(), None)
    h = student.hasher
    assert h.max_chars >= 100_000
    assert (h.transform([todo]) != h.transform([clean])).nnz > 0
    old_head = NgramHasher(n_features=h.n_features, max_chars=4000)
    assert (old_head.transform([todo]) != old_head.transform([clean])).nnz == 0


def test_finetune_checkpoint_loads_when_the_tokenizer_config_names_no_class(tiny_encoder, tmp_path):
    import shutil

    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, encoder)
    tc = json.loads((encoder / "tokenizer_config.json").read_text())
    tc.pop("tokenizer_class", None)
    (encoder / "tokenizer_config.json").write_text(json.dumps(tc))
    x, y, x_test, _ = task("finetune")
    student = build("finetune", encoder, finetune=TINY_FINETUNE.model_copy(update={"epochs": 1}))
    student.fit(x.take(np.arange(32)), y[:32])
    student.save(tmp_path / "ckpt")  # without the class named, AutoTokenizer would read the student's config.json
    np.testing.assert_array_equal(load_student(tmp_path / "ckpt").predict(x_test), student.predict(x_test))


def test_score_refuses_inputs_made_otherwise_than_the_students_for_every_kind(tmp_path):
    # Only the head checked its encoder; the trees (principal axes of the embedding, statistics) and the linear
    # student (statistics) were scored on whatever embed made. The fingerprint beside every checkpoint is checked.
    from mira_core.errors import ConfigError
    from mira_core.io import write_json
    from mira_core.students.base import TRAINED_ON, check_trained_on

    made = {"encoder": "static", "weights": "aa", "embed": "embed/2", "stats": "docstats/4", "n_stats": 58}
    check_trained_on(tmp_path, "both", made)  # a checkpoint from before the file: nothing to compare
    write_json({"encoder": made}, tmp_path / TRAINED_ON)
    check_trained_on(tmp_path, "both", dict(made))
    with pytest.raises(ConfigError, match=r"differ in weights\); re-run distill after embed"):
        check_trained_on(tmp_path, "both", made | {"weights": "bb"})
    check_trained_on(tmp_path, "text", made | {"weights": "bb"})  # reads no embedding: another encoder is fine
    with pytest.raises(ConfigError, match="differ in stats"):
        check_trained_on(tmp_path, "text", made | {"stats": "docstats/2"})  # ... but not other statistics
    # ... unless it reads none (linear with distill.linear.stats false, a generative student)
    check_trained_on(tmp_path, "text", made | {"stats": "docstats/2", "n_stats": 0}, reads_stats=False)


def test_the_distill_params_given_to_the_task_hold_only_the_kinds_it_fits():
    # what keys the distill cache: a trees knob must not re-fit a head student, but must re-fit auto using trees
    from mira_core.student_params import DistillParams

    head = DistillParams(student="head", trees={"n_estimators": 7}, generative={"lora": True})
    assert head.in_use() == DistillParams(student="head").in_use()
    assert DistillParams(student="head", head={"model": "mlp"}).in_use() != head.in_use()
    auto = DistillParams(student="auto", trees={"n_estimators": 7}, finetune={"epochs": 9})
    assert auto.in_use().trees.n_estimators == 7 and auto.in_use() == DistillParams(
        student="auto", trees={"n_estimators": 7}).in_use()  # finetune is no candidate by default
    assert DistillParams(student="auto", auto={"candidates": ["head", "finetune"]}, finetune={"epochs": 9}
                         ).in_use().finetune.epochs == 9
