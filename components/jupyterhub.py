"""The JupyterHub release (zero-to-jupyterhub chart) with DANDI login, profiles, EFS homes, HTTPS and DNS."""

from __future__ import annotations

import copy
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.helm_values import VALUES_DIR, deep_merge, load_values
from components.image_pullers import image_pullers
from components.images import pulled_image
from components.placeholders import placeholders
from components.singleuser_values import image_parts, profile_entry, server_files, with_home_mount
from stackconfig import access
from stackconfig import kubernetes as support
from stackconfig.hub import HubConfig
from stackconfig.loader import Secrets
from stackconfig.nodes import NodeGroupConfig

CHART_REPO = "https://hub.jupyter.org/helm-chart/"
RELEASE = "jupyterhub"
AUTH_CONFIG_FILE: Path = VALUES_DIR / "jupyterhub_dandi_auth.py"
SHARED_PASSWORD_FILE: Path = VALUES_DIR / "jupyterhub_shared_password.py"
# The spawner that offers each user the profiles of their groups and enforces the groups' caps.
ACCESS_CONFIG_FILE: Path = VALUES_DIR / "jupyterhub_access.py"
# The modules the access file imports, mounted beside the hub's config: z2jh's jupyterhub_config.py puts that
# folder on the import path (the chart's files/hub/jupyterhub_config.py, `sys.path.insert`).
HUB_MODULES: list[Path] = [VALUES_DIR / "home_actions.py", VALUES_DIR / "refused.py"]
HUB_CONFIG_DIR = "/usr/local/etc/jupyterhub"
# A first install pulls the hub images and waits for the load balancer.
INSTALL_TIMEOUT_SECONDS = 1200


@dataclass(frozen=True)
class JupyterHubArgs:
    """The hub's config, secrets and what it runs on: namespace, claim, node groups, database storage."""

    config: HubConfig
    stack: str
    secrets: Secrets
    node_groups: dict[str, NodeGroupConfig]
    namespace: pulumi.Input[str]
    claim_name: pulumi.Input[str]
    db_storage_class: str
    depends_on: list[pulumi.Resource]
    # Values other components need in the hub (monitoring's services, roles and network access).
    extra_values: dict[str, Any]
    # Init containers that run before any other in every user pod (the home restore), and their volumes.
    first_init_containers: list[dict[str, Any]] = field(default_factory=list)
    user_volumes: list[dict[str, Any]] = field(default_factory=list)
    # The Docker Hub mirror (<ECR registry>/<prefix>) the hub's Docker Hub images are pulled through, if any.
    image_mirror: str | None = None
    # Kubernetes makes the load balancer, so the provider's default tags never reach it: the service asks.
    cost_tags: Mapping[str, str] = field(default_factory=dict)


def computed_values(
    args: JupyterHubArgs, proxy_token: pulumi.Input[str], yaml_singleuser: dict[str, Any]
) -> dict[str, Any]:
    """The values that come from config and other resources, laid over the YAML files (whose singleuser
    lists of init containers and volumes are extended here, since Helm replaces a list)."""
    hub = args.config
    default = next((p for p in hub.profiles if p.default), hub.profiles[0])
    default_repo, default_tag = image_parts(pulled_image(hub, default.images[0], args.image_mirror))
    singleuser: dict[str, Any] = {
        "image": {"name": default_repo, "tag": default_tag},
        "defaultUrl": hub.default_url,
        "startTimeout": hub.start_timeout,
        "storage": {
            "static": {"pvcName": args.claim_name, "subPath": hub.home_sub_path},
            "extraVolumes": [*copy.deepcopy(yaml_singleuser["storage"]["extraVolumes"]), *args.user_volumes],
        },
        "initContainers": [
            *args.first_init_containers,
            *with_home_mount(yaml_singleuser["initContainers"], hub.home_sub_path),
        ],
        "profileList": [
            profile_entry(p, hub, args.node_groups[p.node_group], args.image_mirror) for p in hub.menu(support.today())
        ],
    }
    singleuser["extraFiles"] = server_files(hub)
    singleuser["extraEnv"] = {
        # Runtime files (kernel connection files, server info) on the pod's own disk, not on NFS.
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        # The node's metadata service is out of a user pod's reach (hop limit 1, components/node_groups.py):
        # AWS SDKs and the CLI stop asking it at once instead of waiting out its timeouts.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if hub.post_start:
        # Joined with ';' so that one failing step (say, an unreachable repository) does not stop the server.
        singleuser["lifecycleHooks"] = {"postStart": {"exec": {"command": ["sh", "-c", "; ".join(hub.post_start)]}}}
    hub_config = auth_config(args)
    if access.load_groups(hub):
        hub_config["JupyterHub"]["load_groups"] = access.load_groups(hub)
    hub_config["DandiKubeSpawner"] = {
        "profile_groups": access.profile_groups(hub, support.today()),
        "group_caps": access.group_caps(hub),
        "group_folders": {name: folder.gid for name, folder in access.group_folders(hub).items()},
    }
    # The spawn page says how long a server may run at most (values/templates/spawn.html).
    template_vars = {"server_max_age": server_age_text(hub.culling.max_age)}
    if hub.banner:
        # JupyterHub's page template shows `announcement` on every page, unescaped: the config is plain text.
        template_vars["announcement"] = html.escape(hub.banner)
    hub_config["JupyterHub"]["template_vars"] = template_vars
    if hub.privileged_user_pods:
        # apptainer and FUSE need a privileged notebook container; the chart passes this to KubeSpawner.
        singleuser["allowPrivilegeEscalation"] = True
        hub_config["KubeSpawner"] = {"container_security_context": {"privileged": True}}
    return {
        "hub": {
            "config": hub_config,
            # An explicit member list makes the hub's admin role exactly this at every start: JupyterHub
            # revokes admin from anyone left out (jupyterhub 5.5.0 app.py, init_role_assignment), which
            # `admin_users` alone never does. The hub logs that both are set; the lists are the same.
            "loadRoles": {"admin": {"users": list(hub.auth.admin_users)}},
            "db": {"pvc": {"storageClassName": args.db_storage_class}},
            "extraConfig": {"dandi-access": ACCESS_CONFIG_FILE.read_text(), **auth_extra_config(hub)},
            "extraFiles": {
                f"dandi-{module.stem.replace('_', '-')}": {
                    "mountPath": f"{HUB_CONFIG_DIR}/{module.name}",
                    "stringData": module.read_text(),
                }
                for module in HUB_MODULES
            },
        },
        "proxy": {
            "secretToken": proxy_token,
            "https": {"hosts": [hub.domain]},
            "service": {
                "annotations": {
                    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": hub.certificate_arn,
                    # The cloud provider's tags for the load balancer it creates (cloud-provider-aws,
                    # ServiceAnnotationLoadBalancerAdditionalTags): the bill by Stack includes it.
                    "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags": ",".join(
                        f"{key}={value}" for key, value in args.cost_tags.items()
                    ),
                }
            },
        },
        "singleuser": singleuser,
        # Warm seats are the program's own, per profile (components/placeholders.py); the chart's single set
        # stays at zero, its priority class serving them.
        "scheduling": {"userPlaceholder": {"replicas": 0}},
        "cull": {
            "enabled": hub.culling.enabled,
            "timeout": hub.culling.timeout,
            "every": hub.culling.every,
            "maxAge": hub.culling.max_age,
        },
    }


def server_age_text(seconds: int) -> str:
    """The culler's maxAge in words for users ('' when servers may run for ever)."""
    if seconds == 0:
        return ""
    days, hours = divmod(round(seconds / 3600), 24)
    if hours == 0:
        return f"{days} day{'s' * (days != 1)}"
    return f"{days * 24 + hours} hours"


def _gated(hub: HubConfig) -> bool:
    return hub.auth.type == "github" and hub.auth.require_dandi_user


def auth_extra_config(hub: HubConfig) -> dict[str, str]:
    """The authenticator subclass the hub's extraConfig installs: the DANDI gate, or shared passwords that
    normalise the login before the admin check."""
    if hub.auth.type == "shared-password":
        return {"shared-password": SHARED_PASSWORD_FILE.read_text()}
    return {"dandi-auth": AUTH_CONFIG_FILE.read_text()} if _gated(hub) else {}


def auth_config(args: JupyterHubArgs) -> dict[str, Any]:
    """`hub.config` for the configured login: who may log in, and with which secrets."""
    auth = args.config.auth
    admins = list(auth.admin_users)
    if auth.type == "shared-password":
        # Shared passwords for test stacks (refused on production): anyone who knows the user password gets
        # in under any name; the admin users log in with the admin password only.
        return {
            "JupyterHub": {"authenticator_class": "shared-password"},
            "Authenticator": {"admin_users": admins, "allow_all": True},
            "SharedPasswordAuthenticator": {
                "user_password": args.secrets.shared_password,
                "admin_password": args.secrets.shared_admin_password,
            },
        }
    # The chart's own default is the dummy authenticator (any name, any password): always name the class.
    config: dict[str, Any] = {
        "JupyterHub": {"authenticator_class": "github"},
        "Authenticator": {"admin_users": admins},
        "GitHubOAuthenticator": {
            "client_id": auth.github_client_id,
            "client_secret": args.secrets.github_client_secret,
            "oauth_callback_url": f"https://{args.config.domain}/hub/oauth_callback",
        },
    }
    if _gated(args.config):
        # The extraConfig file swaps in its GitHub subclass (it runs after hub.config); these are its settings.
        config["DandiGitHubAuthenticator"] = {
            "archives": [
                {
                    "name": archive.name,
                    "display_name": archive.display_name,
                    "api_url": archive.api_url,
                    "user_lookup": archive.user_lookup,
                    "token": args.secrets.archive_tokens[archive.name],
                    "registration_url": archive.registration_url,
                    "group": access.archive_group(archive.name),
                }
                for archive in auth.archives
            ]
        }
    else:
        # JupyterHub 5 admits nobody by default: without the DANDI gate, any GitHub user may log in.
        config["GitHubOAuthenticator"]["allow_all"] = True
    return config


def _load_balancer_hostname(status: Any) -> str:
    """The AWS load balancer's hostname from the proxy-public Service's status."""
    return status.load_balancer.ingress[0].hostname


class JupyterHub(pulumi.ComponentResource):
    """The hub release, and the DNS record that points the domain at its load balancer."""

    release_name: pulumi.Output[str | None]
    load_balancer_hostname: pulumi.Output[str]
    url: str

    def __init__(self, name: str, args: JupyterHubArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:hub:JupyterHub", name, None, opts)
        hub = args.config
        # Stored in the stack state (encrypted), so the token stays the same on every `up`.
        proxy_token = random.RandomPassword(
            f"{name}-proxy-token", length=64, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        base = load_values("jupyterhub", optional=(f"jupyterhub.{args.stack}",))
        values = deep_merge(
            deep_merge(base, computed_values(args, proxy_token.result, base["singleuser"])),
            args.extra_values,
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE,
            chart="jupyterhub",
            version=hub.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=args.namespace,
            values=values,
            timeout=INSTALL_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        # Read back once the release exists; during a first preview the id is unknown and the read waits.
        proxy_service = k8s.core.v1.Service.get(
            f"{name}-proxy-public",
            self.release.status.apply(lambda s: f"{s.namespace}/proxy-public"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.load_balancer_hostname = proxy_service.status.apply(_load_balancer_hostname)
        if hub.route53_zone_id:
            aws.route53.Record(
                f"{name}-dns",
                zone_id=hub.route53_zone_id,
                name=hub.domain,
                type="CNAME",
                ttl=300,
                records=[self.load_balancer_hostname],
                # The old deployment's record was made by hand; take it over rather than fail.
                allow_overwrite=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
        image_pullers(
            name, hub, args.node_groups, args.namespace, args.image_mirror, pulumi.ResourceOptions(parent=self)
        )
        today = support.today()
        placeholders(
            name, hub.profiles, hub.warm_seats, [e for e in hub.events if e.active(today)], args.node_groups,
            args.namespace, pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )  # fmt: skip
        self.url = f"https://{hub.domain}"
        self.release_name = self.release.name
        self.register_outputs(
            {
                "release_name": self.release_name,
                "load_balancer_hostname": self.load_balancer_hostname,
                "url": self.url,
            }
        )
