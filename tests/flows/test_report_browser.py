"""The report in a real browser: headless Chromium renders it (screenshot not blank) and parses it (DOM).

Slow (a browser start per call) and skipped where Chromium is absent; CI installs it. The browser is
cut off from the network and from any profile, so the page must stand on its own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mira_core.config import ReportParams
from mira_core.report import render
from tests.mira_core.test_report import CORE, EVALUATE, tiny_inputs

pytestmark = pytest.mark.slow


def _chromium() -> str | None:
    return next((c for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                 if c and Path(c).exists()), None)


def _browse(page: Path, tmp: Path, *mode: str) -> subprocess.CompletedProcess:
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"  # a fresh profile per call
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--window-size=1280,2400", *mode, page.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"chromium failed ({res.returncode}):\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("report")
    rep = render(tiny_inputs(EVALUATE), ReportParams(dpi=60))
    (tmp / "report.html").write_text(rep.html)
    return tmp / "report.html", rep


def test_screenshot_is_not_blank(report, tmp_path):
    from PIL import Image  # a dependency of matplotlib, so always present with it

    page, _ = report
    shot = tmp_path / "shot.png"
    _browse(page, tmp_path, f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[:2] == (2400, 1280)
    non_white = (pixels < 245).any(axis=2).mean()
    assert pixels.std() > 20, f"flat screenshot (std {pixels.std():.1f})"
    assert non_white > 0.05, f"mostly white screenshot ({non_white:.1%} non-white)"


def test_dom_has_the_sections_and_images(report, tmp_path):
    page, rep = report
    dom = _browse(page, tmp_path, "--dump-dom").stdout
    headings = re.findall(r"<h2>(.*?)</h2>", dom)
    assert headings == [*CORE[:CORE.index("Baselines and overlap") + 1], "Proxy evaluation",
                        *CORE[CORE.index("Baselines and overlap") + 1:]]
    imgs = re.findall(r"<img\b[^>]*>", dom)
    assert len(imgs) == rep.images >= 6  # g1 holds only the held-out qa: one reliability heatmap, not two
    assert all('src="data:image/png;base64,' in i for i in imgs)
    assert "<script" not in dom.lower()  # the hostile source name stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
