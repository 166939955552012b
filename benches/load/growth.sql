-- Appends $3 invoice-shaped entries of six lines to tenant $1's journal, numbered from $2, with
-- the platform's commission revenue account $4 and tax payable account $5, and adds them to the stored balances and daily changes. Runs with session_replication_role =
-- replica, so the journal triggers do not fire: this statement does their balance work itself,
-- and the caller checks afterwards that audit.balance_check is still empty.
-- Entry ids are time-ordered like the service's UUIDv7 ids, but from 2024 so they never meet one.
WITH customers AS (
    SELECT array_agg(account_code ORDER BY account_code) AS codes
    FROM contract_accounts WHERE tenant_id = $1 AND purpose = 'receivable'
), partners AS (
    SELECT array_agg(account_code ORDER BY account_code) AS codes
    FROM contract_accounts WHERE tenant_id = $1 AND purpose = 'payable'
), entries AS (
    SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid AS id,
           date '2025-01-01' + (n % 365)::int AS effective_date,
           customers.codes[1 + floor(random() * cardinality(customers.codes))::int] AS customer,
           partners.codes[1 + floor(random() * cardinality(partners.codes))::int] AS partner,
           round((3 + random() * 600)::numeric, 2) AS net
    FROM customers, partners, generate_series($2::bigint, $2::bigint + $3::bigint - 1) AS n
), inserted_entries AS (
    INSERT INTO journal_entries (tenant_id, id, effective_date, description, idempotency_key)
    SELECT $1, id, effective_date, 'Bulk-loaded invoice', 'bulk:' || id FROM entries
), lines AS (
    SELECT e.id, e.effective_date, line.*
    FROM entries e,
         LATERAL (SELECT round(e.net * 0.19, 2) AS tax, round(e.net * 0.15, 2) AS commission) a,
         LATERAL (SELECT round(a.commission * 0.23, 2) AS commission_tax) c,
         LATERAL (VALUES
             (1::smallint, e.customer, e.net + a.tax),
             (2::smallint, e.partner, -e.net),
             (3::smallint, e.partner, -a.tax),
             (4::smallint, e.partner, a.commission + c.commission_tax),
             (5::smallint, $4::text, -a.commission),
             (6::smallint, $5::text, -c.commission_tax)
         ) AS line (line_no, account_code, amount)
), inserted_lines AS (
    INSERT INTO journal_lines (tenant_id, entry_id, line_no, account_code, currency, amount)
    SELECT $1, id, line_no, account_code, 'EUR', amount FROM lines
), balances AS (
    INSERT INTO account_balances AS b (tenant_id, account_code, slot, balance, line_count)
    SELECT $1, account_code, 0, sum(amount), count(*) FROM lines GROUP BY account_code
    ON CONFLICT (tenant_id, account_code, slot) DO UPDATE
        SET balance = b.balance + excluded.balance, line_count = b.line_count + excluded.line_count
)
INSERT INTO account_daily_balances AS d
    (tenant_id, account_code, effective_date, slot, delta, line_count)
SELECT $1, account_code, effective_date, 0, sum(amount), count(*)
FROM lines GROUP BY account_code, effective_date
ON CONFLICT (tenant_id, account_code, effective_date, slot) DO UPDATE
    SET delta = d.delta + excluded.delta, line_count = d.line_count + excluded.line_count
