"""The Kubernetes Pod Security Standards' `baseline` level, checked on pod specs (kubernetes.io, Pod
Security Standards, Baseline): what the API server refuses in a namespace labelled `enforce: baseline`."""

from __future__ import annotations

from typing import Any

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def baseline_violations(spec: dict[str, Any]) -> list[str]:
    """What in a pod spec breaks the baseline level; empty when it passes."""
    found = [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    found += [f"hostPath volume {v['name']}" for v in spec.get("volumes") or [] if "hostPath" in v]
    found += [
        f"sysctl {s['name']}"
        for s in (spec.get("securityContext") or {}).get("sysctls") or []
        if s["name"] not in SAFE_SYSCTLS
    ]
    found += _context_violations("pod", spec.get("securityContext") or {})
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        name = container["name"]
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        added = set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            found.append(f"{name}: adds capabilities {sorted(added)}")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {context['procMount']}")
        found += [f"{name}: hostPort {p['hostPort']}" for p in container.get("ports") or [] if p.get("hostPort")]
        found += _context_violations(name, context)
    return found


def _context_violations(where: str, context: dict[str, Any]) -> list[str]:
    found = []
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append(f"{where}: seccomp Unconfined")
    if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
        found.append(f"{where}: AppArmor Unconfined")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        found.append(f"{where}: SELinux options {selinux}")
    return found


def runs_as_root(spec: dict[str, Any]) -> list[str]:
    """Containers that run as uid 0 (which the `restricted` level refuses)."""
    pod_user = (spec.get("securityContext") or {}).get("runAsUser")
    return [
        c["name"]
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        if (c.get("securityContext") or {}).get("runAsUser", pod_user) == 0
    ]
