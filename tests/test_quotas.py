"""The plan prints the EC2 vCPU quotas each stack needs at its groups' maxima, and how to request them."""

from __future__ import annotations

import botocore.session

import plan as plan_command
from offline import quotas
from offline.engine import Plan


def _by_code(plan: Plan) -> dict[str, int]:
    return {family.code: vcpus for family, vcpus in quotas.needed(plan.config).items()}


def test_staging_needs_g_and_vt_spot_vcpus_a_new_account_does_not_have(staging: Plan) -> None:
    """Core 3 x t4g.medium (2) + workshop 5 x m6i.2xlarge (8) on demand; user-small 10 x 8 and gpu 2 x
    g4dn.2xlarge (8) on spot. A new account has 0 vCPUs of G and VT: the GPU profile could never start."""
    assert _by_code(staging) == {"L-1216C47A": 46, "L-34B43A08": 80, "L-DB2E81BA": 0, "L-3819A6DF": 16}


def test_prod_counts_each_core_zone_and_each_groups_largest_type(prod: Plan) -> None:
    """Two core groups (one per zone) of max 2 x 2 vCPU, workshop 10 x 8; spot 50 x 8 + 50 x 32; gpu 10 x 8."""
    assert _by_code(prod) == {"L-1216C47A": 88, "L-34B43A08": 2000, "L-DB2E81BA": 80, "L-3819A6DF": 0}


def test_the_plan_prints_the_quotas_and_the_request_command(staging: Plan) -> None:
    """The command's flags are RequestServiceQuotaIncrease's members (botocore's service-quotas model)."""
    model = botocore.session.get_session().get_service_model("service-quotas")
    members = model.operation_model("RequestServiceQuotaIncrease").input_shape.members
    assert {"ServiceCode", "QuotaCode", "DesiredValue"} <= set(members)
    text = plan_command.render(staging)
    assert "     16 vCPU  L-3819A6DF  All G and VT Spot Instance Requests" in text
    assert "--service-code ec2 --quota-code <code> --desired-value <vCPU>" in text
