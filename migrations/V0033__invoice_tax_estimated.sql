-- An invoice taxed at local fallback rates while the external tax provider was down carries
-- the flag itself, so whoever reads the invoice sees that its tax is an estimate.

ALTER TABLE invoices ADD COLUMN tax_estimated boolean NOT NULL DEFAULT false;

UPDATE invoices i SET tax_estimated = true
WHERE EXISTS (
    SELECT 1 FROM tax_determinations d
    WHERE d.tenant_id = i.tenant_id AND d.document_id = i.id AND d.tax_estimated
);

COMMENT ON COLUMN invoices.tax_estimated IS
    'True when some tax of the invoice comes from fallback rates because the tax provider failed.';
