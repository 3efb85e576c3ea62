"""Resource policies that let AWS services act on one of our resources (the alerts topic, a log group)."""

from __future__ import annotations

import json


def services_may(sid: str, services: list[str], actions: str | list[str], resource: str) -> str:
    """The JSON policy allowing `services` (service principals) `actions` on `resource`, nothing else."""
    statement = {"Sid": sid, "Effect": "Allow", "Principal": {"Service": services}, "Action": actions,
                 "Resource": resource}  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
