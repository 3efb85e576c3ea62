"""The file system's layout (values/efs_layout.py): made by a root Job before anything mounts the file system,
with owners and modes that let each reader and writer do its job, checked as their real uids."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from offline.engine import Plan
from tests.as_uid import HUB, NOTEBOOK, run_as, world_reachable_dir
from tests.conftest import ROOT, load_in_cluster_code, plan_with
from tests.pod_security import baseline_violations

SCRIPT = ROOT / "values" / "efs_layout.py"
layout = load_in_cluster_code(SCRIPT)


def owners(root: Path) -> dict[str, tuple[int, int, str]]:
    found = {}
    for name in layout.LAYOUT:
        now = (root / name).lstat()
        found[name] = (now.st_uid, now.st_gid, oct(stat.S_IMODE(now.st_mode)))
    return found


@pytest.fixture
def efs() -> Iterator[Path]:
    root = world_reachable_dir()
    yield root
    shutil.rmtree(root)


def test_a_new_file_system_gets_every_directory_with_its_owner_once(efs: Path) -> None:
    made = layout.make(efs)
    assert owners(efs) == {
        "home": (0, 100, "0o775"), "archive": (0, 100, "0o770"), "admin": (0, 0, "0o700"),
        "admin/reports": (0, 0, "0o700"), "admin/notices": (0, 0, "0o755"), "groups": (0, 0, "0o755"),
        "shared": (0, 100, "0o755"), "readonly": (0, 0, "0o555"),
    }  # fmt: skip
    assert sum(line.endswith(": made") for line in made) == 8
    assert layout.make(efs) == [], "a second run changes nothing"


def test_an_existing_file_system_is_set_right_without_touching_what_is_inside(efs: Path) -> None:
    """The old hub's file system: home/ made by the kubelet (root 0755), an archive made by the old report."""
    (efs / "home" / "satra").mkdir(parents=True)
    (efs / "home" / "satra" / "notes.txt").write_text("mine")
    os.chown(efs / "home" / "satra", 1000, 100)
    (efs / "archive" / "gone" / "2026-10-01").mkdir(parents=True)
    before = {p: p.lstat() for p in (efs / "home" / "satra", efs / "home" / "satra" / "notes.txt")}
    layout.make(efs)
    assert owners(efs)["home"] == (0, 100, "0o775")
    entry = (efs / "archive" / "gone").stat()
    assert (entry.st_gid, stat.S_IMODE(entry.st_mode)) == (100, 0o770)
    assert {p: p.lstat() for p in before} == before, "a home and its files are left exactly as they were"
    assert (efs / "home" / "satra" / "notes.txt").read_text() == "mine"


def test_a_file_or_link_in_the_way_stops_the_job_before_any_change(efs: Path) -> None:
    (efs / "shared").write_text("not a directory")
    (efs / "readonly").symlink_to("/etc")
    with pytest.raises(layout.LayoutError, match="shared, readonly"):
        layout.make(efs)
    assert not (efs / "home").exists()
    assert layout.main([str(efs)]) == 1


def test_each_reader_and_writer_can_do_its_job_as_its_uid(efs: Path) -> None:
    """From inside their mounts (a sub-path mount needs no search right on its parents): users only read
    shared/ and readonly/ (mounted read-only too; group folders: tests/test_group_folders.py); the hub reads
    admin/notices/ and cannot list admin/reports/ (the report job and the exporter are root; the restore is
    tested in tests/test_home_governance.py)."""
    layout.make(efs)
    write = ["-c", "open('probe', 'w').write('x')"]
    listing = ["-c", "import os; print(os.listdir('.'))"]
    for read_only in ("shared", "readonly"):
        assert run_as(*NOTEBOOK, listing, cwd=efs / read_only).returncode == 0
        refused = run_as(*NOTEBOOK, write, cwd=efs / read_only)
        assert refused.returncode != 0 and "PermissionError" in refused.stderr
    assert run_as(*HUB, listing, cwd=efs / "admin" / "notices").returncode == 0
    assert "PermissionError" in run_as(*HUB, listing, cwd=efs / "admin" / "reports").stderr
    assert "PermissionError" in run_as(*NOTEBOOK, ["-c", "import os; os.listdir('admin')"], cwd=efs).stderr


def test_the_layout_owners_are_the_notebooks_and_the_nfs_fixer_touches_only_the_home() -> None:
    """The root init container of every user pod changes the home's owner and mode, nothing the layout Job
    sets: the program gives it the home at /nfs (tests/test_jupyterhub.py), the YAML nothing else."""
    singleuser = yaml.safe_load((ROOT / "values" / "jupyterhub.yaml").read_text())["singleuser"]
    assert (singleuser["uid"], singleuser["fsGid"]) == (layout.NOTEBOOK_UID, layout.USERS_GID) == NOTEBOOK
    fixer = next(c for c in singleuser["initContainers"] if c["name"] == "nfs-fixer")
    assert fixer["volumeMounts"] == []
    assert re.findall(r"/\w+", fixer["command"][-1]) == ["/nfs", "/nfs"]


# The deployed pieces -------------------------------------------------------------------------------------


def test_a_root_job_on_a_core_node_makes_the_layout_and_reruns_when_it_changes(plan: Plan) -> None:
    job = plan.one("kubernetes:batch/v1:Job", "storage-layout")
    assert "name" not in job.inputs["metadata"], "Pulumi names it, so a replacement can start before the old goes"
    template = job.inputs["spec"]["template"]
    script = plan.one("kubernetes:core/v1:ConfigMap", "storage-layout-script").inputs["data"]
    assert script == {"efs_layout.py": SCRIPT.read_text(), "group_folders.json": "{}"}, "no folders on the stacks"
    digest = hashlib.sha256((SCRIPT.read_text() + "{}").encode()).hexdigest()
    assert template["metadata"]["annotations"]["dandihub/layout-sha256"] == digest
    spec = template["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["python", "/opt/layout/efs_layout.py", "/efs", "/opt/layout/group_folders.json"]
    assert container["securityContext"] == {"runAsUser": 0}
    assert container["volumeMounts"][0] == {"name": "efs", "mountPath": "/efs"}, "the root, no sub-path"
    assert spec["volumes"][0]["persistentVolumeClaim"] == {"claimName": "efs-claim"}
    assert spec["nodeSelector"] == {"hub.jupyter.org/node-purpose": "core"}
    assert baseline_violations(spec) == []


def test_everything_that_mounts_the_file_system_waits_for_the_layout(plan: Plan) -> None:
    job = plan.one("kubernetes:batch/v1:Job", "storage-layout").urn
    mounting = [
        ("kubernetes:apps/v1:Deployment", "homes-exporter"),
        ("kubernetes:batch/v1:CronJob", "homes-report"),
        ("kubernetes:helm.sh/v3:Release", "hub-release"),  # the hub and every user pod
    ]
    for kind, name in mounting:
        assert job in plan.one(kind, name).dependencies, name
    browsing = plan_with("staging", set_={"storage.introspectionPod": True})
    browser = browsing.one("kubernetes:apps/v1:Deployment", "efs-browser")
    assert browsing.one("kubernetes:batch/v1:Job", "storage-layout").urn in browser.dependencies
