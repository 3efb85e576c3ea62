"""The fault model's view of a plan: the layout read from the recorded resources (subnets and their AZs,
node groups' subnets, route tables and NAT gateways, mount targets), not from the config."""

from __future__ import annotations

from pathlib import Path

from offline.engine import Plan
from offline.generated import replace_section
from stackconfig import faults


def layout(plan: Plan) -> faults.Layout:
    subnets = {s.id: s for s in plan.of_type("aws:ec2/subnet:Subnet")}
    zone_of = {i: s.inputs["availabilityZone"] for i, s in subnets.items()}
    private = sorted(zone_of[i] for i, s in subnets.items() if "kubernetes.io/role/internal-elb" in s.inputs["tags"])
    public = sorted(zone_of[i] for i, s in subnets.items() if "kubernetes.io/role/elb" in s.inputs["tags"])
    if not subnets:  # an existing VPC: its subnets stand for their zones
        cluster = plan.one("eks:index:Cluster").inputs
        zone_of = {i: i for i in cluster["privateSubnetIds"] + cluster["publicSubnetIds"]}
        private, public = list(cluster["privateSubnetIds"]), list(cluster["publicSubnetIds"])
    core, spot = [], []
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        inputs = group.inputs
        name = group.name.removeprefix("cluster-")
        if inputs["labels"]["hub.jupyter.org/node-purpose"] == "core":
            zones = tuple(zone_of[i] for i in inputs["subnetIds"])
            core.append(faults.CoreGroup(name, zones, int(inputs["scalingConfig"]["minSize"])))
        elif inputs["capacityType"] == "SPOT":
            spot.append(name)
    return faults.Layout(
        tuple(private),
        tuple(sorted(core, key=lambda g: g.zones)),
        _nat_of(plan, zone_of, private),
        tuple(public),
        tuple(sorted(zone_of[m.inputs["subnetId"]] for m in plan.of_type("aws:efs/mountTarget:MountTarget"))),
        tuple(sorted(spot)),
        hub_volume_zonal=plan.one("kubernetes:storage.k8s.io/v1:StorageClass", "cluster-gp3").inputs["provisioner"]
        == "ebs.csi.aws.com",
        nat_kind="instance" if plan.of_type("aws:ec2/instance:Instance") else "gateway",
    )


def _nat_of(plan: Plan, zone_of: dict[str, str], private: list[str]) -> dict[str, str | None]:
    """Per private zone, the zone of the NAT gateway its private subnet's route table sends the internet to."""
    nat_zone = {n.id: zone_of[n.inputs["subnetId"]] for n in plan.of_type("aws:ec2/natGateway:NatGateway")}
    # A NAT instance is reached through its network interface (the fake cloud names it eni-<instance>).
    nat_zone |= {f"eni-{i.name}": zone_of[i.inputs["subnetId"]] for i in plan.of_type("aws:ec2/instance:Instance")}
    table_nat = {
        t.id: next(
            (
                nat_zone[r.get("natGatewayId") or r["networkInterfaceId"]]
                for r in t.inputs.get("routes", [])
                if r.get("natGatewayId") or r.get("networkInterfaceId")
            ),
            None,
        )
        for t in plan.of_type("aws:ec2/routeTable:RouteTable")
    }
    private_subnets = {
        s.id: s.inputs["availabilityZone"]
        for s in plan.of_type("aws:ec2/subnet:Subnet")
        if "kubernetes.io/role/internal-elb" in s.inputs["tags"]
    }
    routed = {
        private_subnets[a.inputs["subnetId"]]: table_nat.get(a.inputs["routeTableId"])
        for a in plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs["subnetId"] in private_subnets
    }
    return {zone: routed.get(zone) for zone in private}


def render(plan: Plan) -> str:
    return faults.render(faults.faults(layout(plan)), plan.stack)


# What an operator notices first, by fault; what to do is the fault's own `how` when it needs a person.
SYMPTOMS = {
    "core-node-hub-az": "the hub's page times out or answers 503; `kubectl -n dandihub get pods` shows the hub Pending",
    "core-node-other-az": "a node NotReady in `kubectl get nodes`; the proxy or user scheduler restarting",
    "az-lost-hub": "the hub down, its pod Pending with a volume node affinity conflict; an AWS Health event",
    "az-lost-other": "nodes of one AZ NotReady; users of those nodes lose their servers; an AWS Health event",
    "nat-lost": "servers cannot reach the internet; logins fail at GitHub; image pulls fail on new nodes",
    "hub-restart": "logins pause for a minute; running servers unaffected",
    "proxy-restart": "every open notebook shows a lost connection, then reconnects",
    "efs-mount-target": "notebooks hang on file access on the nodes of one AZ",
}


def runbook_table(plan: Plan) -> str:
    """The stack's fault table for the runbook (docs/operations.md keeps one per stack, generated)."""
    rows = [
        "| fault | stops | recovers | about | an operator sees | and does |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in faults.faults(layout(plan)):
        sees = SYMPTOMS.get(f.id, SYMPTOMS.get(f.id.split("-reclaim")[0], "users report lost kernels"))
        does = f.how if f.needs_a_person else "nothing; watch it recover"
        recovery = f.recovery + (" (accepted)" if f.needs_a_person and f.accepted else "")
        minutes = f"{f.minutes:g} min" if f.minutes is not None else "AWS's time" if not f.needs_a_person else "-"
        rows.append(f"| {f.name} | {f.stops} | {recovery} | {minutes} | {sees} | {does} |")
    return "\n".join(rows)


BEGIN, END = "<!-- fault-tables:begin (generated by `python -m offline.fault_table`) -->", "<!-- fault-tables:end -->"
RUNBOOK = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def runbook_section() -> str:
    from offline.engine import run_stack
    from offline.stack_files import stacks

    parts = [BEGIN]
    for stack in stacks():
        parts += [f"**{stack}**", "", runbook_table(run_stack(stack)), ""]
    return "\n".join([*parts, END])


def update_runbook(runbook: Path = RUNBOOK) -> None:
    replace_section(runbook, BEGIN, END, runbook_section())


if __name__ == "__main__":
    update_runbook()
