"""Reading the stack config once: every `dandihub:` key, checked, plus the secrets as Outputs."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from stackconfig.auth import DANDI_ARCHIVE, archive_token_key
from stackconfig.stack import StackConfig
from stackconfig.types import model_in

PROJECT = "dandihub"


@dataclass(frozen=True)
class SecretSpec:
    key: str
    purpose: str
    min_length: int = 1


GITHUB_CLIENT_SECRET = SecretSpec("githubClientSecret", "the GitHub OAuth app's client secret")
# JupyterHub's SharedPasswordAuthenticator refuses shorter passwords, and the two being equal; checked here
# so a bad one fails before anything is built, not when the hub starts.
SHARED_PASSWORD = SecretSpec("sharedPassword", "the password every non-admin user logs in with", 8)
SHARED_ADMIN_PASSWORD = SecretSpec("sharedAdminPassword", "the password the admin users log in with", 32)
# ECR's Docker Hub cache logs in with it (hub.dockerHubMirror); the program stores it in Secrets Manager.
DOCKER_HUB_ACCESS_TOKEN = SecretSpec(
    "dockerHubAccessToken", "the Docker Hub access token ECR's pull-through cache uses"
)
SECRET_SPECS = (GITHUB_CLIENT_SECRET, SHARED_PASSWORD, SHARED_ADMIN_PASSWORD, DOCKER_HUB_ACCESS_TOKEN)
# Each archive's API token (hub.auth.archives): `<name>ApiToken`, e.g. dandiApiToken.
_ARCHIVE_TOKEN = re.compile(r"^[a-z][a-z0-9]{1,30}ApiToken$")


def archive_token(name: str, display_name: str) -> SecretSpec:
    return SecretSpec(
        archive_token_key(name), f"an API token of the {display_name} archive, to check that users are registered"
    )


class ConfigError(pulumi.RunError):
    """A stack config that cannot be deployed. RunError: Pulumi prints the message, not a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"The stack config has {count}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Secrets:
    """The secret config values, kept as secret Outputs; None where this stack does not need them."""

    github_client_secret: pulumi.Output[str] | None
    shared_password: pulumi.Output[str] | None
    shared_admin_password: pulumi.Output[str] | None
    # By archive name (hub.auth.archives), when the archive gate is on.
    archive_tokens: dict[str, pulumi.Output[str]]
    docker_hub_access_token: pulumi.Output[str] | None = None


def _all_config() -> dict[str, Any]:
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def _secret_keys() -> set[str]:
    return set(runtime_config._SECRET_KEYS.get()) | set(runtime_config.get_config_secret_keys_env())


def _key_path(loc: tuple[Any, ...]) -> str:
    head, *rest = loc
    path = "aws:region" if head == "region" else f"{PROJECT}:{head}"
    for part in rest:
        if part == "[key]":
            path += " (key)"
        elif isinstance(part, int):
            path += f"[{part}]"
        elif not (isinstance(part, str) and part.startswith(("function-", "literal["))):
            path += f".{part}"
    return path


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose keys sit at `loc`, to list what is allowed there."""
    model: type[BaseModel] | None = StackConfig
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if part in (f.alias, n)), None)
        if field is not None:  # otherwise a mapping key, such as a node group's name
            model = model_in(field.annotation)
    return model


def _describe(error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    path = _key_path(loc)
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = [f.alias or n for n, f in model.model_fields.items()] if model else []
        if model is StackConfig:
            known = [k for k in known if k != "region"] + [s.key for s in SECRET_SPECS]
            known.append(archive_token_key(DANDI_ARCHIVE.name))
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        return f"{path}: unknown key{hint} Known keys here: {', '.join(known)}"
    if error["type"] == "missing":
        return f"{path}: required, but not set"
    message = error["msg"].removeprefix("Value error, ")
    shown = error.get("input")
    if isinstance(shown, dict | list) or message.startswith(repr(shown)):
        return f"{path}: {message}"
    return f"{path}: {message} (got {shown!r})"


def _raw_sections(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The `dandihub:` keys as Python values (objects arrive as JSON text), plus aws:region."""
    secret_names = {f"{PROJECT}:{s.key}" for s in SECRET_SPECS}
    raw: dict[str, Any] = {}
    problems = []
    if "aws:region" in values:
        raw["region"] = values["aws:region"]
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT or key in secret_names or _ARCHIVE_TOKEN.match(name):
            continue
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                problems.append(f"{key}: not valid JSON/YAML structure ({error})")
                continue
        raw[name] = value
    return raw, problems


def load(stack: str | None = None) -> tuple[StackConfig, Secrets]:
    """Read and check the whole stack config. Raises ConfigError listing every problem found."""
    stack = stack or pulumi.get_stack()
    values = _all_config()
    raw, problems = _raw_sections(values)
    config: StackConfig | None = None
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as error:
        problems += [_describe(e) for e in error.errors()]
    if config is not None:
        problems += [f"{_key_path(tuple(path.split('.')))}: {message}" for path, message in config.problems()]
        if stack == "prod" and not config.production:
            problems.append(f"{PROJECT}:production: the prod stack must set production: true")
    needed = _needed_secrets(_section(raw, "hub", "auth"), _section(raw, "hub", "dockerHubMirror"))
    secret_keys = _secret_keys()
    for spec in needed:
        full = f"{PROJECT}:{spec.key}"
        if values.get(full) in (None, ""):
            problems.append(
                f"{full}: missing secret ({spec.purpose}); set it with `pulumi config set --secret {full} <value>`"
            )
        elif full not in secret_keys:
            problems.append(
                f"{full}: stored in plain text; store it encrypted with `pulumi config set --secret {full} <value>`"
            )
        elif len(str(values[full])) < spec.min_length:
            problems.append(
                f"{full}: {len(str(values[full]))} characters; {spec.purpose} needs at least {spec.min_length}"
            )
    if SHARED_PASSWORD in needed and values.get(f"{PROJECT}:{SHARED_PASSWORD.key}") == values.get(
        f"{PROJECT}:{SHARED_ADMIN_PASSWORD.key}"
    ):
        problems.append(f"{PROJECT}:{SHARED_ADMIN_PASSWORD.key}: must differ from {PROJECT}:{SHARED_PASSWORD.key}")
    # A preview (and the offline plan) warns about the repository's stand-ins; `pulumi up` refuses them,
    # so a stack cannot be deployed with another account's certificate or a made-up OAuth app.
    deploying = config is not None and not pulumi.runtime.is_dry_run()
    if deploying and config is not None:
        problems += [
            f"{PROJECT}:{key}: still the placeholder from the repository; `pulumi up` needs the real value "
            "(README, First deploy)"
            for key in placeholders(config)
        ]
    if problems or config is None:
        raise ConfigError(problems)
    for path, message in config.warnings():
        pulumi.log.warn(f"{_key_path(tuple(path.split('.')))}: {message}")
    for key in placeholders(config):
        pulumi.log.warn(
            f"{PROJECT}:{key} is still the placeholder from the repository; set the real value "
            "before `pulumi up` (README, First deploy), which refuses it"
        )
    secret_config = pulumi.Config(PROJECT)

    def secret(spec: SecretSpec) -> pulumi.Output[str] | None:
        return secret_config.require_secret(spec.key) if spec in needed else None

    tokens = {
        archive.name: secret_config.require_secret(archive.token_key)
        for archive in config.hub.auth.archives
        if archive_token(archive.name, archive.display_name) in needed
    }
    return config, Secrets(
        secret(GITHUB_CLIENT_SECRET),
        secret(SHARED_PASSWORD),
        secret(SHARED_ADMIN_PASSWORD),
        tokens,
        secret(DOCKER_HUB_ACCESS_TOKEN),
    )


# The committed stack files carry these recognisable stand-ins for account-specific values.
_PLACEHOLDER_CERTIFICATE = "/00000000-0000-0000-0000-000000000000"
_PLACEHOLDER_CLIENT_ID = "Iv1.0000000000"
_PLACEHOLDER_EMAIL_DOMAIN = ".invalid"
_PLACEHOLDER_DIGEST = "@sha256:" + "0" * 64


def placeholders(config: StackConfig) -> list[str]:
    """Settings that still hold the repository's stand-in values."""
    found = []
    if config.hub.certificate_arn.endswith(_PLACEHOLDER_CERTIFICATE):
        found.append("hub.certificateArn")
    if (config.hub.auth.github_client_id or "").startswith(_PLACEHOLDER_CLIENT_ID):
        found.append("hub.auth.githubClientId")
    if any(e.endswith(_PLACEHOLDER_EMAIL_DOMAIN) for e in config.monitoring.alerts.emails):
        found.append("monitoring.alerts.emails")
    found += [
        f"hub.images.{key}.image (run `python -m offline.image_digests --write`)"
        for key, image in config.hub.images.items()
        if image.image.endswith(_PLACEHOLDER_DIGEST)
    ]
    return found


def needed_secrets(config: StackConfig) -> list[SecretSpec]:
    """The secrets this checked config calls for (the plan lists each as set or missing)."""
    return _needed_secrets(
        config.hub.auth.model_dump(by_alias=True), config.hub.docker_hub_mirror.model_dump(by_alias=True)
    )


def _section(raw: dict[str, Any], *path: str) -> dict[str, Any]:
    """A nested object of the unchecked config, or {} where it is missing or not an object."""
    node: Any = raw
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _needed_secrets(auth: dict[str, Any], mirror: dict[str, Any]) -> list[SecretSpec]:
    """Which secrets the auth and mirror settings call for (works on unchecked input, so all problems show
    at once)."""
    needed = []
    kind = auth.get("type", "github")
    if kind == "github":
        needed.append(GITHUB_CLIENT_SECRET)
        if auth.get("requireDandiUser", True) not in (False, "false"):
            archives = auth.get("archives", [DANDI_ARCHIVE.model_dump(by_alias=True)])
            needed += [
                archive_token(a["name"], str(a.get("displayName", a["name"])))
                for a in (archives if isinstance(archives, list) else [])
                if isinstance(a, dict) and _ARCHIVE_TOKEN.match(f"{a.get('name')}ApiToken")
            ]
    if kind == "shared-password":
        needed += [SHARED_PASSWORD, SHARED_ADMIN_PASSWORD]
    if mirror.get("enabled") in (True, "true"):
        needed.append(DOCKER_HUB_ACCESS_TOKEN)
    return needed
