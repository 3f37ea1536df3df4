"""`bridge mapping check --org`: the mappings against the connected org's live describe (the SF sandbox)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fixtures.sf_sandbox_server import serve
from typer.testing import CliRunner, Result

from bridge.cli import app
from bridge.mapping import build_mapper, chargebee_site_from_url, touched_sobjects
from bridge.salesforce.schema import Schema, load_schema
from bridge.sandbox.salesforce.app import create_app
from bridge.settings import Settings

LOGIN = {
    "BRIDGE_SALESFORCE_AUTH_FLOW": "password",
    "BRIDGE_SALESFORCE_CLIENT_ID": "sandbox-client-id",
    "BRIDGE_SALESFORCE_CLIENT_SECRET": "sandbox-client-secret",
    "BRIDGE_SALESFORCE_USERNAME": "integration@bridge.sandbox",
    "BRIDGE_SALESFORCE_PASSWORD": "sandbox-password",
}
DESCRIBED = re.compile(
    r"described (\d+) of (\d+) SObjects the mappings touch(?: \(missing: (.*)\))? with (\d+) API calls"
)


@contextmanager
def org(schema: Schema | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """A sandbox org on a real port (its URL) and the settings that log in to it."""
    with serve(create_app(schema)) as url:
        yield url, {**LOGIN, "BRIDGE_SALESFORCE_LOGIN_URL": url, "BRIDGE_SALESFORCE_INSTANCE_URL": url}


def check(runner: CliRunner, env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, ["mapping", "check", "--org", *args], env=env)


def described(result: Result) -> tuple[int, int, list[str], int]:
    """(described, touched, missing, API calls) from the summary line on stderr."""
    found = DESCRIBED.search(result.stderr)
    assert found, result.output
    missing = found.group(3).split(", ") if found.group(3) else []
    return int(found.group(1)), int(found.group(2)), missing, int(found.group(4))


def counts(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{url}/_sandbox/counts").json()
    return answer


def problem_lines(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if " → " in line]


def test_default_mappings_fit_the_org_and_every_touched_sobject_is_described(runner: CliRunner) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    mapper = build_mapper(
        chargebee_site=chargebee_site_from_url(settings.chargebee_api_url), sync_objects=settings.sync_objects
    )
    touched = touched_sobjects(mapper.mappings.values())
    with org() as (url, env):
        result = check(runner, env)
        served = counts(url)

    assert result.exit_code == 0, result.output
    assert "0 problem(s) in" in result.stderr and problem_lines(result) == []
    assert described(result) == (len(touched), len(touched), [], len(touched))
    # One describe per SObject, nothing else spent at the org (logins are not API calls).
    assert served["total"] == len(touched), served


def test_a_field_the_org_lacks_is_named_and_fails_the_check(runner: CliRunner, tmp_path: Path) -> None:
    overrides = tmp_path / "m.toml"
    overrides.write_text('[orb.objects.invoice]\nrename = { Total__c = "Grand_Total__c" }\n')
    with org() as (_, env):
        result = check(runner, env, "--overrides", str(overrides))

    assert result.exit_code == 1, result.output
    assert problem_lines(result) == ["orb.invoice → OrbInvoice__c.Grand_Total__c: no such field"]
    assert "1 problem(s) in" in result.stderr


def test_an_org_without_the_orb_package_reports_every_orb_sobject_missing(runner: CliRunner) -> None:
    without_orb = load_schema(("standard", "chargebee"))
    orb_objects = {o.name for o in load_schema(("standard", "orb")).objects.values() if o.custom}
    with org(without_orb) as (_, env):
        result = check(runner, env)

    assert result.exit_code == 1, result.output
    count, touched, missing, calls = described(result)
    assert set(missing) == orb_objects and count == touched - len(orb_objects) and calls == touched
    # One problem per Orb object mapping, nothing about the Chargebee ones the org does have.
    orb = build_mapper(chargebee_site="x").mappings["orb"]
    assert sorted(problem_lines(result)) == sorted(
        f"orb.{om.name} → {om.sobject}: no such SObject in the schema" for om in orb.objects
    )


def test_a_wrong_password_exits_2_naming_the_login_failure_and_checks_nothing(runner: CliRunner) -> None:
    with org() as (url, env):
        result = check(runner, {**env, "BRIDGE_SALESFORCE_PASSWORD": "wrong"})
        served = counts(url)

    assert result.exit_code == 2, result.output
    refused = "error: cannot log in to Salesforce: Salesforce refused the password login: invalid_grant"
    assert result.stderr.startswith(refused), result.stderr
    assert "wrong" not in result.stderr  # the password itself is never echoed
    assert result.stdout == "" and "problem(s)" not in result.output
    assert served["total"] == 0  # no describe was tried


def test_no_login_configured_exits_2_naming_the_missing_settings(runner: CliRunner) -> None:
    result = check(runner, {})

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: no usable Salesforce login: the password flow needs client id")
    assert "BRIDGE_SALESFORCE_" in result.stderr and result.stdout == ""


def test_an_unreachable_org_exits_2_naming_the_address(runner: CliRunner) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {**LOGIN, "BRIDGE_SALESFORCE_LOGIN_URL": dead, "BRIDGE_SALESFORCE_INSTANCE_URL": dead}
    result = check(runner, env)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: cannot log in to Salesforce: token request to " + dead)
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_org_and_schema_file_together_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    result = check(runner, {}, "--schema-file", str(tmp_path / "x.json"))

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --org and --schema-file are exclusive")
    assert result.stdout == ""
