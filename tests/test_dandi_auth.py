"""The hub's DANDI login gate, run against the real JupyterHub and OAuthenticator classes, and against a
stand-in archive that answers as dandi/dandi-archive@3e3c3c9c's dandiapi/api/views/users.py does."""

from __future__ import annotations

import asyncio
import re
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from traitlets.config import Config

from tests.conftest import ROOT, load_in_cluster_code

SOURCE = ROOT / "values" / "jupyterhub_dandi_auth.py"


def load() -> ModuleType:
    return load_in_cluster_code(SOURCE)


auth = load()


@pytest.mark.parametrize(
    ("login", "response", "expected"),
    [
        ("satra", [{"username": "satra"}], True),
        ("Satra", [{"username": "satra", "name": "S"}], True),
        ("ann", [{"username": "anna"}, {"username": "annette"}], False),
        ("ann", {"results": [{"username": "ANN"}]}, True),
        ("ann", [], False),
        ("ann", {"detail": "Invalid token."}, False),
        ("Ann", ["anna", "ANN"], True),
        ("ann", ["anna", "joanne"], False),
        ("ann", None, False),
    ],
)
def test_exact_login_match(login: str, response: Any, expected: bool) -> None:
    assert auth.is_registered(login, response) is expected


DANDI = {
    "name": "dandi",
    "display_name": "DANDI",
    "api_url": "https://api-staging.dandiarchive.org/api",
    "token": "t0ken",
    "registration_url": "https://gui-staging.dandiarchive.org",
}
LINC = {**DANDI, "name": "linc", "api_url": "https://api.linc.example.org/api", "user_lookup": "search"}
EMBER = {
    "name": "ember",
    "display_name": "EMBER",
    "api_url": "https://api.ember.example.org/api/",
    "token": "ember-t0ken",
    "registration_url": "https://ember.example.org",
}


def authenticator(fetch: Any, archives: list[dict[str, str]] | None = None, **settings: Any) -> Any:
    config = Config()
    config.DandiGitHubAuthenticator.admin_users = {"dandibot"}
    config.DandiGitHubAuthenticator.archives = archives or [DANDI]
    for key, value in settings.items():
        setattr(config.DandiGitHubAuthenticator, key, value)
    instance = auth.DandiGitHubAuthenticator(config=config)
    instance.httpfetch = fetch
    return instance


class Fetch:
    """Stands in for the archive and GitHub APIs, and remembers what was asked. `by_host` answers (or
    raises) per host; otherwise every call gets `answer` or raises `error`."""

    def __init__(self, answer: Any = None, error: Exception | None = None, by_host: dict[str, Any] | None = None):
        self.answer, self.error, self.by_host, self.calls = answer, error, by_host or {}, []

    async def __call__(self, url: str, **kwargs: Any) -> Any:
        self.calls.append((url, kwargs))
        answer = next((a for host, a in self.by_host.items() if f"//{host}/" in url), self.answer)
        if isinstance(answer, Exception) or self.error:
            raise answer if isinstance(answer, Exception) else self.error  # type: ignore[misc]
        return answer


def allowed(fetch: Fetch, login: str, archives: list[dict[str, str]] | None = None) -> bool:
    instance = authenticator(fetch, archives)
    # The auth model as OAuthenticator.authenticate hands it to check_allowed.
    model = {
        "name": login,
        "admin": True if login in instance.admin_users else None,
        "auth_state": {"access_token": "gh", "token_response": {"access_token": "gh", "token_type": "bearer"}},
    }
    return asyncio.run(instance.check_allowed(login, model))


def test_registered_user_is_admitted_after_asking_the_archive() -> None:
    fetch = Fetch(["Some-User", "other"])
    assert allowed(fetch, "some-user")
    ((url, kwargs),) = fetch.calls
    assert url == "https://api-staging.dandiarchive.org/api/users/?approved_only=true"
    assert kwargs["headers"]["Authorization"] == "token t0ken"


def test_unknown_user_is_refused() -> None:
    assert not allowed(Fetch([{"username": "someone-else"}]), "some-user")


def test_archive_failure_refuses() -> None:
    assert not allowed(Fetch(error=OSError("connection refused")), "some-user")


def test_admins_pass_without_asking() -> None:
    fetch = Fetch(error=AssertionError("must not be called"))
    assert allowed(fetch, "dandibot")
    assert fetch.calls == []


def test_login_is_quoted_into_the_query() -> None:
    fetch = Fetch([])
    allowed(fetch, "a&b", [LINC])
    assert fetch.calls[0][0].endswith("?username=a%26b")


def test_nobody_else_is_allowed_by_default() -> None:
    instance = authenticator(Fetch([]))
    assert instance.allow_all is False
    assert not instance.allowed_users


def spawn(auth_state: dict[str, Any] | None, fetch: Fetch) -> dict[str, str]:
    async def get_auth_state() -> dict[str, Any] | None:
        return auth_state

    user = SimpleNamespace(name="some-user", get_auth_state=get_auth_state)
    spawner = SimpleNamespace(environment={})
    asyncio.run(authenticator(fetch).pre_spawn_start(user, spawner))
    return spawner.environment


def test_server_gets_the_github_identity() -> None:
    state = {"access_token": "gh", "github_user": {"login": "Some-User", "email": "u@example.org"}}
    assert spawn(state, Fetch()) == {"GITHUB_TOKEN": "gh", "GITHUB_USER": "Some-User", "GITHUB_EMAIL": "u@example.org"}


def test_private_email_is_looked_up() -> None:
    emails = [
        {"email": "old@example.org", "primary": False, "verified": True},
        {"email": "main@example.org", "primary": True, "verified": True},
    ]
    fetch = Fetch(emails)
    environment = spawn({"access_token": "gh", "github_user": {"login": "u", "email": None}}, fetch)
    assert environment["GITHUB_EMAIL"] == "main@example.org"
    assert fetch.calls[0][0] == "https://api.github.com/user/emails"


def test_no_auth_state_no_environment() -> None:
    assert spawn(None, Fetch()) == {}


def test_as_extra_config_it_installs_itself_with_a_refusal_listing_every_archive() -> None:
    config = Config()
    config.DandiGitHubAuthenticator.archives = [DANDI, EMBER]
    namespace: dict[str, Any] = {"c": config, "__name__": "jupyterhub_config"}
    exec(compile(SOURCE.read_text(), str(SOURCE), "exec"), namespace)
    assert config.JupyterHub.authenticator_class is namespace["DandiGitHubAuthenticator"]
    message = config.DandiGitHubAuthenticator.custom_403_message
    assert "DANDI (https://gui-staging.dandiarchive.org) or EMBER (https://ember.example.org)" in message
    assert "not (yet) an approved user" in message


def test_a_user_of_any_archive_is_admitted_each_archive_asked_with_its_own_token() -> None:
    fetch = Fetch(by_host={"api-staging.dandiarchive.org": [], "api.ember.example.org": ["neuro"]})
    assert allowed(fetch, "neuro", [DANDI, EMBER])
    assert [(url, kw["headers"]["Authorization"]) for url, kw in fetch.calls] == [
        ("https://api-staging.dandiarchive.org/api/users/?approved_only=true", "token t0ken"),
        ("https://api.ember.example.org/api/users/?approved_only=true", "token ember-t0ken"),
    ]


def test_every_archive_is_asked_and_each_that_admits_is_recorded_as_a_group() -> None:
    """For the archive groups (tests/test_groups.py follows them into the hub)."""
    archives = [{**DANDI, "group": "archive-dandi"}, {**EMBER, "group": "archive-ember"}]
    instance = authenticator(Fetch(["neuro"]), archives)
    model: dict[str, Any] = {"name": "neuro", "admin": None, "auth_state": {}}
    assert asyncio.run(instance.check_allowed("neuro", model))
    assert model[auth.ARCHIVE_GROUPS] == ["archive-dandi", "archive-ember"]
    down = Fetch(by_host={"api-staging.dandiarchive.org": OSError("503"), "api.ember.example.org": []})
    model = {"name": "neuro", "admin": None, "auth_state": {}}
    assert not asyncio.run(authenticator(down, archives).check_allowed("neuro", model))
    assert model[auth.ARCHIVE_GROUPS] == []


def test_an_archive_that_is_down_does_not_lock_out_the_users_of_another() -> None:
    down = {"api-staging.dandiarchive.org": OSError("503"), "api.ember.example.org": ["neuro"]}
    assert allowed(Fetch(by_host=down), "neuro", [DANDI, EMBER])
    assert not allowed(Fetch(by_host={**down, "api.ember.example.org": []}), "neuro", [DANDI, EMBER])


def test_a_user_of_no_archive_is_refused() -> None:
    assert not allowed(Fetch(["someone-else"]), "neuro", [DANDI, EMBER])


class Archive:
    """An archive's users as dandi/dandi-archive@3e3c3c9c answers for them (dandiapi/api/views/users.py):
    users_list_view lists approved users' GitHub logins to a staff token; users_search_view matches names
    and logins case-insensitively as substrings, approved and active users only, oldest first, at most 10."""

    def __init__(self, users: list[tuple[str, str, str]], staff_token: str) -> None:
        self.users, self.staff_token = users, staff_token  # (login, full name, status), in order joined

    async def __call__(self, url: str, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        token = kwargs["headers"]["Authorization"].removeprefix("token ")
        approved = [(login, name) for login, name, status in self.users if status == "APPROVED"]
        if parts.path.endswith("/users/"):
            if token != self.staff_token:
                raise OSError("HTTP 403: You do not have permission to perform this action.")
            return sorted(login for login, _ in approved)
        wanted = unquote(parse_qs(parts.query)["username"][0])
        found = [login for login, name in approved if re.search(re.escape(wanted), f"{login} {name}", re.I)]
        return [{"username": login} for login in found[:10]]


# Eleven approved users whose login or name contains "ann", who joined before the approved "ann".
LOOKALIKES = [(f"ann{i}", "", "APPROVED") for i in range(6)] + [
    (f"user{i}", f"Joanna Hanna{i}", "APPROVED") for i in range(5)
]


@pytest.mark.parametrize(("lookup", "admitted"), [("approved-list", True), ("search", False)])
def test_an_approved_user_among_eleven_lookalikes(lookup: str, admitted: bool) -> None:
    """The exact list admits her; the capped search (the old lookup) cannot see her, and says so."""
    archive = Archive([*LOOKALIKES, ("ann", "Ann A.", "APPROVED"), ("anne", "", "PENDING")], staff_token="t0ken")
    assert allowed(archive, "Ann", [{**DANDI, "user_lookup": lookup}]) is admitted  # type: ignore[arg-type]
    assert not allowed(archive, "anne", [{**DANDI, "user_lookup": lookup}]), "pending is not approved"  # type: ignore[arg-type]


def test_a_token_that_is_not_staff_admits_nobody() -> None:
    archive = Archive([("ann", "", "APPROVED")], staff_token="the-staff-token")
    assert not allowed(archive, "ann")  # type: ignore[arg-type]


def test_importing_it_configures_nothing() -> None:
    assert not hasattr(auth, "c")
