-- Tax liability as of a date: the tax of invoices issued on or before the date, net of the
-- credit notes issued on or before it. A credit note names each tax it reverses in its
-- `detail` by the tax's `seq`; notes stored before `seq` was written there name it by kind,
-- jurisdiction and rate, which the function matches to the invoice's first such tax.
-- NOTE: an invoice can hold two taxes of the same kind, jurisdiction and rate under
-- different rules (one reverse charged, one exempt); an older note's credit of either then
-- counts against the first.

CREATE FUNCTION audit.tax_liability_at(tenant uuid, as_of date)
RETURNS TABLE (
    tenant_id uuid, jurisdiction text, currency char(3), kind text, liable text,
    invoices integer, base numeric, tax numeric
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH changes AS (
        SELECT t.jurisdiction, i.currency, t.kind, t.liable, t.invoice_id, t.base, t.amount
        FROM invoices i
        JOIN invoice_taxes t ON t.tenant_id = i.tenant_id AND t.invoice_id = i.id
        WHERE i.tenant_id = tenant AND i.issue_date <= as_of
        UNION ALL
        SELECT t.jurisdiction, c.currency, t.kind, t.liable, t.invoice_id, -r.base, -r.amount
        FROM credit_notes c
        CROSS JOIN LATERAL jsonb_to_recordset(c.detail -> 'taxes')
            AS r (seq integer, kind text, jurisdiction text, rate numeric, base numeric,
                  amount numeric)
        JOIN LATERAL (
            SELECT * FROM invoice_taxes t
            WHERE t.tenant_id = c.tenant_id AND t.invoice_id = c.invoice_id
              AND (t.seq = r.seq
                   OR r.seq IS NULL AND t.kind = r.kind AND t.jurisdiction = r.jurisdiction
                      AND t.rate = r.rate)
            ORDER BY t.seq
            LIMIT 1
        ) t ON true
        WHERE c.tenant_id = tenant AND c.issue_date <= as_of
    )
    SELECT tenant, jurisdiction, currency, kind, liable,
           count(DISTINCT invoice_id)::integer, sum(base), sum(amount)
    FROM changes
    GROUP BY jurisdiction, currency, kind, liable
$$;
COMMENT ON FUNCTION audit.tax_liability_at(uuid, date) IS
    'Tax of sales and commissions per jurisdiction, currency, kind and who owes it, counting '
    'the invoices and credit notes issued on or before the date.';

REVOKE ALL ON FUNCTION audit.tax_liability_at(uuid, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tax_liability_at(uuid, date) TO subledger_auditor;
