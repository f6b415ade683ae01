"""The audit trail: one record per request (served, cached, rejected, failed or cancelled).

``record`` defines the row; ``spool`` makes it durable before the client sees the final byte; ``writer``
moves spooled rows to the configured sink (PostgreSQL, or SQLite as the embedded default) in batches, and
replays the spool after an outage or a crash; ``usage`` answers the admin usage queries from the sink.
"""
