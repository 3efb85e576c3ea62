"""NAT data processing at the assumed monthly traffic, and what the S3 gateway endpoint saves."""

from __future__ import annotations

import pytest

from offline.costs import load_prices
from offline.engine import Plan
from offline.traffic import traffic
from plan import render
from tests.stack_configs import EXISTING_VPC, config_with

PRICES = load_prices()


def test_prod_pays_nat_processing_only_for_what_still_crosses_nat(prod: Plan) -> None:
    assumed = PRICES["traffic_gb_month"]["prod"]
    estimate = traffic(prod.config, "prod")
    per_gb = PRICES["nat_gateway_gb"]
    # The endpoint takes in-region S3; the images (mirror off) and other internet traffic cross NAT.
    mirrored = prod.config.hub.docker_hub_mirror.enabled
    through_nat = assumed["internet"] + (0 if mirrored else assumed["images"])
    assert estimate.monthly == pytest.approx(through_nat * per_gb)
    assert estimate.saved == pytest.approx((assumed["s3"] + (assumed["images"] if mirrored else 0)) * per_gb)
    assert estimate.saved > 100, "the endpoint saves prod more than $100 a month at the assumed traffic"
    text = render(prod)
    assert "traffic_gb_month.prod" in text and "saved by the S3 gateway endpoint" in text


def test_without_an_endpoint_in_region_s3_pays_nat_processing() -> None:
    """An existing VPC without the endpoint: in-region S3 is not free; its NAT is not this stack's to price."""
    bare = traffic(config_with("prod", {"network.existing": EXISTING_VPC}), "prod")
    assert bare.s3_endpoint is False and bare.saved == 0
    assert "S3 gateway endpoint" not in bare.lines[0].what
    with_endpoint = config_with(
        "prod", {"network.existing": {**EXISTING_VPC, "s3EndpointRouteTableIds": ["rtb-0aaaaaaaaaaaaaaa1"]}}
    )
    assert traffic(with_endpoint, "prod").s3_endpoint is True


def test_a_nat_instance_bills_no_processing(staging: Plan) -> None:
    estimate = traffic(staging.config, "staging")
    assert estimate.nat_kind == "instance" and estimate.monthly == 0 and estimate.saved == 0
    assert "bills no processing" in estimate.render()
