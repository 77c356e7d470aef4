"""The report stage's library: one self-contained HTML file that explains a run.

`load_inputs` is the only function here that touches the file system: it reads what the earlier
stages wrote (metrics/*.json, data/groups/, data/rubrics/, data/selection/, params.yaml) into a
`ReportInputs`, leaving None wherever an input is missing. Everything after it is pure: section
renderers turn loaded data into HTML strings and matplotlib (Agg) figures into PNG bytes, which are
embedded as data: URIs, so the file opens anywhere, offline, with no external resource and no script.
"""

from mira_core.report.build import Report, build_report, render
from mira_core.report.inputs import ReportInputs, load_inputs

__all__ = ["Report", "ReportInputs", "build_report", "load_inputs", "render"]
