"""The ``/admin`` REST API: tenants, keys, entitlements, limits and models, with an OpenAPI document."""
