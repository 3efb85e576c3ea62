"""A stack file's config, changed and checked by the config model alone: for tests of the offline models
(start times, traffic) that need no run of the program."""

from __future__ import annotations

from typing import Any

from stackconfig.stack import StackConfig
from tests.conftest import changed_config

EXISTING_VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "publicSubnetIds": ["subnet-0aaaaaaa", "subnet-0bbbbbbb"],
    "privateSubnetIds": ["subnet-0ccccccc", "subnet-0ddddddd"],
}


def config_with(stack: str, set_: dict[str, Any] | None = None) -> StackConfig:
    raw = changed_config(stack, set_)
    sections = {key.split(":", 1)[1]: value for key, value in raw.items() if key.startswith("dandihub:")}
    return StackConfig.model_validate({"region": raw["aws:region"], **sections})
