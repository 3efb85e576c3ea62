"""Image references as the container runtime reads them: `[registry/]repository[:tag][@sha256:digest]`.

A reference whose first part has no dot or colon (and is not `localhost`) is on Docker Hub, and a Docker Hub
repository without a namespace is an official image under `library/` (distribution/reference, normalize.go:
`docker.io` and `library/` are implied). That is also how ECR's Docker Hub pull-through cache names them:
`<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/library/python` (ECR User Guide, pull through cache).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
# The registry API host of Docker Hub (what ECR's cache rule names as the upstream, docker-hub).
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # docker.io for Docker Hub
    repository: str  # with library/ for Docker Hub's official images
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        """Immutable: the runtime pulls the digest, whatever the tag now points at."""
        return self.digest is not None

    def __str__(self) -> str:
        return (
            f"{self.registry}/{self.repository}"
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )


def parse(reference: str) -> ImageRef:
    name, _, digest = reference.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{reference!r}: the digest must be sha256:<64 hex digits>")
    head, slash, rest = name.partition("/")
    if slash and ("." in head or ":" in head or head == "localhost"):
        registry, path = head, rest
    else:
        registry, path = DOCKER_HUB, name
    repository, colon, tag = path.rpartition(":")
    if not colon:
        repository, tag = path, ""
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry, repository, tag or None, digest or None)


def with_digest(reference: str, digest: str) -> str:
    """The reference as written (registry and tag kept), pinned to `digest`."""
    return f"{reference.partition('@')[0]}@{digest}"


def through_mirror(reference: str, mirror: str | None) -> str:
    """A Docker Hub reference pulled through the ECR cache at `mirror` (<registry host>/<prefix>), tag and
    digest kept; other registries' references, and every reference when there is no mirror, unchanged."""
    ref = parse(reference)
    if mirror is None or ref.registry != DOCKER_HUB:
        return reference
    return str(ImageRef(mirror, ref.repository, ref.tag, ref.digest))
