"""The README's and the runbook's commands do what they say: every AWS CLI command names a real operation
with real parameters (botocore's models, which the AWS CLI is generated from), and the hub's AZ-loss
recovery re-creates the chart's own claim without its binding (run with jq on the chart's rendered claim)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from pydantic import ValidationError

from offline.engine import Plan
from stackconfig.loader import _raw_sections
from stackconfig.stack import StackConfig
from tests.as_uid import NOTEBOOK, run_as, world_reachable_dir
from tests.charts import of_kind, render
from tests.conftest import ROOT, changed_config, load_in_cluster_code
from tests.efs_browser import busybox_bin, run_in_efs_browser
from tests.real_hub import free_port, serving

DOCS = [ROOT / "README.md", ROOT / "docs" / "operations.md"]
# Options of the CLI itself, not of an operation.
GLOBAL_OPTIONS = {"region", "query", "output", "profile", "no-cli-pager"}
# AWS CLI customizations: commands the CLI adds on top of the API (documented in the CLI reference).
CUSTOMIZATIONS = {("eks", "update-kubeconfig"), ("eks", "get-token")}
# `aws s3 cp/ls/rb/...` are the CLI's own high-level file commands (awscli/customizations/s3); the API is s3api.
HIGH_LEVEL_S3 = {"cp", "ls", "rb", "mb", "mv", "rm", "sync", "presign", "website"}
# Parameters the CLI renames (aws/aws-cli awscli/customizations/argrename.py, ARGUMENT_RENAMES).
RENAMED = {("sns", "subscribe", "notification-endpoint"): "endpoint"}
COMMAND = re.compile(r"\baws ([a-z0-9-]+) ([a-z0-9-]+)([^`\n]*)")


def _commands() -> list[tuple[str, str, str, str]]:
    return [
        (doc.name, service, operation, rest)
        for doc in DOCS
        for service, operation, rest in COMMAND.findall(doc.read_text())
    ]


def test_the_docs_have_aws_commands_to_check() -> None:
    assert len(_commands()) >= 20


@pytest.mark.parametrize(("doc", "service", "operation", "rest"), _commands())
def test_every_aws_command_is_a_real_operation_with_real_parameters(
    doc: str, service: str, operation: str, rest: str
) -> None:
    if (service, operation) in CUSTOMIZATIONS or (service == "s3" and operation in HIGH_LEVEL_S3):
        return
    session = botocore.session.get_session()
    model = session.get_service_model(service)
    if operation == "wait":  # `aws <service> wait <waiter>`: the waiter, then its operation's parameters
        waiters = {xform_name(w, "-"): w for w in session.get_waiter_model(service).waiter_names}
        waiter = rest.split()[0]
        assert waiter in waiters, f"{doc}: aws {service} wait {waiter} is not a waiter of {service}"
        operation = xform_name(session.get_waiter_model(service).get_waiter(waiters[waiter]).operation, "-")
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in operations, f"{doc}: aws {service} {operation} is not an operation of {service}"
    members = {m.lower() for m in model.operation_model(operations[operation]).input_shape.members}
    flags = [RENAMED.get((service, operation, f), f) for f in re.findall(r"--([a-z0-9-]+)", rest)]
    unknown = [f for f in flags if f not in GLOBAL_OPTIONS and f.replace("-", "") not in members]
    assert unknown == [], f"{doc}: aws {service} {operation} has no parameter {unknown}"


def _recovery_filter() -> str:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    (line,) = [x for x in runbook.splitlines() if "get pvc hub-db-dir -o json | jq" in x]
    return line.split("jq '", 1)[1].rsplit("'", 1)[0]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (.ci/run installs it)")
def test_the_az_loss_recovery_recreates_the_charts_claim_unbound(staging: Plan) -> None:
    """The claim as the API server returns it once bound in the lost AZ, through the runbook's own jq
    filter: what is applied again is the chart's claim with Helm's ownership, bound to nothing."""
    (claim,) = of_kind(render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release")), "PersistentVolumeClaim")
    helm = {"meta.helm.sh/release-name": "jupyterhub", "meta.helm.sh/release-namespace": "dandihub"}
    bound = json.loads(json.dumps(claim))
    bound["metadata"].update(
        uid="0b6f...", resourceVersion="4711", creationTimestamp="2027-01-01T00:00:00Z",
        finalizers=["kubernetes.io/pvc-protection"],
        annotations={
            **claim["metadata"].get("annotations", {}), **helm,
            "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/selected-node": "ip-10-20-1-5.us-east-2.compute.internal",
            "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
            "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
        },
    )  # fmt: skip
    bound["spec"]["volumeName"] = "pvc-0b6f"
    bound["status"] = {"phase": "Bound"}
    result = subprocess.run(
        ["jq", _recovery_filter()], input=json.dumps(bound), capture_output=True, text=True, check=True
    )
    again = json.loads(result.stdout)
    assert again["metadata"]["name"] == "hub-db-dir"
    assert again["metadata"]["annotations"] == {**claim["metadata"].get("annotations", {}), **helm}
    assert again["metadata"]["labels"] == claim["metadata"]["labels"]
    assert again["spec"] == claim["spec"]
    assert not {"uid", "resourceVersion", "finalizers", "creationTimestamp"} & set(again["metadata"])
    assert "status" not in again


# Commands run in the efs-browser pod (Alpine: BusyBox's sh and applets, as root, the file system at /efs) -----


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_bin(tmp_path_factory.mktemp("busybox-bin"))


def runbook_block(heading: str) -> str:
    """The first ```sh block after `heading` in the runbook."""
    section = (ROOT / "docs" / "operations.md").read_text().split(heading, 1)[1]
    return section.split("```sh", 1)[1].split("```", 1)[0]


def tree(path: Path) -> dict[str, bytes | str]:
    """Every entry under `path` by relative path: a file's bytes, a link's target, "dir" for a directory."""
    found: dict[str, bytes | str] = {}
    for entry in sorted(path.rglob("*")):
        name = str(entry.relative_to(path))
        found[name] = (
            f"-> {os.readlink(entry)}" if entry.is_symlink() else "dir" if entry.is_dir() else entry.read_bytes()
        )
    return found


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


SNAPSHOT = {"analysis.ipynb": b"{}", ".conda/envs/a/bin/python": bytes(range(256)), "data/x.nwb": b"\0" * 5000}
HOME_NOW = {"new.txt": b"made since", ".bashrc": b"alias ll='ls -l'"}


@pytest.mark.parametrize("home_now", ["empty", "files", "missing"])
def test_bringing_back_an_older_snapshot_by_hand_swaps_it_in_whole_and_loses_nothing(
    home_now: str, tmp_path: Path, busybox: Path
) -> None:
    """The runbook's hand method, in BusyBox's sh as root: the older snapshot becomes the home byte for byte
    whether the home is the kubelet's empty directory, has files (they become the user's newest own archive)
    or is missing; the init container's next start (values/home_moves.py restore) leaves the result; a
    second run (the snapshot gone) moves nothing."""
    moves = load_in_cluster_code(ROOT / "values" / "home_moves.py")
    efs = tmp_path / "efs"
    older, newer = efs / "archive" / "jane" / "2026-10-01", efs / "archive" / "jane" / "2026-11-23"
    _write(older, SNAPSHOT)
    (older / "link").symlink_to("analysis.ipynb")
    _write(newer, {"other.txt": b"newer"})
    home = efs / "home" / "jane"
    (efs / "home").mkdir()  # the layout's (values/efs_layout.py)
    if home_now != "missing":
        home.mkdir()
    if home_now == "files":
        _write(home, HOME_NOW)
    wanted, home_before = tree(older), tree(home) if home.exists() else {}
    example = "home=jane-doe snapshot=2026-11-23"
    commands = runbook_block("**Bringing back an archive by hand.**")
    assert example in commands
    commands = commands.replace(example, "home=jane snapshot=2026-10-01")
    ran = run_in_efs_browser(commands, efs, busybox)
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    assert tree(home) == wanted, "the snapshot is the home, byte for byte (not moved inside it)"
    assert not older.exists() and tree(newer) == {"other.txt": b"newer"}
    asides = [p for p in (efs / "archive" / "jane").iterdir() if p.name.endswith("-self")]
    assert [tree(p) for p in asides] == ([home_before] if home_now == "files" else []), "the home's files kept"
    assert not asides or moves.snapshots(efs, "jane")[-1] == asides[0], "the user's newest own archive"
    assert moves.restore(efs, "jane") is None and tree(home) == wanted, "the next start leaves it"
    again = run_in_efs_browser(commands, efs, busybox)
    assert "no archive/jane/2026-10-01: nothing moved" in again.stdout and tree(home) == wanted


def test_publishing_into_readonly_leaves_the_source_and_gives_every_server_a_read_only_copy(busybox: Path) -> None:
    """The runbook's /readonly procedure, in BusyBox's sh as root on the layout's tree: the copy is root's,
    every server (uid 1000, group 100) reads it and cannot change it; a taken name is left alone."""
    layout = load_in_cluster_code(ROOT / "values" / "efs_layout.py")
    efs = world_reachable_dir()
    try:
        layout.make(efs, {})
        course = efs / "shared" / "course-2027"
        _write(course, {"intro.ipynb": b"{}", "data/a.nwb": b"abc"})
        for path in (course, course / "data", course / "intro.ipynb", course / "data" / "a.nwb"):
            os.chown(path, 1000, 100)
        (course / "data" / "a.nwb").chmod(0o600)  # a file only its owner could read
        before = tree(course)
        ran = run_in_efs_browser(runbook_block("### Publishing into /readonly"), efs, busybox)
        assert ran.returncode == 0 and ran.stderr == "", ran.stderr
        published = efs / "readonly" / "course-2027"
        assert tree(published) == before and tree(course) == before, "copied whole; the source stays"
        assert {(p.stat().st_uid, p.stat().st_gid) for p in [published, *published.rglob("*")]} == {(0, 0)}
        read = run_as(*NOTEBOOK, ["-c", "print(open('course-2027/data/a.nwb').read())"], efs / "readonly")
        assert read.stdout == "abc\n", read.stderr
        for code in ("open('course-2027/data/a.nwb', 'a')", "open('course-2027/new.txt', 'w')"):
            assert "PermissionError" in run_as(*NOTEBOOK, ["-c", code], efs / "readonly").stderr, code
        (course / "extra.txt").write_text("later")
        again = run_in_efs_browser(runbook_block("### Publishing into /readonly"), efs, busybox)
        assert "readonly/course-2027 exists: pick another name" in again.stdout
        assert not (published / "extra.txt").exists() and not (published / "course-2027").exists()
    finally:
        shutil.rmtree(efs)


# `pulumi config set --path`: "true"/"false" become booleans and integers numbers, other values strings; a key
# without a namespace is the project's (Pulumi CLI reference, `pulumi config set`).
CONFIG_SET = re.compile(r"pulumi config set (?:-s \S+ )?--path (\S+) (\S+)")


def _pulumi_value(text: str) -> bool | int | str:
    return {"true": True, "false": False}.get(text, int(text) if text.isdigit() else text)


@pytest.mark.parametrize(("key", "value"), sorted({m for doc in DOCS for m in CONFIG_SET.findall(doc.read_text())}))
def test_every_config_path_the_docs_set_is_a_key_of_the_config_model(key: str, value: str) -> None:
    """Set as the CLI would on the staging stack file, the config still validates (a placeholder value,
    `fs-...`, is checked for its key only)."""
    namespace, _, path = key.rpartition(":")
    assert namespace in ("", "dandihub"), key
    placeholder = "..." in value or "<" in value
    config = changed_config("staging", {path: "" if placeholder else _pulumi_value(value)})
    raw, problems = _raw_sections(config)
    assert problems == []
    try:
        model = StackConfig.model_validate(raw)
    except ValidationError as error:
        wrong = [e for e in error.errors() if not placeholder or e["type"] == "extra_forbidden"]
        assert wrong == [], f"{key} {value}: {wrong}"
        return
    if placeholder:
        return
    node: Any = model.model_dump(by_alias=True)
    for part in path.split("."):
        node = node[part]
    assert node == _pulumi_value(value), f"{key}: the model read {node!r}"


def test_the_storage_growth_du_runs_in_busybox_and_sizes_each_folder(tmp_path: Path, busybox: Path) -> None:
    """The runbook's `du` line for what nothing else measures (group folders, archives, /shared), in BusyBox."""
    section = (ROOT / "docs" / "operations.md").read_text().split("- **Storage growth**", 1)[1]
    (command,) = [c for c in re.findall(r"`(du [^`]+)`", section.split("\n- ", 1)[0].replace("\n  ", " "))]
    efs = tmp_path / "efs"
    _write(efs / "groups" / "lab", {"a.nwb": b"x" * 3_000_000})
    _write(efs / "archive" / "jane" / "2026-11-23", {"b": b"y" * 10})
    _write(efs / "shared", {"c": b"z"})
    ran = run_in_efs_browser(command, efs, busybox)
    assert ran.returncode == 0, ran.stderr
    sizes = {line.split("\t")[1].removeprefix(str(efs)): line.split("\t")[0] for line in ran.stdout.splitlines()}
    assert set(sizes) == {"/groups/lab", "/archive/jane", "/shared"}
    assert sizes["/groups/lab"].endswith("M"), sizes


@pytest.mark.parametrize("case", ["finished", "unfinished", "no such snapshot"])
def test_removing_an_old_archive_takes_that_snapshot_only_and_never_one_an_unfinished_request_needs(
    case: str, tmp_path: Path, busybox: Path
) -> None:
    """The runbook's removal, in BusyBox's sh as root, on requests recorded by the real init container code
    (values/home_moves.py self_service): it refuses while a request is unfinished, and removes one snapshot."""
    moves = load_in_cluster_code(ROOT / "values" / "home_moves.py")
    efs = tmp_path / "efs"
    (efs / "home").mkdir(parents=True)
    _write(efs / "archive" / "jane" / "2026-10-01", {"old.nwb": b"old"})
    _write(efs / "home" / "jane", {"now.txt": b"now"})
    moves.self_service(efs, "jane", "archive", "2026-11-20T100000Z")  # a finished request: home archived
    if case == "unfinished":  # planned, then the pod went before it moved anything
        moves._record(efs, "jane", {"request": "2026-11-21T100000Z", "step": "planned", "action": "restore",
                                    "bring_back": "2026-10-01"})  # fmt: skip
    log_before = (efs / "archive" / "jane" / "self-service.jsonl").read_bytes()
    snapshot = "2026-09-09" if case == "no such snapshot" else "2026-10-01"
    commands = runbook_block("**Removing old archives**").replace(
        "home=jane-doe snapshot=2026-11-23", f"home=jane snapshot={snapshot}"
    )
    ran = run_in_efs_browser(commands, efs, busybox)
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    own = efs / "archive" / "jane" / "2026-11-20T100000Z-self"
    assert tree(own) == {"now.txt": b"now"}, "other snapshots stay"
    assert (efs / "archive" / "jane" / "self-service.jsonl").read_bytes() == log_before
    removed = not (efs / "archive" / "jane" / "2026-10-01").exists()
    assert removed is (case == "finished"), ran.stdout
    expected = {
        "finished": "removed archive/jane/2026-10-01",
        "unfinished": "unfinished request 2026-11-21T100000Z",
        "no such snapshot": "no archive/jane/2026-09-09: nothing removed",
    }
    assert expected[case] in ran.stdout


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("prometheus", "promtool", "curl", "jq")),
    reason="needs Debian's prometheus (prometheus, promtool), curl and jq (.ci/run installs them)",
)
def test_what_the_hub_sees_for_a_home_is_read_from_a_real_prometheus(tmp_path: Path) -> None:
    """The runbook's curl | jq query against Debian's Prometheus holding the exporter's three series (written
    with promtool's backfill, a minute old): one line per series of that home, none of another home's."""
    block = runbook_block("What the hub sees for a home")
    (query,) = [line for line in block.splitlines() if line.startswith("curl ")]
    now = int(time.time()) - 60
    (tmp_path / "series.om").write_text(
        "# TYPE dirsize_total_size_bytes gauge\n"
        f'dirsize_total_size_bytes{{directory="jane"}} 12345 {now}\n'
        f'dirsize_total_size_bytes{{directory="bob"}} 999 {now}\n'
        "# TYPE dirsize_last_updated_ns gauge\n"
        f'dirsize_last_updated_ns{{directory="jane"}} 1764600000 {now}\n'
        "# TYPE dirsize_processing_time gauge\n"
        f'dirsize_processing_time{{directory="jane"}} 42 {now}\n'
        "# EOF\n"
    )
    data = tmp_path / "data"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "series.om"), str(data)],
                   check=True, capture_output=True)  # fmt: skip
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {}\n")
    command = ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
               f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with serving(command, f"http://127.0.0.1:{port}/-/ready", tmp_path / "prometheus.log", 60):
        asked = query.replace("localhost:9090", f"127.0.0.1:{port}").replace("<home>", "jane")
        ran = subprocess.run(["sh", "-c", asked], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert sorted(ran.stdout.splitlines()) == [
        "dirsize_last_updated_ns 1764600000",
        "dirsize_processing_time 42",
        "dirsize_total_size_bytes 12345",
    ]


def test_the_migrations_home_renames_run_in_busybox_and_never_nest_a_home(
    tmp_path: Path, busybox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Migration step 4's `offline.home_names --commands` lines, run in BusyBox's sh at the root of the new
    file system (the efs-browser's /efs): a free new name gets the home, a taken one leaves both as they were."""
    from offline import home_names

    efs = tmp_path / "efs"
    for home in ("home/1abc", "home/x-1abc---57cb980e", "home/jane-2ddoe"):
        _write(efs / home, {"notes.txt": home.encode()})
    home_names.main(["--commands", "1abc", "jane-doe"])
    lines = capsys.readouterr().out
    ran = run_in_efs_browser(f"cd /efs\n{lines}", efs, busybox)
    assert "mv -n -T" in lines and "invalid option" not in ran.stderr, ran.stderr
    assert tree(efs / "home" / "1abc") == {"notes.txt": b"home/1abc"}
    assert tree(efs / "home" / "x-1abc---57cb980e") == {"notes.txt": b"home/x-1abc---57cb980e"}, "not nested"
    assert tree(efs / "home" / "jane-doe") == {"notes.txt": b"home/jane-2ddoe"}
    assert not (efs / "home" / "jane-2ddoe").exists()
