-- The audit trail: one row per request (served, cached, rejected, failed, cancelled), written in batches
-- by each worker's audit writer. request_id is the gateway's own unique id, so a replayed spool inserts
-- nothing twice (ON CONFLICT DO NOTHING). Prompt and completion text are never stored here.

CREATE TABLE audit_log (
    request_id          text PRIMARY KEY,
    client_request_id   text,
    trace_id            text,
    started_at          timestamptz NOT NULL,
    duration_ms         double precision NOT NULL,
    tenant              text,
    key_id              text,
    subject             text,
    target              text,
    operation           text,
    resource            text,
    deployment          text,
    stream              boolean NOT NULL,
    status              integer NOT NULL,
    error_code          text,
    cache_status        text NOT NULL,
    stage_ms            jsonb,
    ttft_ms             double precision,
    prompt_tokens       integer NOT NULL,
    completion_tokens   integer NOT NULL,
    cached_tokens       integer NOT NULL,
    usage_estimated     boolean NOT NULL,
    cost_usd            double precision NOT NULL,
    guardrails          jsonb,
    client              text
);

-- The usage API filters by tenant and time and groups by model, key, user or day.
CREATE INDEX audit_log_tenant_time ON audit_log (tenant, started_at);
CREATE INDEX audit_log_time ON audit_log (started_at);
