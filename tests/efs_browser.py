"""Running the runbook's commands as the efs-browser pod would: its image is Alpine's, whose commands are
BusyBox's applets (Debian's busybox-static stands in), run by root in `sh`, the file system at /efs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def busybox_bin(folder: Path) -> Path:
    """`folder`, filled with a link per BusyBox applet: as a PATH, a command BusyBox lacks (rsync) is not
    found. Skips the test without BusyBox."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (apt-get install busybox-static; .ci/run installs it)")
    for applet in subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split():
        (folder / applet).symlink_to(busybox)
    return folder


def run_in_efs_browser(commands: str, efs: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """`commands` pasted into the efs-browser's shell (no `set -e`, as typed), the file system at `efs`."""
    return subprocess.run(
        [str(bin_dir / "sh"), "-c", commands.replace("/efs", str(efs))],
        capture_output=True, text=True, timeout=30, env={"PATH": str(bin_dir), "HOME": str(efs)},
    )  # fmt: skip
