"""KubeSpawner without a cluster: the real class, its Kubernetes client calls stubbed out, for what it
computes on its own (directory names, pod manifests). Used by the home-names command and the tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock

from kubespawner import KubeSpawner
from traitlets.config import Config


class OfflineUser:
    """The parts of a JupyterHub user that KubeSpawner reads while building names and pods."""

    def __init__(self, name: str, admin: bool = False, groups: Iterable[str] = ()) -> None:
        self.name = name
        self.groups = [SimpleNamespace(name=group) for group in groups]
        self.id = abs(hash(name)) % 10**6
        self.admin = admin
        self.url = f"/user/{name}/"
        self.server = None
        self.spawners: dict[str, Any] = {}


@contextmanager
def offline_kubespawner() -> Iterator[None]:
    """While active, KubeSpawner can be constructed without kubeconfig or an API server."""
    with (
        mock.patch("kubespawner.spawner.load_config"),
        mock.patch("kubespawner.spawner.shared_client", return_value=mock.MagicMock()),
    ):
        yield


def spawner(
    user_name: str,
    config: Config | None = None,
    cls: type[KubeSpawner] = KubeSpawner,
    groups: Iterable[str] = (),
    **kwargs: Any,
) -> KubeSpawner:
    """A spawner (KubeSpawner or the hub's subclass) for a user in these JupyterHub groups."""
    with offline_kubespawner():
        return cls(_mock=True, user=OfflineUser(user_name, groups=groups), config=config or Config(), **kwargs)


def expand(user_name: str, template: str) -> str:
    """A KubeSpawner template (`home/{username}`) for this login, as KubeSpawner expands it."""
    return spawner(user_name)._expand_user_properties(template)
