"""Flow tests run real stage processes, and each project they build starts its own Prefect server
(flows/servers.py): a short idle period stops those servers soon after a test, not ten minutes later.
"""

import os

from flows.servers import IDLE_ENV

os.environ.setdefault(IDLE_ENV, "30")
