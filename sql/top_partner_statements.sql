-- The ten partners with the most sales in the month of :as_of, with their statement.
SELECT p.name AS partner, p.country, s.currency, s.sales_count AS sales, s.sales_total,
       s.refunds_total AS refunds, s.commission, s.commission_tax, s.payouts, s.balance
FROM audit.partner_statement s
JOIN audit.parties p ON p.tenant_id = s.tenant_id AND p.party_id = s.partner_id
WHERE s.tenant_id = :'tenant' AND s.period = to_char(:'as_of'::date, 'YYYY-MM')
ORDER BY s.sales_count DESC, p.name, s.currency
LIMIT 10;
