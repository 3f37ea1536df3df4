"""Settings come from BRIDGE_ variables, document themselves and hide secrets."""

from __future__ import annotations

import pytest

from bridge.kafka import Topics
from bridge.settings import Settings


def test_environment_overrides_defaults_and_prefix_applies_to_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_KAFKA_BOOTSTRAP", "10.0.0.1:9092")
    monkeypatch.setenv("BRIDGE_TOPIC_PREFIX", "prod.")
    monkeypatch.setenv("BRIDGE_HTTP_PORT", "9000")
    s = Settings()
    assert s.kafka_bootstrap == "10.0.0.1:9092"
    assert s.http_port == 9000
    assert Topics.from_settings(s).sync_state == "prod.bridge.sync.state"
    assert Topics.from_settings(s).billing("orb") == "prod.billing.orb.events"


def test_every_setting_has_a_description() -> None:
    missing = [n for n, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_ORB_WEBHOOK_SECRET", "whsec_topsecret")
    s = Settings()
    assert "whsec_topsecret" not in repr(s)
    assert s.orb_webhook_secret is not None
    assert s.orb_webhook_secret.get_secret_value() == "whsec_topsecret"


def test_bad_port_is_rejected_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_HTTP_PORT", "99999")
    with pytest.raises(ValueError, match="http_port"):
        Settings()
