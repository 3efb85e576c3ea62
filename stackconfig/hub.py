"""The `dandihub:hub` section of the stack config: the JupyterHub release, auth, images and profiles."""

from __future__ import annotations

import datetime
import math
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from stackconfig import aws_catalog, image_refs, instances
from stackconfig.access import GITHUB_LOGIN as _GITHUB_LOGIN
from stackconfig.access import GroupConfig, access_problems
from stackconfig.nodes import NodeGroupConfig
from stackconfig.types import ConfigModel, DnsLabel, Hostname, distinct_matches, unique

_IMAGE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
_MEMORY = re.compile(r"^(\d+(\.\d+)?)([KMGT])$")
_ACM_ARN = re.compile(r"^arn:aws:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")

# Where each user's home lives on the shared file system, as KubeSpawner templates: `safe` is KubeSpawner
# 7's naming (z2jh 4), `escaped` the old hub's (KubeSpawner < 7), for homes copied from it.
# Each user pod carries its profile's slug, so its start time can be compared with the plan's (alerts).
PROFILE_LABEL = "dandiarchive.org/profile"
HOME_SUB_PATHS = {"safe": "home/{safe_username}", "escaped": "home/{escaped_username}"}

# A production stack's default hub.culling.maxAge (StackConfig fills it in when the stack file sets none).
PRODUCTION_MAX_AGE = 7 * 24 * 3600

DEFAULT_POST_START = [
    "gitpuller https://github.com/dandi/example-notebooks master dandi-notebooks",
    "datalad install https://github.com/dandi/dandisets",
    'git config --global user.email "${GITHUB_EMAIL}"',
    'git config --global user.name "${GITHUB_USER}"',
]


def _misfits(profile: ProfileConfig, group: NodeGroupConfig, images: list[ImageConfig]) -> list[tuple[str, str]]:
    """Where a server of the profile does not fit an empty node of the group's smallest instance type, whose
    disk also holds `images` (those the group's puller keeps)."""
    if not set(group.instance_types) <= set(instances.known()):
        return []  # the node group's own check names the unknown types
    node = instances.smallest(list(group.instance_types))
    where = (
        f"for profile {profile.slug!r} does not fit node group {profile.node_group!r}: its smallest type "
        f"{node.instance_type} gives pods {node.cpu:.2f} CPU and {node.memory_gib:.1f} GiB (after the VM "
        "overhead, the kubelet's reservation and eviction threshold, and the add-on daemons; "
        "stackconfig/instance_types.yaml)"
    )
    found = [
        (f"cpu.{kind}", f"{value:g} CPU {where}")
        for kind, value in (("guarantee", profile.cpu.guarantee), ("limit", profile.cpu.limit))
        if value > node.cpu
    ]
    found += [
        (f"memory.{kind}", f"{value} ({memory_bytes(value) / 1024**3:.1f} GiB) {where}")
        for kind, value in (("guarantee", profile.memory.guarantee), ("limit", profile.memory.limit))
        if memory_bytes(value) > node.memory_bytes
    ]
    if profile.gpus > node.gpus:
        found.append(("gpus", f"{profile.gpus} GPUs {where.split(' gives')[0]} has {node.gpus}"))
    disk = instances.disk_room(group.disk_size, group.ami_type, [i.size_gb for i in images])
    if profile.disk_limit_bytes > disk.pods_bytes:
        found.append(
            (
                "scratch.limit",
                f"{profile.scratch.limit} of scratch and {CONTAINER_FILES} for the container's own files "
                f"({profile.disk_limit_bytes / 1024**3:.1f} GiB) for profile {profile.slug!r} do not fit node "
                f"group {profile.node_group!r}: its {group.disk_size} GiB disk leaves pods "
                f"{disk.pods_bytes / 1024**3:.1f} GiB after the system's files, the kubelet's eviction threshold "
                f"and the {len(images)} images its puller keeps ({disk.images_bytes / 1024**3:.1f} GiB unpacked; "
                "sizeGb of each image, stackconfig/instance_types.yaml nodeDisk). Raise diskSize or lower the limit",
            )
        )
    return found


def seats_per_node(profile: ProfileConfig, group: NodeGroupConfig) -> int:
    """Servers of the profile that fit an empty node of the group's smallest type (by their guarantees)."""
    node = instances.smallest(list(group.instance_types))
    fits = [int(node.cpu // profile.cpu.guarantee), int(node.memory_bytes // memory_bytes(profile.memory.guarantee))]
    if profile.gpus:
        fits.append(node.gpus // profile.gpus)
    return max(1, min(fits))


def memory_bytes(value: str) -> float:
    """KubeSpawner's byte sizes: K, M, G, T are powers of 1024."""
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a memory size like 512M or 16G (suffix K, M, G or T)")
    return float(match.group(1)) * 1024 ** "KMGT".index(match.group(3)) * 1024


class ArchiveConfig(ConfigModel):
    """A DANDI-family archive (DANDI, EMBER, LINC) whose registered users may log in. Its API token is
    the secret `dandihub:<name>ApiToken`."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]{1,30}$", description="Short name; the token is `<name>ApiToken`.")
    display_name: str = Field(min_length=1, description="Name shown on the refusal page.")
    api_url: str = Field(
        pattern=r"^https://[a-z0-9.-]+(/[\w./-]*)?$", description="The archive API that lists registered users."
    )
    user_lookup: Literal["approved-list", "search"] = Field(
        "approved-list",
        description="How a login is looked up: approved-list (exact; the token must be a staff account's) or "
        "search (any approved account's token; capped at 10 look-alikes, for archives without the list). "
        "Default approved-list.",
    )
    registration_url: str = Field(pattern=r"^https://", description="Where refused users are sent to register.")

    @property
    def token_key(self) -> str:
        return archive_token_key(self.name)


def archive_token_key(name: str) -> str:
    """The secret config key of an archive's API token (dandi -> dandiApiToken)."""
    return f"{name}ApiToken"


DANDI_ARCHIVE = ArchiveConfig(
    name="dandi",
    display_name="DANDI",
    api_url="https://api.dandiarchive.org/api",
    registration_url="https://dandiarchive.org",
)


class AuthConfig(ConfigModel):
    """Who may log in."""

    type: Literal["github", "shared-password"] = Field(
        "github",
        description="github (OAuth), or shared-password (test stacks only: JupyterHub's SharedPasswordAuthenticator, "
        "secrets sharedPassword and sharedAdminPassword).",
    )
    github_client_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9.]{10,64}$", description="The GitHub OAuth app's client id."
    )
    admin_users: list[str] = Field([], description="GitHub logins with admin rights; they always pass.")
    require_dandi_user: bool = Field(
        True, description="Admit only users registered in one of the archives (admins always pass)."
    )
    archives: list[ArchiveConfig] = Field(
        [DANDI_ARCHIVE], min_length=1, description="The archives whose registered users may log in."
    )

    @field_validator("admin_users")
    @classmethod
    def _logins(cls, values: list[str]) -> list[str]:
        return distinct_matches(values, _GITHUB_LOGIN, "GitHub logins", "admin user")

    @field_validator("archives")
    @classmethod
    def _archives(cls, values: list[ArchiveConfig]) -> list[ArchiveConfig]:
        unique([a.name for a in values], "archive name")
        return values

    @model_validator(mode="after")
    def _client(self) -> AuthConfig:
        if self.type == "github" and not self.github_client_id:
            raise ValueError("githubClientId is required with type github (the OAuth app's client id)")
        return self


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


class CpuRange(ConfigModel):
    guarantee: float = Field(gt=0, le=512, description="CPUs reserved for the server.")
    limit: float = Field(gt=0, le=512, description="CPUs it may use at most.")


class MemoryRange(ConfigModel):
    guarantee: str = Field(description="Memory reserved, e.g. 16G (K, M, G, T are powers of 1024).")
    limit: str = Field(description="Memory at most; beyond it the kernel is killed.")

    @field_validator("guarantee", "limit")
    @classmethod
    def _size(cls, value: str) -> str:
        memory_bytes(value)
        return value


# What a server writes besides /scratch and its home, to the image's writable layer and its logs: counted with
# /scratch in the pod's ephemeral-storage limit.
CONTAINER_FILES = "2G"


class ScratchRange(MemoryRange):
    """The server's node-local /scratch: fast, emptied when the server stops."""

    guarantee: str = Field("2G", description="Disk the scheduler reserves for the server. Default 2G.")
    limit: str = Field(
        "20G",
        description="Size of /scratch. A server that writes more is stopped by the kubelet (its home is kept). "
        "Default 20G.",
    )


class ProfileConfig(ConfigModel):
    """One entry of the server menu; its node group decides where its pods run."""

    slug: DnsLabel = Field(description="Stable id of the profile.")
    display_name: str = Field(min_length=1, description="Name shown in the menu.")
    description: str = Field("", description="Text shown under the name.")
    node_group: str = Field(description="The node group (by name) this profile's servers run on.")
    cpu: CpuRange = Field(description="CPU guarantee and limit.")
    memory: MemoryRange = Field(description="Memory guarantee and limit.")
    gpus: int = Field(0, ge=0, le=8, description="GPUs; only on gpu groups.")
    scratch: ScratchRange = Field(
        ScratchRange(), description="Node-local /scratch, reserved and at most (K, M, G, T are powers of 1024)."
    )
    images: list[str] = Field(min_length=1, description="Keys of hub.images offered; the first is the default.")
    listed: Literal["always", "duringEvents"] = Field(
        "always", description="In the menu always, or only while an event (hub.events) names it."
    )
    default: bool = Field(False, description="Preselected in the menu (one profile at most).")
    groups: list[DnsLabel] | None = Field(
        None,
        min_length=1,
        description="The groups (hub.groups, or archive-<archive>) whose members may use it. Default: everyone.",
    )
    other_images: str | None = Field(
        None,
        description="Let users name an image that is not in the menu, if it matches this anchored regular "
        "expression (registries and repositories allowed), e.g. ^docker\\.io/dandiarchive/[a-z0-9-]+:[\\w.-]+$. "
        "Default: off.",
    )

    @field_validator("other_images")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"{value!r} is not a regular expression ({error})") from None
        if not (value.startswith("^") and value.endswith("$")) or ".*" in value or value in ("^.+$", "^.*$"):
            raise ValueError(
                f"{value!r} must be anchored (^...$) and name the registries and repositories allowed, not any image"
            )
        return value

    @model_validator(mode="after")
    def _ranges(self) -> ProfileConfig:
        if self.cpu.guarantee > self.cpu.limit:
            raise ValueError(f"cpu guarantee {self.cpu.guarantee} exceeds its limit {self.cpu.limit}")
        if memory_bytes(self.memory.guarantee) > memory_bytes(self.memory.limit):
            raise ValueError(f"memory guarantee {self.memory.guarantee} exceeds its limit {self.memory.limit}")
        if memory_bytes(self.scratch.guarantee) > memory_bytes(self.scratch.limit):
            raise ValueError(f"scratch guarantee {self.scratch.guarantee} exceeds its limit {self.scratch.limit}")
        unique(self.images, "image")
        return self

    @property
    def disk_request_bytes(self) -> int:
        """The server's ephemeral-storage request: its scratch guarantee."""
        return int(memory_bytes(self.scratch.guarantee))

    @property
    def disk_limit_bytes(self) -> int:
        """The server's ephemeral-storage limit: /scratch and the container's own files."""
        return int(memory_bytes(self.scratch.limit) + memory_bytes(CONTAINER_FILES))


def _profile(
    slug: str, name: str, group: str, cpu: tuple[float, float], mem: tuple[str, str], **extra: object
) -> ProfileConfig:
    return ProfileConfig.model_validate(
        {
            "slug": slug,
            "displayName": name,
            "description": f"{cpu[0]:g}-{cpu[1]:g} CPU, {mem[0]}-{mem[1]} memory",
            "nodeGroup": group,
            "cpu": {"guarantee": cpu[0], "limit": cpu[1]},
            "memory": {"guarantee": mem[0], "limit": mem[1]},
            "images": ["standard", "matlab"],
            **extra,
        }
    )


# The old deployment's menu. MATLAB is now an image choice rather than a profile of its own; small
# profiles get small nodes so a Tiny server never brings up a 32-CPU machine. Limits stay within what
# the smallest node of the group gives pods (8-vCPU, 32 GiB nodes: 7.7 CPU, 28.3 GiB; 32-vCPU, 128 GiB
# nodes: 31.6 CPU, 115 GiB), so one busy server cannot push its node into evicting the others.
DEFAULT_PROFILES = [
    _profile("tiny", "Tiny", "user-small", (0.25, 2), ("512M", "2G")),
    _profile("base", "Base", "user-small", (6, 7.5), ("16G", "28G"), default=True),
    _profile("medium", "Medium", "user-large", (12, 24), ("32G", "64G")),
    _profile("large", "Large", "user-large", (24, 31), ("64G", "96G")),
    _profile("gpu", "T4 GPU for inference", "gpu", (6, 7.5), ("24G", "28G"), gpus=1, images=["gpu"]),
]

DEFAULT_IMAGES = {
    "standard": ImageConfig(display_name="DANDI (standard)", image="dandiarchive/dandihub:latest"),
    "matlab": ImageConfig(
        display_name="DANDI with MATLAB (your own license)", image="dandiarchive/dandihub:latest-matlab"
    ),
    "gpu": ImageConfig(display_name="DANDI with CUDA", image="dandiarchive/dandihub:latest-gpu"),
}


class EventConfig(ConfigModel):
    """A workshop or tutorial: during its dates its seats are warm and its profile is listed."""

    name: DnsLabel = Field(description="Short name of the event.")
    profile: str = Field(description="The profile (by slug) its attendees use; on an on-demand group.")
    seats: int = Field(ge=1, le=500, description="Servers kept ready during the event.")
    start: datetime.date = Field(description="First day (UTC), YYYY-MM-DD.")
    end: datetime.date = Field(description="Last day (UTC), YYYY-MM-DD.")
    group: DnsLabel | None = Field(
        None, description="The attendees' group: only they get the profile from the event. Default: the profile's own."
    )

    @model_validator(mode="after")
    def _dates(self) -> EventConfig:
        if self.end < self.start:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        return self

    def active(self, day: datetime.date) -> bool:
        return self.start <= day <= self.end


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
        {}, description="JupyterHub groups: members added at each hub start, and caps per profile."
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

    def _seats_beyond_max_size(self, node_groups: dict[str, NodeGroupConfig]) -> list[tuple[str, str]]:
        """Seats the autoscaler could never place: more nodes than the group's maxSize, with nobody told.
        Seats only grow on an event's first day, so the standing seats and each first day are the peaks."""
        peaks = [("hub.warmSeats", "the standing warm seats", datetime.date.min)]
        peaks += [
            (f"hub.events[{i}].seats", f"event {e.name!r} on {e.start}", e.start) for i, e in enumerate(self.events)
        ]
        problems = []
        for path, what, day in peaks:
            for group, count in self.seat_nodes(day, node_groups).items():
                limit = node_groups[group].max_size
                if count > limit:
                    problems.append(
                        (
                            path,
                            f"{what}: the seats on {group!r} that day ({self.seats(day)}) need {count} nodes, "
                            f"but nodeGroups.{group}.maxSize is {limit}; raise maxSize or keep fewer seats",
                        )
                    )
        return problems

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
        problems += self._seats_beyond_max_size(node_groups)
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
        for i, profile in enumerate(self.profiles):
            where = f"hub.profiles[{i}]"
            group = node_groups.get(profile.node_group)
            if group is None:
                problems.append(
                    (
                        f"{where}.nodeGroup",
                        f"{profile.node_group!r} is not a node group; groups: {', '.join(node_groups)}",
                    )
                )
            elif group.role == "core":
                problems.append(
                    (
                        f"{where}.nodeGroup",
                        f"{profile.node_group!r} is the core group; user servers need a user or gpu group",
                    )
                )
            elif (group.role == "gpu") != (profile.gpus > 0):
                problems.append(
                    (
                        f"{where}.gpus",
                        f"profiles with gpus > 0 belong on a gpu group and only those; "
                        f"{profile.node_group!r} is a {group.role} group",
                    )
                )
            else:
                images = self.images_by_group().get(profile.node_group, [])
                problems += [(f"{where}.{key}", message) for key, message in _misfits(profile, group, images)]
            missing = [image for image in profile.images if image not in self.images]
            if missing:
                problems.append(
                    (f"{where}.images", f"{', '.join(missing)} not in hub.images ({', '.join(self.images)})")
                )
        return problems
