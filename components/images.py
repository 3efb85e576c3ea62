"""Images the program's own pods run (pinned; README, Pinned versions), one place for each; and the one
reference every pod uses for each of the hub's images."""

from __future__ import annotations

from stackconfig.hub import HubConfig
from stackconfig.image_refs import through_mirror

# The pause image the jupyterhub chart uses: warm seats and image pullers only hold a place or wait.
PAUSE = "registry.k8s.io/pause:3.10.1"
# In-cluster Python steps (dashboards compiler, usage exporter, home report): a plain interpreter that
# installs its few packages at start.
PYTHON = "public.ecr.aws/docker/library/python:3.12-slim"
# Packages for those steps, wheels only (never built from source on a node), into /tmp/py.
PIP = "pip install --quiet --no-cache-dir --only-binary=:all: --target /tmp/py"


def pulled_image(hub: HubConfig, key: str, mirror: str | None) -> str:
    """What nodes pull for `hub.images.<key>`: the configured reference, through the Docker Hub mirror when
    the stack has one (`mirror` is its <registry>/<prefix>). User servers, image pullers and the chart's
    default image all use this one reference."""
    return through_mirror(hub.images[key].image, mirror)
