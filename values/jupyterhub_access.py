"""Who may use which profile: profiles limited to groups, and caps per group and profile.

This file runs inside the hub, as z2jh `hub.extraConfig` (where `c` is the hub's config); the Pulumi
program loads it into the Helm values. It is also an importable module, for its unit tests. It makes the
hub's spawner a KubeSpawner whose profile list is the user's own: the chart's `singleuser.profileList`
filtered by the user's JupyterHub groups (`hub.config.DandiKubeSpawner.profile_groups`), so the form
offers only those, and a server is started only with one of those (KubeSpawner validates the choice
against the same list). Before a server starts, each cap of the user's groups on its profile
(`group_caps`) is checked against the servers already running or starting; a stopped server no longer
counts. Other extraConfig files may add rules that narrow a user's menu further (`menu_rules`: the home
limits of values/home_limits.py).

Group folders: every server mounts the folders' directory read-only at /groups (the chart's values); the
servers of a group's members also get the group's folder read-write over it, at /groups/<group>, and the
group's gid (`group_folders`), from the user's groups at each start.

The spawner is built on a user's own home actions (values/home_actions.py, HomeActions); both raise
`Refused` (values/refused.py). The program mounts those two beside the hub's config, where z2jh puts the
import path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from home_actions import HomeActions
from kubernetes_asyncio.client.models import V1VolumeMount
from refused import Refused
from traitlets import Dict, List


def group_names(user: Any) -> set[str]:
    """The JupyterHub groups of a user (the hub's User wraps the database row and its groups)."""
    return {group.name for group in user.groups}


# z2jh's name for the static home volume (the EFS claim), and where the folders are in a server.
HOME_VOLUME, FOLDERS_PATH, FOLDERS_SUB_PATH = "home", "/groups", "groups"
# NFS's AUTH_SYS credential carries at most 16 supplementary gids (RFC 5531; the Linux client drops the rest).
NFS_GROUPS = 16


def describe(groups: Iterable[str]) -> str:
    names = sorted(groups)
    return ", ".join(names) if names else "no group"


# Profiles by group, caps ----------------------------------------------------------------------------------


class DandiKubeSpawner(HomeActions):
    """KubeSpawner with profiles limited to groups and caps per group and profile, and the home actions."""

    menu = List(
        Dict(),
        config=True,
        help="Every profile (the chart's profile list); each user is offered those their groups may use.",
    )
    profile_groups = Dict(
        config=True,
        help="Profile slug -> the groups whose members may use it; a profile not named is open to everyone.",
    )
    group_caps = Dict(
        config=True,
        help="Group -> {profile slug: the most servers of that profile its members run at once}.",
    )
    group_folders = Dict(
        config=True,
        help="Group -> the gid of its folder (groups/<group>): members' servers get the gid and the folder "
        "read-write at /groups/<group>.",
    )
    # Set when a start passes the checks (with no await in between, so two starts cannot both take the
    # last seat); a server holds its profile's seat from then until it stops.
    admitted_profile: str | None = None
    # Rules other extraConfig files add (values/home_limits.py), applied after the groups', each with:
    # `async prepare(spawner)` before the form and each start (it may ask other services), `narrow(spawner,
    # profiles)` the profiles the server's user may use now, `refusal(spawner, requested)` a message when
    # the choice is not allowed (else None), `admitted(spawner, slug)` as a start goes ahead, and
    # `stopped(spawner)` once the server stopped.
    menu_rules: ClassVar[list[Any]] = []
    # What the rules keep across stops and hub restarts (in the hub's database, through get_state).
    kept = Dict()

    async def prepare_rules(self) -> None:
        for rule in self.menu_rules:
            await rule.prepare(self)

    def offered(self) -> list[dict[str, Any]]:
        """The profiles this server's user may start now: their groups', narrowed by the rules."""
        profiles = self.profiles_for(self.user)
        for rule in self.menu_rules:
            profiles = rule.narrow(self, profiles)
        return profiles

    def profiles_for(self, user: Any) -> list[dict[str, Any]]:
        """The profiles this user may use (KubeSpawner's `profile_list` callable)."""
        mine = group_names(user)
        return [
            p for p in self.menu if p["slug"] not in self.profile_groups or mine & set(self.profile_groups[p["slug"]])
        ]

    def chosen_profile(self, user: Any, user_options: dict[str, Any]) -> str | None:
        """The slug of the profile a server of `user` with these options runs (the default when none was
        named), as KubeSpawner picks it; None when the choice is not one of the user's profiles."""
        profiles = self._get_initialized_profile_list(self.offered() if user is self.user else self.profiles_for(user))
        try:
            return str(self._get_profile(user_options.get("profile"), profiles)["slug"]) if profiles else None
        except ValueError:
            return None

    def profile_in_use(self, user: Any, spawner: Any) -> str | None:
        """The profile an active server holds: the one it was admitted with; a server not yet admitted
        (still starting, before its check) holds none; one from before a hub restart, its options'."""
        if not spawner.active:
            return None
        if isinstance(spawner, DandiKubeSpawner) and spawner.admitted_profile is not None:
            return spawner.admitted_profile
        if spawner.pending == "spawn":
            return None
        return self.chosen_profile(user, spawner.user_options or {})

    def servers_using(self, slug: str) -> Iterator[Any]:
        """The users of every other server running, starting or stopping with this profile."""
        users = getattr(self.user, "settings", {}).get("users") or {}
        for user in list(users.values()):
            for spawner in list(user.spawners.values()):
                if spawner is not self and self.profile_in_use(user, spawner) == slug:
                    yield user

    def refuse_unless_allowed(self) -> str | None:
        """The profile this server runs, refusing a choice that is not the user's with a message saying
        who may use it, and a profile whose cap in one of the user's groups is reached, naming who uses it."""
        requested = self.user_options.get("profile")
        for rule in self.menu_rules:
            message = rule.refusal(self, requested)
            if message:
                raise Refused(message)
        everything = {p["slug"]: p for p in [*self.menu, *self.offered()]}
        slug = self.chosen_profile(self.user, self.user_options)
        if slug is None:
            mine = describe(group_names(self.user))
            if requested in everything:
                allowed = describe(self.profile_groups.get(requested, []))
                raise Refused(
                    f"The profile {everything[requested]['display_name']!r} is only for members of {allowed}; "
                    f"{self.user.name} is in {mine}. An admin can add you to a group on the hub's admin page."
                )
            if not self.profiles_for(self.user):
                raise Refused(f"No profile is open to {self.user.name} (in {mine}); ask an admin for a group.")
            return None  # not a profile at all: KubeSpawner's own validation refuses it, naming the choices
        name = everything[slug]["display_name"]
        for group in sorted(group_names(self.user)):
            cap = self.group_caps.get(group, {}).get(slug)
            if cap is None:
                continue
            using = sorted(user.name for user in self.servers_using(slug) if group in group_names(user))
            if len(using) >= cap:
                who = ", ".join(using) if using else "nobody (the cap is 0)"
                raise Refused(
                    f"Group {group} may run at most {cap} {name!r} server(s) at once, and {len(using)} are in use "
                    f"by: {who}. Try again when one of them stops, or choose another profile."
                )
        return slug

    async def get_pod_manifest(self) -> Any:
        """KubeSpawner's pod, with the folders of the user's groups read-write and their gids."""
        pod = await super().get_pod_manifest()
        context = pod.spec.security_context or {}  # make_pod's camelCase dict (kubespawner/objects.py)
        own = {g for g in [context.get("fsGroup"), *context.get("supplementalGroups", [])] if g is not None}
        mine = sorted(g for g in group_names(self.user) if g in self.group_folders)
        room = max(NFS_GROUPS - len(own), 0)
        if len(mine) > room:
            self.log.warning(
                "%s is in %d groups with folders, NFS carries %d more gids: no write access to %s",
                self.user.name, len(mine), room, ", ".join(mine[room:]),
            )  # fmt: skip
            mine = mine[:room]
        if mine:
            gids = [self.group_folders[g] for g in mine]
            context["supplementalGroups"] = sorted({*context.get("supplementalGroups", []), *gids})
            pod.spec.security_context = context
            pod.spec.containers[0].volume_mounts += [  # make_pod puts the notebook first
                V1VolumeMount(name=HOME_VOLUME, mount_path=f"{FOLDERS_PATH}/{g}", sub_path=f"{FOLDERS_SUB_PATH}/{g}")
                for g in mine
            ]
        return pod

    def clear_state(self) -> None:
        """Called by the hub before each start and after each stop: a server holds no seat until admitted."""
        super().clear_state()
        self.admitted_profile = None

    async def get_options_form(self) -> Any:
        await self.prepare_rules()
        return await super().get_options_form()

    def run_post_stop_hook(self) -> Any:
        for rule in self.menu_rules:
            rule.stopped(self)
        return super().run_post_stop_hook()

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), **({"dandi": self.kept} if self.kept else {})}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.kept = dict(state.get("dandi") or {})

    async def load_user_options(self) -> None:
        self.admitted_profile = None
        try:
            await self.prepare_rules()
            self.admitted_profile = self.refuse_unless_allowed()
            await super().load_user_options()
        except Exception:
            # A refused start holds no seat and leaves no home action for a later start to carry out.
            self.admitted_profile = None
            self.forget_home_action()
            raise
        # The profile as started, for the hub's REST API (the admin report) and after a hub restart (kept in
        # the hub's database, which JupyterHub commits once start returns): the default is named too.
        self.user_options = {**self.user_options, "profile": self.admitted_profile}
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = self.user_options
        for rule in self.menu_rules:
            rule.admitted(self, self.admitted_profile)


def configure(config: Any) -> None:
    """Make the hub's spawner this one, offering each user their own profiles."""
    config.JupyterHub.spawner_class = DandiKubeSpawner
    config.DandiKubeSpawner.menu = list(config.KubeSpawner.get("profile_list") or [])
    config.KubeSpawner.profile_list = profile_list


def profile_list(spawner: DandiKubeSpawner) -> list[dict[str, Any]]:
    """KubeSpawner's `profile_list` callable: the profiles of the server's user."""
    return spawner.offered()


if "c" in globals():  # executed by the hub as extraConfig, where `c` is the hub's config object
    configure(c)  # type: ignore[name-defined]  # noqa: F821
