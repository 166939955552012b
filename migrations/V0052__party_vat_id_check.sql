-- The outcome of a party's VAT id check. An id that has its country's format but fails the
-- check digits is kept, so the customer or partner is not lost, and the tax engine treats the
-- party as not VAT-registered. Every id stored before this column passed its checks, because
-- failing ids were rejected until now.

ALTER TABLE parties ADD COLUMN vat_id_check text
    CHECK (vat_id_check IN ('valid', 'failed'));

UPDATE parties SET vat_id_check = 'valid' WHERE vat_id IS NOT NULL;

ALTER TABLE parties ADD CONSTRAINT parties_vat_id_checked
    CHECK ((vat_id IS NULL) = (vat_id_check IS NULL));

COMMENT ON COLUMN parties.vat_id_check IS
    '''valid'' when the VAT id passed its check digits (or its format where no check-digit rule '
    'is known), ''failed'' when it fails them; NULL without a VAT id.';
