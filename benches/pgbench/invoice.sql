-- The raw PostgreSQL floor of posting one invoice: one transaction that writes the rows the
-- service writes for an invoice of 3 to 6 lines with sale tax and a taxed commission. It reads
-- nothing and validates nothing. Table names are left unqualified, and the driver picks the
-- tables with the search path:
-- - the floor (`checked=0`, search path `floor`) writes into copies of the service's tables
--   in schema `floor` (same columns, checks and indexes, no triggers and no foreign keys);
-- - the checked floor (`checked=1`, search path `public`) writes into the service's own
--   tables, whose triggers and foreign keys check every row as they check the service's. The
--   journal trigger updates the balance rows there, so the script skips its own two balance
--   statements. Its tenant, parties and accounts come from checked_floor_setup.sql.
--
-- A colon never precedes a name inside a literal here: pgbench would take it for a variable.
-- Variables (pgbench -D):
-- - tenant (uuid) and checked (0 or 1, as above);
-- - hot: with 1 every invoice posts to the one platform commission account and the one tax
--   account, with 0 to the platform accounts of its partner;
-- - response, invoice_determination and determination1 to determination3: the JSON text of
--   the documents the service stored for a sample invoice. They are sent as parameters and stored as the service stores them: the response as text, the
-- determinations as json, which Postgres checks on every invoice as it does the service's.
-- Balance rows are striped over 16 slots by client, as the service stripes them by connection.
\set customer random(1, 10000)
\set partner random(1, 500)
\set line_count random(3, 6)
\set net random(300, 60000)
\set slot :client_id % 16
BEGIN;
INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response)
VALUES ((:tenant)::uuid, gen_random_uuid()::text, sha256(random()::text::bytea), 201,
        (:response)::text);
WITH entry AS (
    INSERT INTO journal_entries
        (tenant_id, id, effective_date, description, idempotency_key, reverses)
    VALUES ((:tenant)::uuid, gen_random_uuid(), current_date, 'Invoice INV-2026-000001',
            'invoice:' || gen_random_uuid(), NULL)
    RETURNING tenant_id, id
)
INSERT INTO journal_lines (tenant_id, entry_id, line_no, account_code, currency, amount, memo)
SELECT entry.tenant_id, entry.id, line.line_no, line.account_code, 'EUR', line.amount, line.memo
FROM entry, floor.invoice_lines_of((:customer)::int, (:partner)::int, (:hot)::int, (:net)::numeric / 100) AS line;
\if :checked = 0
INSERT INTO account_balances AS b (tenant_id, account_code, slot, balance, line_count)
SELECT (:tenant)::uuid, line.account_code, (:slot)::smallint, sum(line.amount), count(*)
FROM floor.invoice_lines_of((:customer)::int, (:partner)::int, (:hot)::int, (:net)::numeric / 100) AS line
GROUP BY line.account_code
ORDER BY line.account_code
ON CONFLICT (tenant_id, account_code, slot) DO UPDATE
    SET balance = b.balance + excluded.balance, line_count = b.line_count + excluded.line_count;
INSERT INTO account_daily_balances AS d
    (tenant_id, account_code, effective_date, slot, delta, line_count)
SELECT (:tenant)::uuid, line.account_code, current_date, (:slot)::smallint, sum(line.amount), count(*)
FROM floor.invoice_lines_of((:customer)::int, (:partner)::int, (:hot)::int, (:net)::numeric / 100) AS line
GROUP BY line.account_code
ORDER BY line.account_code
ON CONFLICT (tenant_id, account_code, effective_date, slot) DO UPDATE
    SET delta = d.delta + excluded.delta, line_count = d.line_count + excluded.line_count;
\endif
INSERT INTO partner_year_revenue AS r (tenant_id, partner_id, year, currency, net_revenue)
VALUES ((:tenant)::uuid, floor.party_id((:partner)::int), 2026, 'EUR', (:net)::numeric / 100)
ON CONFLICT (tenant_id, partner_id, year, currency) DO UPDATE
    SET net_revenue = r.net_revenue + excluded.net_revenue;
INSERT INTO number_series AS s
    (tenant_id, issuer_id, series, year, last_number, last_issued_at)
VALUES ((:tenant)::uuid, floor.party_id((:partner)::int), 'L' || (:client_id)::text, 2026, 1, now())
ON CONFLICT (tenant_id, issuer_id, series, year) DO UPDATE
    SET last_number = s.last_number + 1, last_issued_at = excluded.last_issued_at;
WITH invoice AS (
    INSERT INTO invoices (tenant_id, id, number, issuer_id, series, customer_id, seller_id,
        currency, selling_role, prices_include_tax, issued_at, issue_date, due_on, net_total,
        tax_total, total, commission, commission_tax, partner_share, credit_applied,
        open_amount, tax_determination, commission_legal_mention, entry_id)
    VALUES ((:tenant)::uuid, gen_random_uuid(), 'L' || (:client_id)::text || '-' || gen_random_uuid(),
        floor.party_id((:partner)::int), 'L' || (:client_id)::text, floor.party_id(10000 + (:customer)::int),
        floor.party_id((:partner)::int), 'EUR', 'agent', false, now(), current_date, current_date,
        (:net)::numeric / 100, 19.00, 119.00, 15.00, 3.45, 100.00, 0, 119.00,
        (:invoice_determination)::json, NULL, gen_random_uuid())
    RETURNING tenant_id, id
), invoice_lines AS (
    INSERT INTO invoice_lines (tenant_id, invoice_id, line_no, product, tax_code, quantity,
        unit_price, discount, net, commission)
    SELECT invoice.tenant_id, invoice.id, n, 'sku-' || n, 'digital_good', 1, 20.00, 0, 20.00, 3.00
    FROM invoice, generate_series(1, (:line_count)::int) AS n
), determinations AS (
    -- The service stores one determination per tax code of the sale and one for the
    -- commission, each with its whole JSON and one tax line.
    INSERT INTO tax_determinations (tenant_id, id, document_kind, document_id, rule_id,
        supplier, supplier_rule, buyer_treated_as, buyer_tax_id, source, tax_estimated, currency,
        prices_include_tax, tax_point, tax_date, net_total, tax_total, gross_total,
        legal_mentions, provider_response, determination)
    SELECT invoice.tenant_id, gen_random_uuid(), d.kind, invoice.id, d.rule, d.supplier, NULL,
        d.buyer, NULL, 'local', false, 'EUR', false, now(), current_date, d.net, d.tax,
        d.net + d.tax, '{}', NULL, d.determination
    FROM invoice, (VALUES
        ('invoice_digital_good', 'eu.b2c.electronic_services.destination', 'seller', 'consumer',
         50.00, 9.50, (:determination1)::json),
        ('invoice_saas', 'eu.b2c.electronic_services.destination', 'seller', 'consumer',
         50.00, 9.50, (:determination2)::json),
        ('invoice_commission', 'eu.domestic', 'seller', 'business', 15.00, 3.45,
         (:determination3)::json)
    ) AS d (kind, rule, supplier, buyer, net, tax, determination)
    RETURNING tenant_id, id, rule_id, net_total, tax_total
), determination_lines AS (
    INSERT INTO tax_determination_lines (tenant_id, determination_id, position,
        jurisdiction_code, jurisdiction_name, jurisdiction_level, tax_name, rule_id, rate,
        taxable, amount, liable, legal_mention, rate_source, rounding_scope)
    SELECT d.tenant_id, d.id, 0, 'DE', 'Germany', 'country', 'VAT', d.rule_id, 19, d.net_total,
        d.tax_total, 'seller', NULL, floor.rate_source(), 'document'
    FROM determinations d
)
INSERT INTO invoice_taxes (tenant_id, invoice_id, seq, kind, jurisdiction, rate, rule,
    liable, base, amount, account_code, lines, legal_mention)
SELECT invoice.tenant_id, invoice.id, tax.seq, tax.kind, tax.jurisdiction, tax.rate, tax.rule,
       tax.liable, 100.00, tax.amount, tax.account_code, '{1,2,3}', NULL
FROM invoice, (VALUES
    (0, 'sale', 'DE', 0.19, 'eu_b2c_customer_country', 'partner', 19.00, NULL),
    (1, 'commission', 'IE', 0.23, 'domestic', 'platform', 3.45, 'tax_payable:' || 'IE.EUR')
) AS tax (seq, kind, jurisdiction, rate, rule, liable, amount, account_code);
END;
