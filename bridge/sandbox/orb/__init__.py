"""A local Orb: the `/v1` API, signed webhooks, a deterministic tenant generator and a
`/_sandbox` control API. Run it with `bridge sandbox orb --port 8282`, or in tests with
`create_app(...)` under uvicorn.

`create_app()` options (keyword only; with none, the environment configures it):
    api_keys                Bearer keys accepted (str or iterable). Env BRIDGE_SANDBOX_ORB_API_KEYS,
                            default `orb-sandbox-key`.
    webhook_endpoints       URLs (str) or `webhooks.Endpoint(url, secret, payload_style)`.
                            Env BRIDGE_SANDBOX_ORB_WEBHOOK_URLS (comma separated).
    webhook_secret          Signing secret for URL endpoints; comma separated = rotation (one
                            `v1=` per secret). Env BRIDGE_ORB_WEBHOOK_SECRET.
    payload_style           "expanded" (default) or "standard". Env BRIDGE_SANDBOX_ORB_PAYLOAD_STYLE.
    clock                   `clock.SandboxClock` (fixed start and/or advanced by the control API).
    retry_backoff_seconds   First retry delay, doubled per attempt (default 10 s, max 1 h);
    max_delivery_attempts   attempts before a delivery is marked failed (default 8);
    delivery_timeout_seconds
    seed, customers, months A tenant to generate at start (env BRIDGE_SANDBOX_ORB_SEED / _CUSTOMERS).

API (`/v1`, Bearer key): ping; customers (list, create, get, PUT, by `external_customer_id`
get/PUT), credits ledger (list, `ledger_entry` increment/decrement); plans (list, get, by
external id), prices (list, get); subscriptions (list with customer/plan/status filters,
create, get, PUT, `schedule_plan_change`, `cancel`, `price_intervals` add/edit); invoices (list
with customer/status/subscription filters, get, PUT, `issue`, `mark_paid`, `pay`, `void`); credit
notes (list, get). Lists: `limit` 1–100 (default 20), `cursor`, `created_at[gt|gte|lt|lte]`,
newest first, `pagination_metadata {has_more, next_cursor}`. `Idempotency-Key` on POST/PATCH
(48 h on the sandbox clock, ≤ 64 chars, `Idempotent-Replayed: true` on a replay, 409 for another
body or a request still running). Errors are Orb's `{type, status, title, detail}` bodies.

Control routes (`/_sandbox`, no auth):
    POST   /reset                      forget everything (optional {"seed"})
    GET    /snapshot[?full=true]       counts, clock, delivery states (full: every object)
    POST   /tenant                     {"seed", "customers", "months"}: replace with a generated tenant
    GET    /clock, POST /clock/advance {"days", "seconds"}: starts, scheduled plan changes, ends fall due
    GET    /deliveries                 ?status (pending|retrying|delivered|failed), event_type,
                                       customer_id, limit, body=true
    GET    /deliveries/{id}            one delivery with its body and attempt history
    GET    /webhooks                   endpoints and paused state
    POST   /webhooks/pause, /webhooks/resume
    POST   /webhooks/settle            {"timeout_seconds"}: wait until every queued delivery is done
    POST   /webhooks/endpoints         {"url", "secret"?, "payload_style"?}; DELETE removes all
    POST   /faults                     {"mode": error|rate_limit|latency, "count", "status",
                                        "retry_after", "latency_ms", "path_prefix", "method"}
    GET    /faults, DELETE /faults
    GET    /daily_line_item_revenue    ?customer_id&invoice_id&limit&cursor: rows
                                       {id, invoice_id, line_item_id, customer_id, date, quantity,
                                        amount, currency, price_id, item{id,name}}, paginated like
                                       Orb lists (oldest invoice first). Orb has no such endpoint.
    POST   /actions/{name}             issue_invoice, pay_invoice, fail_payment, void_invoice,
                                       change_plan, cancel_subscription, edit_customer, add_credits,
                                       issue_credit_note; body names the target
                                       (customer_id / subscription_id / invoice_id) or the oldest
                                       match is used.

Not reproduced: price models other than `unit`, adjustments, discounts, coupons, minimums and
maximums, plan phases, trials, taxes; usage ingestion (usage quantities are generated); proration
(a plan change mid-period bills both plans for the whole period); automatic issuing, collection
and dunning (payments happen through actions or `/pay`); customer balance transactions; credit
block expiry, void and amendment ledger entries; `POST /credit_notes`; plan versions; customer
timezones (periods are UTC); the webhook event API (`/v1/webhook_events`); Orb's real retry
schedule (not published: the sandbox doubles from 10 s); ~65 of the SDK's 88 event types.
"""
