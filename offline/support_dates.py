"""Where a stack's Kubernetes version stands in EKS support today, as GitHub Actions annotations.

    python -m offline.support_dates staging

The deploy workflow runs this before `pulumi up`: a version that leaves standard support within 60 days, or
has left it, is a warning on the run (the deploy goes ahead: an urgent fix must never wait on a calendar);
only a version past extended support fails, which the config check would refuse anyway.
"""

from __future__ import annotations

import sys

from offline.stack_files import read_stack_config
from stackconfig import kubernetes


def support_annotations(stack: str) -> tuple[list[str], int]:
    """The workflow-command lines for `stack` on `kubernetes.today()`, and the exit status."""
    cluster = read_stack_config(stack)["dandihub:cluster"]
    version = str(cluster["kubernetesVersion"])
    if version not in kubernetes.versions():
        return [f"::error title=Kubernetes version::{stack}: {version} is not in {kubernetes.TABLE.name}"], 1
    errors, warnings = kubernetes.problems(version, cluster.get("supportType", "STANDARD"), kubernetes.today())
    lines = [f"::warning title=Kubernetes support ({stack})::{w}" for w in warnings]
    lines += [f"::error title=Kubernetes support ({stack})::{e}" for e in errors]
    return lines, 1 if errors else 0


def main(argv: list[str]) -> int:
    status = 0
    for stack in argv:
        lines, code = support_annotations(stack)
        print("\n".join(lines) if lines else f"{stack}: Kubernetes version inside standard support")
        status = max(status, code)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
