"""Building blocks shared by the stack config models: strict base model and checked string types."""

from __future__ import annotations

import ipaddress
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from stackconfig import aws_catalog


class ConfigModel(BaseModel):
    """Stack-file keys are camelCase; a key the model does not know is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_K8S_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if prefix and not all(_DNS_LABEL.match(part) for part in prefix.split(".")):
        raise ValueError(f"{value!r}: the prefix {prefix!r} must be a DNS subdomain")
    if len(prefix) > 253 or not _K8S_NAME.match(name):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes label key: [prefix/]name, the name at most 63 "
            "characters of letters, digits, '-', '_' and '.', starting and ending alphanumeric"
        )
    return value


def _label_value(value: str) -> str:
    if value and not _K8S_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes label value: at most 63 characters of letters, "
            "digits, '-', '_' and '.', starting and ending alphanumeric"
        )
    return value


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_DNS_LABEL.match(p) for p in labels):
        raise ValueError(f"{value!r} is not a fully qualified lowercase hostname (like hub.example.org)")
    return value


def aws_value(allowed: Callable[[], tuple[str, ...]], what: str) -> Any:
    """A string type that must be one of an AWS API model's values (read when first checked)."""
    return Annotated[str, AfterValidator(lambda value: aws_catalog.check_in(value, allowed(), what))]


def _cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block ({error})") from None
    return str(network)


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
Hostname = Annotated[str, AfterValidator(_hostname)]
InstanceType = aws_value(aws_catalog.instance_types, "EC2 instance type")
CapacityType = aws_value(aws_catalog.capacity_types, "EKS capacity type")
AmiType = aws_value(aws_catalog.ami_types, "EKS AMI type")
TaintEffect = aws_value(aws_catalog.taint_effects, "EKS taint effect")
LogType = aws_value(aws_catalog.log_types, "EKS control-plane log type")
EfsPerformanceMode = aws_value(aws_catalog.efs_performance_modes, "EFS performance mode")
EfsThroughputMode = aws_value(aws_catalog.efs_throughput_modes, "EFS throughput mode")
SupportType = aws_value(aws_catalog.support_types, "EKS upgrade policy support type")
Region = aws_value(aws_catalog.regions, "AWS region with EKS")
Cidr = Annotated[str, AfterValidator(_cidr)]


def unique(values: list, what: str) -> None:
    """Raise when a list names the same thing twice."""
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{what} listed more than once: {', '.join(map(str, dict.fromkeys(seen)))}")


def distinct_matches(values: list[str], pattern: re.Pattern[str], kind: str, one: str) -> list[str]:
    """Check a list of names: each matches `pattern` (else "not <kind>: ..."), none twice ignoring case."""
    bad = [v for v in values if not pattern.match(v)]
    if bad:
        raise ValueError(f"not {kind}: {', '.join(bad)}")
    unique([v.lower() for v in values], one)
    return values


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The config model inside an annotation: X, X | None, list[X] or dict[K, X]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(typing.get_args(annotation)):
        found = model_in(arg)
        if found is not None:
            return found
    return None
