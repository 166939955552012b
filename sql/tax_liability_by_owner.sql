-- Tax of sales and commissions as of :as_of, net of credit notes, by who owes it: the
-- platform, the partner (seller) or the customer (reverse charge).
SELECT liable AS owed_by, kind, currency, sum(base) AS base, sum(tax) AS tax
FROM audit.tax_liability_at(:'tenant', :'as_of')
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
