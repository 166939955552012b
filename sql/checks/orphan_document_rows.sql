-- Invoice lines, invoice taxes and tax determination lines whose document does not exist.
-- Must return no rows.
SELECT * FROM audit.orphan_document_rows WHERE tenant_id = :'tenant';
