"""mira core library: every piece of MIRA's logic as typed functions, free of Prefect, DVC and MLflow.

Stages in `flows/` call into these modules through thin Prefect tasks in `tasks/`; nothing here
reads params.yaml or touches an orchestrator, so each function can be used and tested on its own.
"""

__version__ = "0.1.0"
