"""DANDI hub login: GitHub OAuth, admitted only if the GitHub login is a registered user of one of the
configured archives (DANDI and its siblings, such as EMBER or LINC).

This file runs inside the hub, as z2jh `hub.extraConfig` (where `c` is the hub's config); the
Pulumi program loads it into the Helm values. It is also an importable module, for its unit tests.
Its settings arrive through `hub.config.DandiGitHubAuthenticator`, which z2jh keeps in a Secret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from oauthenticator.github import GitHubOAuthenticator
from traitlets import Dict, List

# Where check_allowed leaves, in the auth model, the groups of the archives that admitted the user.
ARCHIVE_GROUPS = "dandi_archive_groups"
# How an archive is asked whether a GitHub login is an approved user (dandi/dandi-archive@3e3c3c9c,
# dandiapi/api/views/users.py and dandiapi/urls.py):
# - `approved-list`: GET /users/?approved_only=true, every approved user's GitHub login (users_list_view,
#   since 2025-09-12); exact, and it needs the token of a staff account (permissions.IsAdminUser: is_staff
#   or is_superuser);
# - `search`: GET /users/search/?username=<login> (users_search_view), any approved account's token, but a
#   case-insensitive *substring* search of names and logins capped at 10 results ordered by date joined,
#   so an approved user whose login is part of ten earlier users' names is not among the answers. Only
#   for archives that lack the list (the LINC fork, lincbrain/linc-archive@9738b289, has only the search).
LOOKUPS = {"approved-list": "/users/?approved_only=true", "search": "/users/search/?username={login}"}
SEARCH_CAP = 10


def registered_logins(response: Any) -> set[str]:
    """The logins in an archive's answer, lowercased: the approved list (GitHub logins as strings) or a
    search (users with a `username`, as a list or a page with `results`)."""
    users = response.get("results", []) if isinstance(response, dict) else response
    return {
        str(u.get("username", "") if isinstance(u, dict) else u).lower()
        for u in users or []
        if isinstance(u, dict | str)
    }


def is_registered(login: str, response: Any) -> bool:
    """Exactly this login, ignoring case; a search for `ann` must not admit `anna`."""
    return login.lower() in registered_logins(response)


def primary_email(emails: Any) -> str | None:
    """The primary, verified address from GitHub's `/user/emails`."""
    for entry in emails or []:
        if isinstance(entry, dict) and entry.get("primary") and entry.get("verified"):
            return entry.get("email")
    return None


def refusal_message(archives: list[dict[str, str]]) -> str:
    """The 403 page: where to register, for every archive that admits users here."""
    places = " or ".join(f"{a.get('display_name', a['name'])} ({a['registration_url']})" for a in archives)
    return (
        "Your GitHub account is not (yet) an approved user of an archive this hub serves. Register with the "
        f"same GitHub account at {places}, wait for the approval e-mail, then log in here again."
    )


class DandiGitHubAuthenticator(GitHubOAuthenticator):
    """GitHub login for users one of the archives knows; admins always pass; an archive that cannot be
    asked admits nobody (the next one is still asked)."""

    archives = List(
        Dict(),
        config=True,
        help="Archives asked in turn: name, display_name, api_url, user_lookup (approved-list or search), token "
        "(a staff account's for approved-list), registration_url, group (the JupyterHub group of its users).",
    )
    # Archive groups of users admitted by a login that the hub has yet to create (see run_post_auth_hook).
    _new_users_archive_groups = Dict()

    async def check_allowed(self, username: str, auth_model: dict[str, Any]) -> bool:
        if await super().check_allowed(username, auth_model):
            return True  # admins: the archives are not asked, and their archive groups stay as they are
        # Every archive is asked: each that admits the user becomes one of their groups (ARCHIVE_GROUPS).
        admitted = [archive for archive in self.archives if await self._registered_in(archive, username)]
        auth_model[ARCHIVE_GROUPS] = [archive["group"] for archive in admitted if archive.get("group")]
        if admitted:
            return True
        self.log.warning("%s is not a registered user of %s", username, ", ".join(a["name"] for a in self.archives))
        return False

    async def _registered_in(self, archive: dict[str, str], username: str) -> bool:
        lookup = archive.get("user_lookup", "approved-list")
        url = archive["api_url"].rstrip("/") + LOOKUPS[lookup].format(login=quote(username))
        try:
            response = await self.httpfetch(
                url,
                label=f"checking {archive['name']} registration",
                headers={"Authorization": f"token {archive['token']}", "Accept": "application/json"},
            )
        except Exception as error:
            self.log.error("%s registration check for %s failed, not admitting: %s", archive["name"], username, error)
            return False
        if is_registered(username, response):
            return True
        if lookup == "search" and len(registered_logins(response)) >= SEARCH_CAP:
            self.log.warning(
                "%s's search for %s hit its cap of %d look-alikes; the login may be approved but cannot be seen",
                archive["name"], username, SEARCH_CAP,
            )  # fmt: skip
        return False

    async def run_post_auth_hook(self, handler: Any, auth_model: dict[str, Any]) -> dict[str, Any]:
        """After a login passes the gate: its archive groups, for a user the hub knows (a new one's are
        set when the hub adds it, in `add_user`, within the same login)."""
        auth_model = await super().run_post_auth_hook(handler, auth_model)
        if ARCHIVE_GROUPS in auth_model:
            user = handler.find_user(auth_model["name"])
            if user is None:
                self._new_users_archive_groups[auth_model["name"]] = auth_model[ARCHIVE_GROUPS]
            else:
                self.record_archive_groups(user, auth_model[ARCHIVE_GROUPS])
        return auth_model

    def add_user(self, user: Any) -> None:
        super().add_user(user)
        groups = self._new_users_archive_groups.pop(user.name, None)
        if groups is not None:
            self.record_archive_groups(user, groups)

    def record_archive_groups(self, user: Any, groups: list[str]) -> None:
        """The user's archive groups become exactly `groups`; groups from config or the admin page stay.

        Not Authenticator.manage_groups: with it JupyterHub refuses load_groups and replaces all of a user's
        groups at each login (jupyterhub/jupyterhub@97b3154 (5.5.0): jupyterhub/app.py init_groups,
        jupyterhub/handlers/base.py auth_to_user)."""
        managed = {archive.get("group") for archive in self.archives}
        kept = [group.name for group in user.groups if group.name not in managed]
        user.sync_groups(kept + groups)

    async def pre_spawn_start(self, user: Any, spawner: Any) -> None:
        """Give the server the user's GitHub identity, for git and the DANDI CLI."""
        auth_state = await user.get_auth_state()
        if not auth_state:
            return
        github_user = auth_state.get("github_user") or {}
        token = auth_state.get("access_token", "")
        email = github_user.get("email")
        if not email and token:
            try:
                email = primary_email(
                    await self.httpfetch(
                        f"{self.github_api}/user/emails",
                        label="fetching e-mail",
                        headers={"Authorization": f"token {token}", "Accept": "application/json"},
                    )
                )
            except Exception as error:
                self.log.warning("no e-mail for %s: %s", user.name, error)
        spawner.environment.update(
            {
                "GITHUB_TOKEN": token,
                "GITHUB_USER": github_user.get("login", user.name),
                "GITHUB_EMAIL": email or "",
            }
        )


def configure(config: Any) -> None:
    """Make this the hub's authenticator, with a refusal page that says where to register."""
    config.JupyterHub.authenticator_class = DandiGitHubAuthenticator
    archives = config.DandiGitHubAuthenticator.get("archives", [])
    config.DandiGitHubAuthenticator.custom_403_message = refusal_message(list(archives))


if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    configure(c)  # type: ignore[name-defined]  # noqa: F821
