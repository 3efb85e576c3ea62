"""The running server says where its home stands: the real jupyter_server, with the files every user server
gets (the planned singleuser.extraFiles) and the variables the hub sets over a limit, run as the notebook's
uid on a home it owns, serves `/dandi/home`: the live size, the limits, the biggest entries (links not
followed), why it is a cleanup server and a link on to JupyterLab; only to a caller with the server's token."""

from __future__ import annotations

import os
import shutil
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from offline.engine import Plan
from tests.as_uid import NOTEBOOK, needs_root, python_for, world_reachable_dir
from tests.conftest import ROOT, load_in_cluster_code
from tests.real_hub import free_port, serving
from tests.test_sessions import mounted_files

TOKEN = "server-token-for-the-test-0123"
MIB = 1024**2
HUB_SAYS = {"DANDI_HOME_STATE": "hard", "DANDI_HOME_USED_BYTES": str(60 * 1024**3),
            "DANDI_HOME_SOFT_LIMIT_BYTES": str(10 * 1024**3), "DANDI_HOME_HARD_LIMIT_BYTES": str(50 * 1024**3),
            "DANDI_HOME_MEASURED_AT": "1796000000", "DANDI_HOME_WALK_MINUTES": "360"}  # fmt: skip


def start(staging: Plan, root: Path) -> Iterator[str]:
    """The real server as the notebook's uid, over a home with data, a cache, a notebook and a link loop."""
    needs_root()
    config = mounted_files(staging, root / "pod")
    home = root / "home"
    for name, size in {"data/sub/recording.nwb": 3 * MIB, ".cache/pip/wheel": MIB, "notes.ipynb": 10_000}.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_bytes(b"x" * size)
    os.symlink(".", home / "loop")
    for path in [root, *root.rglob("*")]:
        os.lchown(path, *NOTEBOOK)
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "JUPYTER_CONFIG_PATH": str(config),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "JUPYTER_PLATFORM_DIRS": "1", **HUB_SAYS,
           # The test's packages for an interpreter that uid may run (the image has its own jupyter_server).
           "PYTHONPATH": sysconfig.get_paths()["purelib"]}  # fmt: skip
    # As the kubelet starts the notebook container: its uid and group, no other groups, the pod's environment.
    drop = ["setpriv", f"--reuid={NOTEBOOK[0]}", f"--regid={NOTEBOOK[1]}", "--clear-groups", "env", "-i"]
    command = [*drop, *(f"{k}={v}" for k, v in env.items()), python_for(*NOTEBOOK), "-m", "jupyter_server",
               f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
               "--ServerApp.open_browser=False", f"--ServerApp.root_dir={home}"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}/api", root / "server.log", 60, cwd=home):
        yield url


@pytest.fixture(scope="module")
def server(staging: Plan) -> Iterator[str]:
    root = world_reachable_dir()
    try:
        yield from start(staging, root)
    finally:
        shutil.rmtree(root)


def test_the_page_shows_the_live_size_the_limits_and_the_biggest_entries(server: str) -> None:
    page = requests.get(f"{server}/dandi/home", headers={"Authorization": f"token {TOKEN}"}, timeout=30)
    assert page.status_code == 200, page.text[:500]
    text = page.text
    rows = [line for line in text.splitlines() if line.startswith("<tr><td>")]
    assert rows[:3] == ["<tr><td>data</td><td>0.00 GiB</td></tr>", "<tr><td>.cache</td><td>0.00 GiB</td></tr>",
                        "<tr><td>notes.ipynb</td><td>0.00 GiB</td></tr>"]  # fmt: skip
    assert "<tr><td>loop</td>" in text, "the link is listed, as itself"
    assert "Its limits: soft 10.00 GiB, hard 50.00 GiB." in text
    assert "the hub had measured 60.00 GiB" in text and "small cleanup server" in text
    assert "every 360 minutes" in text and "href='/lab'" in text


def test_the_page_is_only_for_the_servers_owner(server: str) -> None:
    anonymous = requests.get(f"{server}/dandi/home", allow_redirects=False, timeout=30)
    assert anonymous.status_code in (302, 403) and "Your home directory" not in anonymous.text


def test_a_size_from_the_weekly_report_is_named_so() -> None:
    """When Prometheus had no figure, the hub judged by the weekly report (values/home_limits.py): the page says
    whose figure it is."""
    usage = load_in_cluster_code(ROOT / "values" / "singleuser" / "home_usage.py")
    said = {**HUB_SAYS, "DANDI_HOME_STATE": "soft", "DANDI_HOME_MEASURED_AT": "1796083200"}  # 2026-12-01 00:00 UTC
    fresh = usage.render(said, {"data": 5}, True, "/lab")
    assert "the hub had measured 60.00 GiB (2026-12-01 00:00 UTC), over the soft limit" in fresh
    weekly = usage.render({**said, "DANDI_HOME_SOURCE": "report"}, {"data": 5}, True, "/lab")
    assert "the weekly report of 2026-12-01 had found 60.00 GiB (the hub had no fresher measurement)" in weekly
