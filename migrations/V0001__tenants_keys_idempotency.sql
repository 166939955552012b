-- Tenants, their API keys and the idempotency records of every write.

-- Roles are cluster-wide, so they are created only when missing. The application role may
-- read and append; the auditor role may only read the `audit` schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'subledger_app') THEN
        CREATE ROLE subledger_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'subledger_auditor') THEN
        CREATE ROLE subledger_auditor LOGIN;
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS audit;
COMMENT ON SCHEMA audit IS
    'Read-only views for auditors: balances, journal, open items and tax liabilities.';

REVOKE ALL ON SCHEMA public FROM subledger_auditor;
GRANT USAGE ON SCHEMA public TO subledger_app;
GRANT USAGE ON SCHEMA audit TO subledger_auditor;
ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT ON TABLES TO subledger_auditor;

CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenants IS 'Companies whose books this service keeps; every other row names one.';

CREATE TABLE api_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    key_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('write', 'read')),
    secret_sha256 bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key_id)
);
COMMENT ON TABLE api_keys IS
    'API keys, stored as the SHA-256 of their secret part; `read` keys are for auditors.';

CREATE TABLE idempotency_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    key text NOT NULL,
    request_sha256 bytea NOT NULL,
    status_code smallint NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
COMMENT ON TABLE idempotency_keys IS
    'The stored response of every write, replayed when the same key and request come again.';

GRANT SELECT ON tenants, api_keys TO subledger_app;
GRANT SELECT, INSERT ON idempotency_keys TO subledger_app;
