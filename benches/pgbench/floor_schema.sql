-- Schema `floor`: copies of the tables the service writes when it posts an invoice, for the
-- pgbench floor script (invoice.sql). `LIKE ... INCLUDING ALL` copies columns, defaults, checks
-- and indexes but no triggers and no foreign keys, so the floor pays only for the rows.
DROP SCHEMA IF EXISTS floor CASCADE;
CREATE SCHEMA floor;

CREATE TABLE floor.idempotency_keys (LIKE public.idempotency_keys INCLUDING ALL);
CREATE TABLE floor.journal_entries (LIKE public.journal_entries INCLUDING ALL);
CREATE TABLE floor.journal_lines (LIKE public.journal_lines INCLUDING ALL);
CREATE TABLE floor.account_balances (LIKE public.account_balances INCLUDING ALL)
    WITH (fillfactor = 50);
CREATE TABLE floor.account_daily_balances (LIKE public.account_daily_balances INCLUDING ALL)
    WITH (fillfactor = 70);
CREATE TABLE floor.partner_year_revenue (LIKE public.partner_year_revenue INCLUDING ALL);
CREATE TABLE floor.number_series (LIKE public.number_series INCLUDING ALL);
CREATE TABLE floor.invoices (LIKE public.invoices INCLUDING ALL);
CREATE TABLE floor.invoice_lines (LIKE public.invoice_lines INCLUDING ALL);
CREATE TABLE floor.invoice_taxes (LIKE public.invoice_taxes INCLUDING ALL);
CREATE TABLE floor.tax_determinations (LIKE public.tax_determinations INCLUDING ALL);
CREATE TABLE floor.tax_determination_lines (LIKE public.tax_determination_lines INCLUDING ALL);

-- A fixed party id for party number n: partners are 1 to 500, customers 10,001 to 20,000.
CREATE FUNCTION floor.party_id(n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid
$$;

-- The six journal lines of an agent sale with net amount `net`: the customer's receivable,
-- the partner's payable (net, its sale tax, the commission it is charged), the platform's
-- commission revenue and Irish VAT on the commission. With `hot` = 1 every invoice shares the
-- two platform accounts; otherwise each partner has its own.
CREATE FUNCTION floor.invoice_lines_of(customer integer, partner integer, hot integer,
                                       net numeric)
RETURNS TABLE (line_no bigint, account_code text, amount numeric, memo text)
LANGUAGE sql IMMUTABLE AS $$
    WITH amounts AS (
        SELECT round(net * 0.19, 2) AS tax, round(net * 0.15, 2) AS commission,
               round(round(net * 0.15, 2) * 0.23, 2) AS commission_tax
    ), platform AS (
        SELECT CASE WHEN hot = 1 THEN '' ELSE ':p' || partner END AS suffix
    )
    SELECT line.*
    FROM amounts, platform, LATERAL (VALUES
        (1::bigint, 'receivable:c' || customer || '.EUR', net + amounts.tax, 'sale, gross'),
        (2, 'partner_payable:p' || partner || '.EUR', -net, 'sale, net, owed to the partner'),
        (3, 'partner_payable:p' || partner || '.EUR', -amounts.tax, 'DE tax 0.19 owed by the partner'),
        (4, 'partner_payable:p' || partner || '.EUR', amounts.commission + amounts.commission_tax,
            'commission charged'),
        (5, 'commission_revenue' || platform.suffix || '.EUR', -amounts.commission, 'commission'),
        (6, 'tax_payable:IE' || platform.suffix || '.EUR', -amounts.commission_tax, 'IE tax 0.23')
    ) AS line (line_no, account_code, amount, memo)
$$;

-- The source named by each stored tax line, as long as the service's.
CREATE FUNCTION floor.rate_source() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'European Commission, Taxes in Europe Database (TEDB), standard VAT rates, '
        || 'cross-checked against the eu-vat-rates-data package built from it (read 2026-12-04)'
$$;
