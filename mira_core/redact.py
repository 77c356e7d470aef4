"""Secrets: out of text that leaves the process (the report's params block, MLflow's params), and an API key read
from the environment checked before it is sent.

params.yaml holds the *names* of key variables only (`api_key_env`, checked to be a name), but a URL knob can still
carry a secret: credentials before the host (`https://user:pass@host`, `https://sk-...@host`) or a key in the query
string (`?api-key=...`, `&token=...`). Both are replaced by *** wherever params text is shown or logged.
"""

from __future__ import annotations

import re

from mira_core.errors import ConfigError

# Up to the last '@' before the path, as urllib and httpx split the authority: a password may hold a raw '@'.
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s?#]+@", re.I)
# A query value ends at &, #, white space, a quote (the URL quoted in a message: `'https://...?sig=abc'`), or a ':'
# that ends the URL in a message ("...?sig=abc: not found").
_QUERY_SECRET = re.compile(
    r"([?&][a-z0-9_.-]*(?:key|token|secret|password|passwd|pwd|signature|sig|auth|credential)[a-z0-9_.-]*=)"
    r"(?:[^&#\s:'\"]|:(?!\s|$))+",
    re.I)


def redact_credentials(text: str) -> str:
    """`text` with URL credentials (anything before `@` in the authority) and key-like query values as ***."""
    return _QUERY_SECRET.sub(r"\1***", _USERINFO.sub(r"\1***:***@", text))


def usable_key(api_key: str | None, env: str | None, knob: str) -> str | None:
    """The key without the white space around it, which no key has (an env file with CRLF line ends, a pasted line
    break); a ConfigError naming where it came from (the variable `env`, named by the params key `knob`), never the
    key, when it holds what no header may carry. The teacher's key and the generative student's server's pass here.

    Sent as it was, a line break ended the lean client's headers early (the request arrived garbled and every record
    was kept as a permanent failure), and a non-ASCII letter (a typographic dash pasted from a page) failed each
    request as a connection error, or as a reply "not JSON" through the SDK.
    """
    if api_key is None:
        return None
    key = api_key.strip()
    if key and all(" " <= ch <= "~" for ch in key):
        return key
    where = f"the environment variable {env} ({knob})" if env else f"the API key ({knob} unset)"
    raise ConfigError(f"the API key in {where} is blank or holds a character no API key has (a control "
                      "character such as a line break, or a non-ASCII one such as a typographic dash): set it again "
                      "from the provider's page")
