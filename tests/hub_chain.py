"""The hub container's own steps, offline: the chart's `jupyterhub_config.py` (with its `z2jh.py`) loaded
over the rendered hub Secret and ConfigMap, and user pods built by the real KubeSpawner from the result,
through the hub's spawn steps (options form, user options, the authenticator's pre-spawn hook, the
profile's overrides, `get_pod_manifest`)."""

from __future__ import annotations

import asyncio
import base64
import builtins
import importlib.metadata
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import traitlets
from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client import ApiClient
from traitlets.config import Config, PyFileConfigLoader

from offline.spawner import spawner
from tests.charts import Manifest, of_kind

HUB_ETC = "/usr/local/etc/jupyterhub/"
# What Kubernetes sets in the hub pod: its namespace, and the ports of the Services it talks to.
SERVICE_ENV = {"HUB_SERVICE_PORT": "8081", "PROXY_API_SERVICE_PORT": "8001"}


def _hub_files(manifests: list[Manifest], into: Path) -> dict[str, str]:
    """The hub pod's mounts: the ConfigMap at config/ (and its two .py files at the top), the Secret at secret/,
    and the Secret's extra files where the pod mounts them under /usr/local/etc/jupyterhub/. Returns the
    pod's plain environment variables."""
    (configmap,) = of_kind(manifests, "ConfigMap", "hub")
    (secret,) = of_kind(manifests, "Secret", "hub")
    (deployment,) = of_kind(manifests, "Deployment", "hub")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (into / "config").mkdir(parents=True)
    (into / "secret").mkdir()
    for key, text in configmap["data"].items():
        (into / "config" / key).write_text(text)
    for key in ("jupyterhub_config.py", "z2jh.py"):
        (into / key).write_text(configmap["data"][key])
    for key, text in (secret.get("stringData") or {}).items():
        (into / "secret" / key).write_text(text)
    for key, encoded in (secret.get("data") or {}).items():
        (into / "secret" / key).write_bytes(base64.b64decode(encoded))
    for mount in container["volumeMounts"]:
        if mount["name"] == "files" and mount["mountPath"].startswith(HUB_ETC):
            target = into / mount["mountPath"][len(HUB_ETC) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(secret["stringData"][mount["subPath"]])
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@contextmanager
def _hub_filesystem(root: Path, namespace: str, env: dict[str, str]) -> Iterator[None]:
    """Paths under /usr/local/etc/jupyterhub/ read from `root`, and the hub pod's environment."""
    real_open, real_exists = builtins.open, os.path.exists

    def moved(path: Any) -> Any:
        name = os.fspath(path) if isinstance(path, str | os.PathLike) else path
        return str(root / name[len(HUB_ETC) :]) if isinstance(name, str) and name.startswith(HUB_ETC) else path

    environment = {**env, **SERVICE_ENV, "POD_NAMESPACE": namespace}
    with (
        mock.patch.object(builtins, "open", lambda path, *a, **k: real_open(moved(path), *a, **k)),
        mock.patch.object(os.path, "exists", lambda path: real_exists(moved(path))),
        mock.patch.dict(os.environ, environment),
    ):
        yield


def load_hub_config(manifests: list[Manifest], workdir: Path, namespace: str) -> Config:
    """The Config the hub container builds from the rendered chart, as JupyterHub loads its config file."""
    env = _hub_files(manifests, workdir)
    sys.modules.pop("z2jh", None)  # z2jh caches what it read; each load starts afresh
    with _hub_filesystem(workdir, namespace, env):
        config = PyFileConfigLoader("jupyterhub_config.py", path=str(workdir)).load_config()
    sys.modules.pop("z2jh", None)
    sys.path[:] = [p for p in sys.path if p != str(workdir)]
    return config


def configurable_classes(config: Config) -> dict[str, type[traitlets.config.Configurable]]:
    """The classes the hub builds, by the section name config uses for them."""
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
    from jupyterhub.crypto import CryptKeeper
    from jupyterhub.proxy import ConfigurableHTTPProxy, Proxy
    from jupyterhub.spawner import Spawner
    from kubespawner import KubeSpawner
    from oauthenticator.github import GitHubOAuthenticator
    from oauthenticator.oauth2 import OAuthenticator

    classes: list[type] = [JupyterHub, Authenticator, SharedPasswordAuthenticator, OAuthenticator, GitHubOAuthenticator,
                           Spawner, KubeSpawner, Proxy, ConfigurableHTTPProxy, CryptKeeper]  # fmt: skip
    classes += [authenticator_class(config), spawner_class(config)]
    return {cls.__name__: cls for cls in classes}


def unrecognised_settings(config: Config) -> list[str]:
    """Settings traitlets would warn about and ignore: unknown sections, or keys that are not traits."""
    classes = configurable_classes(config)
    found = []
    for section, settings in config.items():
        cls = classes.get(section)
        if cls is None:
            found.append(f"{section} (no such class)")
            continue
        traits = cls.class_traits(config=True)
        found += [f"{section}.{key}" for key in settings if key not in traits]
    return found


def authenticator_class(config: Config) -> type:
    """The class the hub would build: a class object (set by extraConfig) or an entry-point name."""
    cls = config.JupyterHub.authenticator_class
    if isinstance(cls, str):
        (entry,) = importlib.metadata.entry_points(group="jupyterhub.authenticators", name=cls)
        cls = entry.load()
    return cls


def spawner_class(config: Config) -> type:
    """The spawner the hub would build: the access extraConfig's class (z2jh names KubeSpawner by its path)."""
    cls = config.JupyterHub.spawner_class
    if isinstance(cls, str):
        from kubespawner import KubeSpawner

        assert cls == "kubespawner.KubeSpawner", cls
        return KubeSpawner
    return cls


def authenticator(config: Config) -> Any:
    return authenticator_class(config)(config=config)


def user_pod(
    config: Config,
    login: str,
    formdata: dict[str, list[str]] | None,
    auth_state: dict[str, Any] | None = None,
    groups: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The pod KubeSpawner would create for `login` (in these JupyterHub groups) choosing `formdata`
    (None: a spawn with no choice)."""

    async def spawn() -> dict[str, Any]:
        server = spawner(login, config, spawner_class(config), groups)
        form = await server.get_options_form()  # JupyterHub's own call, which evaluates a callable form
        if formdata is not None:
            # The menu offers what is chosen (a free-form unlisted image is typed, not offered).
            chosen = [v[0] for k, v in formdata.items() if not k.endswith("--unlisted-choice")]
            assert isinstance(form, str) and all(f'value="{v}"' in form for v in chosen), formdata
        server.user_options = server.options_from_form(formdata) if formdata is not None else {}
        await server.load_user_options()

        async def get_auth_state() -> dict[str, Any] | None:
            return auth_state

        hub_user = SimpleNamespace(name=login, get_auth_state=get_auth_state)
        # As the hub calls it: the hook may be a coroutine or a plain method.
        await maybe_future(authenticator(config).pre_spawn_start(hub_user, server))
        pod = await server.get_pod_manifest()
        async with ApiClient() as client:
            return client.sanitize_for_serialization(pod)

    return asyncio.run(spawn())
