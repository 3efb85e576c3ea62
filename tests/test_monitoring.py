"""Monitoring: Prometheus scrapes the hub with a read-only token and keeps the labels the dashboards need,
Grafana is reachable only by hub admins through the hub's domain, the community dashboards compile and
ask only for metrics this Prometheus collects, logs have a retention, and every part can be switched off."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from offline.engine import Plan
from tests.charts import of_kind, pod_specs, render
from tests.conftest import ROOT, load_in_cluster_code, plan_with
from tests.hub_chain import load_hub_config
from tests.netpol import Destination, egress_allowed, ingress_allowed
from tests.scheduling import landing_groups, node_groups

DASHBOARDS_VARIABLE = "DANDIHUB_DASHBOARDS"


def release(plan: Plan, name: str) -> Any:
    return plan.one("kubernetes:helm.sh/v3:Release", name)


def prometheus_config(plan: Plan) -> dict[str, Any]:
    (configmap,) = of_kind(render(release(plan, "monitoring-prometheus")), "ConfigMap", "prometheus-server")
    return yaml.safe_load(configmap["data"]["prometheus.yml"])


def hub_values(plan: Plan) -> dict[str, Any]:
    return release(plan, "hub-release").inputs["values"]["hub"]


# Prometheus ---------------------------------------------------------------------------------------------


def test_prometheus_scrapes_the_hub_with_a_token_that_may_only_read_metrics(plan: Plan) -> None:
    (job,) = [j for j in prometheus_config(plan)["scrape_configs"] if j["job_name"] == "jupyterhub"]
    assert job["metrics_path"] == "/hub/metrics"
    assert [c["targets"] for c in job["static_configs"]] == [["hub.dandihub.svc:8081"]]
    token_file = job["authorization"]["credentials_file"]
    manifests = render(release(plan, "monitoring-prometheus"))
    (server,) = of_kind(manifests, "Deployment", "prometheus-server")
    mounts = {
        m["mountPath"]: m["name"] for c in server["spec"]["template"]["spec"]["containers"] for m in c["volumeMounts"]
    }
    volumes = {v["name"]: v for v in server["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mounts[str(Path(token_file).parent)]]["secret"]["secretName"] == "prometheus-hub-token"
    secret = plan.one("kubernetes:core/v1:Secret", "monitoring-prometheus-hub-token")
    hub = hub_values(plan)
    assert secret.inputs["stringData"]["token"] == hub["services"]["prometheus"]["apiToken"]
    assert hub["loadRoles"]["prometheus"] == {"scopes": ["read:metrics"], "services": ["prometheus"]}
    assert "stringData" in secret.secret_inputs


def test_prometheus_may_reach_the_hubs_port_and_other_pods_of_its_namespace_may_not(plan: Plan) -> None:
    policies = of_kind(render(release(plan, "hub-release")), "NetworkPolicy")
    hub = {"component": "hub", "app": "jupyterhub", "release": "jupyterhub"}
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}

    def from_pod(labels: dict[str, str]) -> Destination:
        return Destination("10.0.9.9", 8081, pod_labels=labels, namespace="monitoring", namespace_labels=monitoring,
                           port_name="http")  # fmt: skip

    prometheus = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server"}
    assert ingress_allowed(policies, "dandihub", hub, from_pod(prometheus))
    assert ingress_allowed(policies, "dandihub", hub, from_pod({"app.kubernetes.io/name": "grafana"}))
    assert not ingress_allowed(policies, "dandihub", hub, from_pod({"app.kubernetes.io/name": "kube-state-metrics"}))


def test_prometheus_keeps_what_the_dashboards_group_by_on_an_encrypted_volume(plan: Plan) -> None:
    manifests = render(release(plan, "monitoring-prometheus"))
    (ksm,) = of_kind(manifests, "Deployment", "prometheus-kube-state-metrics")
    args = ksm["spec"]["template"]["spec"]["containers"][0]["args"]
    assert (
        "--metric-labels-allowlist=pods=[app,component,hub.jupyter.org/username,dandiarchive.org/profile],nodes=[*]"
        in args
    )
    assert "--metric-annotations-allowlist=pods=[hub.jupyter.org/username]" in args
    (server,) = of_kind(manifests, "Deployment", "prometheus-server")
    server_args = [a for c in server["spec"]["template"]["spec"]["containers"] for a in c.get("args", [])]
    assert "--storage.tsdb.retention.time=30d" in server_args
    (claim,) = of_kind(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "gp3"
    gp3 = plan.one("kubernetes:storage.k8s.io/v1:StorageClass", "cluster-gp3").inputs
    assert gp3["parameters"]["type"] == "gp3" and gp3["parameters"]["encrypted"] == "true"
    assert claim["spec"]["resources"]["requests"]["storage"] == f"{plan.config.monitoring.prometheus.volume_gib}Gi"
    assert not [m for m in manifests if "pushgateway" in m["metadata"]["name"]]
    core = {n for n, g in node_groups(plan).items() if g.role == "core"}
    for name, spec in pod_specs(manifests).items():
        if name.startswith("Deployment/"):
            assert landing_groups(spec, node_groups(plan)) == core, name
    assert landing_groups(
        pod_specs(manifests)["DaemonSet/prometheus-prometheus-node-exporter"], node_groups(plan)
    ) == set(node_groups(plan)), "node-exporter runs on every node"


def test_the_autoscaler_is_scraped(plan: Plan) -> None:
    (service,) = of_kind(render(release(plan, "autoscaler-release")), "Service")
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    jobs = {j["job_name"]: j for j in prometheus_config(plan)["scrape_configs"]}
    assert "kubernetes-service-endpoints" in jobs


# Grafana ------------------------------------------------------------------------------------------------


def grafana_ini(plan: Plan) -> str:
    (configmap,) = of_kind(render(release(plan, "monitoring-grafana")), "ConfigMap", "grafana")
    return configmap["data"]["grafana.ini"]


def test_grafana_is_a_hub_service_behind_the_proxy_with_no_anonymous_access(plan: Plan, tmp_path: Path) -> None:
    ini = grafana_ini(plan)
    domain = plan.config.hub.domain
    assert f"root_url = https://{domain}/services/grafana/" in ini
    for line in ("[auth.anonymous]\nenabled = false", "disable_login_form = true", "[auth.basic]\nenabled = false",
                 f"auth_url = https://{domain}/hub/api/oauth2/authorize", "client_id = service-grafana"):  # fmt: skip
        assert line in ini
    manifests = render(release(plan, "monitoring-grafana"))
    assert [s["spec"]["type"] for s in of_kind(manifests, "Service")] == ["ClusterIP"], "no second load balancer"
    assert not of_kind(manifests, "Ingress")
    config = load_hub_config(render(release(plan, "hub-release")), tmp_path, "dandihub")
    services = {s["name"]: s for s in config.JupyterHub.services}
    assert services["grafana"]["url"] == "http://grafana.monitoring.svc"
    assert services["grafana"]["oauth_redirect_uri"] == f"https://{domain}/services/grafana/login/generic_oauth"
    assert services["grafana"]["api_token"] == hub_values(plan)["services"]["grafana"]["apiToken"]
    from jupyterhub.services.service import Service

    allowed = set(Service.class_traits())
    assert {k for s in services.values() for k in s} <= allowed


def test_only_hub_admins_may_use_the_grafana_service(tmp_path: Path, staging: Plan) -> None:
    """JupyterHub's OAuth admits a user to a service only with `access:services` for it; of the roles the
    hub loads, only `admin` carries it."""
    from jupyterhub import roles, scopes

    config = load_hub_config(render(release(staging, "hub-release")), tmp_path, "dandihub")
    loaded = {r["name"]: r for r in config.JupyterHub.load_roles}
    # A loaded role of a default role's name is merged over it (jupyterhub app.py, init_role_creation).
    defaults = {r["name"]: r for r in roles.get_default_roles()}
    everyone = {**defaults, **{name: {**defaults.get(name, {}), **role} for name, role in loaded.items()}}
    granting = {
        name
        for name, role in everyone.items()
        if "access:services" in scopes.expand_scopes(role.get("scopes", []))
        or "access:services!service=grafana" in scopes.expand_scopes(role.get("scopes", []))
    }
    assert granting == {"admin"}
    assert not any("grafana" in s for r in loaded.values() for s in r.get("scopes", []))


def test_the_proxy_may_reach_grafana(plan: Plan) -> None:
    policies = of_kind(render(release(plan, "hub-release")), "NetworkPolicy")
    proxy = {"component": "proxy", "app": "jupyterhub", "release": "jupyterhub"}
    grafana = Destination("10.0.9.10", 3000, pod_labels={"app.kubernetes.io/name": "grafana"}, namespace="monitoring",
                          namespace_labels={"kubernetes.io/metadata.name": "monitoring"})  # fmt: skip
    assert egress_allowed(policies, "dandihub", proxy, grafana)


def test_grafana_has_the_prometheus_source_and_loads_the_pinned_dashboards(plan: Plan) -> None:
    manifests = render(release(plan, "monitoring-grafana"))
    (configmap,) = of_kind(manifests, "ConfigMap", "grafana")
    datasources = yaml.safe_load(configmap["data"]["datasources.yaml"])["datasources"]
    assert [(d["type"], d["url"], d["isDefault"]) for d in datasources] == [
        ("prometheus", "http://prometheus-server:9090", True)
    ]
    providers = yaml.safe_load(configmap["data"]["dashboardproviders.yaml"])["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards/jupyterhub"
    (deployment,) = of_kind(manifests, "Deployment", "grafana")
    (compiler,) = deployment["spec"]["template"]["spec"]["initContainers"]
    commit = plan.config.monitoring.grafana.dashboards_commit
    assert f"grafana_dashboards.py {commit} /var/lib/grafana/dashboards/jupyterhub" in compiler["command"][-1]
    script = plan.one("kubernetes:core/v1:ConfigMap", "monitoring-dashboards-compiler").inputs["data"]
    assert script["grafana_dashboards.py"] == (ROOT / "values" / "grafana_dashboards.py").read_text()


# The community dashboards --------------------------------------------------------------------------------

# Where each dashboard metric comes from: its name's prefix, and the scrape job of this Prometheus that
# collects it (kube-state-metrics and node-exporter are scraped as annotated services).
SOURCES = {
    "kube_": "kubernetes-service-endpoints",
    "node_": "kubernetes-service-endpoints",
    "container_": "kubernetes-nodes-cadvisor",
    "kubelet_": "kubernetes-nodes",
    "jupyterhub_": "jupyterhub",
    # prometheus-dirsize-exporter, an annotated pod (components/home_governance.py).
    "dirsize_": "kubernetes-pods",
}


def load_compiler() -> Any:
    return load_in_cluster_code(ROOT / "values" / "grafana_dashboards.py")


@pytest.fixture(scope="module")
def dashboards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    sources = os.environ.get(DASHBOARDS_VARIABLE)
    if not sources:
        pytest.skip(f"{DASHBOARDS_VARIABLE} is not set: point it at the pinned jupyterhub/grafana-dashboards sources")
    out = tmp_path_factory.mktemp("dashboards")
    return {p.stem: json.loads(p.read_text()) for p in load_compiler().compile_all(Path(sources), out)}


def queries(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if node.get("type") == "query" and isinstance(node.get("query"), dict | str):
            query = node["query"] if isinstance(node["query"], str) else node["query"].get("query", "")
            found += [m for m in re.findall(r"label_values\((.*),\s*\w+\)", query)]
        return found + [q for k, v in node.items() if k != "expr" for q in queries(v)]
    if isinstance(node, list):
        return [q for v in node for q in queries(v)]
    return []


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression selects (Grafana variables replaced by valid stand-ins)."""
    expr = re.sub(r"\$\{?__(rate_)?interval\}?", "5m", expr)
    expr = re.sub(r"\"[^\"]*\"", '"x"', expr)
    expr = re.sub(r"\$\{?\w+\}?", "1", expr)
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        for attr in ("expr", "lhs", "rhs", "args", "param", "vector_selector"):
            child = getattr(node, attr, None)
            for item in child if isinstance(child, list) else [child] if child is not None else []:
                visit(item)

    visit(promql_parser.parse(expr))
    return names


def test_every_dashboard_compiles(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {"jupyterhub", "user", "usage-report", "cluster", "homedirs"} <= set(dashboards)
    assert all(d.get("title") and d.get("uid") for d in dashboards.values())


def test_every_dashboard_query_names_a_metric_this_prometheus_collects(
    dashboards: dict[str, dict[str, Any]], staging: Plan
) -> None:
    jobs = {j["job_name"] for j in prometheus_config(staging)["scrape_configs"]}
    used = {name for d in dashboards.values() for q in queries(d) for name in metric_names(q)}
    assert len(used) > 30
    unknown = sorted(n for n in used if not any(n.startswith(p) for p in SOURCES))
    uncollected = sorted(n for n in used if any(n.startswith(p) and job not in jobs for p, job in SOURCES.items()))
    assert unknown == []
    assert uncollected == []


def test_the_metric_check_has_teeth() -> None:
    assert metric_names(
        'sum(rate(container_cpu_usage_seconds_total{namespace="$hub"}[$__rate_interval])) by (pod)'
    ) == {"container_cpu_usage_seconds_total"}
    assert not any(n.startswith(p) for n in metric_names("nonsense_metric") for p in SOURCES)


# Logs, switches, cost -----------------------------------------------------------------------------------


def test_logs_have_a_retention_and_reach_cloudwatch(plan: Plan) -> None:
    days = plan.config.monitoring.logs.retention_days
    groups = {
        r.inputs["name"]: r.inputs["retentionInDays"]
        for r in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
        if not r.inputs["name"].startswith("/aws/events/")  # the spot warnings (tests/test_alerts.py)
    }
    cluster = plan.config.cluster.name
    assert groups == {
        f"/aws/eks/{cluster}/cluster": days,
        **{f"/aws/containerinsights/{cluster}/{kind}": days for kind in ("application", "dataplane", "host")},
    }
    control_plane = plan.one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")
    assert control_plane.urn in plan.one("eks:index:Cluster").dependencies, "made before EKS makes its own"
    addon = plan.one("aws:eks/addon:Addon", "monitoring-cloudwatch").inputs
    assert addon["addonName"] == "amazon-cloudwatch-observability"
    assert json.loads(addon["configurationValues"])["containerLogs"] == {"enabled": True}


def test_each_part_can_be_switched_off() -> None:
    off = {"prometheus": {"enabled": False}, "grafana": {"enabled": False}, "logs": {"enabled": False},
           "alerts": {"enabled": False}}  # fmt: skip
    plan = plan_with("staging", set_={"monitoring": off})
    assert plan.of_type("kubernetes:helm.sh/v3:Release") == [
        r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if not r.name.startswith("monitoring-")
    ]
    assert not [r for r in plan.resources if r.type.startswith("aws:sns/") or r.name.startswith("alerts-")]
    assert set(hub_values(plan)["services"]) == {"home-report"}, "only home governance's own service"
    assert [r.inputs["name"] for r in plan.of_type("aws:cloudwatch/logGroup:LogGroup")] == [
        "/aws/eks/dandihub-staging/cluster"
    ]
