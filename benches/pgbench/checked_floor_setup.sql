-- The tenant of the checked floor: `invoice.sql` run with `checked=1` writes an invoice's rows
-- into the service's own tables, with their triggers and foreign keys, so the database checks
-- every row as it checks the service's. The rows need a tenant, the parties the invoices name
-- and the accounts the entries post to. This file creates them and changes nothing that
-- already exists, so it can run again on a reused database.
--
-- Party ids come from floor.party_id (floor_schema.sql): partners 1 to 500, customers 10,001 to
-- 20,000. Account codes are those of floor.invoice_lines_of: one receivable per customer, one
-- payable per partner, the platform's commission revenue and Irish VAT, and the same two
-- platform accounts once per partner for uniform mode.
INSERT INTO public.tenants (id, name)
VALUES ('00000000-0000-4000-8000-00000000f200', 'checked floor')
ON CONFLICT DO NOTHING;

INSERT INTO public.parties (tenant_id, id, role, name, country, time_zone, business)
SELECT '00000000-0000-4000-8000-00000000f200'::uuid, floor.party_id(n), 'partner', 'Partner ' || n,
       'IE', 'Europe/Dublin', true
FROM generate_series(1, 500) AS n
UNION ALL
SELECT '00000000-0000-4000-8000-00000000f200', floor.party_id(10000 + n), 'customer',
       'Customer ' || n, 'DE', 'Europe/Berlin', false
FROM generate_series(1, 10000) AS n
UNION ALL
SELECT '00000000-0000-4000-8000-00000000f200', floor.party_id(0), 'platform', 'Platform',
       'IE', 'Europe/Dublin', true
ON CONFLICT DO NOTHING;

INSERT INTO public.accounts (tenant_id, code, name, kind, currency)
SELECT '00000000-0000-4000-8000-00000000f200', account.code, account.code, account.kind, 'EUR'
FROM (
    SELECT 'receivable:c' || n || '.EUR' AS code, 'asset' AS kind
    FROM generate_series(1, 10000) AS n
    UNION ALL
    SELECT 'partner_payable:p' || n || '.EUR', 'liability' FROM generate_series(1, 500) AS n
    UNION ALL
    SELECT 'commission_revenue:p' || n || '.EUR', 'revenue' FROM generate_series(1, 500) AS n
    UNION ALL
    SELECT 'tax_payable:IE:p' || n || '.EUR', 'liability' FROM generate_series(1, 500) AS n
    UNION ALL
    VALUES ('commission_revenue.EUR', 'revenue'), ('tax_payable:IE.EUR', 'liability')
) AS account
ON CONFLICT DO NOTHING;
