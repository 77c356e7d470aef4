"""Teacher tests start from a process that has learned nothing about any endpoint's response formats; the
anchors they score on, and the `transport` fixture that runs a test through both HTTP clients."""

import pytest

from mira_core.rubric import Anchor
from mira_core.teachers import openai_teacher

TEST_ANCHORS = (
    Anchor(id="a00", name="correctness", description="Free of errors.", exemplar_reason="No bugs.", support=5),
    Anchor(id="a01", name="clarity", description="Easy to follow.", exemplar_reason="Clear names.", support=4),
    Anchor(id="a02", name="depth", description="Teaches something.", exemplar_reason="Explains why.", support=3),
)


@pytest.fixture(params=["lean", "sdk"])
def transport(request, monkeypatch):
    """Which client the openai backend uses: the lean one, or the SDK's (`teacher.client`, or where a proxy applies)."""
    monkeypatch.setattr(openai_teacher, "use_sdk", lambda p, url: request.param == "sdk")
    return request.param


@pytest.fixture(autouse=True)
def _forget_learned_formats():
    # A closed test server's port may be handed to the next one: what the old one accepted must not carry over.
    openai_teacher._LEARNED.clear()
    yield
    openai_teacher._LEARNED.clear()
