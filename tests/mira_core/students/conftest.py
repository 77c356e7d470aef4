"""Fixtures shared by the students' tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """A model this small runs 2-10x faster on one thread than on two shared cores (used module-wide with
    `pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
