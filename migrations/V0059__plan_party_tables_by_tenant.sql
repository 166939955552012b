-- Plans reads of the party tables by tenant with each table's own statistics again.
--
-- V0057 declared one distinct tenant_id on these tables, so that generic plans of reads by
-- tenant and a list of keys would narrow the index scan by the keys. Every read by tenant
-- alone then became a scan of the whole table, such as the audit.parties view read for one
-- tenant. The posting path now looks each key of such a list up on its own (a LATERAL
-- subquery per key), which costs one primary key lookup per key under any plan, so the
-- setting is no longer needed.
ALTER TABLE parties ALTER COLUMN tenant_id RESET (n_distinct);
ALTER TABLE contract_accounts ALTER COLUMN tenant_id RESET (n_distinct);
ALTER TABLE number_series ALTER COLUMN tenant_id RESET (n_distinct);
ALTER TABLE partner_year_revenue ALTER COLUMN tenant_id RESET (n_distinct);

ANALYZE parties, contract_accounts, number_series, partner_year_revenue;
