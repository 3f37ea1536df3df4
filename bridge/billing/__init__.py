"""Billing platform API clients (Orb, Chargebee): list with pagination, update, create."""
