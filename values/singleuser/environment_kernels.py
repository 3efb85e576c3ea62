"""Kernels of the environments users make themselves, found without `ipykernel install`.

jupyter_server asks its kernel spec manager for kernels each time JupyterLab lists them. This one adds, to the
kernels the image has, every conda/mamba environment in the directories named by CONDA_ENVS_DIRS (where the
pod sends new environments: the home) or listed in ~/.conda/environments.txt (conda and mamba record each
environment they create there, `-p` ones included) that has a kernel package installed: the package's own
share/jupyter/kernels/<kernel>/kernel.json, as ipykernel and IRkernel ship it. Such a kernel is offered as
`<environment>-<kernel>` and run with that environment's own interpreter and PATH. The docker-stacks images
have no such discovery of their own (nb_conda_kernels is not in them).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

KERNELS = Path("share", "jupyter", "kernels")
# jupyter_client's rule for kernel names.
_NAME = re.compile(r"[^a-z0-9._-]+")


def environments() -> list[Path]:
    """The user's environments: each one once, the server's own excluded (its kernels are the image's)."""
    candidates: list[Path] = []
    for entry in os.environ.get("CONDA_ENVS_DIRS", "").split(os.pathsep):
        folder = Path(entry).expanduser()
        if entry and folder.is_dir():
            candidates += sorted(p for p in folder.iterdir() if p.is_dir())
    listed = Path.home() / ".conda" / "environments.txt"
    if listed.is_file():
        candidates += [Path(line.strip()) for line in listed.read_text().splitlines() if line.strip()]
    found, seen = [], {Path(sys.prefix).resolve()}
    for env in candidates:
        if env.is_dir() and env.resolve() not in seen:
            seen.add(env.resolve())
            found.append(env)
    return found


def environment_kernels() -> dict[str, tuple[Path, Path]]:
    """Kernel name -> (environment, kernel directory), for every kernel package in the user's environments."""
    found: dict[str, tuple[Path, Path]] = {}
    for env in environments():
        for spec in sorted((env / KERNELS).glob("*/kernel.json")):
            name = _NAME.sub("-", f"{env.name}-{spec.parent.name}".lower())
            found.setdefault(name, (env, spec.parent))
    return found


class EnvironmentKernelSpecManager(KernelSpecManager):
    """The image's kernels, and those of the user's own environments."""

    def find_kernel_specs(self) -> dict[str, str]:
        specs = super().find_kernel_specs()
        for name, (_, directory) in environment_kernels().items():
            specs.setdefault(name, str(directory))
        return specs

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        ours = environment_kernels().get(kernel_name)
        if ours is None or kernel_name in super().find_kernel_specs():
            return super().get_kernel_spec(kernel_name)
        env, directory = ours
        spec = KernelSpec.from_resource_dir(str(directory))
        # Kernel packages name their interpreter without a path ("python", "R"); jupyter_client would run
        # the server's own python for "python". Run the environment's.
        command = env / "bin" / spec.argv[0]
        if not os.path.isabs(spec.argv[0]) and command.exists():
            spec.argv = [str(command), *spec.argv[1:]]
        path = f"{env / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        spec.env = {**spec.env, "PATH": path, "CONDA_PREFIX": str(env)}
        spec.display_name = f"{spec.display_name} ({env.name})"
        return spec
