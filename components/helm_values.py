"""Helm values: YAML files from `values/`, merged the way Helm merges them (maps by key, the rest replaced)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

VALUES_DIR = Path(__file__).resolve().parent.parent / "values"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`: nested maps merge key by key; lists and scalars are replaced.

    `base` is copied; values of `override` are taken as they are, since they may be Pulumi Outputs.
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_values(*names: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Merge `values/<name>.yaml` in order; files named in `optional` may be absent."""
    merged: dict[str, Any] = {}
    for name in (*names, *optional):
        path = VALUES_DIR / f"{name}.yaml"
        if not path.exists() and name in optional:
            continue
        merged = deep_merge(merged, yaml.safe_load(path.read_text()) or {})
    return merged
