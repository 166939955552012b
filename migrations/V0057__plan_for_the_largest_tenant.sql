-- Plans statements for the largest tenant, not the average one.
--
-- The service runs prepared statements, and Postgres soon replaces their per-call plans by one
-- generic plan costed for an average tenant: the table's rows divided by its number of
-- tenants. A statement such as "tenant_id = $1 AND party_id = ANY($2)" is then planned as
-- a scan of the tenant's part of the primary key with the party ids as a filter, which is
-- cheapest for a tenant of a few rows. A tenant holding most of the table (one marketplace
-- with thousands of customers among many small ones) then reads all of its rows on every
-- call: locking one customer's credit read 10,500 index entries, and writing one number
-- series read 3,700, in a measured run.
--
-- Declaring tenant_id to have one distinct value makes every plan assume the tenant may
-- own the whole table, so the other key columns narrow the index scan. The tables are those
-- the posting path reads by tenant and a list of keys. No request reads them by tenant
-- alone; a report or payout run that does may now scan one whole, and each is far smaller
-- than the journal.
ALTER TABLE parties ALTER COLUMN tenant_id SET (n_distinct = 1);
ALTER TABLE accounts ALTER COLUMN tenant_id SET (n_distinct = 1);
ALTER TABLE contract_accounts ALTER COLUMN tenant_id SET (n_distinct = 1);
ALTER TABLE number_series ALTER COLUMN tenant_id SET (n_distinct = 1);
ALTER TABLE partner_year_revenue ALTER COLUMN tenant_id SET (n_distinct = 1);

-- The setting takes effect at the next ANALYZE.
ANALYZE parties, accounts, contract_accounts, number_series, partner_year_revenue;
