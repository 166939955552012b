-- The partner's agent sales issued in the month [$4, $5) and the month's credit notes on agent
-- sales, with the commission and commission tax of each. Credits carry negative amounts.
SELECT coalesce(jsonb_agg(line ORDER BY line->>'issue_date', line->>'number'), '[]'::jsonb)
FROM (
    SELECT jsonb_build_object(
        'kind', 'sale', 'document_id', i.id, 'number', i.number,
        'issue_date', i.issue_date, 'net', i.net_total::text,
        'commission', i.commission::text, 'commission_tax', i.commission_tax::text
    ) AS line
    FROM invoices i
    WHERE i.tenant_id = $1 AND i.seller_id = $2 AND i.currency = $3
      AND i.selling_role = 'agent' AND i.issue_date >= $4 AND i.issue_date < $5
    UNION ALL
    SELECT jsonb_build_object(
        'kind', 'credit_note', 'document_id', c.id, 'number', c.number,
        'issue_date', c.issue_date, 'net', (-c.net)::text,
        'commission', (-c.commission)::text, 'commission_tax', (-c.commission_tax)::text
    )
    FROM credit_notes c
    JOIN invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
    WHERE c.tenant_id = $1 AND i.seller_id = $2 AND c.currency = $3
      AND i.selling_role = 'agent' AND c.issue_date >= $4 AND c.issue_date < $5
) covered
