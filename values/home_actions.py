"""A user's own home actions, the spawn form's "Your home directory" choices: move one's home to the archive
and start with an empty one, or bring the latest archive back. The hub only checks a request and hands it to
the pod's home-restore init container, which carries it out as the notebook's uid (values/home_moves.py).

The hub's spawner (values/jupyterhub_access.py, DandiKubeSpawner) is built on HomeActions. The program mounts
this file beside the hub's config (hub.extraFiles, /usr/local/etc/jupyterhub/), a folder z2jh's
jupyterhub_config.py puts on the import path.
"""

from __future__ import annotations

import datetime
import html
from typing import Any

from kubernetes_asyncio.client.models import V1EnvVar
from kubespawner import KubeSpawner
from refused import Refused
from traitlets import Callable, Unicode

# What the spawn form offers, in order (the first is the default).
HOME_CHOICES = {
    "keep": "Keep my home as it is",
    "archive": "Move my home to the archive and start with an empty one",
    "restore": "Bring back my latest archive (the files in my home now are archived first: a swap)",
}
WHO_ARCHIVED = {"self": "yours", "retention": "by the inactivity rule"}
HOME_CONFIRMS = {"archive": "move your home to the archive", "restore": "bring back your latest archive"}
# A request is carried out only within this time of its confirmation: options JupyterHub reuses for a later
# start (a REST API start without options) never repeat it.
HOME_REQUEST_TTL = datetime.timedelta(minutes=10)
# Passed to the home-restore init container (values/home_moves.py, ACTION_ENV and REQUEST_ENV).
HOME_ACTION_ENV, HOME_REQUEST_ENV = "HOME_ACTION", "HOME_REQUEST"
HOME_REQUEST_FORMAT = "%Y-%m-%dT%H%M%SZ"


class HomeActions(KubeSpawner):
    """The spawn form's home choices: move one's home to the archive and start with an empty one, or bring
    the latest archive back. The hub only checks the request (confirmed by typing one's login, no other
    server of the user running) and passes it to the pod's home-restore init container, which moves the
    files as the notebook's uid before anything mounts the home (values/home_moves.py,
    self_service); the hub mounts no home and moves nothing."""

    home_init_container = Unicode(
        "",
        config=True,
        help="The user pod's init container that carries out a home action; empty: the form offers none.",
    )
    home_archives_of = Callable(
        None,
        allow_none=True,
        config=True,
        help="spawner -> what the weekly report knew of the user's archives (count, newest, by, as_of), or None.",
    )
    # The action admitted for this start, and its request (the time it was confirmed, to the second).
    home_request: tuple[str, str] | None = None

    def home_choices_form(self) -> str:
        """The form's home section: the choices, what the report knew of the archives, the confirmation."""
        if not self.home_init_container:
            return ""
        known = self.home_archives_of(self) if self.home_archives_of else None
        archives = (
            f"The report of {known['as_of']} lists {known['count']} archive(s) of your home, the newest "
            f"<code>{html.escape(known['newest'])}</code> ({WHO_ARCHIVED[known['by']]}); "
            "one you made since is newer."
            if known
            else "The weekly report lists no archive of your home (one you made since it ran is there)."
        )
        login = html.escape(self.user.name)
        # One archive of one's own at a time (values/home_moves.py): with one, as far as the report knows, archiving
        # is not offered (one made since the report: the pod leaves the home as it is and records why).
        held = bool(known and known.get("own"))
        choices = "".join(
            f'<div class="form-check"><input class="form-check-input" type="radio" name="home-action" '
            f'id="home-{value}" value="{value}"{" checked" if value == "keep" else ""}'
            f"{' disabled' if held and value == 'archive' else ''}>"
            f'<label class="form-check-label" for="home-{value}">{label}</label></div>'
            for value, label in HOME_CHOICES.items()
        )
        one = (
            "You have an archive of your own already, and keep one at a time: bringing it back swaps it with "
            "your home (so you still hold one); to archive afresh, ask the hub's admins to remove the old one."
            if held
            else "You keep one archive of your own at a time (bringing one back swaps it with your home's files)."
        )
        return (
            '<fieldset class="home-actions mt-4"><legend>Your home directory</legend>'
            f"{choices}<p class='form-text'>Nothing is deleted: an archived home stays on the hub's file system "
            f"and can be brought back from here. {one} {archives}</p>"
            f'<label for="home-confirm" class="form-label">To archive or bring back, type your login '
            f"(<code>{login}</code>):</label>"
            '<input type="text" class="form-control" name="home-confirm" id="home-confirm" autocomplete="off">'
            "</fieldset>"
        )

    def _render_options_form(self, profile_list: list[dict[str, Any]]) -> str:
        return str(super()._render_options_form(profile_list)) + self.home_choices_form()

    def _options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        """KubeSpawner's options, and a home action (other than keep) with its confirmation and the time."""
        options = dict(super()._options_from_form({k: v for k, v in formdata.items() if not k.startswith("home-")}))
        action = formdata.get("home-action", ["keep"])[0]
        if action != "keep":
            options["home-action"] = action
            options["home-confirm"] = (formdata.get("home-confirm") or [""])[0].strip()
            options["home-requested"] = datetime.datetime.now(datetime.UTC).strftime(HOME_REQUEST_FORMAT)
        return options

    def options_from_query(self, query_data: dict[str, list[str]]) -> dict[str, Any]:
        """A start from a link (`GET /hub/spawn?...`, which JupyterHub's SpawnHandler turns into options with
        no XSRF check) takes no home action: any page could send one. Actions come from the posted form only."""
        return dict(super().options_from_query({k: v for k, v in query_data.items() if not k.startswith("home-")}))

    def forget_home_action(self) -> None:
        """Take the home action out of the options, here and in what the hub's database keeps of them for a
        later start (JupyterHub saves a start's options before the start runs)."""
        self.home_request = None
        self.user_options = {k: v for k, v in (self.user_options or {}).items() if not str(k).startswith("home-")}
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = self.user_options

    def admit_home_action(self) -> None:
        """Take the home action out of the options (it is never kept for a later start) and check it,
        refusing a wrong or missing confirmation, and a home another server of the user has in use."""
        options = self.user_options or {}
        action, confirm, requested = (options.get(f"home-{key}") for key in ("action", "confirm", "requested"))
        self.forget_home_action()
        if action in (None, "keep"):
            return
        try:
            stamp = datetime.datetime.strptime(str(requested), HOME_REQUEST_FORMAT).replace(tzinfo=datetime.UTC)
        except ValueError:
            stamp = None
        if (
            stamp is None
            or not datetime.timedelta(0) <= datetime.datetime.now(datetime.UTC) - stamp <= HOME_REQUEST_TTL
        ):
            # Options JupyterHub kept from an earlier start: never acted on, never in the way.
            self.log.warning("%s: home action %s of %s left alone (not confirmed just now)", self._log_name,
                             action, requested)  # fmt: skip
            return
        if action not in HOME_CONFIRMS:
            raise Refused(f"Unknown home action {action!r}; the choices are: {', '.join(HOME_CHOICES)}.")
        if not self.home_init_container:
            raise Refused("This hub offers no home actions.")
        if confirm != self.user.name:
            raise Refused(
                f"To {HOME_CONFIRMS[action]}, type your login ({self.user.name}) in the box under "
                "'Your home directory'. Nothing was changed."
            )
        busy = sorted(name or "default" for name, s in self.user.spawners.items() if s is not self and s.active)
        if busy:
            raise Refused(f"Your server(s) {', '.join(busy)} use the same home: stop them first. Nothing was changed.")
        self.home_request = (action, str(requested))

    async def load_user_options(self) -> None:
        self.admit_home_action()
        await super().load_user_options()

    async def get_pod_manifest(self) -> Any:
        """KubeSpawner's pod, with the admitted action handed to the home-restore init container."""
        pod = await super().get_pod_manifest()
        if self.home_request:
            action, request = self.home_request
            (init,) = [c for c in pod.spec.init_containers or [] if c.name == self.home_init_container]
            init.env = [*(init.env or []), V1EnvVar(name=HOME_ACTION_ENV, value=action),
                        V1EnvVar(name=HOME_REQUEST_ENV, value=request)]  # fmt: skip
        return pod

    def clear_state(self) -> None:
        super().clear_state()
        self.home_request = None
