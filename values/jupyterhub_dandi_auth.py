"""DANDI hub login: GitHub OAuth, admitted only if the GitHub login is a registered DANDI archive user.

This file runs inside the hub, as z2jh `hub.extraConfig` (where `c` is the hub's config); the
Pulumi program loads it into the Helm values. It is also an importable module, for its unit tests.
Its settings arrive through `hub.config.DandiGitHubAuthenticator`, which z2jh keeps in a Secret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from oauthenticator.github import GitHubOAuthenticator
from traitlets import Unicode


def registered_logins(response: Any) -> set[str]:
    """The logins in a DANDI `/users/search/` answer (a list, or a page with `results`), lowercased."""
    users = response.get("results", []) if isinstance(response, dict) else response
    return {str(u.get("username", "")).lower() for u in users or [] if isinstance(u, dict)}


def is_registered(login: str, response: Any) -> bool:
    """Exactly this login, ignoring case; a search for `ann` must not admit `anna`."""
    return login.lower() in registered_logins(response)


def primary_email(emails: Any) -> str | None:
    """The primary, verified address from GitHub's `/user/emails`."""
    for entry in emails or []:
        if isinstance(entry, dict) and entry.get("primary") and entry.get("verified"):
            return entry.get("email")
    return None


class DandiGitHubAuthenticator(GitHubOAuthenticator):
    """GitHub login for users the DANDI archive knows; admins always pass; any API failure denies."""

    dandi_api_url = Unicode("https://api.dandiarchive.org/api", config=True, help="DANDI archive API root.")
    dandi_api_token = Unicode("", config=True, help="Token of a DANDI account allowed to search users.")
    registration_url = Unicode("https://dandiarchive.org", config=True, help="Where to register.")

    async def check_allowed(self, username: str, auth_model: dict[str, Any]) -> bool:
        if await super().check_allowed(username, auth_model):
            return True
        url = f"{self.dandi_api_url.rstrip('/')}/users/search/?username={quote(username)}"
        try:
            response = await self.httpfetch(
                url,
                label="checking DANDI registration",
                headers={"Authorization": f"token {self.dandi_api_token}", "Accept": "application/json"},
            )
        except Exception as error:
            self.log.error("DANDI registration check for %s failed, denying: %s", username, error)
            return False
        if is_registered(username, response):
            return True
        self.log.warning("%s is not a registered DANDI user", username)
        return False

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
    """Make this the hub's authenticator, with a refusal page that says how to get in."""
    config.JupyterHub.authenticator_class = DandiGitHubAuthenticator
    registration = config.DandiGitHubAuthenticator.get("registration_url", "https://dandiarchive.org")
    config.DandiGitHubAuthenticator.custom_403_message = (
        "Your GitHub account is not (yet) an approved DANDI archive user. Register with the same GitHub "
        f"account at {registration}, wait for the approval e-mail, then log in here again."
    )


if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    configure(c)  # type: ignore[name-defined]  # noqa: F821
