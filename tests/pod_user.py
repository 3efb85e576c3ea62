"""Code run as the notebook's user (uid 1000, gid 100), not root, with a pod's environment and its mounts
laid out under a test folder. The Debian interpreter of the same minor version runs it with the test
virtualenv's packages on its path: the virtualenv's own interpreter lives under /root, which uid 1000
cannot reach."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NOTEBOOK_UID, NOTEBOOK_GID = 1000, 100
INTERPRETER = "/usr/bin/python3"
PACKAGES = sysconfig.get_paths()["purelib"]


def pod_env(pod: dict[str, Any]) -> dict[str, str]:
    """The notebook container's plain environment variables."""
    (notebook,) = pod["spec"]["containers"]
    return {e["name"]: e["value"] for e in notebook["env"] if "value" in e}


def mounted(env: dict[str, str], mounts: dict[str, Path]) -> dict[str, str]:
    """`env` with the pod's mount paths (keys of `mounts`) moved under the test folders they stand for."""
    moved = {}
    for name, value in env.items():
        for pod_path, folder in mounts.items():
            if value == pod_path or value.startswith(pod_path + "/"):
                value = str(folder) + value[len(pod_path) :]
        moved[name] = value
    return moved


def owned_by_user(*folders: Path) -> None:
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, NOTEBOOK_UID, NOTEBOOK_GID)


def run_as_user(
    args: list[str], env: dict[str, str], cwd: Path, python: str = INTERPRETER, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """`python args...` as the notebook user, with `env` and the test virtualenv's packages importable."""
    closed = [p for p in Path(PACKAGES).parents if not p.stat().st_mode & 0o001]
    assert not closed, f"uid {NOTEBOOK_UID} cannot reach the test packages: {closed[0]} is closed to others"
    environment = {"PATH": "/usr/bin:/bin", **env, "PYTHONPATH": PACKAGES}
    return subprocess.run(
        [python, *args], env=environment, cwd=cwd, user=NOTEBOOK_UID, group=NOTEBOOK_GID,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@contextlib.contextmanager
def reachable_folder() -> Iterator[Path]:
    """A fresh folder the notebook user can reach (pytest's own live under a root-only directory)."""
    folder = Path(tempfile.mkdtemp(prefix="pod-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)
