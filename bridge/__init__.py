"""Billing ⇄ Salesforce event bridge."""

__version__ = "0.1.0"
