"""MLflow tracking: one parent run per pipeline run, nested runs for the per-group work of a stage.

Under `dvc repro` each stage is its own process, so "the pipeline run" cannot be a Python object.
It is identified by a key: a digest of params.yaml plus the git commit (and the DVC experiment name
when `dvc exp run` sets one), the mira code that runs (its version, and its commit where it runs
from a checkout: in a `mira init` project the project's commit does not name mira's code), and the params
as validated (what the parent run's params are logged from). Every stage of the same configuration logs
under the same parent run; a new experiment, an edited params.yaml, an upgraded mira or an edited default
starts a new one, which is what makes the MLflow UI compare configurations side by side.

Nothing secret is logged: params are logged section by section from the validated model, which
holds the *name* of the API-key variable, never a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from mira_core.config import MlflowParams, Params
from mira_core.errors import ConfigError, MiraError
from mira_core.layout import project_home
from mira_core.megatron import code_provenance
from mira_core.redact import redact_credentials

PIPELINE_KEY = "mira.pipeline_key"
MLFLOW_LOCK = "mlflow.lock"  # under <project>/.mira/, for a tracking server (a sqlite store is locked beside it)


def tracking_uri(p: MlflowParams, root: Path) -> str:
    """The tracking URI, with a relative sqlite path made absolute against the project folder (the workspace's, for
    a queued or temporary DVC experiment: its runs were written into the copy DVC then deleted)."""
    uri = p.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        rel, q, query = uri[len(prefix):].partition("?")  # a query of the user's own (?timeout=60) stays one
        return prefix + _url_path(str((project_home(root) / unquote(rel)).resolve())) + q + query
    return uri


def _url_path(path: str) -> str:
    """An absolute path as a sqlite URL's path. SQLAlchemy reads it percent-decoded and up to a '?': a project in
    'My%20Project' opened 'My Project/mlflow.db' (no such folder: minutes of MLflow's retries), one in 'a?b' wrote a
    file 'a' beside it. Escaped only then: a path escaped needlessly ('50%' as '50%25') makes MLflow create that
    folder."""
    if unquote(path) != path or "?" in path:
        return path.replace("%", "%25").replace("?", "%3F")
    return path


def _create_sqlite_store(uri: str, artifacts: Path) -> None:
    """Create a new sqlite store under a temporary name and rename it into place (call under `store_lock`).

    MLflow builds a new store in place over some forty schema migrations, seconds on 2 cores: a kill during one
    left a half-migrated mlflow.db ("table _alembic_tmp_params already exists"), and every later distill, report
    and evaluate failed on it after its work. An existing store is left as it is; what a killed creation left beside
    it (the temporary file and its SQLite journal) is removed."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return
    rest, q, query = uri[len(prefix):].partition("?")
    path = Path(unquote(rest))
    if not path.parent.is_dir():
        return  # MLflow's own error names it
    from mira_core.io import atomic_path, temp_file_of

    stale = re.compile(temp_file_of(path.name) + "(?:-journal|-wal|-shm)?")  # SQLite's files beside it too
    for f in path.parent.iterdir():
        if stale.fullmatch(f.name):
            f.unlink(missing_ok=True)
    if path.exists():
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with atomic_path(path) as tmp:
        SqlAlchemyStore(prefix + _url_path(str(tmp)) + q + query, artifacts.resolve().as_uri()).engine.dispose()


def is_tracking_server(uri: str) -> bool:
    """Whether an MLflow tracking URI names a tracking server (http or https, with its own UI) rather than a store."""
    return uri.split(":", 1)[0].lower() in ("http", "https")


@contextmanager
def _store_errors(uri: str):
    """A locked or corrupt store as a MiraError naming it: SQLAlchemy's and MLflow's own errors named no file, and
    came as a traceback after the stage's work was done. URL credentials starred in MLflow's words too: for a
    tracking server they quote the request's URL, user:token@ included."""
    import sqlalchemy
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, sqlalchemy.exc.SQLAlchemyError) as e:
        # SQLAlchemy's first line may be a side note ("raised as a result of Query-invoked autoflush ..."): the
        # database's own words are in the exception it wraps
        cause = getattr(e, "orig", None) or e
        first = redact_credentials((str(cause).splitlines() or [type(cause).__name__])[0])[:300]  # starred, then cut
        text = str(e).lower()
        if is_tracking_server(uri):
            hint = "is the server up, and the URI right?"
        elif "disk is full" in text:
            hint = "out of disk space: free some and run the stage again (the store is whole)"
        elif "readonly" in text or "unable to open" in text:
            hint = ("the store or its folder is read-only or not writable (the store is whole): make them writable, "
                    "or set mlflow.tracking_uri to a writable place")
        else:
            hint = "another process holds it, or it is not an MLflow database: move it aside and run the stage again"
        raise MiraError(f"MLflow store {redact_credentials(uri)}: {first} ({hint})") from None


def _git_commit(root: Path) -> str:
    res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return res.stdout.strip() if res.returncode == 0 else "no-git"


def pipeline_key(root: Path, validated: Params | None = None) -> tuple[str, dict[str, str]]:
    """The key of this pipeline run and the tags that explain it.

    `validated`: the params the stage runs with. Their digest is in the key because MLflow refuses to change a
    param a run already has: a default edited in mira's code and not yet committed (same params.yaml, same
    commits) changed `distill.*` under the same key, and the re-run stage failed on "Changing param values is
    not allowed" after all its work."""
    params = (root / "params.yaml").read_bytes() if (root / "params.yaml").exists() else b""
    commit = _git_commit(root)
    exp = os.environ.get("DVC_EXP_NAME", "")
    code = code_provenance()
    version, code_commit = code["mira_version"] or "", code["code_commit"] or ""
    effective = validated.model_dump_json().encode() if validated is not None else b""
    key = hashlib.sha256(b"\0".join([params, commit.encode(), exp.encode(), version.encode(),
                                      code_commit.encode(), effective])).hexdigest()[:16]
    tags = {PIPELINE_KEY: key, "mira.git_commit": commit,
            "mira.params_digest": hashlib.sha256(params).hexdigest()[:12], "mira.version": version or "unknown"}
    if code_commit:
        tags["mira.code_commit"] = code_commit
    if exp:
        tags["mira.dvc_experiment"] = exp
    return key, tags


# the stages' sections, logged on the parent run (the sources are paths, the rest is how the run is carried out)
RUN_SECTIONS = ("ingest", "dedup", "decontaminate", "embed", "group", "teacher", "discover", "label", "distill",
                "score", "select", "report", "evaluate")


def flat_params(params: Params, sections: tuple[str, ...]) -> dict[str, str]:
    """Dotted params of the given sections, as MLflow params (strings, at most 6000 characters), credentials in a
    URL (a base_url's user:key@ or ?api-key=) replaced by ***."""
    out: dict[str, str] = {}

    def walk(prefix: str, v: object) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}", x)
        else:
            out[prefix] = redact_credentials(json.dumps(v) if not isinstance(v, str) else v)

    dumped = params.model_dump(mode="json")
    for s in sections:
        walk(s, dumped[s])
    return {k: v[:6000] for k, v in out.items()}


_OUR_MLRUNS = re.compile(r"(file://.*/mlruns)(?:/[^/]*)?/?")  # an mlruns/ folder, or an experiment's folder in one


def _rebase_artifacts(uri: str, home: Path) -> None:
    """Point a project's own sqlite store at this folder's mlruns/ again (call under `store_lock`). MLflow keeps each
    experiment's artifact location, and each run's artifact URI, as an absolute file URI: after `mv` or `cp -a` of a
    project its mlflow.db still named the old folder, and the new place's stages wrote their artifacts (the report,
    rubrics, student configs) there, re-creating it after a move, into the original after a copy. The old folder is
    read off the store's Default experiment (id 0), which `_create_sqlite_store` put in the project's mlruns/: an
    experiment of the user's own in another `mlruns/` folder (a big disk's) was taken for a moved project's and
    pointed here. A store outside the project, or a location outside the old mlruns/, keeps its own."""
    import sqlite3

    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return
    db = Path(unquote(uri[len(prefix):].partition("?")[0]))
    if not db.is_file() or not db.resolve().is_relative_to(home.resolve()):
        return
    here = (home / "mlruns").resolve().as_uri()
    try:
        with contextlib.closing(sqlite3.connect(db)) as con, con:  # the second: one transaction, committed on leaving
            olds = {m.group(1) for (loc,) in con.execute("SELECT artifact_location FROM experiments "
                                                         "WHERE experiment_id = 0")
                    if (m := _OUR_MLRUNS.fullmatch(loc or "")) and m.group(1) != here}
            for old in olds:
                for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
                    con.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608 (our names)
                                f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                                (here, len(old) + 1, old, len(old) + 1, old + "/"))
    except sqlite3.Error:
        return  # not an MLflow store, or locked: MLflow's own calls next say so, named (`_store_errors`)


def store_lock(uri: str, root: Path) -> Path:
    """The lock held while a process creates the store, or finds or creates its experiment and parent run.

    Stages may run at once (two `mira` commands, `dvc exp run --jobs`); unlocked, two processes each created
    MLflow's tables ("table ... already exists"), the experiment, or a parent run. A sqlite store is locked beside
    its file (`<db>.lock`), so every project and experiment writing to it shares the one lock: with a lock per
    project, two projects on one store each created the experiment (the second failed after its work, "already
    exists"), and a store being built could be deleted as a killed build's leftover by the other. A tracking server's
    lock is the project's (under .mira/, which queued experiments share)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        db = Path(unquote(uri[len(prefix):].partition("?")[0]))
        if db.parent.is_dir() and os.access(db.parent, os.W_OK):  # else MLflow's own error says what is wrong
            return db.with_name(f"{db.name}.lock")
    lock = project_home(root) / ".mira" / MLFLOW_LOCK
    lock.parent.mkdir(exist_ok=True)
    return lock


@contextmanager
def store_ready(uri: str, root: Path):
    """Hold the store's lock (`store_lock`), with a sqlite store created if it is not there and a moved project's
    artifact locations rebased; MLflow's errors meanwhile name the store."""
    from filelock import FileLock

    with FileLock(str(store_lock(uri, root))), _store_errors(uri):
        _create_sqlite_store(uri, project_home(root) / "mlruns")
        _rebase_artifacts(uri, project_home(root))
        yield


@contextmanager
def pipeline_run(params: Params, root: Path):
    """The parent run of this pipeline run, created on first use, re-opened by later stages."""
    import mlflow

    uri = tracking_uri(params.mlflow, root)
    if redact_credentials(uri) != uri:  # MLflow prints "View run ... at: <uri>" at each end_run, user:password@ too
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    mlflow.set_tracking_uri(uri)
    key, tags = pipeline_key(root, params)
    with store_ready(uri, root):
        exp = mlflow.get_experiment_by_name(params.mlflow.experiment)
        if exp is not None and exp.lifecycle_stage == "deleted":  # MLflow would refuse it after the stage's work
            raise ConfigError(f"mlflow.experiment = {params.mlflow.experiment!r} was deleted in MLflow: restore it "
                              "(mlflow experiments restore, or the UI's trash) or name another experiment")
        if exp is None:
            # artifacts beside the project, not in whatever folder the process happened to start in
            mlflow.create_experiment(params.mlflow.experiment,
                                     artifact_location=(project_home(root) / "mlruns").resolve().as_uri())
        mlflow.set_experiment(params.mlflow.experiment)
        found = mlflow.search_runs(filter_string=f"tags.`{PIPELINE_KEY}` = '{key}'", output_format="list",
                                   max_results=1, order_by=["attributes.start_time DESC"])
        # one parent run per configuration: resume it when an earlier stage of this run created it
        run = (mlflow.start_run(run_id=found[0].info.run_id) if found
               else mlflow.start_run(run_name=f"mira-{key[:8]}", tags=tags))
        if not found:  # every stage's knobs, whichever stage opens it: a select-only experiment skips distill,
            # which logged them, and its parent run had none (its budget could not be read in the MLflow UI)
            mlflow.log_params(flat_params(params, RUN_SECTIONS))
    try:
        yield run
    finally:
        mlflow.end_run()


MAX_KEY = 250  # MLflow's longest metric name


def metric_key(*parts: str) -> str:
    """An MLflow-safe metric name from parts (letters, digits and _ - . / only, at most MAX_KEY characters).

    A longer one is cut and ends in a digest of the whole, so names stay apart: MLflow refused a source name of
    157 characters beside an anchor's (80 at most) with a traceback after the stage's work."""
    safe = ["".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in p) for p in parts]
    key = "/".join(safe)
    if len(key) > MAX_KEY:
        key = f"{key[:MAX_KEY - 9]}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return key
