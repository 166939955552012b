-- The partner's invoices in one currency up to the run date ($4), with what was credited by
-- then and what customers paid at least the payout delay ($5 days) before it.
SELECT
    i.total,
    i.partner_share,
    coalesce((SELECT sum(c.total) FROM credit_notes c
              WHERE c.tenant_id = i.tenant_id AND c.invoice_id = i.id
                AND c.issue_date <= $4), 0) AS credited_total,
    coalesce((SELECT sum(c.partner_cost) FROM credit_notes c
              WHERE c.tenant_id = i.tenant_id AND c.invoice_id = i.id
                AND c.issue_date <= $4), 0) AS credited_partner_cost,
    coalesce((SELECT sum(a.amount) FROM allocations a
              WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id
                AND a.applied_on + $5::integer <= $4), 0) AS cleared
FROM invoices i
WHERE i.tenant_id = $1 AND i.seller_id = $2 AND i.currency = $3 AND i.issue_date <= $4
ORDER BY i.issued_at, i.id
