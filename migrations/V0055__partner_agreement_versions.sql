-- Versions of partner agreements. A change of terms is a new row in effect from its
-- `effective_from` date; the rows before it stay, so every issued document can still be
-- explained by the version it was priced under. The agreement a partner was created with is
-- version 1, in effect from the start (no date).

ALTER TABLE partner_agreements
    ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN effective_from date,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT partner_agreements_first_version_undated
        CHECK ((version = 1) = (effective_from IS NULL));

ALTER TABLE partner_agreements DROP CONSTRAINT partner_agreements_pkey;
ALTER TABLE partner_agreements ADD PRIMARY KEY (tenant_id, partner_id, version);
CREATE UNIQUE INDEX partner_agreements_effective_from
    ON partner_agreements (tenant_id, partner_id, effective_from);

COMMENT ON COLUMN partner_agreements.effective_from IS
    'First issue date the version prices, in the issuer''s time zone; NULL for version 1.';
