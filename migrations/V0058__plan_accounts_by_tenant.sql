-- Plans reads of the chart of accounts by tenant with the tenant's own statistics again.
--
-- V0057 declared one distinct tenant_id on accounts, so that generic plans of reads by tenant
-- and a list of codes narrow the scan by code. It also made every read of accounts by tenant
-- alone a sequential scan of the whole table: the trial balance and the account views that
-- auditors read, for a tenant of a few accounts among 50,000, went from 0.1 to 4 ms. The
-- one posting statement that reads accounts by a list of codes now looks each code up on its
-- own, which needs no such setting.
--
-- The tables that keep the setting (parties, contract_accounts, number_series,
-- partner_year_revenue) are read by key lists on the posting path. Of them, only parties is
-- read by tenant alone, by the audit.parties view, which now scans the whole table.
ALTER TABLE accounts ALTER COLUMN tenant_id RESET (n_distinct);
ANALYZE accounts;
