-- Accounts whose stored balance differs from the sum of their lines. Must return no rows.
SELECT * FROM audit.balance_check WHERE tenant_id = :'tenant';
