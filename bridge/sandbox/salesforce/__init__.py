"""A local Salesforce: OAuth, REST, sObject Collections, SOQL, Bulk API 2.0, CDC over CometD.

`app.create_app()` builds it; `control.py` documents the `/_sandbox/…` routes tests drive.
"""
