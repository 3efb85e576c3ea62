"""The time-to-notebook model: warm and cold waits per profile and image, from the dated figures and the
images' sizes in config; an image without a size is unknown, not guessed."""

from __future__ import annotations

import pytest

from offline import startup
from offline.engine import Plan
from tests.conftest import plan_with


def test_every_profile_and_image_has_a_warm_and_a_cold_wait(plan: Plan) -> None:
    waits = startup.waits(plan.config)
    assert [(w.profile, w.image) for w in waits] == [(p.slug, i) for p in plan.config.hub.profiles for i in p.images]
    assert all(w.warm_seconds == 12 and w.cold_seconds is not None for w in waits), "every image has its size"


def test_a_known_size_gives_a_cold_wait_from_the_figures() -> None:
    images = {"standard": {"displayName": "DANDI", "image": "dandiarchive/dandihub:latest", "sizeGb": 6},
              "matlab": {"displayName": "M", "image": "dandiarchive/dandihub:latest-matlab"},
              "gpu": {"displayName": "G", "image": "dandiarchive/dandihub:latest-gpu", "sizeGb": 12}}  # fmt: skip
    sequential_gpu = {"hub.images": images, "nodeGroups.gpu.imagePull": "sequential"}
    waits = {(w.profile, w.image): w for w in startup.waits(plan_with("staging", set_=sequential_gpu).config)}
    # 20 s autoscaler + 120 s boot and join + the pull (user-small pulls in parallel at 236 MB/s, the GPU group
    # in sequence at 72 MB/s) + 10 s start
    assert waits["base", "standard"].pull == "parallel"
    assert waits["base", "standard"].cold_seconds == pytest.approx(20 + 120 + 6000 / 236 + 10)
    assert waits["gpu", "gpu"].pull == "sequential"
    assert waits["gpu", "gpu"].cold_seconds == pytest.approx(20 + 120 + 12000 / 72 + 10)
    assert waits["base", "matlab"].cold_seconds is None


def test_the_plan_prints_the_table_and_the_goal(staging: Plan) -> None:
    text = startup.render(staging.config)
    assert "base / standard" in text and "unknown" not in text
    unsized = plan_with("staging", set_={"hub.images.standard.sizeGb": None}).config
    assert "base / standard" in text and "cold unknown (no image size in config), parallel pull" in startup.render(
        unsized
    )
    assert "goals: warm under 30 s; cold under 240 s for a 10 GB image, which takes" in text
    assert "192 s with parallel pull (gpu, user-small, workshop): met" in text


def test_the_goal_is_missed_without_parallel_pull() -> None:
    sequential = {f"nodeGroups.{g}.imagePull": "sequential" for g in ("user-small", "workshop", "gpu")}
    text = startup.render(plan_with("staging", set_=sequential).config)
    assert "289 s with sequential pull (gpu, user-small, workshop): missed by 49 s" in text
    assert "parallel pull" not in text


def test_every_figure_is_dated_with_a_unit_and_a_source() -> None:
    table = startup.table()
    assert table["checked"]
    assert all(f["value"] > 0 and f["unit"] and f["source"] for f in table["figures"].values())
