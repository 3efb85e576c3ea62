"""Running code as the cluster's real identities: the tests run as root, so the code under test runs in a
subprocess that has dropped to a pod's uid and groups (as the kubelet starts a container with
`runAsUser`/`runAsGroup`), on a tree that root owned and laid out as the real one."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

# The pods' identities (values/jupyterhub.yaml: singleuser.uid and fsGid; the z2jh hub image's uid and gid).
NOTEBOOK = (1000, 100)
HUB = (1000, 1000)


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("dropping to a pod's uid needs root (CI runs the suite as root)")


@functools.cache
def python_for(uid: int, gid: int) -> str:
    """An interpreter that uid can run (this one may sit under root's 0700 home)."""
    probe = "import sys; assert sys.version_info >= (3, 11)"
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        try:
            if candidate and run_as(uid, gid, [candidate, "-c", probe], python=False).returncode == 0:
                return candidate
        except PermissionError:  # not executable by that uid
            continue
    raise AssertionError(f"no Python 3.11+ that uid {uid} may run (tried {sys.executable}, python3)")


def run_as(
    uid: int, gid: int, argv: Sequence[str], cwd: Path | None = None, python: bool = True, groups: Sequence[int] = ()
) -> subprocess.CompletedProcess[str]:
    """`argv` (a Python script and its arguments, or a whole command with `python=False`) as uid:gid with only
    `groups` as supplementary groups (a pod's supplementalGroups). `cwd` is entered before the drop, as a mount
    point is: its ancestors need not be searchable."""
    needs_root()
    command = [python_for(uid, gid), *argv] if python else list(argv)
    return subprocess.run(
        command, cwd=cwd, user=uid, group=gid, extra_groups=list(groups), capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def world_reachable_dir() -> Path:
    """A fresh directory under /tmp whose ancestors every uid may search (pytest's tmp_path is root's 0700)."""
    path = Path(tempfile.mkdtemp(prefix="dandihub-efs-"))
    path.chmod(0o755)
    return path
