"""A user's own home actions (move the home to the archive and start fresh, bring the latest archive back):
the moves run by the home-restore init container's real command as the notebook's uid on a root-owned tree
laid out as the real one, byte for byte, once per request however often the pod's init containers run; the
spawn form, the refusals and the pod from the real JupyterHub and the real KubeSpawner, loaded from the
staging chart's own config (tests/test_groups.py's harness); the admin report's archive tables."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.crypto import CryptKeeper
from traitlets.config import Config

from offline.engine import Plan
from offline.spawner import offline_kubespawner
from tests.as_uid import HUB, NOTEBOOK, python_for, run_as
from tests.charts import render
from tests.conftest import ROOT, load_in_cluster_code
from tests.hub_chain import load_hub_config
from tests.test_groups import Hub, cluster_stands_in, form, refusal, spawn, stop
from tests.test_home_governance import NOW, efs, fingerprint, hg, moves, notices, restore_as_the_user, tree, user

__all__ = ["efs"]  # the fixture: a file system root laid out as the real one, with home/gone (1000:100)

R1, R2, R3 = "2026-11-30T101500Z", "2026-12-01T090000Z", "2026-12-01T093000Z"


def as_the_pod(root: Path, home: str, env: dict[str, str], command: list[str] | None = None) -> Any:
    """The home-restore init container: its command (by default components/home_governance.py's), with the
    environment the hub gives it, as its uid and group; /efs and /opt/home-governance are where the pod
    mounts them."""
    argv = command or ["python", "/opt/home-governance/home_moves.py", "restore", "/efs", home]
    mounted = {"python": python_for(*NOTEBOOK), "/efs": str(root / "fs"),
               "/opt/home-governance/home_moves.py": str(root / "opt" / "home_moves.py")}  # fmt: skip
    return run_as(*NOTEBOOK, ["/usr/bin/env", *(f"{k}={v}" for k, v in env.items()),
                              *(mounted.get(arg, arg) for arg in argv)], python=False)  # fmt: skip


def request(root: Path, home: str, action: str, stamp: str) -> dict[str, Any]:
    done = as_the_pod(root, home, {"HOME_ACTION": action, "HOME_REQUEST": stamp})
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def kubelet_makes_the_home(fs: Path, home: str) -> None:
    """The sub-path the next container mounts (kubelet, root), handed to the notebook user (nfs-fixer)."""
    (fs / "home" / home).mkdir(mode=0o775)
    os.chown(fs / "home" / home, *NOTEBOOK)


def users_files(fs: Path, home: str, files: dict[str, bytes]) -> None:
    tree(fs / "home" / home, files)
    for path in [fs / "home" / home, *(fs / "home" / home).rglob("*")]:
        os.chown(path, *NOTEBOOK)


# The moves, as the notebook's uid ---------------------------------------------------------------------------


def test_archive_and_start_fresh_then_bring_it_back_byte_for_byte(efs: Path) -> None:
    fs = efs / "fs"
    original = fingerprint(fs / "home" / "gone")
    done = request(efs, "gone", "archive", R1)
    assert done["archived"] == f"archive/gone/{R1}-self" and done["brought_back"] is None
    assert not (fs / "home" / "gone").exists(), "the pod starts with an empty home"
    assert fingerprint(fs / "archive" / "gone" / f"{R1}-self") == original
    kubelet_makes_the_home(fs, "gone")
    again = restore_as_the_user(efs, "gone")  # the next ordinary start: the user's own archive stays put
    assert again.returncode == 0 and "nothing to restore" in again.stdout, again.stderr
    assert list((fs / "home" / "gone").iterdir()) == []
    back = request(efs, "gone", "restore", R2)
    assert (back["archived"], back["brought_back"]) == (None, f"archive/gone/{R1}-self"), "an empty home: no swap"
    assert fingerprint(fs / "home" / "gone") == original
    assert (fs / "home" / "gone").stat().st_uid == NOTEBOOK[0]
    assert moves.snapshots(fs, "gone") == []


def test_one_archive_of_ones_own_at_a_time(efs: Path) -> None:
    """No limit measures the archive: archiving again and again would get around the home's limits. The
    second archive moves nothing; bringing the first back still swaps."""
    fs = efs / "fs"
    request(efs, "gone", "archive", R1)
    kubelet_makes_the_home(fs, "gone")
    users_files(fs, "gone", {"refilled.nwb": b"r" * 500})
    refilled = fingerprint(fs / "home" / "gone")
    done = request(efs, "gone", "archive", R2)
    assert done["archived"] is None and done["note"].startswith("not archived: you have an archive of your own")
    assert fingerprint(fs / "home" / "gone") == refilled
    assert [s.name for s in moves.snapshots(fs, "gone")] == [f"{R1}-self"]
    back = request(efs, "gone", "restore", R3)
    assert (back["archived"], back["brought_back"]) == (f"archive/gone/{R3}-self", f"archive/gone/{R1}-self")


def test_bringing_back_swaps_with_the_files_the_home_has_now(efs: Path) -> None:
    fs = efs / "fs"
    old = fingerprint(fs / "home" / "gone")
    moves.archive(fs, "gone", "2026-11-23")  # retention, as root
    users_files(fs, "gone", {"fresh.ipynb": b"{}", "results/fig.png": b"\x89PNG" * 100})
    fresh = fingerprint(fs / "home" / "gone")
    done = request(efs, "gone", "restore", R2)
    assert (done["archived"], done["brought_back"]) == (f"archive/gone/{R2}-self", "archive/gone/2026-11-23")
    assert fingerprint(fs / "home" / "gone") == old
    assert fingerprint(fs / "archive" / "gone" / f"{R2}-self") == fresh
    request(efs, "gone", "restore", R3)  # and back again: the newest archive is the one just set aside
    assert fingerprint(fs / "home" / "gone") == fresh
    assert fingerprint(fs / "archive" / "gone" / f"{R3}-self") == old
    assert [s.name for s in moves.snapshots(fs, "gone")] == [f"{R3}-self"]


def test_a_request_runs_once_however_often_the_init_containers_run(efs: Path) -> None:
    """A recreated pod sandbox runs the init containers again with the same environment: the swap must not
    swap back."""
    fs = efs / "fs"
    moves.archive(fs, "gone", "2026-11-23")
    users_files(fs, "gone", {"fresh.txt": b"f"})
    first = request(efs, "gone", "restore", R2)
    after = fingerprint(fs)
    second = request(efs, "gone", "restore", R2)
    assert second == {**first, "again": True}
    assert fingerprint(fs) == after
    steps = moves.request_steps(fs, "gone")
    assert [(s["request"], s["step"]) for s in steps] == [(R2, "planned"), (R2, "done")]


RUN_HALF = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("hg", sys.argv[1])
hg = importlib.util.module_from_spec(spec); sys.modules["hg"] = hg; spec.loader.exec_module(hg)
root, request = Path(sys.argv[2]), sys.argv[3]
hg._record(root, "gone", {"request": request, "step": "planned", "action": "restore", "bring_back": "2026-11-23"})
hg.archive(root, "gone", request + hg.SELF)
"""


def test_a_request_stopped_half_way_is_finished_by_the_next_start(efs: Path) -> None:
    """The pod stopped after the home was set aside and before the archive came back: the user's next start,
    whatever it asks, first brings back the planned archive (not the one just made, now the newest) and
    records it done."""
    fs = efs / "fs"
    old = fingerprint(fs / "home" / "gone")
    moves.archive(fs, "gone", "2026-11-23")
    users_files(fs, "gone", {"fresh.txt": b"f"})
    (efs / "opt" / "half.py").write_text(RUN_HALF)
    half = run_as(*NOTEBOOK, [str(efs / "opt" / "half.py"), str(efs / "opt" / "home_moves.py"), str(fs), R2])
    assert half.returncode == 0 and not (fs / "home" / "gone").exists(), half.stderr
    ran = as_the_pod(efs, "gone", {})
    assert ran.returncode == 0, ran.stderr
    done = json.loads(ran.stdout.splitlines()[0])
    assert (done["request"], done["step"]) == (R2, "done")
    assert (done["archived"], done["brought_back"]) == (f"archive/gone/{R2}-self", "archive/gone/2026-11-23")
    assert ran.stdout.splitlines()[1] == "nothing to restore for gone", "the user's own archive stays put"
    assert fingerprint(fs / "home" / "gone") == old
    assert fingerprint(fs / "archive" / "gone" / f"{R2}-self") == {"fresh.txt": hashlib.sha256(b"f").hexdigest()}


def test_bringing_back_with_no_archive_leaves_the_home_as_it_is(efs: Path) -> None:
    fs = efs / "fs"
    before = fingerprint(fs)
    done = request(efs, "gone", "restore", R2)
    assert done["note"] == "no archive to bring back; the home is as it was"
    assert {k: v for k, v in fingerprint(fs).items() if "self-service" not in k} == before


def test_snapshot_names_say_who_made_them_and_sort_by_time(tmp_path: Path) -> None:
    names = ["2026-12-01T093000Z-self", "2026-11-23", "2026-11-27", "2026-11-27T050000Z-self", "manual-copy",
             "2026-11-27T0500-self"]  # fmt: skip
    for name in names:
        (tmp_path / "archive" / "gone" / name).mkdir(parents=True)
    (tmp_path / "archive" / "gone" / "2026-11-30").write_text("a file, not a snapshot")
    found = [s.name for s in moves.snapshots(tmp_path, "gone")]
    assert found == ["2026-11-23", "2026-11-27", "2026-11-27T050000Z-self", "2026-12-01T093000Z-self"]
    assert [moves.made_by(n) for n in found] == ["retention", "retention", "self", "self"]
    assert moves.restore(tmp_path, "gone") is None, "the newest is the user's own: it stays archived"
    (tmp_path / "archive" / "gone" / "2026-12-07").mkdir()
    assert moves.restore(tmp_path, "gone") == tmp_path / "archive" / "gone" / "2026-12-07", "retention's comes back"


# The admin report --------------------------------------------------------------------------------------------


def test_the_report_shows_each_homes_archives_and_the_requests(efs: Path) -> None:
    fs = efs / "fs"
    moves.archive(fs, "gone", "2026-11-23")
    users_files(fs, "gone", {"fresh.txt": b"f" * 10})
    request(efs, "gone", "restore", R2)  # the retention snapshot back, the fresh home set aside
    request(efs, "gone", "archive", R3)  # and that one too: not while the user has one of their own
    result = hg.report(fs, [user("gone", 0)], hg.Policy(), NOW)
    held = result["archives"]["gone"]
    assert [(s["name"], s["by"], s["bytes"]) for s in held["snapshots"]] == [(f"{R2}-self", "self", 10)]
    assert held["bytes"] == 10
    assert [(r["request"], r["action"]) for r in held["requests"]] == [(R2, "restore"), (R3, "archive")]
    markdown = hg.write(fs, result).with_suffix(".md").read_text()
    assert f"| gone | 1 (0 / 1) | {R2}-self (self) | 0.00 |" in markdown
    note = f"not archived: you have an archive of your own already ({R2}-self); an admin can remove it"
    assert f"| {R3} | gone | archive |  |  | {note} |" in markdown
    assert f"| {R2} | gone | restore | archive/gone/{R2}-self | archive/gone/2026-11-23 |  |" in markdown
    assert markdown.index(f"| {R3} |") < markdown.index(f"| {R2} |"), "newest first"
    # The hub reads what the spawn form says of the archives, as its own uid, from inside its mount.
    read = run_as(*HUB, ["-c", "print(open('archives.json').read())"], cwd=fs / "admin" / "notices")
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["archives"] == {"gone": {"count": 1, "own": 1, "newest": f"{R2}-self", "by": "self"}}
    assert notices.archives_notice(fs / "admin" / "notices", "gone") == {
        "count": 1, "own": 1, "newest": f"{R2}-self", "by": "self", "as_of": "2026-11-27"}  # fmt: skip
    assert notices.archives_notice(fs / "admin" / "notices", "newcomer") is None


def test_an_unfinished_request_is_in_the_report(efs: Path) -> None:
    fs = efs / "fs"
    (efs / "opt" / "half.py").write_text(RUN_HALF)
    moves.archive(fs, "gone", "2026-11-23")
    users_files(fs, "gone", {"fresh.txt": b"f"})
    run_as(*NOTEBOOK, [str(efs / "opt" / "half.py"), str(efs / "opt" / "home_moves.py"), str(fs), R2])
    markdown = hg.write(fs, hg.report(fs, [], hg.Policy(), NOW)).with_suffix(".md").read_text()
    assert f"| {R2} | gone | restore |  |  | unfinished (planned to bring back 2026-11-23)" in markdown


# The hub: the real JupyterHub and KubeSpawner ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(staging: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    workdir = tmp_path_factory.mktemp("hub")
    config = load_hub_config(render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release")), workdir, "dandihub")
    with offline_kubespawner():
        yield Hub(config, workdir)
    JupyterHub.clear_instance()
    CryptKeeper.clear_instance()


def confirmed(action: str, login: str) -> dict[str, list[str]]:
    return {"home-action": [action], "home-confirm": [login]}


def init_container(pod: dict[str, Any]) -> dict[str, Any]:
    (restore,) = [c for c in pod["spec"]["init_containers"] if c["name"] == "home-restore"]
    assert pod["spec"]["init_containers"][0] is restore, "the first init container: before anything mounts the home"
    return dict(restore)


def test_the_spawn_form_offers_the_home_choices_and_what_the_report_knew(hub: Hub, tmp_path: Path) -> None:
    page = form(hub, "hana")
    choices = re.findall(r'name="home-action" id="home-\w+" value="(\w+)"( checked)?', page)
    assert choices == [("keep", " checked"), ("archive", ""), ("restore", "")], "keeping is the default"
    assert "type your login (<code>hana</code>)" in page and 'name="home-confirm"' in page
    assert "The weekly report lists no archive of your home" in page
    # What the report left in the notices, as the hub's extraConfig reads it (values/home_notices.py).
    hg.write(
        tmp_path,
        {
            **hg.report(tmp_path, [], hg.Policy(), NOW),
            "archives": {
                "hana": {
                    "snapshots": [{"name": "2026-11-23", "by": "retention", "bytes": 1}],
                    "bytes": 1,
                    "requests": [],
                }
            },
        },
    )
    config = Config()
    notices.configure_hub(config, tmp_path / "admin" / "notices", "home/{safe_username}")
    hub.user("hana").spawner.home_archives_of = config.DandiKubeSpawner.home_archives_of
    page = form(hub, "hana")
    assert "The report of 2026-11-27 lists 1 archive(s) of your home, the newest <code>2026-11-23</code>" in page
    assert "(by the inactivity rule)" in page
    assert 'value="archive">' in page, "no archive of her own: archiving is offered"
    # With one of her own (as the report knows), archiving is not offered, and the form says what to do.
    hub.user("hana").spawner.home_archives_of = lambda spawner: {
        "count": 2, "own": 1, "newest": f"{R1}-self", "by": "self", "as_of": "2026-11-27"}  # fmt: skip
    page = form(hub, "hana")
    assert 'value="archive" disabled>' in page and 'value="restore">' in page
    assert "You have an archive of your own already" in page and "ask the hub's admins to remove the old one" in page


def test_a_missing_or_wrong_confirmation_is_refused(hub: Hub) -> None:
    for typed in ([], [""], ["Hana"], ["someone"]):
        message = refusal(hub, "hana", "tiny", {"home-action": ["archive"], "home-confirm": typed})
        assert message == ("To move your home to the archive, type your login (hana) in the box under "
                           "'Your home directory'. Nothing was changed.")  # fmt: skip
    assert "To bring back your latest archive, type your login (hana)" in refusal(
        hub, "hana", "tiny", {"home-action": ["restore"]})  # fmt: skip
    assert "Unknown home action 'delete'" in refusal(hub, "hana", "tiny", confirmed("delete", "hana"))


def test_the_pod_carries_the_confirmed_action_to_the_restore_init_container(hub: Hub, efs: Path) -> None:
    pod = spawn(hub, "gone", None, confirmed("archive", "gone"))
    env = {e["name"]: e["value"] for e in init_container(pod)["env"]}
    requested = datetime.datetime.strptime(env["HOME_REQUEST"], moves.REQUEST_FORMAT).replace(tzinfo=datetime.UTC)
    assert env["HOME_ACTION"] == "archive"
    assert datetime.timedelta(0) <= datetime.datetime.now(datetime.UTC) - requested < datetime.timedelta(minutes=1)
    spawner = hub.user("gone").spawner
    assert spawner.orm_spawner.user_options == {"profile": "base"}, "the action is never kept for a later start"
    # The pod's own init container, as the notebook's uid, on the file system: the home moves.
    original = fingerprint(efs / "fs" / "home" / "gone")
    ran = as_the_pod(efs, "gone", env, init_container(pod)["command"])
    assert ran.returncode == 0, ran.stderr
    assert fingerprint(efs / "fs" / "archive" / "gone" / f"{env['HOME_REQUEST']}-self") == original
    stop(hub, "gone")
    for later in (spawn(hub, "gone", None), spawn(hub, "gone", None, {"home-action": ["keep"]})):
        assert "HOME_ACTION" not in str(init_container(later)), "a start without a confirmed action"
        stop(hub, "gone")


def test_a_link_never_carries_a_home_action(hub: Hub) -> None:
    """`GET /hub/spawn?...` becomes options through options_from_query, with no XSRF check (JupyterHub's
    SpawnHandler): a page elsewhere could send a user there. Actions come from the posted form only."""
    with cluster_stands_in():
        options = hub.user("kim").spawner.options_from_query({"profile": ["tiny"], **confirmed("archive", "kim")})
    assert options.get("profile") == "tiny" and not [k for k in options if k.startswith("home-")]


def test_a_refused_start_leaves_no_home_action_for_a_later_one(hub: Hub) -> None:
    """JupyterHub keeps a start's options in its database before the start runs; a refused one (a profile
    not the user's, a cap, the hard limit) must not leave its confirmed action for a REST start to reuse."""
    spawner = hub.user("lea").spawner
    # The staging stack has no caps or limits: one that refuses (as the group caps' check does) stands in.
    refused = type(spawner).refuse_unless_allowed.__globals__["Refused"]  # the hub's own, from its extraConfig
    cap = mock.patch.object(type(spawner), "refuse_unless_allowed", side_effect=refused("full"))
    with cap:
        assert refusal(hub, "lea", "base", confirmed("archive", "lea")) == "full"
    kept = spawner.orm_spawner.user_options or {}
    assert kept and not [k for k in kept if str(k).startswith("home-")]


def test_options_kept_from_an_earlier_start_never_act(hub: Hub) -> None:
    """A start with the options of an earlier one (JupyterHub reuses them for a REST API start without
    options) carries a confirmation made long ago: nothing is done, nothing refused."""
    old = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=30)).strftime(moves.REQUEST_FORMAT)
    user = hub.user("ivo")
    with cluster_stands_in() as pods:
        options = {"profile": "tiny", "home-action": "archive", "home-confirm": "ivo", "home-requested": old}
        asyncio.run(user.spawn("", options=options))
    assert "HOME_ACTION" not in str(init_container(pods[0]["pod"].to_dict()))
    stop(hub, "ivo")


def test_a_home_another_server_uses_is_not_moved(hub: Hub) -> None:
    """Named servers are off (z2jh's default, not changed in values/jupyterhub.yaml); should they be turned
    on, a user's servers share one home, and none moves while another runs."""
    assert hub.app.allow_named_servers is False
    user = hub.user("jo")
    with cluster_stands_in():
        asyncio.run(user.spawn("second", options={"profile": "tiny"}))
    assert user.spawners["second"].active
    message = refusal(hub, "jo", "tiny", confirmed("archive", "jo"))
    assert message == "Your server(s) second use the same home: stop them first. Nothing was changed."
    with cluster_stands_in():
        asyncio.run(user.stop("second"))
    assert "HOME_ACTION" in str(init_container(spawn(hub, "jo", "tiny", confirmed("archive", "jo"))))
    stop(hub, "jo")


def test_the_hub_and_the_init_container_speak_the_same_request() -> None:
    access = load_in_cluster_code(ROOT / "values" / "home_actions.py")
    assert (access.HOME_ACTION_ENV, access.HOME_REQUEST_ENV) == (moves.ACTION_ENV, moves.REQUEST_ENV)
    assert access.HOME_REQUEST_FORMAT == moves.REQUEST_FORMAT
    assert set(access.HOME_CONFIRMS) == {"archive", "restore"}
