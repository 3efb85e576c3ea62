"""The stack files as the Pulumi CLI reads them: Pulumi.yaml's defaults, then `Pulumi.<stack>.yaml`, with
encrypted values left as the CLI wrote them and offline stand-ins for the secrets (offline/engine.py passes
the result to the program)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "dandihub"

# Stand-ins for the Pulumi config secrets, so a stack can be planned without its encrypted values.
FAKE_SECRETS: Mapping[str, str] = {
    f"{PROJECT}:githubClientSecret": "offline-fake-github-client-secret",
    f"{PROJECT}:dandiApiToken": "offline-fake-dandi-api-token",
    f"{PROJECT}:sharedPassword": "offline-fake-shared-password",
    f"{PROJECT}:sharedAdminPassword": "offline-fake-shared-admin-password-of-32-chars-or-more",
    f"{PROJECT}:dockerHubAccessToken": "offline-fake-docker-hub-access-token",
}


def _config_string(value: Any) -> str:
    """A stack-file value as the engine hands it to the program: objects and lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _namespaced(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


class _CliYamlLoader(yaml.SafeLoader):
    """Reads a stack file as the Pulumi CLI does: go-yaml v3 hands a timestamp-like scalar to an untyped
    value as its text (gopkg.in/yaml.v3 decode.go, `reflect.Interface` with `yaml_TIMESTAMP_TAG`), so an
    unquoted `start: 2027-01-11` reaches the program as the string it wrote, not a date."""


_CliYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The stacks that have a `Pulumi.<stack>.yaml` file."""
    return sorted(p.name.split(".")[1] for p in project_dir.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, project_dir: Path = PROJECT_DIR, stack_file: Path | None = None) -> dict[str, Any]:
    """The config the engine would pass for `stack`: Pulumi.yaml defaults, then the stack file (by default
    `Pulumi.<stack>.yaml`). Encrypted values stay as the CLI wrote them, `{"secure": "v1:..."}`."""
    path = stack_file or project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}; stacks here: {', '.join(stacks(project_dir))}")
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    values = {
        _namespaced(k): v["default"]
        for k, v in (project.get("config") or {}).items()
        if isinstance(v, dict) and "default" in v
    }
    document = yaml.load(path.read_text(), Loader=_CliYamlLoader) or {}
    values.update({_namespaced(k): v for k, v in (document.get("config") or {}).items()})
    return values


def is_encrypted(value: Any) -> bool:
    """A value `pulumi config set --secret` wrote: `secure: <ciphertext>` (passphrase, KMS or Pulumi Cloud)."""
    return isinstance(value, dict) and set(value) == {"secure"}


def fake_secret(key: str) -> str:
    """The offline stand-in for a secret: the known fakes, or one long enough for any length check."""
    return FAKE_SECRETS.get(_namespaced(key), f"offline-fake-{key}-{'x' * 32}")
