-- The balance of one account: the sum of its slot rows, minus the daily changes effective
-- after $3 when an as-of date is given. Both sums read one snapshot, so they agree.
SELECT a.currency,
       coalesce((SELECT sum(b.balance)
                 FROM account_balances b
                 WHERE b.tenant_id = a.tenant_id AND b.account_code = a.code), 0)
     - coalesce((SELECT sum(d.delta)
                 FROM account_daily_balances d
                 WHERE d.tenant_id = a.tenant_id AND d.account_code = a.code
                   AND d.effective_date > $3::date), 0)
FROM accounts a
WHERE a.tenant_id = $1 AND a.code = $2
