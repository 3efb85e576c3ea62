"""The stack config: both stacks load; bad configs fail before any resource exists, naming the key."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import yaml

from offline.engine import Plan, ProgramError, run_stack
from offline.stack_files import FAKE_SECRETS, read_stack_config
from stackconfig import aws_catalog
from stackconfig.loader import SHARED_ADMIN_PASSWORD, SHARED_PASSWORD, ConfigError
from stackconfig.stack import StackConfig
from tests.conftest import ROOT, STACKS, changed_config, plan_with

ERROR_CASES = sorted((Path(__file__).parent / "configs").glob("*.error.*.yaml"))


def test_stack_files_validate(plan: Plan) -> None:
    assert plan.outputs["clusterName"] == f"dandihub-{plan.stack}"


def test_there_are_at_least_twenty_distinct_bad_configs() -> None:
    assert len(ERROR_CASES) >= 20


@pytest.mark.parametrize("case", ERROR_CASES, ids=[p.name.removesuffix(".yaml") for p in ERROR_CASES])
def test_bad_config_fails_before_any_resource_naming_the_key(case: Path) -> None:
    spec = yaml.safe_load(case.read_text())
    with pytest.raises(ProgramError) as failure:
        plan_with(spec["stack"], set_=spec.get("set"), unset=spec.get("unset"))
    assert isinstance(failure.value.__cause__, ConfigError)
    message = str(failure.value)
    for expected in spec["expect"]:
        assert expected in message
    assert failure.value.plan.resources == [], "config errors must stop the program before any resource"


def _secrets_without(key: str) -> dict[str, str]:
    return {k: v for k, v in FAKE_SECRETS.items() if not k.endswith(f":{key}")}


@pytest.mark.parametrize("key", ["githubClientSecret", "dandiApiToken"])
def test_missing_secret_names_the_command_to_set_it(key: str) -> None:
    with pytest.raises(ProgramError) as failure:
        run_stack("prod", secrets=_secrets_without(key))
    assert f"`pulumi config set --secret dandihub:{key} <value>`" in str(failure.value)
    assert failure.value.plan.resources == []


def test_shared_password_login_needs_both_passwords_and_not_the_github_secret() -> None:
    config = changed_config("staging", {"hub.auth": {"type": "shared-password"}})
    with pytest.raises(ProgramError) as failure:
        run_stack("staging", config=config, secrets={})
    message = str(failure.value)
    assert "dandihub:sharedPassword: missing secret" in message
    assert "dandihub:sharedAdminPassword: missing secret" in message
    assert "githubClientSecret" not in message


@pytest.mark.parametrize(
    ("user", "admin", "expected"),
    [
        ("short", "a" * 32, "dandihub:sharedPassword: 5 characters; the password every non-admin user logs in with "
         "needs at least 8"),
        ("long enough", "a" * 31, "dandihub:sharedAdminPassword: 31 characters; the password the admin users log "
         "in with needs at least 32"),
        ("b" * 32, "b" * 32, "dandihub:sharedAdminPassword: must differ from dandihub:sharedPassword"),
    ],
    ids=["user-too-short", "admin-too-short", "the-same"],
)  # fmt: skip
def test_shared_passwords_jupyterhub_would_refuse_fail_first(user: str, admin: str, expected: str) -> None:
    config = changed_config("staging", {"hub.auth": {"type": "shared-password"}})
    secrets = {"dandihub:sharedPassword": user, "dandihub:sharedAdminPassword": admin}
    with pytest.raises(ProgramError) as failure:
        run_stack("staging", config=config, secrets=secrets)
    assert expected in str(failure.value)
    assert user not in str(failure.value), "the message gives the length, never the password"
    assert failure.value.plan.resources == []


def test_shared_password_lengths_are_jupyterhubs() -> None:
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

    assert SHARED_PASSWORD.min_length == SharedPasswordAuthenticator._USER_PASSWORD_MIN_LENGTH
    assert SHARED_ADMIN_PASSWORD.min_length == SharedPasswordAuthenticator._ADMIN_PASSWORD_MIN_LENGTH


def test_without_the_dandi_gate_no_dandi_token_is_needed() -> None:
    plan = plan_with("staging", secrets=_secrets_without("dandiApiToken"), set_={"hub.auth.requireDandiUser": False})
    assert plan.outputs["hubUrl"] == "https://hub-staging.dandiarchive.org"


def test_a_secret_stored_in_plain_text_is_refused() -> None:
    config = {**read_stack_config("prod"), **FAKE_SECRETS}
    with pytest.raises(ProgramError) as failure:
        run_stack("prod", config=config, secrets={})
    assert "dandihub:githubClientSecret: stored in plain text" in str(failure.value)


def test_an_unknown_stack_key_lists_the_known_ones() -> None:
    with pytest.raises(ProgramError) as failure:
        plan_with("staging", set_={"storage.efs.througputMode": "elastic"})
    assert "did you mean 'throughputMode'" in str(failure.value)
    assert "Known keys here: performanceMode, throughputMode" in str(failure.value)


def test_project_defaults_match_the_model() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    for key, spec in project["config"].items():
        field = next(f for n, f in StackConfig.model_fields.items() if key in (n, f.alias))
        assert spec["default"] == field.default, key


def test_gpu_families_are_real_ec2_families() -> None:
    families = {t.split(".")[0] for t in aws_catalog.instance_types()}
    assert families >= aws_catalog.NVIDIA_GPU_FAMILIES


def test_the_instance_table_is_real_and_its_architectures_follow_the_family_names() -> None:
    """Every listed type exists in botocore's EC2 model; Graviton families carry a `g` after their
    generation (m7g, t4g, c6gn), which cross-checks the table's arch column."""
    from stackconfig import instances

    graviton = re.compile(r"^[a-z]+\d+g[a-z]*$")
    for instance_type in instances.known():
        assert instance_type in aws_catalog.instance_types()
        arm = bool(graviton.match(instance_type.split(".")[0]))
        assert instances.spec(instance_type)["arch"] == ("arm64" if arm else "x86_64"), instance_type


def test_config_error_is_a_clean_pulumi_error() -> None:
    # RunError makes Pulumi print the message alone, without a Python traceback.
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)


def test_committed_placeholders_are_warned_about(prod: Plan) -> None:
    warnings = prod.warnings
    assert [w.split(" ")[0] for w in warnings] == [
        "dandihub:hub.certificateArn",
        "dandihub:hub.auth.githubClientId",
        "dandihub:monitoring.alerts.emails",
        "dandihub:hub.images.standard.image",
        "dandihub:hub.images.matlab.image",
        "dandihub:hub.images.gpu.image",
    ]


def test_real_values_raise_no_placeholder_warning() -> None:
    real = {
        "hub.certificateArn": "arn:aws:acm:us-east-2:278212569472:certificate/3f1c2b9e-8a41-4d7e-9c55-0b6a2e1d7f10",
        "hub.auth.githubClientId": "Ov23liAbCdEfGhIjKlMn",
        "monitoring.alerts.emails": ["dandihub-ops@dandiarchive.org"],
        "hub.images": {
            key: {"displayName": key, "image": f"dandiarchive/dandihub:{tag}@sha256:{'5e' * 32}", "sizeGb": 5}
            for key, tag in (("standard", "latest"), ("matlab", "latest-matlab"), ("gpu", "latest-gpu"))
        },
    }
    assert plan_with("prod", set_=real).warnings == []


def test_a_user_group_no_profile_runs_on_is_warned_about(staging: Plan) -> None:
    config = changed_config("staging")
    config["dandihub:nodeGroups"]["user-large"] = {
        "role": "user",
        "capacityType": "SPOT",
        "instanceTypes": ["m6i.8xlarge", "m6a.8xlarge"],
        "maxSize": 5,
    }
    warnings = run_stack("staging", config=config).warnings
    assert (
        "dandihub:nodeGroups.user-large: no profile runs on the user group 'user-large': capacity nobody can reach"
        in warnings
    )
    assert not [w for w in staging.warnings if "no profile runs on" in w]


def test_every_instance_type_of_the_stacks_is_in_the_instance_table() -> None:
    from stackconfig import instances

    for stack in STACKS:
        for group in read_stack_config(stack)["dandihub:nodeGroups"].values():
            assert set(group["instanceTypes"]) <= set(instances.known())


def test_committed_placeholders_are_refused_by_up() -> None:
    """A preview warns (above); `pulumi up` refuses to deploy the repository's stand-ins."""
    with pytest.raises(ProgramError) as failure:
        run_stack("prod", preview=False)
    message = str(failure.value)
    for key in ("hub.certificateArn", "hub.auth.githubClientId", "monitoring.alerts.emails"):
        assert f"dandihub:{key}: still the placeholder from the repository; `pulumi up` needs the real value" in message
    assert failure.value.plan.resources == []


def _staging_file_with(tmp_path: Path, hub_lines: str) -> dict:
    text = (ROOT / "Pulumi.staging.yaml").read_text().replace("  dandihub:hub:\n", "  dandihub:hub:\n" + hub_lines)
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text)
    return read_stack_config("staging", stack_file=path)


def test_an_unquoted_event_date_reads_as_the_cli_passes_it(tmp_path: Path) -> None:
    """go-yaml hands `start: 2027-01-11` to the program as text; PyYAML made a date the engine could not
    pass on (a traceback before)."""
    event = "    events:\n      - {name: nwb, profile: workshop, seats: 2, start: 2027-01-11, end: 2027-01-12}\n"
    plan = run_stack("staging", config=_staging_file_with(tmp_path, event))
    assert plan.config.hub.events[0].start == datetime.date(2027, 1, 11)


def test_an_impossible_unquoted_date_names_the_key(tmp_path: Path) -> None:
    event = "    events:\n      - {name: nwb, profile: workshop, seats: 2, start: 2027-13-01, end: 2027-12-02}\n"
    with pytest.raises(ProgramError) as failure:
        run_stack("staging", config=_staging_file_with(tmp_path, event))
    assert "dandihub:hub.events[0].start: " in str(failure.value)
    assert failure.value.plan.resources == []
