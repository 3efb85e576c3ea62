"""The offline engine: runs `__main__.py` under Pulumi's mocks and records what it registers.

The tests and the `plan` command both use it. It needs no Pulumi CLI, no AWS credentials and no
network. The facts it relies on are in the project's notes on Pulumi mocks; the non-obvious ones are
repeated next to the code that depends on them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
from google.protobuf import empty_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2

from offline.fake_cloud import FakeCloud
from offline.stack_files import (
    FAKE_SECRETS,
    PROJECT,
    PROJECT_DIR,
    _config_string,
    _namespaced,
    fake_secret,
    is_encrypted,
    read_stack_config,
)

RECURSION_LIMIT = 3000
_SECRET_SIG = rpc._special_secret_sig
_SIG_KEY = rpc._special_sig_key


@dataclass(frozen=True)
class RecordedResource:
    """One registration the program made, with its inputs and resource options."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    custom: bool
    parent: str
    provider: str
    providers: dict[str, str]
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    import_id: str
    ignore_changes: list[str]
    secret_inputs: frozenset[str] = field(default_factory=frozenset)
    read_id: str = ""
    # The id the fake cloud gave it (what other resources' inputs refer to).
    id: str = ""

    @property
    def provider_urn(self) -> str:
        """The provider reference without its `::id` suffix."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class Plan:
    """Everything one offline run of a stack registered."""

    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]
    # The program's own checked config (components.config.StackConfig); None if it failed before.
    config: Any = None
    warnings: list[str] = field(default_factory=list)
    # Secrets the stack file does not hold, given fake values so the plan runs (`pulumi up` would refuse).
    faked_secrets: frozenset[str] = frozenset()

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> RecordedResource:
        """The single resource of this type (whose name ends with `name`, if given)."""
        found = [r for r in self.of_type(type_) if name is None or r.name.endswith(name)]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise LookupError(f"expected one {type_} named *{name}, found {len(found)} among {names}")
        return found[0]

    def by_urn(self, urn: str) -> RecordedResource:
        return next(r for r in self.resources if r.urn == urn)

    def children_of(self, parent: RecordedResource) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def descendants_of(self, ancestor: RecordedResource) -> Iterator[RecordedResource]:
        for child in self.children_of(ancestor):
            yield child
            yield from self.descendants_of(child)


def _holds_secret(value: Any) -> bool:
    """Whether a wire value holds a secret anywhere inside it."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return True
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def _raw(struct: Any) -> dict[str, Any]:
    """A protobuf Struct as plain Python, secret markers kept."""
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(struct) if struct is not None else {}


def _record(request: Any, urn: str, properties: Any, read_id: str = "", id_: str = "") -> RecordedResource:
    raw = _raw(properties)
    return RecordedResource(
        type=request.type,
        name=request.name,
        urn=urn,
        inputs=rpc.deserialize_properties_unwrap_secrets(properties)[0],
        custom=bool(getattr(request, "custom", True)),
        parent=request.parent,
        provider=request.provider,
        providers=dict(getattr(request, "providers", {})),
        dependencies=list(request.dependencies),
        protect=bool(getattr(request, "protect", False)),
        retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
        import_id=getattr(request, "importId", ""),
        ignore_changes=list(getattr(request, "ignoreChanges", [])),
        secret_inputs=frozenset(k for k, v in raw.items() if _holds_secret(v)),
        read_id=read_id,
        id=id_ or read_id,
    )


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also keeps each registration's options and the stack's exports."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.recorded.append(_record(request, response.urn, request.object, id_=response.id))
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().ReadResource(request)
        self.recorded.append(_record(request, response.urn, request.properties, read_id=request.id))
        return response

    # Resource references into remote components (a Cluster passed to a ManagedNodeGroup) hang or
    # cross event loops under the stock monitor; reported as unsupported they travel as URN strings.
    def SupportsFeature(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        has_support = request.id not in ("outputValues", "resourceReferences")
        return type("SupportsFeatureResponse", (object,), {"hasSupport": has_support})

    def GetDeploymentInfo(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        info = super().GetDeploymentInfo(request)
        kept = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=kept)

    def SignalAndWaitForShutdown(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        return empty_pb2.Empty()


class _WarningLog(logging.Handler):
    """Keeps what the program logs as warnings (`pulumi.log.warn`), which the CLI would show."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.Logger("dandihub-offline")
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs `run_in_executor` work at once, on the loop's own thread, so no second loop appears."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


class ProgramError(Exception):
    """The program failed; `plan` holds what it had registered by then (for a config error: nothing)."""

    def __init__(self, plan: Plan, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.plan = plan


def run_stack(
    stack: str,
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    project_dir: Path = PROJECT_DIR,
    preview: bool = True,
) -> Plan:
    """Run the program for `stack` offline and return what it registered.

    `config` replaces the stack file's config (defaults to `Pulumi.<stack>.yaml`). A secret encrypted in
    it counts as set and gets a fake value (the plan cannot decrypt it). `secrets` are further secret
    values; by default every secret the program knows is faked, and those the stack file does not hold
    are listed in `Plan.faked_secrets`. `preview=False` runs it as `pulumi up` would (stricter: no
    placeholders).
    """
    # The inline executor makes Pulumi's mocks pump the event loop inside a registration (mocks.py,
    # _sync_await), so the Python stack grows with the number of resources in flight; the real engine runs
    # those calls on threads. Python's default limit of 1,000 frames is too few for this program.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    values = dict(read_stack_config(stack, project_dir) if config is None else config)
    encrypted = {_namespaced(k) for k, v in values.items() if is_encrypted(v)}
    values = {k: v for k, v in values.items() if _namespaced(k) not in encrypted}
    given = {_namespaced(k): v for k, v in (FAKE_SECRETS if secrets is None else secrets).items()}
    faked = frozenset(given) - encrypted if secrets is None else frozenset()
    secret_values = {**{k: fake_secret(k) for k in encrypted}, **given}
    values.update(secret_values)
    return contextvars.Context().run(
        _run_isolated,
        stack,
        {k: _config_string(v) for k, v in values.items()},
        list(secret_values),
        project_dir,
        faked,
        preview,
    )


def _run_isolated(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    project_dir: Path,
    faked: frozenset[str],
    preview: bool,
) -> Plan:
    loop = asyncio.new_event_loop()
    # Pulumi's own SDK tests run executor work inline; otherwise remote components cross loops.
    loop.set_default_executor(_InlineExecutor())
    asyncio.set_event_loop(loop)
    try:
        cloud = FakeCloud(region=config.get("aws:region", "us-east-2"))
        monitor = _RecordingMonitor(cloud)
        cloud.attach(monitor)
        pulumi.runtime.set_all_config(config, secret_keys)
        warnings = _WarningLog()
        pulumi.runtime.set_mocks(
            cloud, project=PROJECT, stack=stack, preview=preview, monitor=monitor, logger=warnings.logger
        )
        outputs: dict[str, Any] = {}
        secret_outputs: set[str] = set()
        program: dict[str, Any] = {}

        @pulumi.runtime.test
        def run() -> pulumi.Output[Any]:
            program.update(runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__"))
            # The mock root stack registered its outputs before the program ran: read them here.
            exported = pulumi.runtime.settings.get_root_resource().outputs  # type: ignore[union-attr]
            return pulumi.Output.all(*[_collect(k, v, outputs, secret_outputs) for k, v in exported.items()])

        try:
            run()
        except Exception as error:
            raise ProgramError(Plan(stack, monitor.recorded, outputs, frozenset()), error) from error
        return Plan(
            stack,
            monitor.recorded,
            outputs,
            frozenset(secret_outputs),
            program.get("config"),
            warnings.messages,
            faked,
        )
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def _collect(key: str, value: Any, into: dict[str, Any], secret: set[str]) -> pulumi.Output[None]:
    output = pulumi.Output.from_input(value)

    def keep(pair: list[Any]) -> None:
        into[key] = pair[0]
        if pair[1]:
            secret.add(key)

    is_secret = pulumi.Output.from_input(cast("pulumi.Output[bool]", output.is_secret()))
    return pulumi.Output.all(output, is_secret).apply(lambda pair: keep(pair))
