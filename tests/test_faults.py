"""The fault model: derived from the recorded resources, equal to the config's view (which the production
check uses), and flipped by the configuration changes that matter."""

from __future__ import annotations

import dataclasses

import pytest

import plan as plan_command
from offline import fault_table
from offline.engine import Plan
from stackconfig import faults
from tests.charts import of_kind, render
from tests.conftest import ROOT, plan_with


def by_id(found: list[faults.Fault]) -> dict[str, faults.Fault]:
    return {f.id: f for f in found}


def summary(found: list[faults.Fault]) -> list[tuple[str, str, float | None, tuple[str, ...]]]:
    return [(f.id, f.recovery, f.minutes, f.causes) for f in found]


def test_the_config_and_the_recorded_resources_give_the_same_table(plan: Plan) -> None:
    """The production check judges the config; the plan prints what the resources say. They agree."""
    assert summary(faults.faults(plan.config.layout())) == summary(faults.faults(fault_table.layout(plan)))


def test_prod_recovers_from_everything_but_the_accepted(prod: Plan) -> None:
    found = by_id(faults.faults(fault_table.layout(prod)))
    assert faults.unaccepted(list(found.values())) == []
    assert found["core-node-hub-az"].recovery == "automatic"
    assert found["core-node-other-az"].recovery == "automatic"
    assert found["az-lost-hub"].causes == ("hub-volume-zonal",)
    assert found["az-lost-other"].recovery == "users restart"
    assert "the other AZs' own NATs are unaffected" in found["nat-lost"].how
    assert {f.id for f in found.values() if f.recovery == "manual"} == {"az-lost-hub"}


def test_staging_shows_its_trade_offs(staging: Plan) -> None:
    found = by_id(faults.faults(fault_table.layout(staging)))
    assert found["core-node-hub-az"].recovery == "automatic"
    assert "core-node-other-az" not in found, "staging has one core node"
    assert found["az-lost-hub"].causes == ("hub-volume-zonal", "shared-nat", "no-core-elsewhere")
    assert "every AZ shares it" in found["nat-lost"].how


def test_one_multi_zone_core_group_makes_a_core_node_loss_manual(prod: Plan) -> None:
    """The layout the per-AZ core replaced: one group over every private subnet."""
    layout = fault_table.layout(prod)
    spanning = dataclasses.replace(layout, core_groups=(faults.CoreGroup("core", layout.zones, 2),))
    before = by_id(faults.faults(layout))["core-node-hub-az"]
    after = by_id(faults.faults(spanning))["core-node-hub-az"]
    assert (before.recovery, after.recovery) == ("automatic", "manual")
    assert after.causes == ("multi-zone-core-group",)


def test_a_single_nat_makes_an_az_loss_cut_the_other_azs_egress() -> None:
    two_cores = {"nodeGroups.core.zones": 2, "network.natGateways": "single"}
    shared = by_id(faults.faults(fault_table.layout(plan_with("staging", set_=two_cores))))
    own = by_id(
        faults.faults(
            fault_table.layout(plan_with("staging", set_={"nodeGroups.core.zones": 2, "network.natGateways": "perAz"}))
        )
    )
    assert "internet egress of nodes in us-east-2b (their NAT is in us-east-2a)" in shared["az-lost-hub"].stops
    assert "shared-nat" in shared["az-lost-hub"].causes
    assert own["az-lost-hub"].causes == ("hub-volume-zonal",)


def test_the_hub_volume_can_always_be_reattached_in_its_zone(plan: Plan) -> None:
    """The database volume binds where the hub first runs; the hub runs on core nodes only; every zone with
    core nodes has its own group keeping a node there, so a lost node comes back where the volume is."""
    storage_class = plan.one("kubernetes:storage.k8s.io/v1:StorageClass", "cluster-gp3").inputs
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    (hub,) = of_kind(render(plan.one("kubernetes:helm.sh/v3:Release", "hub-release")), "Deployment", "hub")
    terms = hub["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["core"]}]}
    ]
    layout = fault_table.layout(plan)
    for zone in layout.core_zones:
        assert [g for g in layout.core_groups if g.zones == (zone,) and g.min_size >= 1], zone


def test_the_accepted_causes_are_listed_in_the_readme_with_their_reasons() -> None:
    readme = (ROOT / "README.md").read_text()
    for cause, reason in faults.ACCEPTED.items():
        assert f"`{cause}`" in readme
        assert reason.split(";")[0] in readme.replace("\n", " ")


def test_every_timing_has_a_source() -> None:
    import yaml

    table = yaml.safe_load(faults.TIMINGS.read_text())
    assert table["checked"]
    assert all(row["minutes"] > 0 and row["source"] for row in table["timings"].values())


def test_plan_prints_the_fault_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_command.main(["prod", "--faults"]) == 0
    out = capsys.readouterr().out
    assert "Faults of prod" in out
    assert "recovery: manual (accepted: README, Faults)" in out


def test_the_runbook_tables_are_the_generated_ones() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    assert fault_table.runbook_section() in runbook, "run `python -m offline.fault_table` and commit docs/operations.md"
