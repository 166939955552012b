-- Commission statements: per partner, currency and month, the platform's invoice of its
-- commission on the partner's agent sales, numbered in the platform's own series.

CREATE TABLE commission_statements (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    number text NOT NULL,
    issuer_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    currency char(3) NOT NULL,
    period char(7) NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    issued_at timestamptz NOT NULL,
    commission numeric NOT NULL,
    commission_tax numeric NOT NULL,
    total numeric NOT NULL,
    lines jsonb NOT NULL,
    taxes jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, partner_id, currency, period),
    UNIQUE (tenant_id, issuer_id, number),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES parties (tenant_id, id),
    FOREIGN KEY (tenant_id, issuer_id) REFERENCES parties (tenant_id, id)
);
COMMENT ON TABLE commission_statements IS
    'Monthly commission invoices to partners; the commission itself posted with each sale.';

GRANT SELECT, INSERT ON commission_statements TO subledger_app;
