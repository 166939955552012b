-- Currencies whose trial balance debit differs from its credit. Must return no rows.
SELECT * FROM audit.trial_balance_totals
WHERE tenant_id = :'tenant' AND total_debit <> total_credit;
