"""`bridge mapping check|preview`."""

from __future__ import annotations

import json
from pathlib import Path

from mapping_payloads import cb_customer, cb_event, orb_envelope, orb_event, orb_invoice, schema_files
from typer.testing import CliRunner

from bridge.cli import app

runner = CliRunner()
SCHEMA_ARGS = [a for f in schema_files() for a in ("--schema-file", str(f))]


def test_check_passes_with_the_default_mappings() -> None:
    result = runner.invoke(app, ["mapping", "check", *SCHEMA_ARGS])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output


def test_check_fails_and_lists_problems_for_a_bad_override(tmp_path: Path) -> None:
    overrides = tmp_path / "m.toml"
    overrides.write_text('[orb.objects.invoice]\nrename = { Total__c = "Grand_Total__c" }\n')
    result = runner.invoke(app, ["mapping", "check", *SCHEMA_ARGS, "--overrides", str(overrides)])
    assert result.exit_code == 1
    assert "orb.invoice → OrbInvoice__c.Grand_Total__c: no such field" in result.output


def test_check_names_a_broken_overrides_file(tmp_path: Path) -> None:
    overrides = tmp_path / "m.toml"
    overrides.write_text("[orb.objects.nothing]\nenabled = false\n")
    result = runner.invoke(app, ["mapping", "check", *SCHEMA_ARGS, "--overrides", str(overrides)])
    assert result.exit_code == 2
    assert "orb.objects.nothing: no such mapping" in result.output


def test_preview_prints_collection_upserts_for_a_raw_webhook_and_an_envelope(tmp_path: Path) -> None:
    raw = tmp_path / "cb.json"
    raw.write_text(json.dumps(cb_event("customer_created", customer=cb_customer())))
    result = runner.invoke(app, ["mapping", "preview", str(raw)])
    assert result.exit_code == 0, result.output
    requests = json.loads(result.output)
    assert [r["url"] for r in requests] == [
        "/composite/sobjects/CB_Site__c/CB_Id__c",
        "/composite/sobjects/Account/Chargebee_Id__c",
        "/composite/sobjects/Contact/Chargebee_Id__c",
    ]
    account = requests[1]["records"][0]["record"]
    assert account["attributes"] == {"type": "Account"} and account["Chargebee_Id__c"] == "cb_cus_1"
    env = tmp_path / "env.json"
    env.write_bytes(
        orb_envelope(orb_event("invoice.issued", invoice=orb_invoice(lines=3), properties={})).to_bytes()
    )
    result = runner.invoke(app, ["mapping", "preview", str(env)])
    lines = next(r for r in json.loads(result.output) if "OrbInvoiceLineItemBilling__c" in r["url"])
    assert len(lines["records"]) == 3


def test_preview_of_an_unmapped_event_says_so(tmp_path: Path) -> None:
    raw = tmp_path / "orb.json"
    raw.write_text(json.dumps(orb_event("resource_event.test", properties={"message": "x"})))
    result = runner.invoke(app, ["mapping", "preview", str(raw)])
    assert result.exit_code == 0
    assert "unmapped" in result.output
