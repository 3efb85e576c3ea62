"""Limits on homes with a way out, on the real engines: the usage exporter (values/dirsize_exporter.py, the pinned
prometheus-dirsize-exporter) walks real homes, a real Prometheus scrapes it with the prometheus chart's own
rendered `kubernetes-pods` job, and the real JupyterHub with the real KubeSpawner (tests/test_groups.py's
harness: the chart's hub config loader over the rendered values) asks it at each form and start, offers each
state its menu, refuses a forged choice, and renders its real spawn page (JupyterHub's SpawnHandler, the
templates the chart mounts).

What stands in: Kubernetes's pod discovery (file discovery with the labels it would give the exporter's pod,
from the planned Deployment; its port is the test's), and Prometheus's address in the hub's settings (the
Service name resolves only in the cluster)."""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import requests
import yaml
from jupyterhub.app import JupyterHub
from jupyterhub.crypto import CryptKeeper
from jupyterhub.handlers.pages import SpawnHandler
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from components import home_governance, home_limits
from offline.engine import Plan
from offline.spawner import offline_kubespawner
from stackconfig.access import GroupConfig
from stackconfig.home_limits import cleanup_profile, limit_problems
from stackconfig.homes import HomesConfig
from stackconfig.nodes import NODE_GROUP_LABEL
from stackconfig.profiles import misfits
from tests.charts import of_kind, render
from tests.conftest import ROOT, load_in_cluster_code
from tests.hub_chain import load_hub_config
from tests.netpol import Destination, egress_allowed
from tests.real_hub import free_port, serving
from tests.test_groups import GROUPS, REPORT, Hub, cluster_stands_in, grouped_plan, refusal, spawn, stop
from tests.test_monitoring import prometheus_config

LIMITS = load_in_cluster_code(ROOT / "values" / "home_limits.py")
KIB = 1024 / 1024**3  # one KiB in GiB: the test's homes are small
SOFT, HARD = 10 * KIB, 100 * KIB
ADMIN = "satra"  # an admin of the staging stack (hub.auth.adminUsers)
# Each home's bytes: under, soft, hard; a group member and a user with an override, over the stack's hard
# limit but under their own; an admin far over.
HOMES = {"una": 100, "sam": 40_000, "hal": 300_000, "ann": 300_000, "zoe": 300_000, ADMIN: 300_000}
SLUGS = ("tiny", "base", "workshop", "gpu", "cleanup")
EVERYONES = ["tiny", "base"]  # the profiles of a user in no group (tests/test_groups.py)


def limited_plan() -> Plan:
    groups = {
        **GROUPS,
        "gpu-users": {**GROUPS["gpu-users"], "homeLimits": {"hardLimitGib": 1024 * KIB}},
        # ann is in both: the more generous hard limit is hers.
        "tutorial-2026": {"members": ["carol", "ann"], "homeLimits": {"hardLimitGib": 50 * KIB}},
    }
    return grouped_plan(
        **{
            "homes.softLimitGib": SOFT,
            "homes.hardLimitGib": HARD,
            "homes.walkEveryMinutes": 60,
            "homes.users": {"Zoe": {"softLimitGib": 1024 * KIB, "hardLimitGib": 10240 * KIB}},
            "hub.groups": groups,
        }
    )


@pytest.fixture(scope="module")
def limited() -> Plan:
    return limited_plan()


# The measuring chain ----------------------------------------------------------------------------------------


@dataclass
class Measuring:
    homes: Path
    prometheus_url: str
    exporter: subprocess.Popen[bytes]
    command: list[str]
    log: Path

    def walk_again(self) -> float:
        """The exporter's next walk (a restart walks at once); returns when Prometheus has it."""
        self.exporter.terminate()
        self.exporter.wait(timeout=10)
        started = time.time()
        self.exporter = start_exporter(self.command, self.log)
        self.wait_for(started)
        return started

    def wait_for(self, since: float) -> None:
        deadline = time.monotonic() + 60
        while True:
            found = {}
            for home in HOMES:
                answer = requests.get(
                    f"{self.prometheus_url}/api/v1/query", params={"query": LIMITS.query(SELECTOR, home)}, timeout=5
                ).json()
                found[home] = LIMITS.newest(answer["data"]["result"])
            if all(u is not None and u.walked_at >= since for u in found.values()):
                return
            assert time.monotonic() < deadline, f"Prometheus has no new walk: {found}\n{self.log.read_text()[-2000:]}"
            time.sleep(0.5)


SELECTOR = {"namespace": "dandihub", "app_kubernetes_io_name": "home-usage-exporter"}


def start_exporter(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as out:
        return subprocess.Popen(command, stdout=out, stderr=out)


def pod_discovery(plan: Plan, port: int) -> dict[str, str]:
    """The labels Kubernetes pod discovery gives the exporter's pod (from the planned Deployment), its port
    the test's."""
    deployment = plan.one("kubernetes:apps/v1:Deployment", "homes-exporter").inputs
    template = deployment["spec"]["template"]["metadata"]

    def sanitised(name: str) -> str:
        return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

    labels = {f"__meta_kubernetes_pod_label_{sanitised(k)}": v for k, v in template["labels"].items()}
    annotations = {**template["annotations"], "prometheus.io/port": str(port)}
    labels |= {f"__meta_kubernetes_pod_annotation_{sanitised(k)}": v for k, v in annotations.items()}
    return labels | {
        "__meta_kubernetes_namespace": deployment["metadata"]["namespace"] or "dandihub",
        "__meta_kubernetes_pod_name": "home-usage-exporter-7d9f-x2x",
        "__meta_kubernetes_pod_ip": "127.0.0.1",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_node_name": "core-1",
    }


@pytest.fixture(scope="module")
def measuring(limited: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Measuring]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("no prometheus binary: `apt-get install prometheus` (Debian's package; .ci/run installs it)")
    workdir = tmp_path_factory.mktemp("measuring")
    homes = workdir / "home"
    for home, size in HOMES.items():
        (homes / home / "data").mkdir(parents=True)
        (homes / home / "data" / "recording.nwb").write_bytes(b"x" * size)
    port = free_port()
    exporter = [
        sys.executable,
        str(ROOT / "values" / "dirsize_exporter.py"),
        str(homes),
        "100000",
        "60",
        "--port",
        str(port),
        "--enable-detailed-processing-time-metric",  # as components/home_governance.py runs it
    ]
    log = workdir / "exporter.log"
    job = copy.deepcopy({j["job_name"]: j for j in prometheus_config(limited)["scrape_configs"]}["kubernetes-pods"])
    del job["kubernetes_sd_configs"]
    (workdir / "pods.json").write_text(
        json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": pod_discovery(limited, port)}])
    )
    job["file_sd_configs"] = [{"files": [str(workdir / "pods.json")]}]
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": [job]}
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus_port = free_port()
    url = f"http://127.0.0.1:{prometheus_port}"
    command = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    started = time.time()
    process = start_exporter(exporter, log)
    try:
        with serving(command, f"{url}/-/ready", workdir / "prometheus.log", 60):
            chain = Measuring(homes, url, process, exporter, log)
            chain.wait_for(started)
            yield chain
    finally:
        chain.exporter.terminate()
        chain.exporter.wait(timeout=10)


@pytest.fixture(scope="module")
def hub(limited: Plan, measuring: Measuring, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    workdir = tmp_path_factory.mktemp("hub")
    manifests = render(limited.one("kubernetes:helm.sh/v3:Release", "hub-release"))
    config = load_hub_config(manifests, workdir, "dandihub")
    # The templates the chart mounts (hub.extraFiles, from the hub Secret), where the hub's config looks.
    templates = workdir / "templates"
    templates.mkdir()
    (secret,) = of_kind(manifests, "Secret", "hub")
    (deployment,) = of_kind(manifests, "Deployment", "hub")
    for mount in deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]:
        if mount["mountPath"].startswith("/usr/local/share/jupyterhub/dandi-templates/"):
            (templates / Path(mount["mountPath"]).name).write_text(secret["stringData"][mount["subPath"]])
    assert config.JupyterHub.template_paths == ["/usr/local/share/jupyterhub/dandi-templates"]
    config.JupyterHub.template_paths = [str(templates)]
    with offline_kubespawner():
        hub = Hub(config, workdir)
        for login in HOMES:
            hub.user(login)
        rule(hub).settings["prometheus_url"] = measuring.prometheus_url
        yield hub
    JupyterHub.clear_instance()
    CryptKeeper.clear_instance()


def rule(hub: Hub) -> Any:
    (found,) = hub.app.spawner_class.menu_rules
    return found


def offered(hub: Hub, login: str) -> list[str]:
    """The profiles of the spawn form KubeSpawner renders for the user."""
    with cluster_stands_in():
        page = str(asyncio.run(hub.user(login).spawner.get_options_form()))
    return [slug for slug in SLUGS if f'value="{slug}"' in page]


def spawn_page(hub: Hub, login: str) -> str:
    """The hub's spawn page for the user, as JupyterHub's SpawnHandler renders it (its own template namespace,
    the template variables config sets, the form KubeSpawner renders)."""
    user = hub.user(login)

    async def render_page() -> str:
        request = HTTPServerRequest(
            connection=mock.MagicMock(),
            start_line=RequestStartLine("GET", "/hub/spawn", "HTTP/1.1"),
            headers=HTTPHeaders({"Host": "hub-staging.dandiarchive.org"}),
        )
        handler = SpawnHandler(hub.app.tornado_application, request)
        handler._jupyterhub_user = user
        handler._resolve_roles_and_scopes()  # as the handler's prepare() does for the logged-in user
        form = await user.spawner.get_options_form()
        return str(await handler._render_form(user, form))

    with cluster_stands_in():
        return asyncio.run(render_page())


def weekly_report(hub: Hub, limited: Plan, measuring: Measuring) -> None:
    """The weekly report (the real job's code, with the policy the program gives it) over the test's homes,
    its notices where the hub reads them: each home over the lowest soft limit, its size and largest entries."""
    policy = REPORT.Policy(**{**home_governance.policy(limited.config), "exempt": frozenset()})
    root = measuring.homes.parent
    REPORT.write(root, REPORT.report(root, [], policy, datetime.datetime.now(datetime.UTC)))
    rule(hub).settings["notices"] = str(root / "admin" / "notices")


def env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"] if e.get("value") is not None}


# The three states ---------------------------------------------------------------------------------------------


def test_under_the_soft_limit_the_menu_is_the_users_and_the_page_says_nothing(hub: Hub) -> None:
    assert offered(hub, "una") == EVERYONES
    page = spawn_page(hub, "una")
    assert 'value="base"' in page and "home-limit" not in page


def test_over_the_soft_limit_the_menu_stays_the_page_says_so_and_the_server_opens_on_its_usage(hub: Hub) -> None:
    assert offered(hub, "sam") == EVERYONES
    page = spawn_page(hub, "sam")
    assert "home-limit-soft" in page and "over its soft limit of 0.0 GiB" in page
    pod = spawn(hub, "sam", "base")
    assert env(pod)["DANDI_HOME_STATE"] == "soft"
    assert env(pod)["JUPYTERHUB_DEFAULT_URL"] == "/dandi/home"
    assert int(env(pod)["DANDI_HOME_USED_BYTES"]) >= HOMES["sam"]
    stop(hub, "sam")


def test_over_the_hard_limit_only_the_cleanup_profile_starts(hub: Hub, limited: Plan, measuring: Measuring) -> None:
    assert offered(hub, "hal") == ["cleanup"]
    page = spawn_page(hub, "hal")
    assert "home-limit-hard" in page and "only the small <strong>cleanup</strong> server starts" in page
    assert "measured every 60 minutes" in page
    assert "Largest in your home" not in page, "no weekly report yet"
    weekly_report(hub, limited, measuring)
    assert "Largest in your home (weekly report of " in spawn_page(hub, "hal")
    assert "<code>data</code> 0.0 GiB." in spawn_page(hub, "hal")
    pod = spawn(hub, "hal", None)  # the form's only choice, as posted
    (container,) = pod["spec"]["containers"]
    assert (
        float(container["resources"]["limits"]["cpu"]) == 1 and "nvidia.com/gpu" not in container["resources"]["limits"]
    )
    assert pod["spec"]["node_selector"] == {NODE_GROUP_LABEL: "user-small"}, "the smallest user nodes"
    (home,) = [m for m in container["volume_mounts"] if m["mount_path"] == "/home/jovyan"]
    assert home["sub_path"] == "home/hal"
    assert env(pod)["DANDI_HOME_STATE"] == "hard" and env(pod)["JUPYTERHUB_DEFAULT_URL"] == "/dandi/home"
    assert hub.user("hal").spawner.orm_spawner.user_options == {"profile": "cleanup"}
    stop(hub, "hal")


def test_a_forged_choice_over_the_hard_limit_is_refused_saying_why_and_how_to_get_under(hub: Hub) -> None:
    hub.user("hal").spawner.kept = {}  # no cleanup server since the measurement
    message = refusal(hub, "hal", "base")
    assert message.startswith("Your home directory holds 0.0 GiB, over its hard limit of 0.0 GiB")
    assert "only the cleanup server starts" in message and "your next start offers every profile again" in message
    assert "only the cleanup server starts" in refusal(hub, "hal", "gpu")


def test_group_limits_are_the_most_generous_a_users_own_replace_them_and_admins_have_none(hub: Hub) -> None:
    assert offered(hub, "ann") == ["tiny", "base", "workshop", "gpu"], "gpu-users' 1 MiB, not tutorial's 50 KiB"
    assert "home-limit-soft" in spawn_page(hub, "ann")
    assert offered(hub, "zoe") == EVERYONES and "home-limit" not in spawn_page(hub, "zoe"), "her own limits"
    assert offered(hub, ADMIN) == EVERYONES and "home-limit" not in spawn_page(hub, ADMIN)


# Never trapped ----------------------------------------------------------------------------------------------------


def test_without_prometheus_everyone_gets_the_full_menu(
    hub: Hub, limited: Plan, measuring: Measuring, caplog: pytest.LogCaptureFixture
) -> None:
    """The weekly report still tells a user over their own soft limit, and never narrows a menu."""
    weekly_report(hub, limited, measuring)
    settings = rule(hub).settings
    url = settings["prometheus_url"]
    settings["prometheus_url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    try:
        assert offered(hub, "hal") == EVERYONES
        page = spawn_page(hub, "hal")
        assert "home-limit-soft" in page and "This is the size the weekly report of " in page
        assert "Largest in your home" in page
        # Over the stack's limits in the same report, but under her own limits; an admin has none.
        assert "home-limit" not in spawn_page(hub, "zoe") and "home-limit" not in spawn_page(hub, ADMIN)
        spawn(hub, "hal", "base")
        stop(hub, "hal")
    finally:
        settings["prometheus_url"] = url
    assert "no measurement of hal" in caplog.text and "the full menu is offered" in caplog.text
    assert offered(hub, "newcomer") == EVERYONES, "a home the exporter has not measured yet"


def test_after_a_cleanup_server_the_full_menu_returns_until_the_next_walk(hub: Hub, measuring: Measuring) -> None:
    hub.user("hal").spawner.kept = {}
    assert offered(hub, "hal") == ["cleanup"]
    spawn(hub, "hal", "cleanup")
    stop(hub, "hal")  # the user cleaned up nothing, but the hub cannot know before the next walk
    assert offered(hub, "hal") == EVERYONES
    with cluster_stands_in():
        hub.app = hub.start()  # the end of the cleanup is in the hub's database (the spawner's state)
    assert offered(hub, "hal") == EVERYONES
    page = spawn_page(hub, "hal")
    assert "home-limit-cleaned" in page and "since you ran the cleanup server, every profile is offered" in page
    spawn(hub, "hal", "base")
    stop(hub, "hal")
    measuring.walk_again()
    assert offered(hub, "hal") == ["cleanup"], "measured again, still over: cleanup only"
    spawn(hub, "hal", "cleanup")
    (measuring.homes / "hal" / "data" / "recording.nwb").unlink()  # the user deletes their file
    stop(hub, "hal")
    measuring.walk_again()
    assert offered(hub, "hal") == EVERYONES and "home-limit" not in spawn_page(hub, "hal")


# Where the hub asks ------------------------------------------------------------------------------------------------


def test_the_hub_reaches_prometheus_servers_pods_through_its_service(limited: Plan) -> None:
    """The Service and pods the prometheus chart renders are the ones the hub's settings and egress rule name,
    and the hub's NetworkPolicy (the z2jh chart's, rendered) lets the hub reach them by our rule alone (the
    chart's private-address rule is an ipBlock, which Kubernetes leaves to the implementation for pod IPs)."""
    prometheus = render(limited.one("kubernetes:helm.sh/v3:Release", "monitoring-prometheus"))
    (service,) = of_kind(prometheus, "Service", "prometheus-server")
    (deployment,) = of_kind(prometheus, "Deployment", "prometheus-server")
    (port,) = service["spec"]["ports"]
    # The prometheus chart's own NetworkPolicy (values networkPolicy.enabled) is off: nothing limits who asks it.
    assert of_kind(prometheus, "NetworkPolicy") == []
    address = f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{port['port']}"
    assert address == home_limits.PROMETHEUS_URL
    server = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "prometheus-server")
    (container_port,) = server["ports"]
    # The EKS network policy agent admits traffic to a Service only when its port is the pods' (EKS User Guide,
    # network policies, Considerations; aws/amazon-network-policy-controller-k8s issues 194 and 224).
    assert port["port"] == port["targetPort"] == container_port["containerPort"] == home_limits.PROMETHEUS_PORT
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    server_pod = Destination(
        "10.0.40.7",
        home_limits.PROMETHEUS_PORT,
        pod_labels=pod_labels,
        namespace="monitoring",
        namespace_labels={"kubernetes.io/metadata.name": "monitoring"},
    )
    (hub_policy,) = of_kind(render(limited.one("kubernetes:helm.sh/v3:Release", "hub-release")), "NetworkPolicy", "hub")
    hub_pod = {"component": "hub", "app": "jupyterhub", "release": "jupyterhub"}
    assert egress_allowed([hub_policy], "dandihub", hub_pod, server_pod)
    without_ip_blocks = copy.deepcopy(hub_policy)
    without_ip_blocks["spec"]["egress"] = [
        r for r in hub_policy["spec"]["egress"] if not any("ipBlock" in peer for peer in r.get("to", []))
    ]
    assert egress_allowed([without_ip_blocks], "dandihub", hub_pod, server_pod), "our rule alone admits it"
    without_ours = copy.deepcopy(without_ip_blocks)
    without_ours["spec"]["egress"] = [
        r for r in without_ours["spec"]["egress"] if r.get("ports") != [{"port": 9090, "protocol": "TCP"}]
    ]
    assert not egress_allowed([without_ours], "dandihub", hub_pod, server_pod), "the check has teeth"


def test_without_prometheus_the_limits_are_off_and_the_plan_says_so(limited: Plan) -> None:
    config = limited.config
    off = config.model_copy(
        update={
            "monitoring": config.monitoring.model_copy(
                update={"prometheus": config.monitoring.prometheus.model_copy(update={"enabled": False})}
            )
        }
    )
    assert home_limits.limits_settings(off, None)["prometheus_url"] is None
    assert home_limits.limits_settings(config, None)["prometheus_url"] == home_limits.PROMETHEUS_URL
    (warning,) = [m for key, m in off.warnings() if key == "homes.hardLimitGib"]
    assert warning.startswith("not enforced: the hub measures homes through Prometheus")


def test_the_cleanup_profile_is_small_on_the_smallest_user_nodes_and_fits_them(limited: Plan) -> None:
    profile = cleanup_profile(limited.config)
    assert profile is not None and profile.node_group == "user-small" and profile.gpus == 0
    assert (profile.cpu.limit, profile.memory.limit) == (1, "2G")
    group = limited.config.node_groups["user-small"]
    assert misfits(profile, group, limited.config.hub.images_by_group()["user-small"]) == []
    tiny_disk = group.model_copy(update={"disk_size": 20})
    assert [key for key, _ in misfits(profile, tiny_disk, limited.config.hub.images_by_group()["user-small"])] == [
        "scratch.limit"
    ], "the fit check sees the cleanup profile as any other"


def test_the_runbooks_example_lifts_the_limits_it_says(limited: Plan) -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    section = runbook.split("### Lifting a user's home limit", 1)[1]
    example = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])
    homes = HomesConfig.model_validate(example["dandihub:homes"])
    groups = {name: GroupConfig.model_validate(g) for name, g in example["dandihub:hub"]["groups"].items()}
    config = limited.config.model_copy(
        update={"homes": homes, "hub": limited.config.hub.model_copy(update={"groups": groups})}
    )
    assert limit_problems(config) == []
    settings = home_limits.limits_settings(config, None)
    assert LIMITS.limits_for(settings, "Alice", {"large-homes"}, False) == (10, 500), "her own entry wins"
    assert LIMITS.limits_for(settings, "bob", {"large-homes", "gpu-users"}, False) == (100, 1000)
    assert LIMITS.limits_for(settings, "carol", set(), False) == (10, 50)
    assert LIMITS.limits_for(settings, "carol", set(), True) is None, "admins have none"


# The figures ------------------------------------------------------------------------------------------------------


def test_prometheus_has_each_walks_size_end_and_duration(limited: Plan, measuring: Measuring) -> None:
    """The program runs the exporter with the walk's duration, so the hub knows when each home's walk began."""
    (exporter,) = limited.one("kubernetes:apps/v1:Deployment", "homes-exporter").inputs["spec"]["template"]["spec"][
        "containers"
    ]
    assert exporter["command"][-1].endswith(" --enable-detailed-processing-time-metric")
    query = {"query": LIMITS.query(SELECTOR, "hal")}
    answer = requests.get(f"{measuring.prometheus_url}/api/v1/query", params=query, timeout=5).json()
    assert {s["metric"]["__name__"] for s in answer["data"]["result"]} == {
        LIMITS.SIZE,
        LIMITS.WALKED,
        LIMITS.WALK_SECONDS,
    }
    usage = LIMITS.newest(answer["data"]["result"])
    assert 0 < usage.walk_started <= usage.walked_at


def test_a_walk_that_began_before_the_cleanup_ended_does_not_keep_the_user_in_cleanup() -> None:
    """The walk may have counted files the user deleted during the cleanup, though it ended after it."""
    over = LIMITS.Usage(int(64.5 * 1024**3), walked_at=2000.0, walk_started=1000.0)
    assert LIMITS.judge((10.0, 50.0), over, 1500.0, 360).state == "cleaned"
    assert LIMITS.judge((10.0, 50.0), over, 900.0, 360).state == "hard", "a walk begun after the cleanup counts"


def test_the_page_and_the_refusal_name_the_size_and_each_limit_rightly() -> None:
    """GiB-sized figures, so that the size, the soft and the hard limit cannot pass for one another."""
    from jinja2 import Environment, FileSystemLoader

    verdict = LIMITS.judge((10.0, 50.0), LIMITS.Usage(int(64.5 * 1024**3), 1.7e9, 1.7e9 - 60), None, 360)
    assert verdict.state == "hard"
    page = verdict.page()
    assert (page["used_gib"], page["soft_gib"], page["hard_gib"]) == (64.5, 10.0, 50.0)
    templates = Environment(loader=FileSystemLoader(ROOT / "values" / "templates"))
    shown = " ".join(templates.get_template("home_limits.html").render(home_limit=page).split())
    assert "holds 64.5 GiB, over its hard limit of 50.0 GiB" in shown
    assert "until the home is under 50.0 GiB (under 10.0 GiB, this notice goes too)" in shown
    rule = LIMITS.HomeLimits({}, "home/{safe_username}")
    rule.verdicts["hal"] = verdict
    message = rule.refusal(SimpleNamespace(user=SimpleNamespace(name="hal")), "base")
    assert message.startswith("Your home directory holds 64.5 GiB, over its hard limit of 50.0 GiB")
    assert "until the home is under 50.0 GiB (under 10.0 GiB for no notice at all)" in message
    soft = LIMITS.judge((10.0, 50.0), LIMITS.Usage(int(12.5 * 1024**3), 1.7e9, 1.7e9), None, 360).page()
    shown = " ".join(templates.get_template("home_limits.html").render(home_limit=soft).split())
    assert "holds 12.5 GiB, over its soft limit of 10.0 GiB. Above 50.0 GiB only a small cleanup server" in shown


def test_a_report_the_hub_cannot_read_keeps_nobody_out(tmp_path: Path) -> None:
    """A notices file cut short, of another shape, or with a day that is not one: no figure, no error."""
    for text in (
        '{"as_of": "2026-11-30", "homes": {"hal"',
        '{"as_of": "2026-11-30", "homes": {"hal": {"bytes": 1}}}',
        '{"as_of": "last monday", "homes": {"hal": {"bytes": 1, "largest": []}}}',
    ):
        (tmp_path / "usage.json").write_text(text)
        assert LIMITS.weekly(tmp_path, "hal") is None, text
    (tmp_path / "usage.json").write_text('{"as_of": "2026-11-30", "homes": {"hal": {"bytes": 7, "largest": []}}}')
    assert LIMITS.weekly(tmp_path, "hal") == LIMITS.Reported(7, (), "2026-11-30")
