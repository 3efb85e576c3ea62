"""Monitoring on the real engines: the pinned JupyterHub, started once for this module with the services
the program registers, answers Grafana's OAuth login and Prometheus's scrape.

Grafana itself cannot run here. What decides its logins is read from its source and named where it is
followed: the user-info attributes and the role come from the hub's real /hub/api/user answer through
Grafana's JMESPath attribute paths (evaluated with the reference JMESPath implementation, as Grafana's
go-jmespath does), and a returning user is found as its user sync finds one."""

from __future__ import annotations

import configparser
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jmespath
import pytest
import requests

from offline.engine import Plan
from tests.charts import of_kind, render
from tests.hub_chain import load_hub_config
from tests.real_hub import RealHub, running_hub

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
