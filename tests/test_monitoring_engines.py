"""Monitoring on the real engines: the pinned JupyterHub, started once for this module with the services
the program registers, answers Grafana's OAuth login and Prometheus's scrape.

Grafana itself cannot run here. What decides its logins is read from its source and named where it is
followed: the user-info attributes and the role come from the hub's real /hub/api/user answer through
Grafana's JMESPath attribute paths (evaluated with the reference JMESPath implementation, as Grafana's
go-jmespath does), and a returning user is found as its user sync finds one."""

from __future__ import annotations

import configparser
import copy
import dataclasses
import json
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jmespath
import pytest
import requests
import yaml

from offline.engine import Plan
from tests.charts import of_kind, render
from tests.hub_chain import load_hub_config
from tests.real_hub import RealHub, free_port, running_hub, serving
from tests.test_monitoring import dashboards, metric_names, prometheus_config, queries

__all__ = ["dashboards"]  # the compiled dashboards fixture, shared with tests/test_monitoring.py

NON_ADMIN = "alice"


def release(plan: Plan, name: str) -> Any:
    return plan.one("kubernetes:helm.sh/v3:Release", name)


@pytest.fixture(scope="module")
def hub(staging: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealHub]:
    workdir = tmp_path_factory.mktemp("real-hub")
    config = load_hub_config(render(release(staging, "hub-release")), workdir / "chart", "dandihub")
    with running_hub(config, workdir / "hub") as running:
        yield running


def admin_login(staging: Plan) -> str:
    return staging.config.hub.auth.admin_users[0]


# Grafana's login ------------------------------------------------------------------------------------------


def grafana_ini(plan: Plan) -> configparser.ConfigParser:
    (configmap,) = of_kind(render(release(plan, "monitoring-grafana")), "ConfigMap", "grafana")
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(configmap["data"]["grafana.ini"])
    return ini


def oauth_user_info(hub: RealHub, session: requests.Session, ini: configparser.ConfigParser) -> requests.Response:
    """Grafana's side of the OAuth dance against the real hub: the browser is sent to the authorize URL
    (the hub's own port stands in for its public domain), Grafana exchanges the code at token_url with
    its client secret (the grafana service's token, as the program sets both) and reads api_url."""
    oauth = ini["auth.generic_oauth"]
    redirect_uri = f"{ini['server']['root_url']}login/generic_oauth"
    authorize = session.get(
        f"{hub.url}/hub/api/oauth2/authorize",
        params={"client_id": oauth["client_id"], "redirect_uri": redirect_uri, "response_type": "code", "state": "s"},
        allow_redirects=False,
        timeout=10,
    )
    if authorize.status_code != 302:
        return authorize
    location = urllib.parse.urlparse(authorize.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    (code,) = urllib.parse.parse_qs(location.query)["code"]
    token = requests.post(
        f"{hub.url}{urllib.parse.urlparse(oauth['token_url']).path}",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": oauth["client_id"],
            "client_secret": hub.services["grafana"]["api_token"],
            "redirect_uri": redirect_uri,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    return requests.get(
        f"{hub.url}{urllib.parse.urlparse(oauth['api_url']).path}",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=10,
    )


def string_at(path: str, data: dict[str, Any]) -> str:
    """Grafana's util.SearchJSONForStringAttr: a JMESPath search whose result counts only if a string."""
    found = jmespath.search(path, data) if path else None
    return found if isinstance(found, str) else ""


class RefusedError(Exception):
    pass


@dataclass
class GrafanaUsers:
    """Grafana's user table as its OAuth login fills it (grafana/grafana@09d6a32d0d83
    pkg/login/social/connectors/generic_oauth.go for the attributes and the role; @0109f935c95d
    pkg/services/authn/clients/oauth.go for the lookup, which by e-mail only with
    oauth_allow_insecure_email_lookup; pkg/services/authn/authnimpl/sync/user_sync.go lookupByOneOf, then a
    new user whose login or e-mail is taken fails with "user already exists")."""

    ini: configparser.ConfigParser
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    auth_ids: dict[str, str] = field(default_factory=dict)

    def identity(self, data: dict[str, Any]) -> dict[str, str]:
        oauth = self.ini["auth.generic_oauth"]
        sub = data.get("sub")
        email = data.get("email") or string_at(oauth.get("email_attribute_path", ""), data)
        login = data.get("login") or string_at(oauth.get("login_attribute_path", ""), data) or data.get("username")
        role = string_at(oauth.get("role_attribute_path", ""), data).title()
        if role not in ("Viewer", "Editor", "Admin") and oauth.getboolean("role_attribute_strict", fallback=False):
            raise RefusedError("role_attribute_strict: no valid role from the IdP")
        return {
            "id": sub if isinstance(sub, str) else "",
            "email": email,
            "login": login or email,
            "role": role or self.ini["users"].get("auto_assign_org_role", "Viewer"),
        }

    def sign_in(self, data: dict[str, Any]) -> dict[str, str]:
        who = self.identity(data)
        if not who["email"]:
            raise RefusedError("required attribute email was not provided")
        found = self.auth_ids.get(who["id"]) if who["id"] else None
        if found is None and self.ini["auth"].getboolean("oauth_allow_insecure_email_lookup", fallback=False):
            found = next((login for login, user in self.users.items() if user["email"] == who["email"]), None)
        if found is None:
            if any(u["email"] == who["email"] or login == who["login"] for login, u in self.users.items()):
                raise RefusedError("user already exists")
            found = who["login"]
        self.users[found] = {"email": who["email"], "role": who["role"]}
        if who["id"]:
            self.auth_ids[who["id"]] = found
        return {"login": found, "role": who["role"]}


def test_an_admin_logs_in_to_grafana_twice_as_the_same_admin(hub: RealHub, staging: Plan) -> None:
    ini, admin = grafana_ini(staging), admin_login(staging)
    grafana = GrafanaUsers(ini)
    answers = []
    for _ in range(2):
        response = oauth_user_info(hub, hub.login(admin, admin=True), ini)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        assert grafana.sign_in(response.json()) == {"login": admin, "role": "Admin"}
    assert all("sub" not in a for a in answers), "the hub gives no stable id: Grafana must match by e-mail"
    assert list(grafana.users) == [admin]


def test_a_non_admin_is_refused_by_the_hub_and_would_get_no_grafana_role(hub: RealHub, staging: Plan) -> None:
    ini = grafana_ini(staging)
    session = hub.login(NON_ADMIN, admin=False)
    assert oauth_user_info(hub, session, ini).status_code == 403, "the hub's OAuth admits only admins"
    # Were the hub ever to let a non-admin through, the user-info it would answer (the same scopes as the
    # Grafana token's, without access to the service) gives no role, and strict mapping refuses.
    token = hub.api(session, "POST", f"users/{NON_ADMIN}/tokens",
                    json={"scopes": ["read:users:name!user", "read:users:groups!user"]})  # fmt: skip
    assert token.status_code == 201, token.text
    answer = requests.get(
        f"{hub.url}/hub/api/user", headers={"Authorization": f"Bearer {token.json()['token']}"}, timeout=10
    ).json()
    assert answer["name"] == NON_ADMIN and answer["admin"] is False
    with pytest.raises(RefusedError, match="role_attribute_strict"):
        GrafanaUsers(ini).sign_in(answer)


def test_the_login_model_has_teeth(hub: RealHub, staging: Plan) -> None:
    """Today's mapping against the settings before: a second login fails, a non-admin would be a Viewer."""
    ini, admin = grafana_ini(staging), admin_login(staging)
    ini["auth"]["oauth_allow_insecure_email_lookup"] = "false"
    grafana = GrafanaUsers(ini)
    first = oauth_user_info(hub, hub.login(admin, admin=True), ini).json()
    grafana.sign_in(first)
    with pytest.raises(RefusedError, match="user already exists"):
        grafana.sign_in(first)
    lenient = grafana_ini(staging)
    lenient["auth.generic_oauth"]["role_attribute_path"] = "'Viewer'"
    lenient["auth.generic_oauth"]["role_attribute_strict"] = "false"
    assert GrafanaUsers(lenient).sign_in({**first, "admin": False})["role"] == "Viewer"


# Prometheus scraping the hub -------------------------------------------------------------------------------

PROMETHEUS_STARTUP_SECONDS = 60
SERIES_WAIT_SECONDS = 40
# The test's Prometheus scrapes every second (the rendered global is a minute); nothing of the jobs changes.
SCRAPE_INTERVAL = "1s"
# Grafana's range variables, short enough for the test's few seconds of data.
RATE_INTERVAL = "4s"
# jupyterhub_user_group_info comes from jupyterhub-groups-exporter, which this program does not run (the
# hub has no groups yet): the panels that join on it stay empty, by dashboard file and panel title.
GROUPS_EXPORTER_METRIC = "jupyterhub_user_group_info"
EMPTY_WITHOUT_GROUPS_EXPORTER = {
    ("group", "CPU Requests"),
    ("group", "CPU Usage"),
    ("group", "Home Directory Usage (on shared home directories)"),
    ("group", "Memory Requests"),
    ("group", "Memory Usage"),
    ("user", "Home Directory Usage (on shared home directories)"),
}


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, query) for every panel, rows' nested panels included."""
    found = []
    for panel in dashboard.get("panels", []):
        for nested in [panel, *panel.get("panels", [])]:
            found += [(nested.get("title", ""), q) for q in queries(nested.get("targets", []))]
    return found


def hub_panel_queries(dashboards: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(dashboard, panel, query) for every query that reads only the hub's own metrics."""
    return [
        (stem, title, query)
        for stem, dashboard in dashboards.items()
        for title, query in panel_queries(dashboard)
        if (names := metric_names(query))
        and all(n.startswith("jupyterhub_") for n in names)
        and GROUPS_EXPORTER_METRIC not in names
    ]


def for_the_test(query: str, namespace: str) -> str:
    query = query.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", RATE_INTERVAL)
    for variable in ("hub_name", "hub"):
        query = query.replace(f"${variable}", namespace)
    return query


def service_discovery_labels(service: dict[str, Any]) -> dict[str, str]:
    """What Prometheus's Kubernetes discovery labels a Service's endpoints with (its annotations and
    labels, names sanitised as Prometheus does), for the file discovery that stands in for it."""

    def sanitised(name: str) -> str:
        return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

    metadata = service["metadata"]
    labels = {
        "__meta_kubernetes_namespace": metadata["namespace"],
        "__meta_kubernetes_service_name": metadata["name"],
    }
    for key, value in (metadata.get("annotations") or {}).items():
        labels[f"__meta_kubernetes_service_annotation_{sanitised(key)}"] = str(value)
    for key, value in (metadata.get("labels") or {}).items():
        labels[f"__meta_kubernetes_service_label_{sanitised(key)}"] = str(value)
    return labels


def hub_service(plan: Plan, values: dict[str, Any] | None = None) -> dict[str, Any]:
    hub_release = release(plan, "hub-release")
    inputs = {**hub_release.inputs, "values": values} if values is not None else hub_release.inputs
    (service,) = of_kind(render(dataclasses.replace(hub_release, inputs=inputs)), "Service", "hub")
    service["metadata"].setdefault("namespace", plan.config.hub.namespace)
    return service


@dataclass
class RealPrometheus:
    url: str
    namespace: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def targets(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/api/v1/targets", params={"state": "any"}, timeout=10).json()["data"])


@pytest.fixture(scope="module")
def prometheus(hub: RealHub, staging: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("no prometheus binary: `apt-get install prometheus` (Debian's package; .ci/run installs it)")
    workdir = tmp_path_factory.mktemp("prometheus")
    address = urllib.parse.urlparse(hub.url).netloc
    rendered = {j["job_name"]: j for j in prometheus_config(staging)["scrape_configs"]}
    # The rendered hub job, with only the target address and the token file's place changed.
    token = workdir / "hub-token"
    token.write_text(hub.services["prometheus"]["api_token"])
    hub_job = copy.deepcopy(rendered["jupyterhub"])
    hub_job["authorization"]["credentials_file"] = str(token)
    for group in hub_job["static_configs"]:
        group["targets"] = [address]
    # The chart's annotation job, discovering the rendered hub Service (and, to show the job would take it,
    # the hub Service as the chart renders it without the program's annotation) through file discovery.
    annotations_job = copy.deepcopy(rendered["kubernetes-service-endpoints"])
    del annotations_job["kubernetes_sd_configs"]
    before = copy.deepcopy(release(staging, "hub-release").inputs["values"])
    before["hub"].pop("service", None)
    groups = [
        {"targets": [address], "labels": service_discovery_labels(hub_service(staging))},
        {"targets": [address], "labels": {**service_discovery_labels(hub_service(staging, before)),
                                          "__meta_kubernetes_service_name": "hub-chart-default"}},
    ]  # fmt: skip
    (workdir / "services.json").write_text(json.dumps(groups))
    annotations_job["file_sd_configs"] = [{"files": [str(workdir / "services.json")]}]
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": [hub_job, annotations_job],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    # What the hub panels show: requests (the logins), and a spawn (it fails: no local user `alice`).
    admin = hub.login(admin_login(staging), admin=True)
    hub.api(admin, "POST", f"users/{NON_ADMIN}")
    hub.api(admin, "POST", f"users/{NON_ADMIN}/server")
    port = free_port()
    command = [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}/-/ready", workdir / "prometheus.log", PROMETHEUS_STARTUP_SECONDS):
        yield RealPrometheus(url, staging.config.hub.namespace)


def test_every_hub_panel_query_returns_series(
    prometheus: RealPrometheus, dashboards: dict[str, dict[str, Any]]
) -> None:
    panels = hub_panel_queries(dashboards)
    assert {stem for stem, _, _ in panels} >= {"jupyterhub", "activity"} and len(panels) >= 8
    deadline = time.monotonic() + SERIES_WAIT_SECONDS
    while True:
        empty = [(s, t) for s, t, q in panels if not prometheus.query(for_the_test(q, prometheus.namespace))]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert empty == []


def test_only_the_stated_panels_wait_for_the_groups_exporter(dashboards: dict[str, dict[str, Any]]) -> None:
    waiting = {
        (stem, title)
        for stem, dashboard in dashboards.items()
        for title, query in panel_queries(dashboard)
        if GROUPS_EXPORTER_METRIC in metric_names(query)
    }
    assert waiting == EMPTY_WITHOUT_GROUPS_EXPORTER


def test_the_annotation_job_leaves_the_hub_to_the_token_job(prometheus: RealPrometheus) -> None:
    deadline = time.monotonic() + SERIES_WAIT_SECONDS
    targets = prometheus.targets()
    while any(t["health"] == "unknown" for t in targets["activeTargets"]):
        assert time.monotonic() < deadline, targets
        time.sleep(0.5)
        targets = prometheus.targets()
    kept = {t["discoveredLabels"]["__meta_kubernetes_service_name"]
            for t in targets["activeTargets"] if t["scrapePool"] == "kubernetes-service-endpoints"}  # fmt: skip
    dropped = {t["discoveredLabels"].get("__meta_kubernetes_service_name") for t in targets["droppedTargets"]}
    assert "hub" in dropped and "hub" not in kept, "scraped without the token, it answers 403 every minute"
    assert kept == {"hub-chart-default"}, "the chart's own annotation would have been scraped"
    hub_targets = [t for t in targets["activeTargets"] if t["scrapePool"] == "jupyterhub"]
    assert [t["health"] for t in hub_targets] == ["up"], hub_targets


def test_the_hub_jobs_labels_are_the_hub_pods(plan: Plan) -> None:
    (job,) = [j for j in prometheus_config(plan)["scrape_configs"] if j["job_name"] == "jupyterhub"]
    (deployment,) = of_kind(render(release(plan, "hub-release")), "Deployment", "hub")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for group in job["static_configs"]:
        labels = dict(group["labels"])
        assert labels.pop("namespace") == plan.config.hub.namespace
        assert labels == {k: pod_labels[k] for k in labels} and {"app", "component"} <= set(labels)
