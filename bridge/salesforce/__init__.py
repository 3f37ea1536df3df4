"""Salesforce: schema (as data), auth, async REST client, Bulk API 2.0, CDC subscriber."""
