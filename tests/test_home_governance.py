"""Home governance: the report's numbers on a real directory tree, retention's dry run and limits, an
archive-and-restore round trip that loses no byte, the restore run as the user pod's real uid and the notice
read as the hub's real uid on a root-owned tree laid out as the real one, the soft-limit notice on the hub's
real spawn page, the report token's scopes, and no code that deletes."""

from __future__ import annotations

import ast
import datetime
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from offline.engine import Plan
from offline.spawner import expand
from tests.as_uid import HUB, NOTEBOOK, run_as, world_reachable_dir
from tests.charts import of_kind, render
from tests.conftest import ROOT, in_component, load_in_cluster_code, plan_with
from tests.pod_security import baseline_violations

SOURCE = ROOT / "values" / "home_governance.py"
# The moves (the report job's and the users' pods') and the hub's side, beside the job in its ConfigMap.
MOVES, NOTICES = ROOT / "values" / "home_moves.py", ROOT / "values" / "home_notices.py"
SCRIPTS = (SOURCE, ROOT / "values" / "hub_users.py", MOVES, NOTICES)
LAYOUT = load_in_cluster_code(ROOT / "values" / "efs_layout.py")
NOW = datetime.datetime(2026, 11, 27, 6, 0, tzinfo=datetime.UTC)


def load() -> ModuleType:
    return load_in_cluster_code(SOURCE)


hg = load()
moves = load_in_cluster_code(MOVES)
notices = load_in_cluster_code(NOTICES)


def tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def fingerprint(path: Path) -> dict[str, str]:
    """Every file under `path` by relative name, with the SHA-256 of its content."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def user(name: str, days: int | None, admin: bool = False, running: bool = False) -> Any:
    last = None if days is None else NOW - datetime.timedelta(days=days)
    return hg.User(name, name, admin, running, last)


@pytest.fixture
def homes(tmp_path: Path) -> Path:
    tree(tmp_path, {
        "home/active/notes.ipynb": b"x" * 1000,
        "home/idle/data/big.nwb": b"y" * 5000, "home/idle/.cache/pip/wheel": b"z" * 300,
        "home/gone/analysis.py": b"print(1)\n" * 10,
        "home/admin1/todo.txt": b"t" * 10, "home/friend/keep.txt": b"k" * 20, "home/busy/run.py": b"r" * 30,
    })  # fmt: skip
    return tmp_path


def people() -> list[Any]:
    return [user("active", 2), user("idle", 35), user("gone", 60), user("admin1", 90, admin=True),
            user("friend", 90), user("busy", 90, running=True), user("new", None)]  # fmt: skip


def test_measure_counts_bytes_files_and_the_newest_change(homes: Path) -> None:
    usage = hg.measure(homes / "home" / "idle")
    assert (usage.bytes, usage.files) == (5300, 2)
    assert usage.latest_mtime == max(p.stat().st_mtime for p in (homes / "home" / "idle").rglob("*") if p.is_file())


def test_the_report_is_a_dry_run_by_default(homes: Path) -> None:
    before = fingerprint(homes)
    policy = hg.Policy(soft_limit_gib=4000 / hg.GIB, exempt=frozenset({"friend"}))
    result = hg.report(homes, people(), policy, NOW)
    assert fingerprint(homes) == before, "retention is off: nothing moves"
    assert result["retention"] == {"enabled": False, "archived": [], "stopped": None}
    assert result["total_bytes"] == 1000 + 5300 + 90 + 10 + 20 + 30
    assert result["over_soft_limit"] == ["idle"]
    inactive = {a["user"]: (a["action"], a["kept_because"]) for a in result["inactive"]}
    assert inactive == {
        "idle": ("warn", ""),
        "gone": ("archive", ""),
        "admin1": ("warn", "admin"),
        "friend": ("warn", "exempt"),
        "busy": ("warn", "server running"),
    }
    row = next(r for r in result["homes"] if r["home"] == "idle")
    assert row["monthly_usd"] == {"standard": round(5300 / 1e9 * 0.30, 4), "ia": round(5300 / 1e9 * 0.016, 4),
                                  "archive": round(5300 / 1e9 * 0.008, 4)}  # fmt: skip


def test_growth_since_the_last_report_and_the_written_report(homes: Path) -> None:
    policy = hg.Policy()
    first = hg.write(homes, hg.report(homes, people(), policy, NOW - datetime.timedelta(days=7)))
    (homes / "home" / "active" / "more.csv").write_bytes(b"m" * 250)
    second = hg.report(homes, people(), policy, NOW)
    markdown = hg.write(homes, second).with_suffix(".md").read_text()
    assert next(r for r in second["homes"] if r["home"] == "active")["growth_bytes"] == 250
    assert first.parent == homes / "admin" / "reports" and oct(first.parent.stat().st_mode)[-3:] == "700"
    assert "| gone | 60 | 0.00 | archive |  |" in markdown
    assert "Retention off (dry run): 0 archived" in markdown


def test_the_report_measures_the_group_folders_and_the_old_shared_folder(homes: Path) -> None:
    """What users keep outside their homes is seen, though no limit covers it."""
    tree(homes, {"groups/lab/big.nwb": b"g" * 700, "groups/empty/.keep": b"", "shared/old.csv": b"s" * 30})
    markdown = hg.write(homes, hg.report(homes, people(), hg.Policy(), NOW)).with_suffix(".md").read_text()
    assert hg.report(homes, people(), hg.Policy(), NOW)["folders"] == {
        "groups/empty": 0,
        "groups/lab": 700,
        "shared": 30,
    }
    assert "## Folders outside the homes (no limit covers them)" in markdown and "| groups/lab | 0.00 |" in markdown


def test_archive_and_restore_round_trip_loses_no_byte(homes: Path) -> None:
    original = fingerprint(homes / "home" / "gone")
    moved = moves.archive(homes, "gone", NOW.date().isoformat())
    assert moved == {"home": "gone", "to": "archive/gone/2026-11-27"}
    assert not (homes / "home" / "gone").exists()
    assert fingerprint(homes / "archive" / "gone" / "2026-11-27") == original
    (homes / "home" / "gone").mkdir()  # what the kubelet makes for the sub-path of a returning user
    assert moves.restore(homes, "gone") == homes / "archive" / "gone" / "2026-11-27"
    assert fingerprint(homes / "home" / "gone") == original
    assert moves.restore(homes, "gone") is None, "nothing more to restore"


def test_a_move_that_does_not_carry_the_directory_is_caught(homes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check after each rename: the same directory (inode) arrived and none is left behind."""
    monkeypatch.setattr(moves.os, "rename", lambda source, target: os.mkdir(target))  # a new one, the old left
    with pytest.raises(moves.InconsistentError, match="not the same directory after the move"):
        moves.archive(homes, "gone", NOW.date().isoformat())
    assert (homes / "home" / "gone").is_dir(), "the home is where it was"


def test_restore_never_overwrites_a_home_with_files(homes: Path) -> None:
    moves.archive(homes, "gone", NOW.date().isoformat())
    tree(homes, {"home/gone/new.txt": b"fresh"})
    assert moves.restore(homes, "gone") is None
    assert fingerprint(homes / "home" / "gone") == {"new.txt": hashlib.sha256(b"fresh").hexdigest()}
    assert (homes / "archive" / "gone" / "2026-11-27").is_dir()


def test_retention_archives_within_its_limit_and_leaves_the_exempt(homes: Path) -> None:
    tree(homes, {"home/gone2/a.txt": b"a" * 5})
    users = [*people(), user("gone2", 50)]
    policy = hg.Policy(retention_enabled=True, exempt=frozenset({"friend"}), max_archives_per_run=1)
    result = hg.report(homes, users, policy, NOW)
    assert [a["home"] for a in result["retention"]["archived"]] == ["gone"], "the longest inactive, one per run"
    assert (homes / "home" / "gone2").is_dir()
    for kept in ("admin1", "friend", "busy", "active", "idle"):
        assert (homes / "home" / kept).is_dir(), kept


def test_a_run_that_finds_something_inconsistent_stops(homes: Path) -> None:
    tree(homes, {"home/gone2/a.txt": b"a", "archive/gone/2026-11-27/old.txt": b"o"})
    users = [user("gone", 60), user("gone2", 50)]
    result = hg.report(homes, users, hg.Policy(retention_enabled=True), NOW)
    assert result["retention"]["archived"] == []
    assert "exists already" in result["retention"]["stopped"]
    assert (homes / "home" / "gone").is_dir() and (homes / "home" / "gone2").is_dir(), "nothing else moved"


def test_no_code_path_deletes_a_file() -> None:
    """Moves only: the one removal is of the empty directory a returning user's home replaces."""
    calls = [
        (node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", ""))
        for script in SCRIPTS
        for node in ast.walk(ast.parse(script.read_text()))
        if isinstance(node, ast.Call)
    ]
    assert not {"remove", "unlink", "rmtree", "truncate", "removedirs"} & set(calls)
    assert calls.count("rmdir") == 1
    assert not any("shutil" in script.read_text() for script in SCRIPTS)


# As the real identities, on a tree owned as the real one ---------------------------------------------------


@pytest.fixture
def efs() -> Iterator[Path]:
    """A file system root as the cluster leaves it: the layout Job's directories (root), a user's home
    handed to the notebook user by the nfs-fixer (1000:100), and the script where the user pod mounts it."""
    root = world_reachable_dir()
    (root / "fs").mkdir(mode=0o755)  # the EFS root: root-owned 0755, as EFS makes it
    LAYOUT.make(root / "fs")
    tree(root / "fs", {"home/gone/thesis.tex": b"\\documentclass{article}", "home/gone/data/a.nwb": b"n" * 4096})
    for path in [root / "fs" / "home" / "gone", *(root / "fs" / "home" / "gone").rglob("*")]:
        os.chown(path, *NOTEBOOK)
    (root / "fs" / "home" / "gone").chmod(0o775)
    (root / "opt").mkdir(mode=0o755)
    for script in SCRIPTS:  # as the pods mount the ConfigMap
        shutil.copy(script, root / "opt" / script.name)
        (root / "opt" / script.name).chmod(0o644)
    yield root
    shutil.rmtree(root)


def restore_as_the_user(root: Path, home: str) -> Any:
    """The home-restore init container's command, as its uid and group (components/home_governance.py)."""
    return run_as(*NOTEBOOK, [str(root / "opt" / "home_moves.py"), "restore", str(root / "fs"), home])


def test_the_users_own_pod_restores_an_archived_home_as_the_notebook_uid(efs: Path) -> None:
    fs = efs / "fs"
    original = fingerprint(fs / "home" / "gone")
    moves.archive(fs, "gone", NOW.date().isoformat())  # the report job, as root
    done = restore_as_the_user(efs, "gone")
    assert done.returncode == 0, done.stderr
    assert "restored gone from" in done.stdout
    assert fingerprint(fs / "home" / "gone") == original
    assert (fs / "home" / "gone").stat().st_uid == NOTEBOOK[0], "the home is the user's, as before"
    again = restore_as_the_user(efs, "gone")
    assert again.returncode == 0 and "nothing to restore" in again.stdout


def test_the_restore_replaces_the_empty_directory_the_kubelet_made(efs: Path) -> None:
    fs = efs / "fs"
    moves.archive(fs, "gone", NOW.date().isoformat())
    (fs / "home" / "gone").mkdir(mode=0o755)  # the kubelet (root) makes a sub-path with the volume root's mode
    done = restore_as_the_user(efs, "gone")
    assert done.returncode == 0, done.stderr
    assert (fs / "home" / "gone" / "thesis.tex").is_file()


def test_a_first_login_restores_nothing_and_fails_nothing(efs: Path) -> None:
    done = restore_as_the_user(efs, "newcomer")
    assert done.returncode == 0 and "nothing to restore for newcomer" in done.stdout, done.stderr


def test_without_the_layout_the_users_restore_is_refused(efs: Path) -> None:
    """Teeth: home/ and archive/ as root left them before (kubelet and report job, root-owned 0755)."""
    fs = efs / "fs"
    moves.archive(fs, "gone", NOW.date().isoformat())
    for path in (fs / "home", fs / "archive", fs / "archive" / "gone"):
        os.chown(path, 0, 0)
        path.chmod(0o755)
    done = restore_as_the_user(efs, "gone")
    assert done.returncode != 0 and "PermissionError" in done.stderr
    assert (fs / "archive" / "gone" / "2026-11-27" / "thesis.tex").is_file(), "nothing moved"


NOTICE_READER = """
import dataclasses, importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("limits", sys.argv[1])
limits = importlib.util.module_from_spec(spec); sys.modules["limits"] = limits; spec.loader.exec_module(limits)
print(json.dumps(dataclasses.asdict(limits.weekly(Path("."), sys.argv[2]))))
"""


def test_the_hub_reads_the_notices_as_its_own_uid_and_no_more(efs: Path) -> None:
    """The report job (root) writes; the hub (1000:1000) reads, from inside its admin/notices mount, as the
    home limits' rule does (values/home_limits.py)."""
    fs = efs / "fs"
    hg.write(fs, hg.report(fs, [user("gone", 3)], hg.Policy(soft_limit_gib=1000 / hg.GIB), NOW))
    (efs / "opt" / "notices.py").write_text(NOTICE_READER)
    shutil.copy(ROOT / "values" / "home_limits.py", efs / "opt" / "home_limits.py")
    script = [str(efs / "opt" / "notices.py"), str(efs / "opt" / "home_limits.py")]
    read = run_as(*HUB, [*script, "gone"], cwd=fs / "admin" / "notices")
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout) == {
        "bytes": 4119,
        "largest": [["data", 4096], ["thesis.tex", 23]],
        "as_of": "2026-11-27",
    }
    # The full report stays with admins: the hub's uid cannot read it, even from inside admin/.
    peek = run_as(*HUB, ["-c", "import os; os.listdir('.')"], cwd=fs / "admin" / "reports")
    assert peek.returncode != 0 and "PermissionError" in peek.stderr


def test_the_report_on_an_empty_file_system_reports_nothing(tmp_path: Path) -> None:
    for root in (tmp_path / "without-home", tmp_path / "laid-out"):
        root.mkdir()
    LAYOUT.make(tmp_path / "laid-out")
    for root in (tmp_path / "without-home", tmp_path / "laid-out"):
        result = hg.report(root, people(), hg.Policy(), NOW)
        assert (result["total_bytes"], result["homes"], result["inactive"]) == (0, [], [])


def test_the_jobs_names_are_the_hubs(homes: Path) -> None:
    for scheme, template in (("safe", "home/{safe_username}"), ("escaped", "home/{escaped_username}")):
        name = hg.home_namer(scheme)
        for login in ("satra", "jane-doe", "1abc", "Yarikoptic"):
            assert "home/" + name(login) == expand(login.lower(), template)


def test_the_spawn_page_says_how_long_a_server_may_run() -> None:
    """The real spawn.html over JupyterHub's own (the home limits' part: tests/test_home_limits.py)."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
    from jupyterhub._data import DATA_FILES_PATH

    loader = ChoiceLoader([
        PrefixLoader({"templates": FileSystemLoader([os.path.join(DATA_FILES_PATH, "templates")])}, "/"),
        FileSystemLoader([str(ROOT / "values" / "templates"), os.path.join(DATA_FILES_PATH, "templates")]),
    ])  # fmt: skip
    page = Environment(loader=loader).get_template("spawn.html")
    context = {"static_url": lambda *a, **k: "", "base_url": "/hub/", "url": "/hub/spawn", "user": None,
               "spawner_options_form": "<select name='profile'></select>"}  # fmt: skip
    shown = page.render(server_max_age="7 days", **context)
    assert "Servers on this hub stop 7 days after they start" in shown and "<select name='profile'>" in shown
    assert "Servers on this hub stop" not in page.render(server_max_age="", **context)


# The deployed pieces -------------------------------------------------------------------------------------


def test_the_report_token_may_list_users_and_read_activity_servers_and_groups_only(plan: Plan) -> None:
    hub = plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["hub"]
    assert hub["loadRoles"]["home-report"] == {
        "scopes": ["list:users", "read:users:name", "read:users:activity", "read:servers", "read:users:groups"],
        "services": ["home-report"],
    }
    secret = plan.one("kubernetes:core/v1:Secret", "homes-report-token")
    assert secret.inputs["stringData"]["token"] == hub["services"]["home-report"]["apiToken"]


def test_retention_is_off_on_both_stacks_and_admins_are_exempt(plan: Plan) -> None:
    configmap = plan.one("kubernetes:core/v1:ConfigMap", "homes-scripts").inputs["data"]
    policy = json.loads(configmap["policy.json"])
    assert policy["retention_enabled"] is False
    assert set(plan.config.hub.auth.admin_users) <= set(policy["exempt"])
    assert {name: configmap[name] for name in (s.name for s in SCRIPTS)} == {s.name: s.read_text() for s in SCRIPTS}


def test_the_exporter_reads_the_homes_read_only_within_its_walk_budget(plan: Plan) -> None:
    exporter = plan.one("kubernetes:apps/v1:Deployment", "homes-exporter").inputs["spec"]["template"]
    (container,) = exporter["spec"]["containers"]
    assert container["volumeMounts"][0] == {"name": "efs", "mountPath": "/efs", "readOnly": True, "subPath": "home"}
    assert all(m["readOnly"] for m in container["volumeMounts"])
    homes = plan.config.homes
    assert f"/efs {homes.walk_iops} {homes.walk_every_minutes} --port 8000" in container["command"][-1]
    assert exporter["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert baseline_violations(exporter["spec"]) == []


def test_the_report_job_runs_weekly_and_may_reach_the_hub(plan: Plan) -> None:
    from tests.netpol import Destination, ingress_allowed

    job = plan.one("kubernetes:batch/v1:CronJob", "homes-report").inputs["spec"]
    assert job["schedule"] == "0 6 * * 1" and job["concurrencyPolicy"] == "Forbid"
    pod = job["jobTemplate"]["spec"]["template"]
    policies = of_kind(render(plan.one("kubernetes:helm.sh/v3:Release", "hub-release")), "NetworkPolicy")
    hub = {"component": "hub", "app": "jupyterhub", "release": "jupyterhub"}
    job_pod = Destination("10.0.9.11", 8081, pod_labels=pod["metadata"]["labels"], namespace="dandihub",
                          port_name="http")  # fmt: skip
    assert ingress_allowed(policies, "dandihub", hub, job_pod)
    assert baseline_violations(pod["spec"]) == []


def test_efs_moves_untouched_files_to_archive_and_back() -> None:
    lifecycle = plan_with("staging", set_={"storage.efs.transitionToArchiveDays": 180})
    policies = lifecycle.one("aws:efs/fileSystem:FileSystem").inputs["lifecyclePolicies"]
    assert {"transitionToArchive": "AFTER_180_DAYS"} in policies
    assert policies[-1] == {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"}
    assert in_component(lifecycle, "dandihub:homes:HomeGovernance")


def test_an_admin_restores_a_home_by_hand(homes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = fingerprint(homes / "home" / "gone")
    moves.archive(homes, "gone", NOW.date().isoformat())
    assert moves.main(["restore", str(homes), "gone"]) == 0
    assert fingerprint(homes / "home" / "gone") == original
    assert "restored gone from" in capsys.readouterr().out


def test_the_hub_mounts_no_home_only_the_notices_read_only(plan: Plan) -> None:
    hub = plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["hub"]
    assert hub["extraVolumes"] == [{"name": "notices", "persistentVolumeClaim": {"claimName": "efs-claim",
                                                                                "readOnly": True}}]  # fmt: skip
    assert hub["extraVolumeMounts"] == [
        {"name": "notices", "mountPath": "/srv/home-notices", "subPath": "admin/notices", "readOnly": True}
    ]
    assert hub["extraVolumeMounts"][0]["mountPath"] == str(notices.HUB_NOTICES)
    assert "pre_spawn_hook" not in NOTICES.read_text(), "no file is moved in the hub's event loop"
