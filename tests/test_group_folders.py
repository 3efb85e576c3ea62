"""Group folders: groups/<group>/ on the shared file system, written by the group's members and read by others
(or not, per config), in place of the old world-writable /shared.

Every user server runs as uid 1000, so a member's files are every user's files by ownership: the layout's
modes (tested here as the uids, with the pod's supplementary groups) keep a private folder closed and a
non-member from making files in a folder, and the read-only mounts (tested on the pod the real KubeSpawner
builds through the real JupyterHub) keep a non-member from changing what members made. The mount order does
not matter: containerd mounts a shorter path before a longer one (containerd/containerd@bbac058
internal/cri/opts/spec_linux_opts.go, WithMounts, "Sort mounts in number of parts"), so /groups/<group>
read-write lands over the read-only /groups. The file system is mounted without an EFS access point
(kubernetes-sigs/aws-efs-csi-driver@3fcc6bd (v3.4.1) pkg/driver/node.go: no access point in the volume
handle, no `accesspoint=` option), so EFS checks the client's own uid and groups, not an enforced POSIX user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyterhub import orm
from jupyterhub.app import JupyterHub
from jupyterhub.crypto import CryptKeeper
from kubernetes_asyncio.client import ApiClient

from offline.engine import Plan
from offline.spawner import offline_kubespawner
from stackconfig import access
from tests.as_uid import NOTEBOOK, run_as, world_reachable_dir
from tests.charts import addon_manifests, of_kind, render
from tests.conftest import ROOT, load_in_cluster_code
from tests.efs_browser import busybox_bin, run_in_efs_browser
from tests.hub_chain import load_hub_config
from tests.kube_schema import validation_errors
from tests.test_groups import GROUPS as ACCESS_GROUPS
from tests.test_groups import Hub, grouped_plan, spawn, stop

layout = load_in_cluster_code(ROOT / "values" / "efs_layout.py")

LAB, PRIVATE = 2001, 2002
# The layout's view of the config below: group -> (gid, visible to all).
FOLDERS = {"lab": (LAB, True), "private-lab": (PRIVATE, False)}
# Enough folder groups that one user in all of them has more gids than NFS carries.
TEAMS = {f"team-{i:02d}": {"folder": {"gid": 2100 + i, "visibleToAll": False}} for i in range(access.MAX_FOLDER_GROUPS)}
GROUPS = {
    **ACCESS_GROUPS,
    "lab": {"members": ["ann", "bob"], "folder": {"gid": LAB, "visibleToAll": True}},
    "private-lab": {"members": ["ann"], "folder": {"gid": PRIVATE, "visibleToAll": False}},
    **TEAMS,
}


# The file system, as the uids ------------------------------------------------------------------------------


@pytest.fixture
def efs() -> Iterator[Path]:
    root = world_reachable_dir()
    layout.make(root, FOLDERS)
    yield root
    shutil.rmtree(root)


def owner(path: Path) -> tuple[int, int, str]:
    now = path.lstat()
    return now.st_uid, now.st_gid, oct(stat.S_IMODE(now.st_mode))


def python(code: str) -> list[str]:
    return ["-c", code]


ANN, BOB, CAROL = [LAB, PRIVATE], [LAB], []  # each one's supplementary groups besides fsGid 100 (as the pods get)


def test_the_layout_makes_each_folder_for_its_group_only_and_leaves_the_rest(efs: Path) -> None:
    assert owner(efs / "groups") == (0, 0, "0o755")
    assert owner(efs / "groups" / "lab") == (0, LAB, "0o2775"), "root's, its group's; setgid"
    assert owner(efs / "groups" / "private-lab") == (0, PRIVATE, "0o2770")
    assert layout.make(efs, FOLDERS) == [], "a second run changes nothing"
    (efs / "groups" / "lab" / "data.nwb").write_bytes(b"x")
    before = (efs / "groups" / "lab" / "data.nwb").lstat()
    changed = layout.make(efs, {"lab": (LAB, False)})  # private now; private-lab's folder left out of config
    assert changed == [f"{efs}/groups/lab: 0:{LAB} 2775 -> 0:{LAB} 2770"]
    assert owner(efs / "groups" / "private-lab") == (0, PRIVATE, "0o2770"), "a folder out of config stays as it was"
    assert (efs / "groups" / "lab" / "data.nwb").lstat() == before, "nothing inside a folder is touched"


def test_a_file_where_a_folder_belongs_stops_the_job_before_any_change(tmp_path: Path) -> None:
    (tmp_path / "groups").mkdir()
    (tmp_path / "groups" / "lab").write_text("not a directory")
    with pytest.raises(layout.LayoutError, match="groups/lab"):
        layout.make(tmp_path, FOLDERS)
    assert not (tmp_path / "home").exists()


def test_members_share_their_folder_and_what_they_make_in_it_stays_the_groups(efs: Path) -> None:
    """In the folder's read-write mount (cwd), as each member's server runs: uid 1000, group 100, the gids."""
    lab = efs / "groups" / "lab"
    make = python("import os; open('notes.txt', 'w').write('ann'); os.mkdir('runs')")
    made = run_as(*NOTEBOOK, make, lab, groups=ANN)
    assert made.returncode == 0, made.stderr
    assert owner(lab / "notes.txt")[:2] == (1000, LAB) and owner(lab / "runs") == (1000, LAB, "0o2755")
    edit = "open('notes.txt', 'a').write(' bob'); open('runs/1.txt', 'w').write('bob')"
    assert run_as(*NOTEBOOK, python(edit), lab, groups=BOB).returncode == 0, "another member reads and writes"
    assert (lab / "notes.txt").read_text() == "ann bob" and owner(lab / "runs" / "1.txt")[1] == LAB
    assert run_as(*NOTEBOOK, python("import os; os.remove('runs/1.txt')"), lab, groups=ANN).returncode == 0


def test_others_read_a_visible_folder_and_cannot_make_files_in_it_nor_open_a_private_one(efs: Path) -> None:
    """As a non-member's server, from inside its read-only /groups mount (cwd)."""
    groups = efs / "groups"
    (groups / "lab" / "notes.txt").write_text("ann")
    (groups / "private-lab" / "plan.txt").write_text("secret")
    for path in (groups / "lab" / "notes.txt", groups / "private-lab" / "plan.txt"):
        os.chown(path, 1000, 100)  # as a member's server made them
    assert run_as(*NOTEBOOK, python("print(open('lab/notes.txt').read())"), groups, groups=CAROL).stdout == "ann\n"
    for code in ("open('lab/new.txt', 'w')", "import os; os.listdir('private-lab')", "open('private-lab/plan.txt')"):
        refused = run_as(*NOTEBOOK, python(code), groups, groups=CAROL)
        assert refused.returncode != 0 and "PermissionError" in refused.stderr, code
    assert run_as(*NOTEBOOK, python("print(open('private-lab/plan.txt').read())"), groups, groups=ANN).returncode == 0
    # What modes cannot do: a member's file is uid 1000's, so any server could change it through a writable
    # path. Only the read-only mount of /groups stops a non-member (test_a_non_members_server_...).
    assert run_as(*NOTEBOOK, python("open('lab/notes.txt', 'a').write('!')"), groups, groups=CAROL).returncode == 0


# The runbook's move of /shared content ----------------------------------------------------------------------


def runbook_move() -> str:
    section = (ROOT / "docs" / "operations.md").read_text().split("### Moving /shared into group folders", 1)[1]
    return section.split("```sh", 1)[1].split("```", 1)[0]


@pytest.fixture(params=["sh", "busybox"])
def shell(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], subprocess.CompletedProcess[str]]:
    """Runs commands in the system's sh, or as the efs-browser's Alpine would (BusyBox's sh and applets only)."""
    if request.param == "busybox":
        bin_dir = busybox_bin(tmp_path)
        return lambda commands: run_in_efs_browser(commands, Path("/efs"), bin_dir)
    return lambda commands: subprocess.run(["sh", "-c", commands], capture_output=True, text=True, timeout=30)


def test_the_runbooks_move_of_shared_content_loses_nothing_and_hands_it_to_the_group(
    efs: Path, shell: Callable[[str], subprocess.CompletedProcess[str]]
) -> None:
    """The runbook's commands, as root in the efs-browser pod (the file system at /efs), on a copy of the old
    /shared, in the system's sh and in BusyBox's (the pod's Alpine): the folder moves by a rename, members
    then write it, and a name taken in the folder is skipped."""
    data = efs / "shared" / "lab-data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.nwb").write_bytes(b"abc")
    for path in (data, data / "sub", data / "sub" / "a.nwb"):
        os.chown(path, 1000, 100)
    inode = (data / "sub" / "a.nwb").stat().st_ino
    commands = runbook_move().replace("/efs", str(efs))
    moved = shell(commands)
    assert moved.returncode == 0, moved.stderr
    target = efs / "groups" / "lab" / "lab-data"
    assert not data.exists() and (target / "sub" / "a.nwb").read_bytes() == b"abc"
    assert (target / "sub" / "a.nwb").stat().st_ino == inode, "a rename: no copy, nothing deleted"
    assert owner(target / "sub")[1:] == (LAB, "0o2755")
    write = python("open('lab-data/sub/b.txt', 'w').write('bob')")
    assert run_as(*NOTEBOOK, write, efs / "groups" / "lab", groups=BOB).returncode == 0
    (efs / "shared" / "lab-data").mkdir()  # the same name again: left where it is
    (efs / "shared" / "lab-data" / "other.txt").write_text("kept")
    again = shell(commands)
    assert again.returncode == 0 and "groups/lab/lab-data exists: pick another name" in again.stdout
    assert (efs / "shared" / "lab-data" / "other.txt").read_text() == "kept"
    assert (target / "sub" / "a.nwb").read_bytes() == b"abc"


# The pods the real KubeSpawner builds ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def foldered() -> Plan:
    return grouped_plan(**{"hub.groups": GROUPS})


@pytest.fixture(scope="module")
def hub(foldered: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    workdir = tmp_path_factory.mktemp("hub")
    release = foldered.one("kubernetes:helm.sh/v3:Release", "hub-release")
    with offline_kubespawner():
        yield Hub(load_hub_config(render(release), workdir, "dandihub"), workdir)
    JupyterHub.clear_instance()
    CryptKeeper.clear_instance()


def folders_of(pod: dict[str, Any]) -> tuple[list[int], dict[str, dict[str, Any]]]:
    """The pod's supplementary gids and the notebook's mounts under /groups, by path."""
    (notebook,) = pod["spec"]["containers"]
    mounts = {m["mount_path"]: m for m in notebook["volume_mounts"] if m["mount_path"].startswith("/groups")}
    return pod["spec"]["security_context"].get("supplementalGroups", []), mounts


def mount(sub_path: str, read_only: bool | None) -> dict[str, Any]:
    return {"name": "home", "sub_path": sub_path, "read_only": read_only}


def sent(hub: Hub, login: str) -> dict[str, Any]:
    """The pod of the user's started server as KubeSpawner sends it to the API server (camelCase JSON)."""

    async def serialize() -> dict[str, Any]:
        async with ApiClient() as client:
            return dict(client.sanitize_for_serialization(await hub.user(login).spawner.get_pod_manifest()))

    with offline_kubespawner():
        return asyncio.run(serialize())


def test_a_members_server_gets_its_groups_folders_read_write_and_their_gids(hub: Hub, foldered: Plan) -> None:
    pod = spawn(hub, "ann", None)
    assert validation_errors([sent(hub, "ann")], foldered.config.cluster.kubernetes_version) == []
    gids, mounts = folders_of(pod)
    assert gids == [LAB, PRIVATE] and pod["spec"]["security_context"]["fsGroup"] == 100
    assert {path: {k: m[k] for k in ("name", "sub_path", "read_only")} for path, m in mounts.items()} == {
        "/groups": mount("groups", True),
        "/groups/lab": mount("groups/lab", None),
        "/groups/private-lab": mount("groups/private-lab", None),
    }
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["home"]["persistent_volume_claim"]["claimName"] == "efs-claim"
    stop(hub, "ann")


def test_a_non_members_server_sees_the_folders_read_only_and_has_no_folder_gid(hub: Hub) -> None:
    pod = spawn(hub, "carol", None)
    gids, mounts = folders_of(pod)
    assert gids == [] and list(mounts) == ["/groups"] and mounts["/groups"]["read_only"] is True
    (notebook,) = pod["spec"]["containers"]
    shares = {m["mount_path"]: m["read_only"] for m in notebook["volume_mounts"]}
    assert shares["/shared"] is shares["/readonly"] is True, "the old /shared is kept, read-only"
    stop(hub, "carol")


def test_a_membership_changed_on_the_admin_page_applies_at_the_next_start(hub: Hub) -> None:
    db = hub.app.db
    group, dora = orm.Group.find(db, "private-lab"), orm.User.find(db, hub.user("dora").name)
    group.users.append(dora)
    db.commit()
    assert folders_of(spawn(hub, "dora", None))[0] == [PRIVATE]
    stop(hub, "dora")
    group.users.remove(dora)
    db.commit()
    gids, mounts = folders_of(spawn(hub, "dora", None))
    assert gids == [] and list(mounts) == ["/groups"]
    stop(hub, "dora")


def test_a_user_in_more_folder_groups_than_nfs_carries_gets_the_first_by_name(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    """Added on the admin page to 17 groups with folders (config refuses that many: tests/configs): 15 gids
    beside the users' group 100, 16 in all, as AUTH_SYS carries; the hub's log names the groups left out."""
    db = hub.app.db
    erin = orm.User.find(db, hub.user("erin").name)
    groups = [orm.Group.find(db, name) for name in [*TEAMS, "lab", "private-lab"]]
    for group in groups:
        group.users.append(erin)
    db.commit()
    log = hub.user("erin").spawner.log  # the hub's own logger, which does not propagate
    log.addHandler(caplog.handler)
    try:
        pod = spawn(hub, "erin", None)
    finally:
        log.removeHandler(caplog.handler)
    gids, mounts = folders_of(pod)
    first = sorted([*TEAMS, "lab", "private-lab"])[: access.MAX_FOLDER_GROUPS]
    assert len({*gids, pod["spec"]["security_context"]["fsGroup"]}) == 16
    assert sorted(mounts) == ["/groups", *(f"/groups/{name}" for name in first)]
    assert "no write access to team-13, team-14" in caplog.text
    stop(hub, "erin")


def test_the_layout_job_gets_the_folders_of_the_config(foldered: Plan) -> None:
    data = foldered.one("kubernetes:core/v1:ConfigMap", "storage-layout-script").inputs["data"]
    folders = layout.read_folders(data["group_folders.json"])
    assert folders == {**FOLDERS, **{name: (g["folder"]["gid"], False) for name, g in TEAMS.items()}}


def test_the_users_group_never_takes_the_folders_over(foldered: Plan) -> None:
    """Servers run with fsGroup 100; a kubelet that applied it to the volume would give every file group 100
    and undo the folders' groups. It does not: the EFS driver's CSIDriver sets no fsGroupPolicy (Kubernetes'
    default, ReadWriteOnceWithFSType), and such a policy applies only to a ReadWriteOnce volume with an fsType
    (kubernetes/kubernetes pkg/volume/csi/csi_mounter.go, supportsFSGroup); the claim's volume is neither."""
    (addon,) = [a for a in foldered.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-efs-csi-driver"]
    (driver,) = of_kind(addon_manifests(addon, foldered.config.cluster.name, foldered.config.region), "CSIDriver")
    assert driver["spec"].get("fsGroupPolicy", "ReadWriteOnceWithFSType") == "ReadWriteOnceWithFSType"
    volume = foldered.one("kubernetes:core/v1:PersistentVolume", "storage-volume").inputs["spec"]
    assert volume["accessModes"] == ["ReadWriteMany"] and "fsType" not in volume["csi"]
