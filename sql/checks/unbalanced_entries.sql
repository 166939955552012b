-- Entries whose lines do not sum to zero in a currency. Must return no rows.
SELECT * FROM audit.unbalanced_entries WHERE tenant_id = :'tenant';
