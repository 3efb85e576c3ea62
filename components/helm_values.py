"""Helm values: YAML files from `values/`, merged the way Helm merges them (maps by key, the rest replaced)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

VALUES_DIR = Path(__file__).resolve().parent.parent / "values"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`: nested maps merge key by key; lists and scalars are replaced.

    Neither argument is changed. Maps and lists are copied; other values (Pulumi Outputs among them,
    which cannot be deep-copied) are shared.
    """
    merged = _copied(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = _copied(value)
    return merged


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def load_values(*names: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Merge `values/<name>.yaml` in order; files named in `optional` may be absent."""
    merged: dict[str, Any] = {}
    for name in (*names, *optional):
        path = VALUES_DIR / f"{name}.yaml"
        if not path.exists() and name in optional:
            continue
        merged = deep_merge(merged, yaml.safe_load(path.read_text()) or {})
    return merged
