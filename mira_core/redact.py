"""Secrets out of text that leaves the process: the report's params block and MLflow's params.

params.yaml holds the *names* of key variables only (`api_key_env`, checked to be a name), but a URL knob can still
carry a secret: credentials before the host (`https://user:pass@host`, `https://sk-...@host`) or a key in the query
string (`?api-key=...`, `&token=...`). Both are replaced by *** wherever params text is shown or logged.
"""

from __future__ import annotations

import re

# Up to the last '@' before the path, as urllib and httpx split the authority: a password may hold a raw '@'.
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s?#]+@", re.I)
# A query value ends at &, #, white space, or a ':' that ends the URL in a message ("...?sig=abc: not found").
_QUERY_SECRET = re.compile(
    r"([?&][a-z0-9_.-]*(?:key|token|secret|password|passwd|pwd|signature|sig|auth|credential)[a-z0-9_.-]*=)"
    r"(?:[^&#\s:]|:(?!\s|$))+",
    re.I)


def redact_credentials(text: str) -> str:
    """`text` with URL credentials (anything before `@` in the authority) and key-like query values as ***."""
    return _QUERY_SECRET.sub(r"\1***", _USERINFO.sub(r"\1***:***@", text))
