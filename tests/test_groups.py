"""Who may use what, in the real JupyterHub: the hub is built from the configuration the chart's own loader
makes of the rendered values (our extraConfig files included), on a database of its own; groups come from
config (JupyterHub's load_groups) and from the login gate (archive groups, at each login); each user's
spawn form and spawns go through JupyterHub's User.spawn and the real KubeSpawner's profile handling.

What stands in: GitHub's OAuth exchange (the auth model GitHubOAuthenticator would hand on), the archives'
answers, and the cluster's part of a spawn (creating the pod, watching it, the server answering HTTP, the
pod's deletion): `load_user_options` and `get_pod_manifest` are KubeSpawner's own."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from jupyterhub import orm
from jupyterhub.app import JupyterHub
from jupyterhub.crypto import CryptKeeper
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.user import User
from jupyterhub.utils import format_exception
from kubespawner import KubeSpawner
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.netutil import bind_sockets
from traitlets.config import Config

from components import home_governance
from offline.engine import Plan
from offline.spawner import offline_kubespawner
from offline.stack_files import FAKE_SECRETS, read_stack_config
from stackconfig import access, kubernetes
from stackconfig.hub import HubConfig
from stackconfig.loader import ConfigError
from stackconfig.nodes import NODE_GROUP_LABEL
from tests.charts import render
from tests.conftest import ROOT, load_in_cluster_code, plan_with
from tests.hub_chain import load_hub_config

TODAY = kubernetes.today()
REPORT = load_in_cluster_code(home_governance.SCRIPT)
LINC = {
    "name": "linc",
    "displayName": "LINC",
    "apiUrl": "https://api.lincbrain.org/api",
    "registrationUrl": "https://lincbrain.org",
}
GROUPS = {
    # Two GPU users, one GPU server between them.
    "gpu-users": {"members": ["ann", "bob"], "caps": {"gpu": 1}},
    # LINC's users get the GPU profile too, at most two servers at once.
    "archive-linc": {"caps": {"gpu": 2}},
    "tutorial-2026": {"members": ["carol"]},
}
TUTORIAL = {"name": "tutorial", "profile": "workshop", "seats": 1, "start": str(TODAY), "end": str(TODAY),
            "group": "tutorial-2026"}  # fmt: skip


def with_groups(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**p, "groups": ["gpu-users", "archive-linc"]} if p["slug"] == "gpu" else p for p in profiles]


def grouped_plan(**extra: Any) -> Plan:
    hub = read_stack_config("staging")["dandihub:hub"]
    settings = {
        "hub.auth.archives": [*hub["auth"]["archives"], LINC],
        "hub.groups": GROUPS,
        "hub.profiles": with_groups(hub["profiles"]),
        "hub.events": [TUTORIAL],
        **extra,
    }
    return plan_with("staging", secrets={**FAKE_SECRETS, "dandihub:lincApiToken": "linc-t0ken"}, set_=settings)


class Hub:
    """The real JupyterHub app, initialized (database, groups, roles, users, services) but not serving."""

    def __init__(self, config: Config, workdir: Path) -> None:
        self.config, self.workdir = config, workdir
        self.app = self.start()
        self.registered: dict[str, set[str]] = {}  # archive name -> its logins, for the stand-in archives

    def start(self) -> JupyterHub:
        """A hub (re)start over the same database file, as the hub pod restarts after a config change."""
        config = Config(self.config)
        config.JupyterHub.db_url = f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}"
        config.JupyterHub.log_level = logging.WARNING
        # The pod has it from the proxy's Secret, as CONFIGPROXY_AUTH_TOKEN.
        config.ConfigurableHTTPProxy.auth_token = "offline-proxy-token"
        # As `jupyterhub` runs it: the app is the singleton that CryptKeeper (auth state) takes its keys from.
        JupyterHub.clear_instance()
        CryptKeeper.clear_instance()
        app = JupyterHub.instance(config=config)
        asyncio.run(app.initialize([]))
        return app

    def groups(self) -> dict[str, list[str]]:
        return {g.name: sorted(u.name for u in g.users) for g in self.app.db.query(orm.Group)}

    def groups_of(self, login: str) -> set[str]:
        return {g.name for g in self.app.users[login].groups}

    def login(self, login: str) -> None:
        """A GitHub login: OAuthenticator's own steps (its code-for-token exchange with GitHub and GitHub's
        /user answer stand in), the gate, and JupyterHub's own steps after it (BaseHandler.auth_to_user)."""
        app = self.app
        token = {"access_token": "gh", "token_type": "bearer", "scope": "read:user,user:email,gist"}
        github_user = {"login": login, "email": f"{login}@example.org"}

        async def answer(url: str, **kwargs: Any) -> list[dict[str, str]]:
            archive = next(a for a in app.authenticator.archives if url.startswith(a["api_url"]))
            return [{"username": login}] if login in self.registered.get(archive["name"], set()) else []

        async def run() -> None:
            start_line = RequestStartLine("GET", "/hub/oauth_callback", "HTTP/1.1")
            headers = HTTPHeaders({"Host": "hub-staging.dandiarchive.org"})
            request = HTTPServerRequest(connection=mock.MagicMock(), start_line=start_line, headers=headers)
            handler = BaseHandler(app.tornado_application, request)
            with (
                mock.patch.object(app.authenticator, "build_access_tokens_request_params", mock.Mock()),
                mock.patch.object(app.authenticator, "get_token_info", mock.AsyncMock(return_value=token)),
                mock.patch.object(app.authenticator, "token_to_user", mock.AsyncMock(return_value=github_user)),
                mock.patch.object(app.authenticator, "httpfetch", answer),
            ):
                authenticated = await app.authenticator.get_authenticated_user(handler, None)
            assert authenticated, f"{login} was refused"
            await handler.auth_to_user(authenticated)

        asyncio.run(run())

    def user(self, login: str) -> User:
        """The hub's user (a member named by config, or one who logged in), or a new one, as the admin page adds."""
        try:
            return self.app.users[login]
        except KeyError:
            orm_user = orm.User(name=login)
            self.app.db.add(orm_user)
            self.app.db.commit()
            return self.app.users[orm_user]


@contextmanager
def cluster_stands_in() -> Iterator[list[dict[str, Any]]]:
    """KubeSpawner's calls to the cluster answered offline: start loads the options (KubeSpawner's own
    profile handling) and builds the pod, which is recorded; the server 'answers'; stop deletes nothing."""
    pods: list[dict[str, Any]] = []

    async def start(self: KubeSpawner) -> str:
        await self.load_user_options()
        pods.append({"user": self.user.name, "pod": await self.get_pod_manifest()})
        return "http://10.0.0.9:8888"

    async def wait_up(self: User, spawner: Any) -> Any:
        spawner._waiting_for_response = spawner._start_pending = False
        return spawner

    async def running(self: KubeSpawner) -> int | None:
        return None if self.server else 0

    with (
        offline_kubespawner(),
        mock.patch.object(KubeSpawner, "_start", start),
        mock.patch.object(KubeSpawner, "poll", running),
        mock.patch.object(KubeSpawner, "stop", mock.AsyncMock()),
        mock.patch.object(User, "_wait_up", wait_up),
    ):
        yield pods


@pytest.fixture(scope="module")
def grouped() -> Plan:
    return grouped_plan()


@pytest.fixture(scope="module")
def hub(grouped: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    workdir = tmp_path_factory.mktemp("hub")
    plan = grouped
    config = load_hub_config(render(plan.one("kubernetes:helm.sh/v3:Release", "hub-release")), workdir, "dandihub")
    with offline_kubespawner():
        yield Hub(config, workdir)
    JupyterHub.clear_instance()
    CryptKeeper.clear_instance()


def form(hub: Hub, login: str) -> str:
    with cluster_stands_in():
        return str(asyncio.run(hub.user(login).spawner.get_options_form()))


def offered(hub: Hub, login: str) -> list[str]:
    """The profiles of the spawn form JupyterHub renders for the user (KubeSpawner's own template)."""
    page = form(hub, login)
    return [slug for slug in ("tiny", "base", "workshop", "gpu") if f'value="{slug}"' in page]


def spawn(hub: Hub, login: str, profile: str | None, more: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A spawn as the hub's form POST makes it: the form data (the profile, and `more` fields) through the
    spawner's options_from_form, then JupyterHub's User.spawn. Returns the pod KubeSpawner built."""
    user = hub.user(login)
    with cluster_stands_in() as pods:
        options = user.spawner.run_options_from_form({**({"profile": [profile]} if profile else {}), **(more or {})})
        asyncio.run(user.spawn("", options=options))
    assert user.spawner.ready
    ((built,),) = [[p["pod"] for p in pods]]
    return dict(built.to_dict())


def refusal(hub: Hub, login: str, profile: str, more: dict[str, list[str]] | None = None) -> str:
    """The message JupyterHub shows for a refused spawn (the form's error, or the progress page's)."""
    user = hub.user(login)
    with cluster_stands_in(), pytest.raises(Exception) as refused:
        options = user.spawner.run_options_from_form({"profile": [profile], **(more or {})})
        asyncio.run(user.spawn("", options=options))
    assert not user.spawner.active, "a refused server holds nothing"
    message, _ = format_exception(refused.value, only_jupyterhub=True)
    assert message, f"JupyterHub would show no message for {refused.value!r}"
    return str(message)


def stop(hub: Hub, login: str) -> None:
    with cluster_stands_in():
        asyncio.run(hub.user(login).stop(""))


# Groups ---------------------------------------------------------------------------------------------------


def test_config_groups_and_archive_groups_exist_in_the_hub(hub: Hub) -> None:
    groups = hub.groups()
    assert groups["gpu-users"] == ["ann", "bob"]
    assert groups["tutorial-2026"] == ["carol"]
    assert groups["archive-dandi"] == groups["archive-linc"] == []
    assert hub.app.authenticator.manage_groups is False, "groups stay editable on the admin page"


def test_config_adds_members_at_each_start_and_the_admin_pages_edits_otherwise_stay(hub: Hub, tmp_path: Path) -> None:
    """load_groups only adds: a member removed on the admin page but still in config returns at the next
    start; one added on the admin page stays."""
    restarted = Hub(hub.config, tmp_path)
    db = restarted.app.db
    group = orm.Group.find(db, "gpu-users")
    group.users.remove(orm.User.find(db, "bob"))
    group.users.append(orm.User.find(db, "carol"))
    db.commit()
    again = restarted.start()
    members = sorted(u.name for u in orm.Group.find(again.db, "gpu-users").users)
    assert members == ["ann", "bob", "carol"]


def test_archive_membership_becomes_groups_at_login_and_is_refreshed_at_each(hub: Hub) -> None:
    hub.registered = {"dandi": {"dora", "carol"}, "linc": {"dora"}}
    hub.login("dora")  # new to the hub: the groups are set as the hub adds her
    assert hub.groups_of("dora") == {"archive-dandi", "archive-linc"}
    hub.login("carol")
    assert hub.groups_of("carol") == {"tutorial-2026", "archive-dandi"}, "config groups stay"
    hub.registered = {"dandi": set(), "linc": {"dora", "carol"}}
    hub.login("dora")
    hub.login("carol")
    assert hub.groups_of("dora") == {"archive-linc"}
    assert hub.groups_of("carol") == {"tutorial-2026", "archive-linc"}


def test_an_admin_passes_without_the_archives_and_keeps_their_groups(hub: Hub) -> None:
    (admin, *_) = sorted(hub.app.authenticator.admin_users)
    hub.registered = {}
    hub.user(admin)
    hub.login(admin)
    assert hub.groups_of(admin) == set()


# Profiles by group ----------------------------------------------------------------------------------------


def test_each_user_is_offered_exactly_the_profiles_of_their_groups(hub: Hub) -> None:
    hub.registered = {"dandi": {"erin", "carol"}, "linc": {"finn"}}
    for login in ("erin", "finn", "carol"):
        hub.login(login)
    assert offered(hub, "erin") == ["tiny", "base"]
    assert offered(hub, "finn") == ["tiny", "base", "gpu"], "archive-linc may use the GPU"
    assert offered(hub, "ann") == ["tiny", "base", "gpu"]
    assert offered(hub, "carol") == ["tiny", "base", "workshop"], "the event is for her group only"


def test_a_user_starts_a_profile_of_their_group_on_its_nodes(hub: Hub) -> None:
    pod = spawn(hub, "finn", "gpu")
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["spec"]["node_selector"] == {NODE_GROUP_LABEL: "gpu"}
    stop(hub, "finn")


def test_a_forged_choice_is_refused_with_a_message_saying_who_may_use_it(hub: Hub) -> None:
    message = refusal(hub, "erin", "gpu")
    assert message.startswith("The profile 'T4 GPU for inference' is only for members of archive-linc, gpu-users")
    assert "erin is in archive-dandi" in message
    assert "is only for members of tutorial-2026" in refusal(hub, "erin", "workshop")


# Caps per group -------------------------------------------------------------------------------------------


def test_a_groups_cap_is_enforced_naming_who_uses_it_and_released_when_a_server_stops(hub: Hub) -> None:
    spawn(hub, "ann", "gpu")
    message = refusal(hub, "bob", "gpu")
    assert message.startswith("Group gpu-users may run at most 1 'T4 GPU for inference' server(s) at once")
    assert "in use by: ann." in message
    spawn(hub, "bob", "base")  # other profiles are not capped
    stop(hub, "bob")
    spawn(hub, "finn", "gpu")  # another group's servers count against its own cap only
    stop(hub, "ann")
    spawn(hub, "bob", "gpu")
    stop(hub, "bob")
    stop(hub, "finn")


def test_a_server_still_holds_its_seat_after_a_hub_restart(hub: Hub) -> None:
    """The hub restarts (a config change, an upgrade) while servers run: it finds them again (KubeSpawner's
    poll, standing in, says they run) and counts each against its group's cap by the profile it started with."""
    spawn(hub, "ann", "gpu")
    with cluster_stands_in():
        hub.app = hub.start()
    assert hub.user("ann").spawner.ready and hub.user("ann").spawner.admitted_profile is None
    assert "in use by: ann." in refusal(hub, "bob", "gpu")
    stop(hub, "ann")
    spawn(hub, "bob", "gpu")
    stop(hub, "bob")


# The admin report ------------------------------------------------------------------------------------------


def report_users(hub: Hub) -> list[Any]:
    """The weekly report's users, asked of the hub's real REST API over HTTP with the report's own token
    (its role's scopes, from the chart's config)."""
    (service,) = [s for s in hub.app.services if s["name"] == home_governance.SERVICE]

    async def ask() -> list[Any]:
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(hub.app.tornado_application)
        server.add_sockets(sockets)
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hub/api"
        try:
            return list(await asyncio.to_thread(REPORT.hub_users, url, service["api_token"], lambda name: name))
        finally:
            server.stop()

    return asyncio.run(ask())


def test_the_admin_report_shows_use_per_group_against_the_caps(hub: Hub, grouped: Plan, tmp_path: Path) -> None:
    spawn(hub, "ann", "gpu")
    spawn(hub, "bob", None)  # the default profile, named as started (and kept for after a hub restart)
    assert hub.user("bob").spawner.orm_spawner.user_options == {"profile": "base"}
    users = report_users(hub)
    policy = REPORT.Policy(**{**home_governance.policy(grouped.config), "exempt": frozenset()})
    (tmp_path / REPORT.HOMES / "ann").mkdir(parents=True)
    (tmp_path / REPORT.HOMES / "ann" / "data.nwb").write_bytes(b"x" * 4096)
    result = REPORT.report(tmp_path, users, policy, datetime.datetime.now(datetime.UTC))
    gpu_users = result["groups"]["gpu-users"]
    assert gpu_users["members"] == 2 and gpu_users["bytes"] == 4096
    assert gpu_users["servers"] == {"gpu": {"users": ["ann"], "cap": 1}, "base": {"users": ["bob"], "cap": None}}
    assert result["groups"]["archive-linc"]["servers"]["gpu"]["cap"] == 2
    markdown = REPORT.write(tmp_path, result).with_suffix(".md").read_text()
    assert "| gpu-users | 2 | 0.00 | base: 1, gpu: 1 of 1 |" in markdown
    stop(hub, "ann")
    stop(hub, "bob")


# Config ---------------------------------------------------------------------------------------------------


def test_the_hub_gets_groups_caps_and_each_days_audiences(grouped: Plan) -> None:
    hub = grouped.config.hub
    assert access.profile_groups(hub, TODAY) == {"gpu": ["archive-linc", "gpu-users"], "workshop": ["tutorial-2026"]}
    assert "workshop" not in access.profile_groups(hub, TODAY + datetime.timedelta(days=1)), "not listed then"
    assert access.group_caps(hub) == {"gpu-users": {"gpu": 1}, "archive-linc": {"gpu": 2}}


def test_the_runbooks_example_is_a_valid_config_that_does_what_it_says() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    section = runbook.split("### Giving a group a profile and a cap", 1)[1]
    example = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])["dandihub:hub"]
    hub = read_stack_config("staging")["dandihub:hub"]
    (gpu,) = example["profiles"]
    profiles = [{**p, "groups": gpu["groups"]} if p["slug"] == gpu["slug"] else p for p in hub["profiles"]]
    config = HubConfig.model_validate(
        {**hub, "auth": {**hub["auth"], "archives": [*hub["auth"]["archives"], LINC]},
         "groups": example["groups"], "profiles": profiles}
    )  # fmt: skip
    assert access.access_problems(config) == []
    assert access.group_caps(config) == {"gpu-users": {"gpu": 4}, "archive-linc": {"gpu": 2}}
    assert access.profile_groups(config, TODAY) == {"gpu": ["archive-linc", "gpu-users"]}
    assert access.load_groups(config)["gpu-users"] == {"users": ["alice", "bob"]}


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"hub.events": [{**TUTORIAL, "group": "tutorial-2025"}]}, "hub.events[0].group", "no group 'tutorial-2025'"),
        ({"hub.groups": {**GROUPS, "archive-ember": {}}}, "hub.groups.archive-ember",
         "archive groups are filled by the DANDI login gate"),
        ({"hub.groups": {**GROUPS, "archive-linc": {"members": ["ann"]}}}, "hub.groups.archive-linc.members",
         "the login gate sets an archive group's members"),
        ({"hub.groups": {**GROUPS, "tutorial-2026": {"caps": {"gpu": 1}}}}, "hub.groups.tutorial-2026.caps.gpu",
         "group 'tutorial-2026' cannot use profile 'gpu'"),
        ({"hub.groups": {**GROUPS, "tutorial-2026": {"caps": {"gpux": 1}}}}, "hub.groups.tutorial-2026.caps.gpux",
         "no profile 'gpux'"),
        ({"hub.auth.requireDandiUser": False}, "hub.profiles[3].groups", "no group 'archive-linc'"),
    ],
)  # fmt: skip
def test_config_names_only_groups_that_exist_and_caps_that_can_apply(change: dict, key: str, message: str) -> None:
    with pytest.raises(Exception) as failure:
        grouped_plan(**change)
    assert isinstance(failure.value.__cause__, ConfigError)
    assert key in str(failure.value) and message in str(failure.value)
