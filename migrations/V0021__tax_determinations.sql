-- The audit trail of every stored tax determination: one row per document and one row per
-- jurisdiction's tax line. Rows are append-only: a credit note stores its own determination.

CREATE TABLE tax_determinations (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    document_kind text NOT NULL CHECK (document_kind ~ '^[a-z][a-z_]{0,39}$'),
    document_id uuid NOT NULL,
    rule_id text NOT NULL,
    supplier text NOT NULL CHECK (supplier IN ('seller', 'platform')),
    supplier_rule text,
    buyer_treated_as text NOT NULL CHECK (buyer_treated_as IN ('business', 'consumer')),
    buyer_tax_id text,
    source text NOT NULL CHECK (source IN ('local', 'provider', 'fallback')),
    tax_estimated boolean NOT NULL,
    currency char(3) NOT NULL,
    prices_include_tax boolean NOT NULL,
    tax_point timestamptz NOT NULL,
    tax_date date NOT NULL,
    net_total numeric NOT NULL,
    tax_total numeric NOT NULL,
    gross_total numeric NOT NULL,
    legal_mentions text[] NOT NULL,
    -- The external provider's response as received; NULL for a local determination.
    provider_response jsonb,
    -- The whole determination, per-line shares included, for credit notes at original rates.
    determination jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, document_kind, document_id),
    CHECK (tax_estimated = (source = 'fallback'))
);
COMMENT ON TABLE tax_determinations IS
    'Tax determined for a document: rule, supplier, buyer treatment, totals and provider reply.';

CREATE TABLE tax_determination_lines (
    tenant_id uuid NOT NULL,
    determination_id uuid NOT NULL,
    position smallint NOT NULL CHECK (position >= 0),
    -- No foreign key to tax_jurisdictions: US jurisdictions come from the provider.
    jurisdiction_code text NOT NULL,
    jurisdiction_name text NOT NULL,
    jurisdiction_level text NOT NULL,
    tax_name text NOT NULL,
    rule_id text NOT NULL,
    rate numeric NOT NULL,
    taxable numeric NOT NULL,
    amount numeric NOT NULL,
    liable text NOT NULL CHECK (liable IN ('seller', 'platform', 'buyer', 'nobody')),
    legal_mention text,
    rate_source text NOT NULL,
    rounding_scope text NOT NULL CHECK (rounding_scope IN ('line', 'document')),
    PRIMARY KEY (tenant_id, determination_id, position),
    FOREIGN KEY (tenant_id, determination_id) REFERENCES tax_determinations (tenant_id, id)
);
COMMENT ON TABLE tax_determination_lines IS
    'One jurisdiction''s tax of a stored determination: rate, base, amount and who owes it.';

CREATE VIEW audit.tax_lines AS
SELECT d.tenant_id, d.document_kind, d.document_id, d.tax_point, d.tax_date, d.currency,
       d.source, d.tax_estimated, l.position, l.jurisdiction_code, l.jurisdiction_name,
       l.jurisdiction_level, l.tax_name, l.rule_id, l.rate, l.taxable, l.amount, l.liable,
       l.legal_mention, l.rate_source
FROM tax_determinations d
JOIN tax_determination_lines l
  ON l.tenant_id = d.tenant_id AND l.determination_id = d.id;
COMMENT ON VIEW audit.tax_lines IS
    'Every stored tax line with its document, rule, rate source and who owes it.';

CREATE VIEW audit.tax_rates AS
SELECT r.jurisdiction_code, j.name AS jurisdiction_name, j.level, r.rate_class, r.rate,
       r.valid_from, r.valid_to, r.source, r.source_read_on
FROM tax_rates r
JOIN tax_jurisdictions j ON j.code = r.jurisdiction_code;
COMMENT ON VIEW audit.tax_rates IS 'Effective-dated tax rates with their public sources.';

GRANT SELECT, INSERT ON tax_determinations, tax_determination_lines TO subledger_app;
GRANT SELECT ON audit.tax_lines, audit.tax_rates TO subledger_auditor;
