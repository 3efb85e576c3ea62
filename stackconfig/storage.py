"""The `dandihub:storage` section: the EFS file system of the homes and the per-user S3 scratch bucket."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from stackconfig import aws_catalog
from stackconfig.types import ConfigModel, EfsPerformanceMode, EfsThroughputMode


class EfsConfig(ConfigModel):
    """The shared EFS file system that holds every home directory."""

    performance_mode: EfsPerformanceMode = Field("generalPurpose", description="EFS performance mode (API value).")
    throughput_mode: EfsThroughputMode = Field(
        "elastic", description="EFS throughput mode (API value). Default elastic."
    )
    provisioned_throughput_mibps: float | None = Field(None, gt=0, description="Only with provisioned.")
    transition_to_ia_days: int | None = Field(30, description="Days before Infrequent Access; null = never.")
    transition_to_archive_days: int | None = Field(
        90, description="Days untouched before EFS Archive (elastic throughput only); null = never. Default 90."
    )
    backups: bool = Field(False, description="AWS Backup of the file system. Prod: true.")
    protect: bool = Field(False, description="Refuse any plan that deletes or replaces it. Prod: true.")
    kms_key_arn: str | None = Field(
        None, pattern=r"^arn:aws:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$", description="KMS key; default AWS-managed."
    )
    existing_file_system_id: str | None = Field(
        None, pattern=r"^fs-[0-9a-f]{8,17}$", description="Adopt this retained file system instead."
    )

    @field_validator("transition_to_ia_days")
    @classmethod
    def _ia(cls, value: int | None) -> int | None:
        if value is not None:
            days = [r.split("_")[1] for r in aws_catalog.efs_ia_transitions()]
            aws_catalog.check_in(str(value), tuple(days), "EFS transition to IA, in days")
        return value

    @field_validator("transition_to_archive_days")
    @classmethod
    def _archive(cls, value: int | None) -> int | None:
        if value is not None:
            days = [r.split("_")[1] for r in aws_catalog.enum("efs", "TransitionToArchiveRules")]
            aws_catalog.check_in(str(value), tuple(days), "EFS transition to Archive, in days")
        return value

    @property
    def transition_to_archive(self) -> str | None:
        return None if self.transition_to_archive_days is None else f"AFTER_{self.transition_to_archive_days}_DAYS"

    @model_validator(mode="after")
    def _provisioned(self) -> EfsConfig:
        if self.transition_to_archive_days is not None and self.throughput_mode != "elastic":
            raise ValueError("transitionToArchiveDays needs throughputMode elastic (an EFS rule); set it null")
        if self.transition_to_archive_days is not None and (
            self.transition_to_ia_days is None or self.transition_to_archive_days <= self.transition_to_ia_days
        ):
            raise ValueError(
                "transitionToArchiveDays must come after transitionToIaDays (files reach Archive after IA)"
            )
        if (self.throughput_mode == "provisioned") != (self.provisioned_throughput_mibps is not None):
            raise ValueError("provisionedThroughputMibps is needed with, and only with, throughputMode provisioned")
        return self

    @property
    def transition_to_ia(self) -> str | None:
        """The EFS API value, e.g. AFTER_30_DAYS."""
        if self.transition_to_ia_days is None:
            return None
        unit = "DAY" if self.transition_to_ia_days == 1 else "DAYS"
        return f"AFTER_{self.transition_to_ia_days}_{unit}"


class ScratchBucketConfig(ConfigModel):
    """Per-user cloud scratch: one S3 bucket, each user server confined to its own prefix."""

    enabled: bool = Field(True, description="Create the bucket and give servers SCRATCH_BUCKET. Default true.")
    expire_after_days: int = Field(
        30, ge=1, le=365, description="Days after which S3 deletes an object (lifecycle rule). Default 30."
    )
    read_buckets: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]] = Field(
        ["dandiarchive"],
        description="Other buckets the servers may read with their credentials: the AWS libraries sign every "
        "request once a server has credentials, and a signed read of another account's bucket needs the "
        "server's role to allow it too. Default: the DANDI archive's bucket.",
    )


class StorageConfig(ConfigModel):
    """Shared storage for the hub."""

    efs: EfsConfig = Field(EfsConfig(), description="The EFS file system.")
    scratch_bucket: ScratchBucketConfig = Field(ScratchBucketConfig(), description="Per-user S3 scratch.")
    introspection_pod: bool = Field(False, description="A small pod mounting the share at /efs.")
