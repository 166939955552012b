-- Auditor views that name the parties behind the ids of the other views, and sum the tax
-- of invoices and commissions by jurisdiction and by who owes it.

CREATE VIEW audit.parties AS
SELECT tenant_id, id AS party_id, role, name, business, country, subdivision, postal_code, city,
       vat_id
FROM parties;
COMMENT ON VIEW audit.parties IS
    'Customers, partners and the platform of every tenant, to name the parties of the other '
    'views.';

CREATE VIEW audit.tax_liability AS
SELECT t.tenant_id, t.jurisdiction, i.currency, t.kind, t.liable,
       count(DISTINCT t.invoice_id)::integer AS invoices,
       sum(t.base - t.credited_base) AS base,
       sum(t.amount - t.credited_amount) AS tax
FROM invoice_taxes t
JOIN invoices i ON i.tenant_id = t.tenant_id AND i.id = t.invoice_id
GROUP BY t.tenant_id, t.jurisdiction, i.currency, t.kind, t.liable;
COMMENT ON VIEW audit.tax_liability IS
    'Tax of sales and commissions net of credit notes, per jurisdiction, currency, kind and '
    'who owes it: the platform, the partner (seller) or the customer (reverse charge).';

GRANT SELECT ON audit.parties, audit.tax_liability TO subledger_auditor;
