"""The hub's images: those users may pick, and the ECR pull-through cache of Docker Hub that serves them."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from stackconfig import aws_catalog, image_refs
from stackconfig.types import ConfigModel

_IMAGE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")


class ImageConfig(ConfigModel):
    """A container image users may pick."""

    display_name: str = Field(min_length=1, description="Name shown in the image menu.")
    image: str = Field(description="Image reference, repository[:tag][@digest].")
    size_gb: float | None = Field(
        None, gt=0, le=200, description="Compressed size, GB, for the time-to-notebook model; unknown if unset."
    )

    @field_validator("image")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not _IMAGE.match(value):
            raise ValueError(f"{value!r} is not an image reference like dandiarchive/dandihub:latest")
        image_refs.parse(value)
        return value


class DockerHubMirrorConfig(ConfigModel):
    """An ECR pull-through cache of Docker Hub in the stack's account and region: nodes pull the hub's Docker
    Hub images from ECR (same region, layers through the S3 endpoint) instead of through NAT, with no
    anonymous rate limit; ECR fetches from Docker Hub once per image, logged in as this account."""

    enabled: bool = Field(
        False, description="Pull Docker Hub images through ECR. Default false (Docker Hub, as before)."
    )
    username: str | None = Field(
        None,
        pattern=r"^[a-z0-9]{4,30}$",
        description="The Docker Hub user ECR logs in as; its access token is the secret dandihub:dockerHubAccessToken.",
    )
    prefix: str | None = Field(
        None,
        min_length=2,
        max_length=30,
        description="ECR repository prefix of the cache: images become <account>.dkr.ecr.<region>.amazonaws.com/"
        "<prefix>/<repository>. Default docker-hub-<stack> (staging and prod may share an account).",
    )

    kept_digests: int = Field(
        3,
        ge=2,
        le=100,
        description="Digests ECR keeps of each cached image (the running one, the one to roll back to, ...). "
        "Default 3.",
    )

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        allowed = aws_catalog.pattern("ecr", "PullThroughCacheRuleRepositoryPrefix")
        if value is not None and (value == "ROOT" or not allowed.fullmatch(value)):
            raise ValueError(f"{value!r} is not an ECR repository prefix (lower-case words joined by . _ - or /)")
        return value

    @model_validator(mode="after")
    def _user(self) -> DockerHubMirrorConfig:
        if self.enabled and not self.username:
            raise ValueError("username is required when enabled (ECR's Docker Hub cache needs an authenticated user)")
        return self


DEFAULT_IMAGES = {
    "standard": ImageConfig(display_name="DANDI (standard)", image="dandiarchive/dandihub:latest"),
    "matlab": ImageConfig(
        display_name="DANDI with MATLAB (your own license)", image="dandiarchive/dandihub:latest-matlab"
    ),
    "gpu": ImageConfig(display_name="DANDI with CUDA", image="dandiarchive/dandihub:latest-gpu"),
}
