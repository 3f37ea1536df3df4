"""`bridge config show`: effective values, where each came from, secrets never printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from bridge.cli import app

SECRET = "whsec_do_not_print_me"
PASSWORD = "hunter2-very-secret"


def _by_name(output: str) -> dict[str, Any]:
    return {row["name"]: row for row in orjson.loads(output)}


def test_secrets_are_masked_in_json_and_in_the_table(runner: CliRunner) -> None:
    env = {
        "BRIDGE_ORB_WEBHOOK_SECRET": SECRET,
        "BRIDGE_CHARGEBEE_WEBHOOK_PASSWORD": PASSWORD,
        "BRIDGE_SALESFORCE_PRIVATE_KEY_FILE": "/etc/bridge/key.pem",
        "BRIDGE_CHARGEBEE_WEBHOOK_USERNAME": "cb-user",
    }
    as_json = runner.invoke(app, ["config", "show", "--json"], env=env)
    table = runner.invoke(app, ["config", "show"], env={**env, "COLUMNS": "200"})

    assert as_json.exit_code == 0 and table.exit_code == 0, as_json.output + table.output
    for text in (as_json.output, table.output):
        assert SECRET not in text and PASSWORD not in text and "/etc/bridge/key.pem" not in text
    rows = _by_name(as_json.stdout)
    assert rows["orb_webhook_secret"]["value"] == "********"
    assert rows["chargebee_webhook_password"]["value"] == "********"
    assert rows["salesforce_private_key_file"]["value"] == "********"  # named *key*
    assert rows["chargebee_webhook_username"]["value"] == "cb-user"
    assert rows["salesforce_access_token"]["value"] is None  # unset stays visibly unset
    assert "********" in table.stdout and "cb-user" in table.stdout


def test_each_setting_names_its_source_and_description(runner: CliRunner) -> None:
    Path("bridge.toml").write_text('topic_prefix = "prod."\nhttp_port = 9000\n')

    run = runner.invoke(app, ["config", "show", "--json"], env={"BRIDGE_HTTP_PORT": "8181"})

    assert run.exit_code == 0, run.output
    rows = _by_name(run.stdout)
    assert (rows["http_port"]["value"], rows["http_port"]["source"]) == (8181, "env")  # env beats the file
    assert (rows["topic_prefix"]["value"], rows["topic_prefix"]["source"]) == ("prod.", "bridge.toml")
    assert (rows["topic_partitions"]["value"], rows["topic_partitions"]["source"]) == (12, "default")
    assert rows["http_port"]["env_var"] == "BRIDGE_HTTP_PORT"
    assert all(row["description"] for row in rows.values())


def test_an_invalid_setting_is_named_in_a_clear_error(runner: CliRunner) -> None:
    run = runner.invoke(app, ["config", "show"], env={"BRIDGE_HTTP_PORT": "eighty"})
    assert run.exit_code == 1
    assert "http_port" in run.stderr
