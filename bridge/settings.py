"""Settings: environment (`BRIDGE_` prefix) first, then an optional `bridge.toml`.

Every field carries a description so `bridge config show` can document itself. Secrets are
`SecretStr`: they never print, and are read only from the environment or a file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """All settings of the bridge; names are part of the contract (DESIGN.md §5)."""

    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_", toml_file="bridge.toml", extra="ignore", validate_default=True
    )

    # Kafka
    kafka_bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers, comma separated.")
    topic_prefix: str = Field(
        "", description="Prefix put before every topic name (e.g. 'prod.'), to share a cluster."
    )
    topic_partitions: int = Field(12, ge=1, description="Partitions of topics the bridge creates.")
    topic_replication: int = Field(
        1, ge=1, description="Replication factor of topics the bridge creates (follow the broker)."
    )
    publish_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a publish may wait for the broker's ack before 503."
    )

    # Receiver
    http_host: str = Field("127.0.0.1", description="Address the receiver listens on.")
    http_port: int = Field(8080, ge=1, le=65535, description="Port the receiver listens on.")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest webhook body accepted; larger gets 413."
    )
    receiver_producers: int = Field(
        1,
        ge=1,
        le=16,
        description="Kafka producers (connections) the receiver spreads publishes over, by key; "
        "aiokafka keeps one produce request in flight per connection.",
    )
    orb_webhook_secret: SecretStr | None = Field(
        None, description="Orb webhook signing secret; several, comma separated, during rotation."
    )
    chargebee_webhook_username: str | None = Field(
        None, description="HTTP Basic user name Chargebee sends with webhooks."
    )
    chargebee_webhook_password: SecretStr | None = Field(
        None, description="HTTP Basic password Chargebee sends with webhooks."
    )
    chargebee_allowed_ips: str = Field(
        "", description="Chargebee source addresses/networks allowed, comma separated (empty: any)."
    )
    http_trusted_proxies: str = Field(
        "",
        description=(
            "Reverse proxies (addresses or networks, comma separated, or *) whose X-Forwarded-For "
            "names the caller, as the Chargebee allow-list needs behind a load balancer "
            "(empty: the connection's own address, forwarding headers ignored)."
        ),
    )
    salesforce_organization_id: str | None = Field(
        None, description="Org id outbound messages must carry (15 or 18 characters; empty: any)."
    )

    # Salesforce
    salesforce_instance_url: str = Field(
        "http://127.0.0.1:8181", description="Salesforce instance (or sandbox) base URL."
    )
    salesforce_login_url: str = Field(
        "http://127.0.0.1:8181",
        description="OAuth server (https://login.salesforce.com, test.salesforce.com, or My Domain).",
    )
    salesforce_auth_flow: Literal["jwt", "client_credentials", "password", "token"] = Field(
        "password", description="How the bridge logs in: jwt, client_credentials, password, token."
    )
    salesforce_client_id: str | None = Field(None, description="Connected app consumer key.")
    salesforce_client_secret: SecretStr | None = Field(
        None, description="Connected app consumer secret (client credentials, password flows)."
    )
    salesforce_username: str | None = Field(None, description="Integration user (jwt, password).")
    salesforce_password: SecretStr | None = Field(None, description="Password (password flow).")
    salesforce_private_key_file: str | None = Field(
        None, description="PEM private key file for the JWT bearer flow."
    )
    salesforce_access_token: SecretStr | None = Field(
        None, description="A ready session id (token flow; tests and one-off runs)."
    )
    salesforce_api_version: str = Field("62.0", description="REST API version used.")
    salesforce_client_name: str = Field(
        "bridge",
        description="Sent as Sforce-Call-Options client=<name>; CDC changes carrying it are echoes.",
    )
    salesforce_integration_user_id: str | None = Field(
        None, description="Id of the bridge's Salesforce user: CDC changes it commits are echoes."
    )
    salesforce_allow_duplicates: bool = Field(
        False, description="Send Sforce-Duplicate-Rule-Header allowSave=true (alert-level rules)."
    )
    api_budget_slow_share: float = Field(
        0.8, gt=0, le=1, description="Share of the daily API allowance above which writes slow down."
    )
    api_budget_stop_share: float = Field(
        0.95, gt=0, le=1, description="Share of the daily API allowance above which writes stop."
    )
    api_budget_probe_seconds: float = Field(
        60.0, gt=0, description="While writes are stopped, one call this often reads usage afresh."
    )

    # Billing APIs
    orb_api_url: str = Field("https://api.withorb.com/v1", description="Orb API base URL (ends in /v1).")
    chargebee_api_url: str = Field(
        "https://example.chargebee.com/api/v2", description="Chargebee site API base URL."
    )
    writeback_concurrency: int = Field(
        16,
        ge=1,
        le=256,
        description="Accounts whose changes writeback pushes to billing at the same time (each "
        "Account's own changes stay in order).",
    )
    orb_api_key: SecretStr | None = Field(None, description="Orb API key (writeback, backfill).")
    chargebee_api_key: SecretStr | None = Field(None, description="Chargebee API key (writeback, backfill).")
    orb_create_customers: bool = Field(
        False,
        description="Writeback: an Account with an Orb_Billing_Email__c and no Orb customer gets one "
        "(external_customer_id = the Account Id).",
    )

    # Sync
    sync_objects: str = Field(
        "", description="Object types to sync, comma separated (empty: every mapped type)."
    )
    sync_group_id: str = Field("bridge-sync", description="Kafka consumer group of bridge sync.")
    sync_max_batch: int = Field(
        10_000,
        ge=1,
        description="Most events one sync batch handles (pooled into one set of upserts); at "
        "least BRIDGE_SYNC_BULK_THRESHOLD for the Bulk API path to be reachable.",
    )
    sync_batch_linger_ms: int = Field(
        250,
        ge=0,
        description="While more events wait in Kafka, keep fetching for up to this long to fill "
        "a batch (a large lag then becomes few large writes; no lag adds no wait).",
    )
    sync_bulk_threshold: int = Field(
        10_000,
        ge=1,
        description="Records of one SObject in one batch from which the sync upserts them with a "
        "Bulk API 2.0 job instead of sObject Collections.",
    )
    sync_bulk_poll_max_seconds: float = Field(
        5.0, gt=0, description="Longest pause between two polls of a Bulk API 2.0 job's state."
    )
    sync_bulk_job_timeout_seconds: float = Field(
        600.0,
        gt=0,
        description="A Bulk API 2.0 job not finished after this long is aborted and its records retried.",
    )
    sync_parent_retry_seconds: float = Field(
        30.0,
        ge=0,
        description="A record whose parent is not in Salesforce yet (its lookup by external id "
        "finds nothing) is dead-lettered as MissingParent and redriven after this long, doubling "
        "with each attempt: its parent is usually an event behind it. 0: no automatic redrive.",
    )
    sync_parent_retries: int = Field(
        5, ge=0, description="Automatic redrives of a MissingParent dead letter before it waits for a person."
    )
    mapping_file: str | None = Field(
        None, description="TOML file overriding the default mappings (rename, drop, constants)."
    )

    # Logging
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(True, description="Log JSON lines (true) or readable console lines.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            file_secret_settings,
            TomlConfigSettingsSource(settings_cls),
        )

    def orb_secrets(self) -> list[str]:
        """The Orb signing secrets (several during rotation)."""
        raw = self.orb_webhook_secret.get_secret_value() if self.orb_webhook_secret else ""
        return [part.strip() for part in raw.split(",") if part.strip()]

    def topic(self, name: str) -> str:
        """The full name of a bridge topic, with the configured prefix."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
