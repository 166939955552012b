-- Commission tax of the month [$4, $5) per jurisdiction, rate and rule: what the month's agent
-- sales charged, less what the month's credit notes gave back on each invoice's tax line.
SELECT coalesce(jsonb_agg(jsonb_build_object(
    'jurisdiction', jurisdiction, 'rate', rate::text, 'rule', rule,
    'base', base::text, 'amount', amount::text, 'legal_mention', legal_mention
) ORDER BY jurisdiction, rate), '[]'::jsonb)
FROM (
    SELECT t.jurisdiction, t.rate, t.rule, t.legal_mention,
           sum(t.base) AS base, sum(t.amount) AS amount
    FROM (
        SELECT t.jurisdiction, t.rate, t.rule, t.legal_mention, t.base, t.amount
        FROM invoice_taxes t
        JOIN invoices i ON i.tenant_id = t.tenant_id AND i.id = t.invoice_id
        WHERE t.tenant_id = $1 AND i.seller_id = $2 AND i.currency = $3
          AND t.kind = 'commission' AND i.issue_date >= $4 AND i.issue_date < $5
        UNION ALL
        SELECT t.jurisdiction, t.rate, t.rule, t.legal_mention, -c.commission, -c.commission_tax
        FROM credit_notes c
        JOIN invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
        JOIN invoice_taxes t ON t.tenant_id = c.tenant_id AND t.invoice_id = c.invoice_id
            AND t.kind = 'commission' AND t.seq = (
                SELECT min(seq) FROM invoice_taxes
                WHERE tenant_id = c.tenant_id AND invoice_id = c.invoice_id AND kind = 'commission'
            )
        WHERE c.tenant_id = $1 AND i.seller_id = $2 AND c.currency = $3
          AND c.issue_date >= $4 AND c.issue_date < $5
    ) t
    GROUP BY t.jurisdiction, t.rate, t.rule, t.legal_mention
) grouped
