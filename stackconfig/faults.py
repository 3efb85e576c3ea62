"""The faults the hub must live through, what each stops, whether it recovers without a person, and how
long that takes: computed from the stack's layout (node groups and their zones, the hub volume's zone
binding, NAT routing, load balancer and EFS mount-target zones), with the timings of a dated table.

The layout comes from the checked config (for the config check: production refuses a fault that needs a
person, except the accepted ones) or from the recorded resources (for `python -m plan --faults`); a test
keeps the two equal.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

TIMINGS = Path(__file__).with_name("fault_timings.yaml")

# Causes of a fault that needs a person, accepted on production with their reason (README, Faults lists
# them too). Any other cause is refused on production by the config check.
ACCEPTED = {
    "hub-volume-zonal": (
        "the hub's database is one sqlite file on an EBS volume, which lives in one AZ; a replicated database "
        "(RDS Multi-AZ) costs more than this hub's whole idle budget. Users' files (EFS, every AZ) and servers in "
        "other AZs are unharmed; an operator restarts the hub on a fresh database (runbook) or waits for the AZ."
    ),
}


@functools.cache
def minutes(*steps: str) -> float:
    table = yaml.safe_load(TIMINGS.read_text())["timings"]
    return float(sum(table[step]["minutes"] for step in steps))


@dataclass(frozen=True)
class CoreGroup:
    name: str
    zones: tuple[str, ...]
    min_size: int


@dataclass(frozen=True)
class Layout:
    """What decides how faults play out. Zones are AZ names (in an existing VPC: private subnet ids)."""

    zones: tuple[str, ...]
    core_groups: tuple[CoreGroup, ...]
    # Per zone, the zone of the NAT its private subnet routes through; None where the program does not
    # manage egress (an existing VPC).
    nat_of: dict[str, str | None]
    load_balancer_zones: tuple[str, ...]
    mount_target_zones: tuple[str, ...]
    spot_groups: tuple[str, ...]
    # The hub's database volume is zonal (EBS, bound where the hub first runs).
    hub_volume_zonal: bool = True
    # What does the NAT: AWS's managed gateways, or one EC2 instance (recovered by EC2 alarms).
    nat_kind: Literal["gateway", "instance"] = "gateway"

    @property
    def hub_zone(self) -> str:
        """Where the hub's volume is: the first zone with core nodes (it binds where the hub first runs)."""
        return next(z for g in self.core_groups for z in g.zones)

    @property
    def core_zones(self) -> list[str]:
        return sorted({z for g in self.core_groups for z in g.zones})


@dataclass(frozen=True)
class Fault:
    id: str
    name: str
    stops: str
    recovery: Literal["automatic", "manual", "users restart"]
    minutes: float | None
    how: str
    # Why a person is needed (empty unless recovery is manual), as ids of the model's causes.
    causes: tuple[str, ...] = ()

    @property
    def needs_a_person(self) -> bool:
        return self.recovery == "manual"

    @property
    def accepted(self) -> bool:
        return all(cause in ACCEPTED for cause in self.causes)


def _core_node_lost(layout: Layout, zone: str, fault_id: str, where: str) -> Fault:
    name = f"one core node lost ({where})"
    pinned = [g for g in layout.core_groups if g.zones == (zone,) and g.min_size >= 1]
    spanning = [g for g in layout.core_groups if zone in g.zones and len(g.zones) > 1]
    holds_hub = zone == layout.hub_zone and layout.hub_volume_zonal
    stops = (
        "the hub (logins, new servers; running servers go on) and the other core pods on it"
        if holds_hub
        else ("the core pods on it (proxy, user scheduler, autoscaler) until they move to another core node")
    )
    if holds_hub and pinned:
        return Fault(
            fault_id,
            name,
            stops,
            "automatic",
            minutes("eviction", "replacement_launch", "node_launch_join", "volume_detach_attach", "pod_start"),
            f"the {pinned[0].name} group replaces the node in {zone}, where the hub's volume is",
        )
    if holds_hub and spanning:
        return Fault(
            fault_id,
            name,
            stops,
            "manual",
            None,
            causes=("multi-zone-core-group",),
            how=f"the {spanning[0].name} group spans {len(spanning[0].zones)} zones: its replacement may start in "
            "another zone, where the hub's volume cannot attach, and the autoscaler cannot ask a multi-zone "
            "group for one zone; an operator must bring up a node in the volume's zone",
        )
    if not holds_hub:
        return Fault(
            fault_id,
            name,
            stops,
            "automatic",
            minutes("eviction", "pod_start"),
            "its pods move to the core nodes of the other zones; the group then replaces the node",
        )
    return Fault(fault_id, name, stops, "manual", None, f"no core group keeps a node in {zone}", ("no-core-in-zone",))


def _zone_lost(layout: Layout, zone: str, fault_id: str, where: str) -> Fault:
    name = f"one AZ lost ({where})"
    stopped, manual, causes = [f"servers on nodes in {zone} (their files are safe)"], [], []
    if zone == layout.hub_zone and layout.hub_volume_zonal:
        stopped.insert(0, "the hub (its database volume is in that AZ)")
        manual.append("restart the hub on a fresh database, or wait for the AZ (the volume cannot move)")
        causes.append("hub-volume-zonal")
    cut = sorted(z for z, nat in layout.nat_of.items() if nat == zone and z != zone)
    if cut:
        stopped.append(f"internet egress of nodes in {', '.join(cut)} (their NAT is in {zone})")
        manual.append(f"route {', '.join(cut)} through another NAT (natGateways: perAz, then `pulumi up`)")
        causes.append("shared-nat")
    if not set(layout.load_balancer_zones) - {zone}:
        stopped.append("the load balancer (no subnet in another AZ)")
        manual.append("give the load balancer a public subnet in another AZ")
        causes.append("single-zone-load-balancer")
    other_core = [z for z in layout.core_zones if z != zone]
    if not other_core:
        stopped.append("every core pod (no core node in another AZ)")
        manual.append("add core nodes in another AZ (nodeGroups.core.zones)")
        causes.append("no-core-elsewhere")
    if manual:
        return Fault(fault_id, name, "; ".join(stopped), "manual", None, "; ".join(manual), tuple(causes))
    return Fault(
        fault_id,
        name,
        "; ".join(stopped),
        "users restart",
        minutes("eviction", "pod_start"),
        "core pods move to the other AZs; users start their servers again, on nodes in the other AZs",
    )


def faults(layout: Layout) -> list[Fault]:
    """Every listed fault, in the order of the runbook's table."""
    hub = layout.hub_zone
    others = [z for z in layout.core_zones if z != hub] or [z for z in layout.zones if z != hub]
    found = [_core_node_lost(layout, hub, "core-node-hub-az", "in the hub's AZ")]
    if [z for z in layout.core_zones if z != hub]:
        found.append(_core_node_lost(layout, others[0], "core-node-other-az", "in another AZ"))
    found.append(_zone_lost(layout, hub, "az-lost-hub", "the hub's"))
    if others:
        found.append(_zone_lost(layout, others[0], "az-lost-other", "another"))
    nat_zone = layout.nat_of.get(hub)
    if nat_zone is not None:
        served = sorted(z for z, nat in layout.nat_of.items() if nat == nat_zone)
        shared = len(served) == len(layout.zones)
        scope = "every AZ shares it, so all egress waits" if shared else "the other AZs' own NATs are unaffected"
        if layout.nat_kind == "instance":
            how, minutes_ = (
                f"EC2 recovers or reboots the NAT instance (its status-check alarms); {scope}",
                minutes("instance_recovery"),
            )
        else:
            how, minutes_ = f"AWS restores its managed gateway (no published time); {scope}", None
        found.append(
            Fault(
                "nat-lost",
                f"the NAT {'instance' if layout.nat_kind == 'instance' else 'gateway'} in {nat_zone} lost",
                f"internet egress of nodes in {', '.join(served)}: GitHub logins, archive checks, image "
                "pulls and users' downloads there",
                "automatic",
                minutes_,
                how,
            )
        )
    for group in layout.spot_groups:
        found.append(
            Fault(
                f"spot-reclaim-{group}",
                f"spot reclaim of a {group} node",
                "the running kernels of the servers on that node (their files are safe)",
                "users restart",
                minutes("spot_notice", "node_launch_join"),
                "each user starts their server again; the autoscaler brings up a node",
            )
        )
    found.append(
        Fault(
            "hub-restart",
            "the hub pod restarted",
            "logins and new servers (running servers go on)",
            "automatic",
            minutes("pod_start"),
            "Kubernetes restarts it on its core node",
        )
    )
    found.append(
        Fault(
            "proxy-restart",
            "the proxy pod restarted",
            "open connections (users reload their page)",
            "automatic",
            minutes("pod_start", "proxy_routes"),
            "the hub re-adds every route",
        )
    )
    missing = [z for z in layout.zones if z not in layout.mount_target_zones]
    found.append(
        Fault(
            "efs-mount-target",
            "the EFS mount target of an AZ unavailable",
            "file access of servers on nodes in that AZ (other AZs unaffected)",
            "manual" if missing else "automatic",
            None,
            f"no mount target in {', '.join(missing)}: nodes there cannot mount homes at all"
            if missing
            else "AWS restores it; every AZ with nodes has its own mount target",
            ("no-mount-target",) if missing else (),
        )
    )
    return found


def unaccepted(found: list[Fault]) -> list[Fault]:
    """Faults that need a person for a cause that is not on the accepted list."""
    return [f for f in found if f.needs_a_person and not f.accepted]


def render(found: list[Fault], stack: str) -> str:
    lines = [f"Faults of {stack} (from the recorded resources; timings: stackconfig/fault_timings.yaml):"]
    for f in found:
        time = f"~{f.minutes:g} min" if f.minutes is not None else "-"
        accepted = " (accepted: README, Faults)" if f.needs_a_person and f.accepted else ""
        lines.append(f"  {f.name}\n      stops: {f.stops}\n      recovery: {f.recovery}{accepted}, {time}: {f.how}")
    return "\n".join(lines)
