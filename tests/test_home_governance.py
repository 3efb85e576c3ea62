"""Home governance: the report's numbers on a real directory tree, retention's dry run and limits, an
archive-and-restore round trip that loses no byte, the hub's restore step run by the real KubeSpawner,
the soft-limit notice on the hub's real spawn page, the report token's scopes, and no code that deletes."""

from __future__ import annotations

import ast
import asyncio
import datetime
import hashlib
import json
import os
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from traitlets.config import Config

from offline.engine import Plan
from offline.spawner import expand, spawner
from tests.charts import of_kind, render
from tests.conftest import ROOT, in_component, load_in_cluster_code, plan_with
from tests.pod_security import baseline_violations

SOURCE = ROOT / "values" / "home_governance.py"
NOW = datetime.datetime(2026, 11, 27, 6, 0, tzinfo=datetime.UTC)


def load() -> ModuleType:
    return load_in_cluster_code(SOURCE)


hg = load()


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


def test_archive_and_restore_round_trip_loses_no_byte(homes: Path) -> None:
    original = fingerprint(homes / "home" / "gone")
    moved = hg.archive(homes, "gone", NOW.date())
    assert moved == {"home": "gone", "to": "archive/gone/2026-11-27", "bytes": 90, "files": 1}
    assert not (homes / "home" / "gone").exists()
    assert fingerprint(homes / "archive" / "gone" / "2026-11-27") == original
    (homes / "home" / "gone").mkdir()  # what the kubelet makes for the sub-path of a returning user
    assert hg.restore(homes, "gone") == homes / "archive" / "gone" / "2026-11-27"
    assert fingerprint(homes / "home" / "gone") == original
    assert hg.restore(homes, "gone") is None, "nothing more to restore"


def test_restore_never_overwrites_a_home_with_files(homes: Path) -> None:
    hg.archive(homes, "gone", NOW.date())
    tree(homes, {"home/gone/new.txt": b"fresh"})
    assert hg.restore(homes, "gone") is None
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
        for node in ast.walk(ast.parse(SOURCE.read_text()))
        if isinstance(node, ast.Call)
    ]
    assert not {"remove", "unlink", "rmtree", "truncate", "removedirs"} & set(calls)
    assert calls.count("rmdir") == 1
    assert "shutil" not in SOURCE.read_text()


def test_the_hub_restores_an_archived_home_before_the_server_starts(homes: Path) -> None:
    """The real KubeSpawner runs the pre-spawn step that the hub's extraConfig installs."""
    hg.archive(homes, "x-1abc---57cb980e", NOW.date()) if (homes / "home" / "x-1abc---57cb980e").exists() else None
    tree(homes, {"archive/x-1abc---57cb980e/2026-10-01/thesis.tex": b"\\documentclass{article}"})
    config = Config()
    hg.configure_hub(config, homes, "home/{safe_username}", hg.Policy())
    server = spawner("1abc", config)
    asyncio.run(server.run_pre_spawn_hook())
    assert (homes / "home" / "x-1abc---57cb980e" / "thesis.tex").read_bytes() == b"\\documentclass{article}"


def test_the_jobs_names_are_the_hubs(homes: Path) -> None:
    for scheme, template in (("safe", "home/{safe_username}"), ("escaped", "home/{escaped_username}")):
        name = hg.home_namer(scheme)
        for login in ("satra", "jane-doe", "1abc", "Yarikoptic"):
            assert "home/" + name(login) == expand(login.lower(), template)


def test_users_over_the_soft_limit_see_it_on_the_real_spawn_page(homes: Path) -> None:
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
    from jupyterhub._data import DATA_FILES_PATH

    policy = hg.Policy(soft_limit_gib=4000 / hg.GIB)
    hg.write(homes, hg.report(homes, people(), policy, NOW))
    config = Config()
    hg.configure_hub(config, homes, "home/{safe_username}", policy)
    notice = config.JupyterHub.template_vars["home_usage"]
    over = notice(SimpleNamespace(spawner=spawner("idle", config)))
    assert over == {"used_gib": round(5300 / hg.GIB, 1), "limit_gib": 4000 / hg.GIB, "as_of": "2026-11-27"}
    assert notice(SimpleNamespace(spawner=spawner("active", config))) is None
    loader = ChoiceLoader([
        PrefixLoader({"templates": FileSystemLoader([os.path.join(DATA_FILES_PATH, "templates")])}, "/"),
        FileSystemLoader([str(ROOT / "values" / "templates"), os.path.join(DATA_FILES_PATH, "templates")]),
    ])  # fmt: skip
    page = Environment(loader=loader).get_template("spawn.html")
    context = {"static_url": lambda *a, **k: "", "base_url": "/hub/", "url": "/hub/spawn", "user": None,
               "spawner_options_form": "<select name='profile'></select>"}  # fmt: skip
    shown = page.render(home_usage=over, **context)
    assert "Your home directory holds" in shown and "<select name='profile'>" in shown
    assert "Your home directory holds" not in page.render(home_usage=None, **context)


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
    assert configmap["home_governance.py"] == SOURCE.read_text()


def test_the_exporter_reads_the_homes_read_only_within_its_walk_budget(plan: Plan) -> None:
    exporter = plan.one("kubernetes:apps/v1:Deployment", "homes-exporter").inputs["spec"]["template"]
    (container,) = exporter["spec"]["containers"]
    assert container["volumeMounts"] == [{"name": "efs", "mountPath": "/efs", "readOnly": True, "subPath": "home"}]
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
    hg.archive(homes, "gone", NOW.date())
    assert hg.main(["restore", str(homes), "gone"]) == 0
    assert fingerprint(homes / "home" / "gone") == original
    assert "restored gone from" in capsys.readouterr().out
