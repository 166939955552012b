-- The chart of accounts of each tenant. An account holds one currency; its code, kind and
-- currency never change once it exists, so the application role may only rename it.

CREATE TABLE accounts (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    code text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind text NOT NULL
        CHECK (kind IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    currency text NOT NULL REFERENCES currencies (code),
    party text CHECK (length(party) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, code)
);
COMMENT ON TABLE accounts IS
    'Chart of accounts per tenant. One currency per account; `party` names the customer or '
    'partner a personal account belongs to.';

GRANT SELECT, INSERT ON accounts TO subledger_app;
GRANT UPDATE (name) ON accounts TO subledger_app;
