-- Auditor views of billing: open items, aging, partner and customer statements. Each view
-- carries `tenant_id`; the service filters on it, auditors may read every tenant.

-- Open items as of a date: invoice total less what was allocated and credited by then.
CREATE FUNCTION audit.open_items_at(tenant uuid, as_of date)
RETURNS TABLE (
    tenant_id uuid, customer_id uuid, invoice_id uuid, number text, currency char(3),
    issue_date date, due_on date, total numeric, paid numeric, credited numeric,
    open_amount numeric, days_overdue integer
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT i.tenant_id, i.customer_id, i.id, i.number, i.currency, i.issue_date, i.due_on,
           i.total, coalesce(a.paid, 0), coalesce(c.credited, 0),
           i.total - coalesce(a.paid, 0) - coalesce(c.applied, 0),
           greatest(as_of - i.due_on, 0)
    FROM invoices i
    LEFT JOIN LATERAL (
        SELECT sum(amount) AS paid FROM allocations
        WHERE tenant_id = i.tenant_id AND invoice_id = i.id AND applied_on <= as_of
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT sum(total) AS credited, sum(applied_to_open) AS applied FROM credit_notes
        WHERE tenant_id = i.tenant_id AND invoice_id = i.id AND issue_date <= as_of
    ) c ON true
    WHERE i.tenant_id = tenant AND i.issue_date <= as_of
      AND i.total - coalesce(a.paid, 0) - coalesce(c.applied, 0) > 0
$$;

CREATE VIEW audit.open_items AS
    SELECT o.* FROM tenants t, LATERAL audit.open_items_at(t.id, current_date) o;
COMMENT ON VIEW audit.open_items IS
    'Invoices not yet cleared today, with their open amount and days past due.';

-- Aging buckets by days past due: not yet due, 0-30, 31-60, 61-90 and over 90 days.
CREATE FUNCTION audit.aging_at(tenant uuid, as_of date)
RETURNS TABLE (
    tenant_id uuid, customer_id uuid, currency char(3), not_due numeric, days_0_30 numeric,
    days_31_60 numeric, days_61_90 numeric, days_over_90 numeric, total numeric
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT o.tenant_id, o.customer_id, o.currency,
           coalesce(sum(o.open_amount) FILTER (WHERE o.due_on >= as_of), 0),
           coalesce(sum(o.open_amount) FILTER (WHERE o.due_on < as_of AND o.days_overdue <= 30), 0),
           coalesce(sum(o.open_amount) FILTER (WHERE o.days_overdue BETWEEN 31 AND 60), 0),
           coalesce(sum(o.open_amount) FILTER (WHERE o.days_overdue BETWEEN 61 AND 90), 0),
           coalesce(sum(o.open_amount) FILTER (WHERE o.days_overdue > 90), 0),
           sum(o.open_amount)
    FROM audit.open_items_at(tenant, as_of) o
    GROUP BY o.tenant_id, o.customer_id, o.currency
$$;

CREATE VIEW audit.aging AS
    SELECT a.* FROM tenants t, LATERAL audit.aging_at(t.id, current_date) a;
COMMENT ON VIEW audit.aging IS 'Open receivables per customer and currency by days past due.';

-- Per partner, currency and month: sales, refunds, commission, tax and payouts, with the
-- running balance owed to the partner (negative when the partner owes the platform).
CREATE VIEW audit.partner_statement AS
WITH events AS (
    SELECT tenant_id, seller_id AS partner_id, currency, to_char(issue_date, 'YYYY-MM') AS period,
           1 AS sales_count, net_total AS sales_net, tax_total AS sales_tax, total AS sales_total,
           commission, commission_tax, partner_share, 0 AS refunds_total,
           0 AS commission_refunded, 0 AS refunds_partner_cost, 0 AS payouts
    FROM invoices
    UNION ALL
    SELECT c.tenant_id, i.seller_id, c.currency, to_char(c.issue_date, 'YYYY-MM'), 0, 0, 0, 0, 0,
           0, 0, c.total, c.commission, c.partner_cost, 0
    FROM credit_notes c
    JOIN invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
    UNION ALL
    SELECT tenant_id, partner_id, currency, period, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, amount
    FROM payouts
),
months AS (
    SELECT tenant_id, partner_id, currency, period,
           sum(sales_count)::integer AS sales_count, sum(sales_net) AS sales_net,
           sum(sales_tax) AS sales_tax, sum(sales_total) AS sales_total,
           sum(commission) AS commission, sum(commission_tax) AS commission_tax,
           sum(partner_share) AS partner_share, sum(refunds_total) AS refunds_total,
           sum(commission_refunded) AS commission_refunded,
           sum(refunds_partner_cost) AS refunds_partner_cost, sum(payouts) AS payouts
    FROM events
    GROUP BY tenant_id, partner_id, currency, period
)
SELECT m.*,
       sum(partner_share - refunds_partner_cost - payouts) OVER (
           PARTITION BY tenant_id, partner_id, currency ORDER BY period
       ) AS balance
FROM months m;
COMMENT ON VIEW audit.partner_statement IS
    'Partner sales, refunds, commission, tax and payouts per month, with the balance owed.';

-- Every document that moved a customer's balance, with the running balance: what the
-- customer owes, less its unapplied credit.
CREATE VIEW audit.customer_statement AS
WITH events AS (
    SELECT tenant_id, customer_id, currency, issue_date AS event_date, issued_at AS recorded_at,
           'invoice' AS kind, id AS document_id, number AS reference, total AS debit, 0 AS credit
    FROM invoices
    UNION ALL
    SELECT tenant_id, customer_id, currency, received_on, created_at, 'payment', id, reference,
           0, amount
    FROM payments
    UNION ALL
    SELECT c.tenant_id, i.customer_id, c.currency, c.issue_date, c.issued_at, 'credit_note',
           c.id, c.number, 0, c.total
    FROM credit_notes c
    JOIN invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
)
SELECT e.*,
       sum(debit - credit) OVER (
           PARTITION BY tenant_id, customer_id, currency
           ORDER BY event_date, recorded_at, document_id
       ) AS balance
FROM events e;
COMMENT ON VIEW audit.customer_statement IS
    'Invoices, payments and credit notes of each customer with the running balance.';

GRANT SELECT ON audit.open_items, audit.aging, audit.partner_statement, audit.customer_statement
    TO subledger_auditor, subledger_app;
GRANT EXECUTE ON FUNCTION audit.open_items_at(uuid, date), audit.aging_at(uuid, date)
    TO subledger_auditor, subledger_app;
