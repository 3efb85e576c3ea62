"""Preflight: the tools a real `pulumi up` calls on the operator's machine, found or missing.

The first `up` runs for half an hour; a missing tool should show before it starts, not in its middle
(the cluster's kubeconfig runs `aws eks get-token`, so the Kubernetes half fails without the AWS CLI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version

PULUMI_SDK = version("pulumi")


@dataclass(frozen=True)
class Tool:
    command: str
    why: str
    version_args: tuple[str, ...]
    # The version line must match this to count as found (None: any version).
    wanted: str | None
    wanted_text: str


TOOLS = (
    Tool("pulumi", "runs the program", ("version",), r"^v?3\.", f"Pulumi CLI 3.x (this SDK is {PULUMI_SDK})"),
    Tool("aws", "the kubeconfig calls `aws eks get-token`", ("--version",), r"^aws-cli/2\.", "AWS CLI v2"),
)
MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Finding:
    what: str
    ok: bool
    detail: str


def _version(command: str, args: tuple[str, ...], path: str | None) -> str:
    executable = shutil.which(command, path=path)
    if executable is None:
        return ""
    result = subprocess.run([executable, *args], capture_output=True, text=True, timeout=30, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else "?"


def check(path: str | None = None, python: tuple[int, int] = sys.version_info[:2]) -> list[Finding]:
    """What is found on `path` (default: this process's PATH)."""
    path = os.environ.get("PATH", "") if path is None else path
    findings = [
        Finding(
            f"Python {python[0]}.{python[1]}",
            python >= MIN_PYTHON,
            "ok" if python >= MIN_PYTHON else f"needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer",
        )
    ]
    for tool in TOOLS:
        line = _version(tool.command, tool.version_args, path)
        if not line:
            findings.append(Finding(tool.command, False, f"missing: install {tool.wanted_text} ({tool.why})"))
        elif tool.wanted and not re.match(tool.wanted, line):
            findings.append(Finding(tool.command, False, f"found {line!r}, needs {tool.wanted_text} ({tool.why})"))
        else:
            findings.append(Finding(tool.command, True, line))
    return findings


def render(findings: list[Finding]) -> str:
    lines = ["Preflight (what a real `pulumi up` calls on this machine):"]
    lines += [f"  {'ok     ' if f.ok else 'MISSING'} {f.what:<12} {f.detail}" for f in findings]
    return "\n".join(lines)
