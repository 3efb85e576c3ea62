"""The `dandihub:hub` section of the stack config: the JupyterHub release; its auth, images,
profiles and events have modules of their own."""

from __future__ import annotations

import datetime
import math
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from stackconfig import image_refs, instances
from stackconfig.access import GroupConfig, access_problems
from stackconfig.auth import AuthConfig
from stackconfig.events import EventConfig, seats_beyond_max_size, seats_per_node
from stackconfig.images import DEFAULT_IMAGES, DockerHubMirrorConfig, ImageConfig
from stackconfig.nodes import NodeGroupConfig
from stackconfig.profiles import DEFAULT_PROFILES, ProfileConfig, profile_problems
from stackconfig.types import ConfigModel, DnsLabel, Hostname, unique

_ACM_ARN = re.compile(r"^arn:aws:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")

# Where each user's home lives on the shared file system, as KubeSpawner templates: `safe` is KubeSpawner
# 7's naming (z2jh 4), `escaped` the old hub's (KubeSpawner < 7), for homes copied from it.
HOME_SUB_PATHS = {"safe": "home/{safe_username}", "escaped": "home/{escaped_username}"}

# A production stack's default hub.culling.maxAge (StackConfig fills it in when the stack file sets none).
PRODUCTION_MAX_AGE = 7 * 24 * 3600

DEFAULT_POST_START = [
    "gitpuller https://github.com/dandi/example-notebooks master dandi-notebooks",
    "datalad install https://github.com/dandi/dandisets",
    'git config --global user.email "${GITHUB_EMAIL}"',
    'git config --global user.name "${GITHUB_USER}"',
]


class CullingConfig(ConfigModel):
    """Stopping idle servers."""

    enabled: bool = Field(True, description="Stop idle servers.")
    timeout: int = Field(3600, ge=300, description="Idle seconds before a server is stopped.")
    every: int = Field(300, ge=60, description="Seconds between checks.")
    max_age: int = Field(
        0,
        ge=0,
        description="Stop servers older than this many seconds, busy or not (the spawn page says so); 0 = never. "
        f"Default 0, and {PRODUCTION_MAX_AGE} (7 days) on a production stack, so a kernel stuck busy cannot "
        "hold its node for ever.",
    )


class HubConfig(ConfigModel):
    """The JupyterHub release."""

    namespace: DnsLabel = Field("dandihub", description="Kubernetes namespace of the hub.")
    domain: Hostname = Field(description="The hub's hostname.")
    chart_version: str = Field("4.4.0", pattern=r"^\d+\.\d+\.\d+$", description="jupyterhub chart version.")
    certificate_arn: str = Field(description="ACM certificate for the domain, in the stack's region.")
    route53_zone_id: str | None = Field(None, pattern=r"^Z[A-Z0-9]{1,32}$", description="Zone for the DNS record.")
    auth: AuthConfig = Field(description="Who may log in.")
    images: dict[DnsLabel, ImageConfig] = Field(DEFAULT_IMAGES, min_length=1, description="Images by key.")
    docker_hub_mirror: DockerHubMirrorConfig = Field(
        DockerHubMirrorConfig(), description="Pull the Docker Hub images through an ECR pull-through cache."
    )
    profiles: list[ProfileConfig] = Field(DEFAULT_PROFILES, min_length=1, description="The server menu.")
    culling: CullingConfig = Field(CullingConfig(), description="Idle-server culling.")
    start_timeout: int = Field(1200, ge=60, le=7200, description="Seconds a server may take to start.")
    default_url: str = Field("/lab", pattern=r"^/", description="Where a server opens. Default /lab.")
    post_start: list[str] = Field(DEFAULT_POST_START, description="Shell commands run as a server starts.")
    home_names: Literal["safe", "escaped"] = Field(
        "safe",
        description="Home directory names: safe (KubeSpawner 7) or escaped (the old hub's, for homes copied "
        "from it). Drives the home mount and the init container alike.",
    )
    privileged_user_pods: bool = Field(False, description="Run user pods privileged (apptainer, FUSE).")
    warm_seats: dict[DnsLabel, Annotated[int, Field(ge=0, le=100)]] = Field(
        {}, description="Seats kept warm by profile slug: placeholders holding exactly that profile's requests."
    )
    events: list[EventConfig] = Field([], description="Workshops: warm seats of a profile between two dates.")
    groups: dict[DnsLabel, GroupConfig] = Field(
        {}, description="JupyterHub groups: members added at each hub start, caps per profile, a shared folder."
    )
    banner: str = Field(
        "",
        max_length=500,
        description="A notice on every hub page (maintenance, an incident), plain text. Default none.",
    )

    def seats(self, day: datetime.date) -> dict[str, int]:
        """Warm seats by profile on `day`: the standing ones plus those of events on that day."""
        seats = dict(self.warm_seats)
        for event in self.events:
            if event.active(day):
                seats[event.profile] = seats.get(event.profile, 0) + event.seats
        return {slug: n for slug, n in seats.items() if n > 0}

    def images_by_group(self) -> dict[str, list[ImageConfig]]:
        """Per node group, the images of the profiles that run on it (menu order, one per reference): what
        its puller keeps on every node."""
        found: dict[str, list[ImageConfig]] = {}
        for profile in self.profiles:
            for key in filter(self.images.__contains__, profile.images):  # unknown keys: problems_with names them
                image = self.images[key]
                if image.image not in [i.image for i in found.setdefault(profile.node_group, [])]:
                    found[profile.node_group].append(image)
        return found

    def menu(self, day: datetime.date) -> list[ProfileConfig]:
        """The profiles listed on `day`: event profiles only while one of their events runs."""
        running = {e.profile for e in self.events if e.active(day)}
        return [p for p in self.profiles if p.listed == "always" or p.slug in running]

    @property
    def home_sub_path(self) -> str:
        """The home's sub-path on the shared volume, a KubeSpawner template."""
        return HOME_SUB_PATHS[self.home_names]

    @property
    def pod_security_level(self) -> str:
        """The strictest Pod Security Standard the hub's pods pass: the notebook's volume-fixing init
        container runs as root (not `restricted`); privileged user pods need `privileged`."""
        return "privileged" if self.privileged_user_pods else "baseline"

    @field_validator("certificate_arn")
    @classmethod
    def _acm(cls, value: str) -> str:
        if not _ACM_ARN.match(value):
            raise ValueError(
                f"{value!r} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"
            )
        return value

    @model_validator(mode="after")
    def _menu(self) -> HubConfig:
        unique([p.slug for p in self.profiles], "profile slug")
        defaults = [p.slug for p in self.profiles if p.default]
        if len(defaults) > 1:
            raise ValueError(f"only one profile may be the default, found {', '.join(defaults)}")
        return self

    def seat_nodes(self, day: datetime.date, node_groups: dict[str, NodeGroupConfig]) -> dict[str, int]:
        """Nodes the warm seats of `day` hold, by node group (each profile's seats on whole nodes)."""
        profiles = {p.slug: p for p in self.profiles}
        nodes: dict[str, int] = {}
        for slug, seats in self.seats(day).items():
            profile = profiles.get(slug)
            group = node_groups.get(profile.node_group) if profile else None
            if profile and group and set(group.instance_types) <= set(instances.known()):
                count = math.ceil(seats / seats_per_node(profile, group))
                nodes[profile.node_group] = nodes.get(profile.node_group, 0) + count
        return nodes

    def problems_with(
        self, region: str, production: bool, node_groups: dict[str, NodeGroupConfig]
    ) -> list[tuple[str, str]]:
        """Rules that need the rest of the stack, as (key path, message) pairs."""
        problems = []
        arn_region = _ACM_ARN.match(self.certificate_arn).group(1)  # type: ignore[union-attr]
        if arn_region != region:
            problems.append(
                ("hub.certificateArn", f"the certificate is in {arn_region}; the load balancer needs one in {region}")
            )
        slugs = {p.slug: p for p in self.profiles}
        for slug in self.warm_seats:
            if slug not in slugs:
                problems.append((f"hub.warmSeats.{slug}", f"no profile {slug!r}; profiles: {', '.join(slugs)}"))
        for i, event in enumerate(self.events):
            profile = slugs.get(event.profile)
            group = node_groups.get(profile.node_group) if profile else None
            if profile is None:
                problems.append(
                    (f"hub.events[{i}].profile", f"no profile {event.profile!r}; profiles: {', '.join(slugs)}")
                )
            elif group is not None and group.capacity_type != "ON_DEMAND":
                problems.append(
                    (
                        f"hub.events[{i}].profile",
                        f"{event.profile!r} runs on {profile.node_group!r}, a {group.capacity_type} group: an "
                        "event's servers need an on-demand group, so a spot reclaim cannot end the session",
                    )
                )
        problems += access_problems(self)
        problems += seats_beyond_max_size(self, node_groups)
        if production:
            problems += [
                (
                    f"hub.images.{key}.image",
                    f"{image.image!r} is mutable: production pins images by digest (repository:tag@sha256:...), "
                    "so every node runs the same image and an update is a reviewed change; run "
                    "`python -m offline.image_digests --write` (README, Pinned versions)",
                )
                for key, image in self.images.items()
                if not image_refs.parse(image.image).pinned
            ]
        if production and self.auth.type == "shared-password":
            problems.append(("hub.auth.type", "shared-password login is refused on a production stack; use github"))
        problems += profile_problems(self, node_groups)
        return problems
