"""Cost-allocation tags, put on every AWS resource once through the AWS provider's default tags."""

from __future__ import annotations

from stackconfig.stack import StackConfig


def cost_tags(config: StackConfig, project: str, stack: str) -> dict[str, str]:
    return {
        "Project": project,
        "Stack": stack,
        "Owner": config.cost_tags.owner,
        "CostCenter": config.cost_tags.cost_center,
        "ManagedBy": "pulumi",
    }
