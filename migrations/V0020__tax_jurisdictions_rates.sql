-- Tax jurisdictions and their effective-dated rates. Both tables are shared reference data:
-- they carry no tenant and never reference a tenant table. They are filled from the
-- fixtures in fixtures/tax/ by `tax::store::load_fixtures`, which runs after the migrations.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE tax_jurisdictions (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}(-[A-Z0-9]{1,3})*$'),
    name text NOT NULL,
    level text NOT NULL
        CHECK (level IN ('country', 'state', 'county', 'city', 'special_district')),
    parent_code text REFERENCES tax_jurisdictions (code),
    time_zone text NOT NULL,
    tax_name text NOT NULL,
    -- Whether the jurisdiction's tax replaces its parent's (Canadian HST replaces the GST).
    replaces_parent boolean NOT NULL DEFAULT false,
    rounding_scope text NOT NULL CHECK (rounding_scope IN ('line', 'document')),
    rounding_rule text NOT NULL CHECK (rounding_rule IN ('half_up', 'half_even', 'down')),
    source text NOT NULL,
    CHECK ((level = 'country') = (parent_code IS NULL))
);
COMMENT ON TABLE tax_jurisdictions IS
    'Taxing jurisdictions: ISO 3166 code, level, parent, IANA time zone and rounding setting.';

CREATE TABLE tax_rates (
    jurisdiction_code text NOT NULL REFERENCES tax_jurisdictions (code),
    rate_class text NOT NULL
        CHECK (rate_class IN ('standard', 'reduced', 'super_reduced', 'us_fallback')),
    -- Percent, e.g. 25.5 or 9.975.
    rate numeric(7, 4) NOT NULL CHECK (rate >= 0 AND rate < 100),
    -- Both bounds are inclusive dates in the jurisdiction's local time zone.
    valid_from date NOT NULL,
    valid_to date CHECK (valid_to IS NULL OR valid_to >= valid_from),
    source text NOT NULL,
    source_read_on date NOT NULL,
    PRIMARY KEY (jurisdiction_code, rate_class, valid_from),
    EXCLUDE USING gist (
        jurisdiction_code WITH =,
        rate_class WITH =,
        daterange(valid_from, valid_to, '[]') WITH &&
    )
);
COMMENT ON TABLE tax_rates IS
    'Effective-dated tax rates in percent, each row naming its public source and read date.';

GRANT SELECT ON tax_jurisdictions, tax_rates TO subledger_app;
