"""The time-to-notebook model: warm and cold waits per profile and image, a cold pull as fast as the slowest
link on its real path (registry and route, the node's baseline network and EBS bandwidth, its disk, the
unpack rate), from dated figures and the images' sizes in config; what has no figure is unknown, not
guessed."""

from __future__ import annotations

import pytest

from offline import startup
from offline.engine import Plan
from stackconfig import instances
from tests.stack_configs import EXISTING_VPC, config_with

BOOT = 20 + 120  # autoscaler reaction, node boot and join (stackconfig/start_timings.yaml)
START = 10


def test_every_profile_and_image_has_a_warm_and_a_known_cold_wait(plan: Plan) -> None:
    waits = startup.waits(plan.config)
    assert [(w.profile, w.image) for w in waits] == [(p.slug, i) for p in plan.config.hub.profiles for i in p.images]
    assert all(w.warm_seconds == 12 and w.cold_seconds is not None for w in waits), "every image has its size"


def test_the_slowest_link_of_each_group_sets_its_cold_wait(prod: Plan) -> None:
    """Through the mirror and the S3 endpoint, the registry does not bind; the node does: m5a.2xlarge's EBS
    baseline (1,580 Mbit/s) on user-small, g4dn.2xlarge's (1,150) on gpu, the parallel unpack (236 MB/s) on
    the 8xlarge group, whose slowest type still has 4,750 Mbit/s of EBS and 7,500 of network."""
    waits = {(w.profile, w.image): w for w in startup.waits(prod.config)}
    size = {k: i.size_gb for k, i in prod.config.hub.images.items()}
    base, gpu, large = waits["base", "standard"], waits["gpu", "gpu"], waits["large", "standard"]
    assert base.bottleneck.name == "m5a.2xlarge baseline EBS bandwidth"
    assert base.cold_seconds == pytest.approx(BOOT + size["standard"] * 1000 / (1580 / 8) + START)
    assert gpu.bottleneck.name == "g4dn.2xlarge baseline EBS bandwidth"
    assert gpu.cold_seconds == pytest.approx(BOOT + size["gpu"] * 1000 / (1150 / 8) + START)
    assert large.bottleneck.name == "parallel unpack"
    assert large.cold_seconds == pytest.approx(BOOT + size["standard"] * 1000 / 236 + START)
    links = {link.name for link in startup.pull(prod.config, "user-small").links}
    assert {"ECR in the region", "m5.2xlarge baseline network", "gp3 disk at 600 MiB/s"} <= links
    assert not [name for name in links if "NAT" in name], "ECR's layers take the S3 endpoint"


def test_sequential_pull_is_bound_by_its_unpack_rate() -> None:
    config = config_with("staging", {"nodeGroups.gpu.imagePull": "sequential"})
    (gpu,) = [w for w in startup.waits(config) if w.profile == "gpu"]
    assert gpu.bottleneck.name == "sequential unpack"
    assert gpu.cold_seconds == pytest.approx(BOOT + config.hub.images["gpu"].size_gb * 1000 / 72 + START)


def test_without_the_mirror_staging_waits_on_its_nat_instance_and_docker_hub_is_unknown() -> None:
    """Docker Hub publishes no rate, so the wait is unknown; but the t4g.nano NAT instance's 32 Mbit/s
    baseline alone makes a 10 GB pull take more than 40 minutes: the goal is missed whatever Docker Hub does."""
    config = config_with("staging", {"hub.dockerHubMirror": {"enabled": False}})
    waits = {(w.profile, w.image): w for w in startup.waits(config)}
    base = waits["base", "standard"]
    assert base.cold_seconds is None and "Docker Hub (no published rate)" in base.why_unknown
    assert base.bottleneck.name == "NAT instance t4g.nano baseline network"
    assert base.at_least_seconds == pytest.approx(BOOT + config.hub.images["standard"].size_gb * 1000 / 4 + START)
    text = startup.render(config)
    assert "at least 2650 s on user-small (slowest known link: NAT instance t4g.nano baseline network (4 MB/s)" in text
    assert "missed by at least 2410 s" in text


def test_an_existing_vpc_without_the_endpoint_sends_ecr_through_a_nat_nobody_measured() -> None:
    config = config_with("staging", {"network.existing": EXISTING_VPC})
    names = [link.name for link in startup.pull(config, "user-small").links]
    assert names[:2] == ["ECR in the region", "the existing VPC's NAT"]
    assert all(w.cold_seconds is None for w in startup.waits(config))
    listed = {**EXISTING_VPC, "s3EndpointRouteTableIds": ["rtb-0aaaaaaaaaaaaaaa1"]}
    config = config_with("staging", {"network.existing": listed})
    assert all(w.cold_seconds is not None for w in startup.waits(config))


def test_the_plan_prints_the_table_its_bottlenecks_and_the_goal(staging: Plan) -> None:
    text = startup.render(staging.config)
    assert "base / standard" in text and "unknown" not in text
    assert "slowest link: m5a.2xlarge baseline EBS bandwidth (198 MB/s)" in text
    assert "goals: warm under 30 s; cold under 240 s for a 10 GB image, which takes" in text
    assert "201 s on user-small (slowest link: m5a.2xlarge baseline EBS bandwidth (198 MB/s)): met" in text
    unsized = config_with("staging", {"hub.images.standard.sizeGb": None})
    assert "cold unknown (no image size in config), parallel pull" in startup.render(unsized)


def test_the_goal_is_missed_without_parallel_pull() -> None:
    sequential = {f"nodeGroups.{g}.imagePull": "sequential" for g in ("user-small", "workshop", "gpu")}
    text = startup.render(config_with("staging", sequential))
    assert "289 s on user-small (slowest link: sequential unpack (72 MB/s)): missed by 49 s" in text
    assert "parallel" not in text


def test_every_figure_is_dated_with_a_unit_and_a_source_and_every_type_has_its_bandwidths() -> None:
    table = startup.table()
    assert table["checked"]
    assert all(f["value"] > 0 and f["unit"] and f["source"] for f in table["figures"].values())
    for instance_type in instances.known():
        row = instances.spec(instance_type)
        assert row["networkMbps"] > 0 and row["ebsMbps"] > 0, instance_type


# Baseline EBS bandwidth, Mbit/s, as the EC2 User Guide's "Amazon EBS-optimized instance types" lists it at
# awsdocs/amazon-ec2-user-guide@d289961421fa79447add68ca26e3ec5ae96fdf41:doc_source/ebs-optimized.md (2023-05-11).
# m7i.2xlarge and m7i.8xlarge are not in that copy: their figures stay unverified (stackconfig/instance_types.yaml).
EBS_OPTIMIZED_GUIDE_BASELINE_MBPS = {
    "t3a.large": 695,
    "t3a.xlarge": 695,
    "t4g.medium": 347,
    "t4g.large": 695,
    "t4g.xlarge": 695,
    "m5.2xlarge": 2300,
    "m5a.2xlarge": 1580,
    "m6a.2xlarge": 2500,
    "m6i.2xlarge": 2500,
    "m5.8xlarge": 6800,
    "m5a.8xlarge": 4750,
    "m6a.8xlarge": 10000,
    "m6i.8xlarge": 10000,
    "g4dn.xlarge": 950,
    "g4dn.2xlarge": 1150,
}
EBS_UNVERIFIED = {"m7i.2xlarge", "m7i.8xlarge"}


def test_the_ebs_baselines_are_the_ec2_user_guides() -> None:
    table = {t: instances.spec(t)["ebsMbps"] for t in instances.known()}
    assert set(table) == set(EBS_OPTIMIZED_GUIDE_BASELINE_MBPS) | EBS_UNVERIFIED, "a new type: read its baseline"
    assert {t: table[t] for t in EBS_OPTIMIZED_GUIDE_BASELINE_MBPS} == EBS_OPTIMIZED_GUIDE_BASELINE_MBPS
