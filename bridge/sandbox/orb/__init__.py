"""A local Orb: the `/v1` API (customers, plans, subscriptions, invoices, credit notes, credit
ledger), signed webhooks, a deterministic tenant generator and a `/_sandbox` control API."""
