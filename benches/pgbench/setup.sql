-- Setup for the pgbench scripts in this directory: one tenant with a hot account (cash.EUR)
-- and 64 partner accounts, plus the trigger-free tables of the floor script.
INSERT INTO tenants (id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'bench');
INSERT INTO accounts (tenant_id, code, name, kind, currency)
SELECT '00000000-0000-0000-0000-000000000001'::uuid, 'p' || i || '.EUR', 'p' || i, 'liability', 'EUR'
FROM generate_series(0, 63) i
UNION ALL
SELECT '00000000-0000-0000-0000-000000000001'::uuid, 'cash.EUR', 'cash', 'asset', 'EUR';

CREATE TABLE bench_entries (tenant_id uuid, id uuid PRIMARY KEY, effective_date date,
                            description text);
CREATE TABLE bench_lines (entry_id uuid, line_no bigint, account text, amount numeric,
                          PRIMARY KEY (entry_id, line_no));
CREATE TABLE bench_balances (account text PRIMARY KEY, balance numeric NOT NULL);
INSERT INTO bench_balances SELECT code, 0 FROM accounts;
ANALYZE;
