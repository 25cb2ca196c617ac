"""What the browser tests share: Debian's chromium (no browser download), driven by Playwright, and the
folder their screenshots go to."""
from __future__ import annotations

import os
from pathlib import Path

from grader.profiles import REPO

CHROMIUM = "/usr/bin/chromium"
# Root, closed network: no sandbox, no GPU, and none of chromium's background phoning home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def artifact_dir() -> Path:
    d = Path(os.environ.get("GRADER_ARTIFACTS") or REPO / "reports" / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d
