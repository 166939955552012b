-- Tax of sales and commissions as of :as_of, net of credit notes, per jurisdiction.
SELECT jurisdiction, currency, kind, liable AS owed_by, invoices, base, tax
FROM audit.tax_liability_at(:'tenant', :'as_of')
WHERE tax <> 0
ORDER BY jurisdiction, currency, kind, liable;
