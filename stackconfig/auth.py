"""Who may log in to the hub: the authenticator and the DANDI-family archives whose registered users pass."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from stackconfig.access import GITHUB_LOGIN as _GITHUB_LOGIN
from stackconfig.types import ConfigModel, distinct_matches, unique


class ArchiveConfig(ConfigModel):
    """A DANDI-family archive (DANDI, EMBER, LINC) whose registered users may log in. Its API token is
    the secret `dandihub:<name>ApiToken`."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]{1,30}$", description="Short name; the token is `<name>ApiToken`.")
    display_name: str = Field(min_length=1, description="Name shown on the refusal page.")
    api_url: str = Field(
        pattern=r"^https://[a-z0-9.-]+(/[\w./-]*)?$", description="The archive API that lists registered users."
    )
    user_lookup: Literal["approved-list", "search"] = Field(
        "approved-list",
        description="How a login is looked up: approved-list (exact; the token must be a staff account's) or "
        "search (any approved account's token; capped at 10 look-alikes, for archives without the list). "
        "Default approved-list.",
    )
    registration_url: str = Field(pattern=r"^https://", description="Where refused users are sent to register.")

    @property
    def token_key(self) -> str:
        return archive_token_key(self.name)


def archive_token_key(name: str) -> str:
    """The secret config key of an archive's API token (dandi -> dandiApiToken)."""
    return f"{name}ApiToken"


DANDI_ARCHIVE = ArchiveConfig(
    name="dandi",
    display_name="DANDI",
    api_url="https://api.dandiarchive.org/api",
    registration_url="https://dandiarchive.org",
)


class AuthConfig(ConfigModel):
    """Who may log in."""

    type: Literal["github", "shared-password"] = Field(
        "github",
        description="github (OAuth), or shared-password (test stacks only: JupyterHub's SharedPasswordAuthenticator, "
        "secrets sharedPassword and sharedAdminPassword).",
    )
    github_client_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9.]{10,64}$", description="The GitHub OAuth app's client id."
    )
    admin_users: list[str] = Field([], description="GitHub logins with admin rights; they always pass.")
    require_dandi_user: bool = Field(
        True, description="Admit only users registered in one of the archives (admins always pass)."
    )
    archives: list[ArchiveConfig] = Field(
        [DANDI_ARCHIVE], min_length=1, description="The archives whose registered users may log in."
    )

    @field_validator("admin_users")
    @classmethod
    def _logins(cls, values: list[str]) -> list[str]:
        return distinct_matches(values, _GITHUB_LOGIN, "GitHub logins", "admin user")

    @field_validator("archives")
    @classmethod
    def _archives(cls, values: list[ArchiveConfig]) -> list[ArchiveConfig]:
        unique([a.name for a in values], "archive name")
        return values

    @model_validator(mode="after")
    def _client(self) -> AuthConfig:
        if self.type == "github" and not self.github_client_id:
            raise ValueError("githubClientId is required with type github (the OAuth app's client id)")
        return self
