-- The config store: tenants, API keys, entitlements, limits and models, plus a version counter that
-- every change bumps (and announces with NOTIFY) so each gateway worker reloads within a second.
-- Names are unqualified: the runner sets search_path to the configured schema.

CREATE TABLE tenants (
    id          text PRIMARY KEY,
    name        text,
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the keyed hash of a key is stored; prefix is the first characters, for people to recognise it.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,
    tenant      text NOT NULL REFERENCES tenants (id),
    tenants     text[] NOT NULL DEFAULT '{}',
    owner       text,
    models      text[] NOT NULL DEFAULT '{*}',
    deny        text[] NOT NULL DEFAULT '{}',
    limits      jsonb,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE entitlements (
    kind        text NOT NULL CHECK (kind IN ('tenant', 'group')),
    name        text NOT NULL,
    allow       text[],
    deny        text[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
);

CREATE TABLE limits (
    kind        text NOT NULL CHECK (kind IN ('tenant', 'model', 'user')),
    subject     text NOT NULL,
    "values"    jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, subject)
);

-- Models served by providers defined in the config file (providers hold credentials and stay there).
CREATE TABLE models (
    name            text PRIMARY KEY,
    provider        text NOT NULL,
    upstream_model  text,
    type            text NOT NULL DEFAULT 'chat' CHECK (type IN ('chat', 'embedding')),
    price           jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE config_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL
);
INSERT INTO config_version VALUES (true, 1);

-- Statement-level, so a bulk edit is one bump and one notification. The schema is taken from the
-- trigger, not from search_path, so edits made by hand (psql) announce themselves too.
CREATE FUNCTION config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    EXECUTE format('UPDATE %I.config_version SET version = version + 1 RETURNING version', TG_TABLE_SCHEMA)
        INTO v;
    PERFORM pg_notify('brutor_config_' || TG_TABLE_SCHEMA, v::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION config_changed();
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION config_changed();
CREATE TRIGGER entitlements_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON entitlements
    FOR EACH STATEMENT EXECUTE FUNCTION config_changed();
CREATE TRIGGER limits_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON limits
    FOR EACH STATEMENT EXECUTE FUNCTION config_changed();
CREATE TRIGGER models_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION config_changed();
