"""The `dandihub:homes` section: usage per user, the soft limit, and DANDI's retention policy for homes."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from stackconfig.home_limits import LimitsOverride
from stackconfig.types import ConfigModel, unique

_CRON = re.compile(r"^(\S+\s+){4}\S+$")


class RetentionConfig(ConfigModel):
    """DANDI's policy for inactive homes. Off until asked for: the report says what it would do."""

    enabled: bool = Field(False, description="Move inactive homes to the archive area. Default false (dry run).")
    warn_after_days: int = Field(30, ge=1, description="Days without a login before a home is listed. Default 30.")
    archive_after_days: int = Field(45, ge=1, description="Days without a login before it is archived. Default 45.")
    min_size_gib: float = Field(0, ge=0, description="Smaller homes are left alone. Default 0.")
    exempt: list[str] = Field([], description="Logins never archived (admins always are).")
    max_archives_per_run: int = Field(10, ge=1, le=1000, description="Most homes archived by one run. Default 10.")

    @field_validator("exempt")
    @classmethod
    def _exempt(cls, values: list[str]) -> list[str]:
        unique([v.lower() for v in values], "exempt login")
        return values


class HomesConfig(ConfigModel):
    """Governing the home directories on the shared file system. Nothing here deletes a file."""

    soft_limit_gib: float = Field(
        10,
        gt=0,
        description="Per-user soft limit, GiB (DANDI's guidance): above it the spawn page and the server "
        "say so. Default 10.",
    )
    hard_limit_gib: float = Field(
        50,
        gt=0,
        description="Per-user hard limit, GiB, above softLimitGib: above it only the small cleanup "
        "profile starts (measured by the usage exporter through Prometheus; off without Prometheus). Default 50.",
    )
    users: dict[str, LimitsOverride] = Field(
        {},
        description="Limits per login, replacing the groups' and the stack's (a limit left out is the stack's). "
        "Admins have none.",
    )
    report_schedule: str = Field("0 6 * * 1", description="Cron schedule of the usage report. Default weekly.")
    walk_iops: int = Field(
        100, ge=1, le=10000, description="File operations per second the usage exporter may spend on EFS."
    )
    walk_every_minutes: int = Field(360, ge=10, description="Minutes between two walks of all homes. Default 360.")
    retention: RetentionConfig = Field(RetentionConfig(), description="Archiving inactive homes.")

    @field_validator("report_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _CRON.match(value.strip()):
            raise ValueError(f"{value!r} is not a cron schedule (five fields, e.g. '0 6 * * 1')")
        return value
