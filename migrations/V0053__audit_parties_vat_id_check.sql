-- Shows auditors which parties' VAT ids fail their check digits: such parties are taxed as
-- not VAT-registered.

CREATE OR REPLACE VIEW audit.parties AS
SELECT tenant_id, id AS party_id, role, name, business, country, subdivision, postal_code, city,
       vat_id, vat_id_check
FROM parties;
