"""Node-local scratch: every server gets /scratch (an emptyDir with its profile's size limit) with matching
ephemeral-storage requests and limits, and the caches of the tools users run land there, not in the home.
The pod is built by the real KubeSpawner from the chart's loaded config; the tools (pip, fsspec, the dandi
client's fscacher, Python's tempfile) run as the notebook user with that pod's environment."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from offline.engine import Plan
from stackconfig import instances, kubernetes
from stackconfig.profiles import memory_bytes
from tests.charts import render
from tests.hub_chain import load_hub_config, user_pod
from tests.pod_user import mounted, owned_by_user, pod_env, reachable_folder, run_as_user
from tests.scheduling import limits, requests

SCRATCH, HOME = "/scratch", "/home/jovyan"


@pytest.fixture
def folder() -> Iterator[Path]:
    with reachable_folder() as path:
        yield path


@pytest.fixture(scope="module")
def pods(staging: Plan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """A server of every profile of staging, built by the real KubeSpawner."""
    hub = render(staging.one("kubernetes:helm.sh/v3:Release", "hub-release"))
    config = load_hub_config(hub, tmp_path_factory.mktemp("hub"), "dandihub")
    return {p.slug: user_pod(config, "satra", {"profile": [p.slug]}) for p in staging.config.hub.menu(_today())}


def _today() -> datetime.date:
    return kubernetes.today()


def scratch_problems(pod: dict[str, Any], limit: str, guarantee: str) -> list[str]:
    """How the pod's scratch differs from a profile's (limit, guarantee); [] when it matches."""
    spec = pod["spec"]
    (notebook,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in notebook["volumeMounts"]}
    problems = []
    volume = volumes.get(mounts.get(SCRATCH, ""), {})
    if volume.get("emptyDir", {}).get("sizeLimit") != str(int(memory_bytes(limit))) or "medium" in volume["emptyDir"]:
        problems.append(f"/scratch is {volume}, not a node-disk emptyDir of {limit}")
    if requests(spec).get("ephemeral-storage") != memory_bytes(guarantee):
        problems.append(f"requests {requests(spec).get('ephemeral-storage')} of disk, not {guarantee}")
    if not limits(spec).get("ephemeral-storage", 0) >= memory_bytes(limit):
        problems.append(f"disk limit {limits(spec).get('ephemeral-storage')} is below the scratch size {limit}")
    env = pod_env(pod)
    off = [k for k in ("TMPDIR", "XDG_CACHE_HOME", "CONDA_PKGS_DIRS") if not env.get(k, "").startswith(SCRATCH)]
    if off:
        problems.append(f"{', '.join(off)} not on /scratch")
    return problems


def test_every_server_has_its_profiles_scratch_and_disk_request_and_limit(
    staging: Plan, pods: dict[str, dict[str, Any]]
) -> None:
    for profile in staging.config.hub.menu(_today()):
        assert scratch_problems(pods[profile.slug], profile.scratch.limit, profile.scratch.guarantee) == []


def test_the_scratch_check_has_teeth(pods: dict[str, dict[str, Any]]) -> None:
    pod = json.loads(json.dumps(pods["base"]))
    assert scratch_problems(pod, "40G", "2G") != [], "another size"
    (notebook,) = pod["spec"]["containers"]
    notebook["env"] = [e for e in notebook["env"] if e["name"] != "TMPDIR"]
    assert scratch_problems(pod, "20G", "2G") == ["TMPDIR not on /scratch"]


def test_each_servers_disk_limit_fits_its_node_beside_the_pullers_images(
    staging: Plan, pods: dict[str, dict[str, Any]]
) -> None:
    """The real pod's disk limit within what its group's disk leaves pods after the system's files, the
    eviction threshold and the images its puller keeps there (the scheduler sees none of the images)."""
    hub = staging.config.hub
    for profile in hub.menu(_today()):
        group = staging.config.node_groups[profile.node_group]
        images = hub.images_by_group()[profile.node_group]
        room = instances.disk_room(group.disk_size, group.ami_type, [i.size_gb for i in images])
        assert room.images_bytes >= len(images) * 1e9, "every image takes room"
        assert 0 < limits(pods[profile.slug]["spec"])["ephemeral-storage"] <= room.pods_bytes


# What the tools a user runs decide, each by its own code: pip's cache, the dandi client's checksum cache
# (fscacher under the XDG cache directory), fsspec's default file cache (a temporary directory) and
# Python's temporary files. Each writes something, so the test can look where the bytes went.
CACHE_PROBE = """
import json, os, subprocess, sys, tempfile
import fscacher, fsspec
pip_cache = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True).stdout.strip()
checksums = fscacher.PersistentCache(name="dandi-checksums")
open("data.bin", "wb").write(b"x" * 1000)

@checksums.memoize_path
def digest(path):
    return "d"

digest("data.bin")
memory = fsspec.filesystem("memory")
memory.pipe("/nwb/file.nwb", b"y" * 1000)
cached = fsspec.filesystem("filecache", target_protocol="memory")
with cached.open("/nwb/file.nwb", "rb") as remote:
    remote.read()
with tempfile.NamedTemporaryFile(delete=False) as scratch_file:
    scratch_file.write(b"z")
# fsspec removes its temporary cache at exit: count its files now.
print(sum(len(files) for _, _, files in os.walk(cached.storage[-1])))
print(json.dumps({"pip": pip_cache, "fsspec": cached.storage[-1], "tmp": scratch_file.name,
                  "dandi": checksums._memory.location}))
"""


def test_the_tools_caches_land_on_scratch_and_nothing_in_the_home(
    pods: dict[str, dict[str, Any]], folder: Path
) -> None:
    scratch, home = folder / "scratch", folder / "home"
    owned_by_user(scratch, home)
    env = mounted({**pod_env(pods["base"]), "HOME": HOME}, {SCRATCH: scratch, HOME: home})
    done = run_as_user(["-c", CACHE_PROBE], env, cwd=scratch)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {tool: Path(path).is_relative_to(scratch) for tool, path in found.items()} == dict.fromkeys(found, True)
    written = [p for p in scratch.rglob("*") if p.is_file()]
    assert any(p.is_relative_to(Path(found["dandi"])) for p in written), "fscacher wrote its cache"
    assert int(done.stdout.strip().splitlines()[-2]) > 0, "fsspec cached the file"
    assert list(home.rglob("*")) == [], "nothing in the home"


def test_the_cache_probe_has_teeth(folder: Path) -> None:
    """Without the pod's variables, the same tools write into the home."""
    scratch, home = folder / "scratch", folder / "home"
    owned_by_user(scratch, home)
    done = run_as_user(["-c", CACHE_PROBE], {"HOME": str(home)}, cwd=scratch)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["dandi"]).is_relative_to(home) and Path(found["pip"]).is_relative_to(home)
