"""The home usage exporter, run for real (prometheus-dirsize-exporter 3.2 through values/dirsize_exporter.py,
as the exporter pod runs it): a home with symbolic link loops and a directory removed during the walk
neither stall nor stop it, and every home is reported. The same trees are shown stalling or stopping the
package's own walker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_dirsize_exporter import exporter

from offline.engine import Plan
from tests.conftest import ROOT, load_in_cluster_code
from tests.real_hub import free_port

SCRIPT = ROOT / "values" / "dirsize_exporter.py"
EXPORTER_SECONDS = 60
# Budgeted calls after which a walk of the test's few files counts as stalled (200 seconds of the default
# budget; the link-safe walk of the same tree needs under a hundred).
STALLED_AFTER_CALLS = 20_000
# The file sizes the homes hold, so the reported totals can be checked.
ALICE_FILES = {"notes.txt": 1000, "data/a.bin": 20_000, "data/deep/b.bin": 300}
BOB_FILES = {"x.nwb": 5000}


def write(home: Path, files: dict[str, int]) -> None:
    for name, size in files.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_bytes(b"x" * size)


@pytest.fixture
def homes(tmp_path: Path) -> Path:
    """Two homes; alice's holds two links to itself, one to its parent and one to another home."""
    root = tmp_path / "home"
    write(root / "alice", ALICE_FILES)
    write(root / "bob", BOB_FILES)
    for name, target in (("loop-a", "."), ("loop-b", "."), ("data/up", ".."), ("bobs", "../bob")):
        os.symlink(target, root / "alice" / name)
    (root / "carol" / "scratch" / "tmp").mkdir(parents=True)
    return root


class StalledError(Exception):
    pass


def counting(walker: type) -> Any:
    """The walker, stopped once it has spent STALLED_AFTER_CALLS budgeted calls."""

    class Counting(walker):  # type: ignore[misc,valid-type]
        calls = 0

        def do_iops_action(self, func: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls > STALLED_AFTER_CALLS:
                raise StalledError(f"{self.calls} budgeted calls")
            return super().do_iops_action(func, *args, **kwargs)

    return Counting


def walker_class() -> Any:
    return load_in_cluster_code(SCRIPT).LinkSafeWalker


def walk(walker: Any, root: Path) -> dict[str, Any]:
    return {info.path: info for info in walker.get_subdirs_info(str(root)) if info is not None}


def test_a_walk_over_link_loops_finishes_and_counts_each_file_once(homes: Path) -> None:
    found = walk(walker_class()(iops_budget=100_000), homes)
    assert set(found) == {"alice", "bob", "carol"}
    alice = found["alice"]
    # Every real file, the links themselves (the package counts a link as an entry, by its own size) and the
    # directories' own sizes; nothing twice, and nothing of bob's through the link to his home.
    links = sum(os.lstat(homes / "alice" / n).st_size for n in ("loop-a", "loop-b", "data/up", "bobs"))
    directories = sum(os.stat(homes / "alice" / d).st_size for d in ("", "data", "data/deep"))
    assert alice.size == sum(ALICE_FILES.values()) + links + directories
    assert alice.entries_count == len(ALICE_FILES) + 4 + 3


def test_a_directory_removed_during_the_walk_costs_only_itself(homes: Path) -> None:
    vanishing = str(homes / "alice" / "data")

    class RemovesOnListing(walker_class()):  # type: ignore[misc]
        def do_iops_action(self, func: Any, *args: Any, **kwargs: Any) -> Any:
            if func is os.listdir and args and args[0] == vanishing:
                shutil.rmtree(vanishing)
            return super().do_iops_action(func, *args, **kwargs)

    found = walk(RemovesOnListing(iops_budget=100_000), homes)
    assert set(found) == {"alice", "bob", "carol"}
    assert found["bob"].size >= sum(BOB_FILES.values())


def test_the_packages_own_walker_miscounts_stalls_and_stops_on_such_trees(homes: Path, tmp_path: Path) -> None:
    """What the wrapper fixes, shown on the released package: one link to itself makes a home count each of
    its files forty times over (Linux follows 40 links in a path), two make the walk branch at every level
    (stopped here after STALLED_AFTER_CALLS budgeted calls; the link-safe walk needs under 100), and a
    directory gone before its listing stops the exporter."""
    single = tmp_path / "single"
    (single / "dave").mkdir(parents=True)
    (single / "dave" / "f").write_bytes(b"x" * 10)
    os.symlink(".", single / "dave" / "loop")
    assert walk(exporter.BudgetedDirInfoWalker(iops_budget=100_000), single)["dave"].entries_count > 40
    assert walk(walker_class()(iops_budget=100_000), single)["dave"].entries_count == 3
    with pytest.raises(StalledError):
        walk(counting(exporter.BudgetedDirInfoWalker)(iops_budget=10**9), homes)
    safe = counting(walker_class())(iops_budget=10**9)
    walk(safe, homes)
    assert safe.calls < 100, safe.calls
    vanishing = str(homes / "bob")

    class RemovesOnListing(exporter.BudgetedDirInfoWalker):  # type: ignore[misc]
        def do_iops_action(self, func: Any, *args: Any, **kwargs: Any) -> Any:
            if func is os.listdir and args and args[0] == vanishing:
                shutil.rmtree(vanishing)
            return super().do_iops_action(func, *args, **kwargs)

    with pytest.raises(FileNotFoundError):
        walk(RemovesOnListing(iops_budget=100_000), homes)


def test_the_exporter_process_reports_every_home_despite_the_loops(homes: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(homes), "100000", "60", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline, reported = time.monotonic() + EXPORTER_SECONDS, set[str]()
        while reported != {"alice", "bob", "carol"}:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, f"only {reported} reported in {EXPORTER_SECONDS} s"
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.ConnectionError:
                text = ""
            reported = {
                line.split('directory="')[1].split('"')[0]
                for line in text.splitlines()
                if line.startswith("dirsize_total_size_bytes{")
            }
            time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_exporter_pod_runs_the_wrapper_with_the_pinned_package(plan: Plan) -> None:
    from components.home_governance import EXPORTER

    configmap = plan.one("kubernetes:core/v1:ConfigMap", "homes-exporter-script").inputs
    assert configmap["data"] == {"dirsize_exporter.py": SCRIPT.read_text()}
    deployment = plan.one("kubernetes:apps/v1:Deployment", "homes-exporter").inputs["spec"]["template"]["spec"]
    (container,) = deployment["containers"]
    assert "pip install" in container["command"][-1] and EXPORTER in container["command"][-1]
    assert "python /opt/home-usage-exporter/dirsize_exporter.py /efs " in container["command"][-1]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["volumes"]}
    assert volumes[mounts["/opt/home-usage-exporter"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert f"prometheus-dirsize-exporter=={exporter_version()}" == EXPORTER


def exporter_version() -> str:
    from importlib.metadata import version

    return version("prometheus-dirsize-exporter")
