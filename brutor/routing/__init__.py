"""Routing: model aliases to deployments, selection (weighted, least-busy, lowest-latency), passive health
(outlier ejection and a circuit breaker), retries with backoff before the first byte, request transforms."""
