"""Stage report: one self-contained HTML file that explains the run, for a reader without the tools.

Reads: everything the stages above wrote (metrics/*.json, data/groups/, data/rubrics/, data/selection/,
params.yaml; metrics/evaluate.json when it exists). Writes: reports/report.html (figures embedded, no
external reference) and metrics/report.json. A missing input is shown as missing, not an error, so a
report can be made of a partial run too.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import run_log, stage_main, states, task_runner
from flows.publish import publish_table
from flows.tracking import pipeline_run
from mira_core.config import Params, ReportParams
from mira_core.io import write_json, write_text
from mira_core.layout import Layout
from tasks.report import render_report

REPORT = Path("reports") / "report.html"


@flow(name="report")
def report_flow(p: ReportParams, root: str) -> dict:
    lay = Layout(Path(root))
    out = lay.root / REPORT
    with run_log(lay, "report") as log:
        fut = render_report.submit(p, root)
        rep = fut.result()
        write_text(rep.html, out)
        log["tasks"] = states([fut])
        metrics = {"path": REPORT.as_posix(), "bytes": len(rep.html.encode()), "sections": list(rep.sections),
                   "images": rep.images, "missing_inputs": list(rep.missing)}
        write_json(metrics, lay.metrics_file("report"))
    missing = f"; missing inputs: {', '.join(rep.missing)}" if rep.missing else ""
    print(f"report: {out} ({metrics['bytes'] / 2**20:.1f} MiB, {len(rep.sections)} sections, {rep.images} figures"
          f"{missing}); open it in a browser: {out.as_uri()}")
    publish_table("report", "Run report", ["item", "value"],
                  [["file", REPORT.as_posix()], ["size", f"{metrics['bytes'] / 2**20:.1f} MiB"],
                   ["sections", ", ".join(rep.sections)], ["figures", rep.images],
                   ["missing inputs", ", ".join(rep.missing) or "none"]])
    return metrics


def log_to_mlflow(params: Params, root: Path) -> None:
    """The report as an artifact of the pipeline's parent MLflow run, beside the students' and evaluate's figures,
    so a run compared in the MLflow UI carries the page that explains it (params text in it is redacted)."""
    import mlflow

    with pipeline_run(params, root):
        mlflow.log_artifact(str(root / REPORT), artifact_path="report")


def run(params: Params, root: Path) -> dict:
    metrics = report_flow.with_options(task_runner=task_runner(params.runner))(params.report, str(root))
    log_to_mlflow(params, root)
    return metrics


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "report", argv)


if __name__ == "__main__":
    main()
