"""The dandihub policy pack. Pulumi starts it with `--policy-pack policies`; the rules live in rules.py."""

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy
from rules import RULES

PolicyPack(
    name="dandihub",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name=rule.name, description=rule.description, validate=rule.validate) for rule in RULES
    ],
)
