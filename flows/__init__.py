"""Prefect flows, one per stage, the whole-pipeline flow and the `mira` command line.

Importing this package sets quiet, offline defaults for the libraries below it (only where the
user has not set the variable): it must happen before prefect, mlflow or transformers are imported,
which is why it lives here and not in each `main`.
"""

import os

_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # numpy/scipy's OpenBLAS inside torch's OpenMP threads warns that it "may hang"; torch does the heavy math
    "OPENBLAS_NUM_THREADS": "1",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "false",
    # the first start of a temporary server on a fresh PREFECT_HOME migrates its database; 20 s is too tight
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
for _k, _v in _DEFAULTS.items():
    os.environ.setdefault(_k, _v)
