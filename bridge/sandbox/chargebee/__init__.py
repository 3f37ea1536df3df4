"""A local Chargebee (API v2, product catalog 2.0) that emits Basic-auth webhooks.

`app.create_app()` builds the Starlette app; `tenant.generate()` builds a deterministic site.
"""
