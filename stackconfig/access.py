"""Who may use what: JupyterHub groups from config (and the archive groups the login gate fills), the
profiles each group may use, caps per group and profile, and the groups' folders on the shared file system."""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator

from stackconfig.home_limits import LimitsOverride
from stackconfig.types import ConfigModel, DnsLabel, distinct_matches

if TYPE_CHECKING:
    from stackconfig.hub import HubConfig
    from stackconfig.profiles import ProfileConfig

GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# The login gate records each archive that admitted a user as the group archive-<archive name>.
ARCHIVE_GROUP_PREFIX = "archive-"


def archive_group(archive_name: str) -> str:
    return f"{ARCHIVE_GROUP_PREFIX}{archive_name}"


# Group folders' gids: above the system range (below 1000), the users' group (100) and the notebook's and hub's
# own ids (1000), below the ranges Debian reserves (60000 and up; 65534 is nogroup).
FOLDER_GIDS = (2000, 59999)
# NFS's AUTH_SYS credential carries at most 16 supplementary gids (RFC 5531, authsys_parms; the Linux client
# sends the first 16 of the process's sorted groups, net/sunrpc/auth_unix.c, and drops the rest). A server's
# process has the users' group (fsGid 100) besides its folders' gids.
MAX_FOLDER_GROUPS = 15


class GroupFolderConfig(ConfigModel):
    """The group's folder, groups/<group>/ on the shared file system: its members write it (every server runs
    as uid 1000, so only this group id tells members apart); others see it read-only, or not at all."""

    gid: Annotated[int, Field(ge=FOLDER_GIDS[0], le=FOLDER_GIDS[1])] = Field(
        description=f"The folder's Unix group id, {FOLDER_GIDS[0]}-{FOLDER_GIDS[1]}, one per group; never reuse "
        "one (files keep it)."
    )
    visible_to_all: bool = Field(
        description="true: every user reads it (at /groups/<group>, read-only); false: only members see inside."
    )


class GroupConfig(ConfigModel):
    """A JupyterHub group. Config adds its members at each hub start (JupyterHub's load_groups only adds:
    jupyterhub/jupyterhub@97b3154 (5.5.0): jupyterhub/app.py init_groups); admins may add and remove
    members on the admin page."""

    members: list[str] = Field([], description="GitHub logins added to the group at each hub start.")
    caps: dict[DnsLabel, Annotated[int, Field(ge=0, le=1000)]] = Field(
        {}, description="Most servers of a profile (by slug) the group's members run at once."
    )
    home_limits: LimitsOverride | None = Field(
        None, description="Home limits of the group's members (a member of several gets the most generous)."
    )
    folder: GroupFolderConfig | None = Field(
        None, description="A folder its members write, at /groups/<group> in their servers. Default none."
    )

    @field_validator("members")
    @classmethod
    def _logins(cls, values: list[str]) -> list[str]:
        return distinct_matches(values, GITHUB_LOGIN, "GitHub logins", "member")


Audience = frozenset[str] | None  # the groups that may use a profile; None is everyone


def archive_groups(hub: HubConfig) -> list[str]:
    """The groups the login gate fills (none without the gate: nobody would fill them)."""
    gated = hub.auth.type == "github" and hub.auth.require_dandi_user
    return [archive_group(a.name) for a in hub.auth.archives] if gated else []


def known_groups(hub: HubConfig) -> list[str]:
    """Groups config declares, and the archive groups (declared or not; declaring one gives it caps)."""
    declared = [name for name in hub.groups if not name.startswith(ARCHIVE_GROUP_PREFIX)]
    return declared + archive_groups(hub)


def _union(a: Audience, b: Audience) -> Audience:
    return None if a is None or b is None else a | b


def audience(hub: HubConfig, profile: ProfileConfig, day: datetime.date) -> Audience:
    """Who may use the profile on `day`: its own groups (if it is always listed), plus, for each event of
    the profile running that day, the event's group (an event without a group: the profile's own)."""
    own: Audience = None if profile.groups is None else frozenset(profile.groups)
    found: Audience = own if profile.listed == "always" else frozenset()
    for event in hub.events:
        if event.profile == profile.slug and event.active(day):
            found = _union(found, own if event.group is None else frozenset({event.group}))
    return found


def profile_groups(hub: HubConfig, day: datetime.date) -> dict[str, list[str]]:
    """The hub's setting: each profile listed on `day` that not everyone may use, with its groups."""
    found = {p.slug: audience(hub, p, day) for p in hub.menu(day)}
    return {slug: sorted(groups) for slug, groups in found.items() if groups is not None}


def load_groups(hub: HubConfig) -> dict[str, dict[str, list[str]]]:
    """JupyterHub's load_groups: every group config names, archive groups included, with its members."""
    return {name: {"users": list(hub.groups[name].members) if name in hub.groups else []} for name in known_groups(hub)}


def group_folders(hub: HubConfig) -> dict[str, GroupFolderConfig]:
    """The groups with a folder, by name."""
    return {name: group.folder for name, group in hub.groups.items() if group.folder is not None}


def folder_problems(hub: HubConfig) -> list[tuple[str, str]]:
    """A gid used twice, and a member in more folder groups than NFS carries gids for."""
    problems = []
    owners: dict[int, str] = {}
    for name, folder in group_folders(hub).items():
        if folder.gid in owners:
            taken = f"{folder.gid} is group {owners[folder.gid]}'s gid already"
            problems.append((f"hub.groups.{name}.folder.gid", taken))
        owners.setdefault(folder.gid, name)
    memberships: dict[str, list[str]] = {}
    for name in group_folders(hub):
        for login in hub.groups[name].members:
            memberships.setdefault(login.lower(), []).append(name)
    for login, names in memberships.items():
        if len(names) > MAX_FOLDER_GROUPS:
            problems.append(
                (
                    f"hub.groups.{names[MAX_FOLDER_GROUPS]}.members",
                    f"{login} would be in {len(names)} groups with folders ({', '.join(names)}); NFS carries at "
                    f"most {MAX_FOLDER_GROUPS} folder gids per server",
                )
            )
    return problems


def group_caps(hub: HubConfig) -> dict[str, dict[str, int]]:
    return {name: dict(group.caps) for name, group in hub.groups.items() if group.caps}


def access_problems(hub: HubConfig) -> list[tuple[str, str]]:
    """Groups that do not exist, members the gate would overwrite, caps on profiles a group cannot use."""
    known = known_groups(hub)
    listing = ", ".join(known) or "none (declare groups in hub.groups)"
    problems = []

    def unknown(key: str, name: str) -> None:
        if name in known:
            return
        hint = ""
        if name.startswith(ARCHIVE_GROUP_PREFIX):
            hint = (
                "; archive groups are filled by the DANDI login gate (auth.type github, requireDandiUser) "
                "for the archives in hub.auth.archives"
            )
        problems.append((key, f"no group {name!r}{hint}; groups: {listing}"))

    for i, profile in enumerate(hub.profiles):
        for name in profile.groups or []:
            unknown(f"hub.profiles[{i}].groups", name)
    for i, event in enumerate(hub.events):
        if event.group is not None:
            unknown(f"hub.events[{i}].group", event.group)
    profiles = {p.slug: p for p in hub.profiles}
    for name, group in hub.groups.items():
        where = f"hub.groups.{name}"
        if name.startswith(ARCHIVE_GROUP_PREFIX):
            unknown(where, name)
            if group.members:
                problems.append(
                    (f"{where}.members", "the login gate sets an archive group's members at each login; list none")
                )
        for slug in group.caps:
            capped = profiles.get(slug)
            if capped is None:
                problems.append((f"{where}.caps.{slug}", f"no profile {slug!r}; profiles: {', '.join(profiles)}"))
                continue
            events = {e.group for e in hub.events if e.profile == slug}
            if not (capped.groups is None or name in capped.groups or name in events):
                problems.append(
                    (
                        f"{where}.caps.{slug}",
                        f"group {name!r} cannot use profile {slug!r} (its groups: {', '.join(capped.groups or [])}); "
                        "a cap on it would never apply",
                    )
                )
    return problems + folder_problems(hub)
