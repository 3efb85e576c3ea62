"""The chart's singleuser values that come from config: KubeSpawner's profile list (resources, node group,
scratch, image menu) and the files every user server gets."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from components.helm_values import VALUES_DIR
from components.images import pulled_image
from components.placeholders import tolerations
from stackconfig.hub import HubConfig
from stackconfig.nodes import NODE_GROUP_LABEL, NodeGroupConfig
from stackconfig.profiles import PROFILE_LABEL, ProfileConfig, memory_bytes

NFS_FIXER = "nfs-fixer"
# The node-local scratch volume of values/jupyterhub.yaml (singleuser.storage.extraVolumes).
SCRATCH_VOLUME = "scratch"


def image_parts(reference: str) -> tuple[str, str]:
    """`repo[:tag][@digest]` as (repo, tag), the digest kept on the tag; no tag means latest."""
    name, at, digest = reference.partition("@")
    repo, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # the only colon was a registry port, or there was none
        repo, tag = name, "latest"
    return repo, tag + at + digest


def profile_entry(profile: ProfileConfig, hub: HubConfig, group: NodeGroupConfig, mirror: str | None) -> dict[str, Any]:
    """One KubeSpawner profile: resources, the node group it must land on, and its image choices."""
    override: dict[str, Any] = {
        "cpu_guarantee": profile.cpu.guarantee,
        "cpu_limit": profile.cpu.limit,
        "mem_guarantee": profile.memory.guarantee,
        "mem_limit": profile.memory.limit,
        "node_selector": {NODE_GROUP_LABEL: profile.node_group},
        # Replaces the chart's user tolerations, so it lists every taint of the group, user one included.
        "tolerations": tolerations(group),
        # Disk on the node: the scheduler reserves the scratch guarantee; a server writing more than its limit
        # is evicted alone, before it fills the node and the kubelet evicts its neighbours. Bytes, so that
        # Kubernetes (where G is 10^9) and the config (where G is 1024^3) cannot disagree.
        "extra_resource_guarantees": {"ephemeral-storage": str(profile.disk_request_bytes)},
        "extra_resource_limits": {"ephemeral-storage": str(profile.disk_limit_bytes)},
        # Merged into the chart's scratch volume (KubeSpawner merges dict overrides): this profile's size.
        "volumes": {SCRATCH_VOLUME: {"emptyDir": {"sizeLimit": str(int(memory_bytes(profile.scratch.limit)))}}},
        # Merged into the chart's own pod labels by KubeSpawner (dict overrides merge).
        "extra_labels": {PROFILE_LABEL: profile.slug},
    }
    if profile.gpus:
        override["extra_resource_limits"]["nvidia.com/gpu"] = str(profile.gpus)
    entry: dict[str, Any] = {
        "display_name": profile.display_name,
        "slug": profile.slug,
        "description": profile.description,
        "kubespawner_override": override,
    }
    if profile.default:
        entry["default"] = True
    if len(profile.images) == 1 and profile.other_images is None:
        override["image"] = pulled_image(hub, profile.images[0], mirror)
    else:
        entry["profile_options"] = {"image": image_option(profile, hub, mirror)}
    return entry


def image_option(profile: ProfileConfig, hub: HubConfig, mirror: str | None) -> dict[str, Any]:
    """The image menu of a profile; with `otherImages`, a field for an unlisted image that KubeSpawner
    accepts only if it matches the pattern (so users bring their own environment, not any image)."""
    option: dict[str, Any] = {
        "display_name": "Image",
        "choices": {
            key: {
                "display_name": hub.images[key].display_name,
                "default": i == 0,
                "kubespawner_override": {"image": pulled_image(hub, key, mirror)},
            }
            for i, key in enumerate(profile.images)
        },
    }
    if profile.other_images is not None:
        option["unlisted_choice"] = {
            "enabled": True,
            "display_name": "Other image",
            "display_name_in_choices": "Other image...",
            "validation_regex": profile.other_images,
            "validation_message": f"The image must match {profile.other_images}",
            "kubespawner_override": {"image": "{value}"},
        }
    return option


def with_home_mount(init_containers: list[dict[str, Any]], sub_path: str) -> list[dict[str, Any]]:
    """The YAML's init containers, the ownership fixer given the user's home at /nfs: the same sub-path
    as the home volume, so it prepares exactly the directory the notebook mounts."""
    containers = copy.deepcopy(init_containers)
    fixer = next(c for c in containers if c["name"] == NFS_FIXER)
    fixer["volumeMounts"].insert(0, {"name": "home", "mountPath": "/nfs", "subPath": sub_path})
    return containers


# A system config directory jupyter_server reads (jupyter_core's SYSTEM_CONFIG_PATH, before /etc/jupyter) that
# images leave empty: our files add to an image's own settings (the docker-stacks images keep theirs in
# /etc/jupyter/jupyter_server_config.py) instead of replacing them.
SERVER_CONFIG_DIR = "/usr/local/etc/jupyter"
SINGLEUSER_DIR = VALUES_DIR / "singleuser"
BUSY_EXTENSION: Path = SINGLEUSER_DIR / "busy_kernels_activity.py"
# The page with the home's size and limits (values/home_limits.py opens servers over a limit on it).
HOME_USAGE_EXTENSION: Path = SINGLEUSER_DIR / "home_usage.py"
# Makes SERVER_CONFIG_DIR/extensions importable; PYTHONPATH would replace one the image sets.
EXTENSIONS_LOADER: Path = SINGLEUSER_DIR / "jupyter_server_config.py"
ENVIRONMENT_KERNELS: Path = SINGLEUSER_DIR / "environment_kernels.py"
# The images' own environment: the docker-stacks images install theirs at CONDA_DIR=/opt/conda
# (jupyter/docker-stacks@8209386 images/docker-stacks-foundation/Dockerfile), which the DANDI images build on.
# pip reads a pip.conf at its interpreter's prefix (the "site" file) for that environment only: there it
# installs into the user's site in the home (~/.local), which survives a restart; pip in an environment the
# user made is unaffected.
BASE_PIP_CONF = "/opt/conda/pip.conf"


def server_config(hub: HubConfig) -> dict[str, Any]:
    """jupyter_server settings of every user server.

    SQLite over NFS locks up ("database is locked", frozen notebooks): the databases jupyter_server's file
    ids, the collaboration store and nbformat's notary (trusted-notebook signatures, NOTARY_DB) keep go to
    the pod's own disk. Culling means idle: kernels idle (not
    busy) for the hub's timeout are shut down, and a busy kernel counts as activity (busy_kernels_activity),
    so the hub's culler stops only servers that really did nothing for its timeout.
    """
    culling = hub.culling
    return {
        "ServerApp": {
            "jpserver_extensions": {"busy_kernels_activity": True, "home_usage": True},
            # Kernels of the environments users make, without `ipykernel install` (environment_kernels.py).
            "kernel_spec_manager_class": "environment_kernels.EnvironmentKernelSpecManager",
        },
        "BaseFileIdManager": {"db_path": "/tmp/jupyter-file-ids.db"},
        "SQLiteYStore": {"db_path": "/tmp/jupyter-ystore.db"},
        "NotebookNotary": NOTARY,
        "MappingKernelManager": {
            "cull_idle_timeout": culling.timeout,
            "cull_interval": culling.every,
            "cull_busy": False,
            "cull_connected": True,
        },
        "TerminalManager": {"cull_inactive_timeout": culling.timeout, "cull_interval": culling.every},
    }


# nbformat's NotebookNotary keeps notebook signatures in SQLite, by default in the data dir on the home
# (~/.local/share/jupyter/nbsignatures.db). Per server on its own disk: a notebook saved by its user is
# signed again then, one trusted in an earlier server must be trusted again (File > Trust Notebook).
NOTARY = {"db_file": "/tmp/jupyter-nbsignatures.db"}


def server_files(hub: HubConfig) -> dict[str, Any]:
    """Files every user server gets (z2jh singleuser.extraFiles; `data` is written as JSON)."""
    return {
        "jupyter-server-config": {
            "mountPath": f"{SERVER_CONFIG_DIR}/jupyter_server_config.json",
            "data": server_config(hub),
        },
        "jupyter-server-extensions-path": {
            "mountPath": f"{SERVER_CONFIG_DIR}/jupyter_server_config.py",
            "stringData": EXTENSIONS_LOADER.read_text(),
        },
        # `jupyter trust` in a terminal reads jupyter_notebook_config (nbformat's TrustNotebookApp): the same
        # signature database as the server's.
        "jupyter-trust-config": {
            "mountPath": f"{SERVER_CONFIG_DIR}/jupyter_notebook_config.json",
            "data": {"NotebookNotary": NOTARY},
        },
        # IPython's command history is SQLite too: kept per server, on the pod's disk (lost at stop).
        "ipython-config": {
            "mountPath": "/etc/ipython/ipython_config.json",
            "data": {"HistoryManager": {"hist_file": "/tmp/ipython-history.sqlite"}},
        },
        "busy-kernels-activity": {
            "mountPath": f"{SERVER_CONFIG_DIR}/extensions/busy_kernels_activity.py",
            "stringData": BUSY_EXTENSION.read_text(),
        },
        "home-usage": {
            "mountPath": f"{SERVER_CONFIG_DIR}/extensions/home_usage.py",
            "stringData": HOME_USAGE_EXTENSION.read_text(),
        },
        "environment-kernels": {
            "mountPath": f"{SERVER_CONFIG_DIR}/extensions/environment_kernels.py",
            "stringData": ENVIRONMENT_KERNELS.read_text(),
        },
        "base-environment-pip": {"mountPath": BASE_PIP_CONF, "stringData": "[install]\nuser = true\n"},
    }
