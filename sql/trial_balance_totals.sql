-- Trial balance totals per currency as of :as_of. Debit equals credit in every row.
SELECT currency, sum(debit) AS total_debit, sum(credit) AS total_credit,
       sum(debit) - sum(credit) AS difference
FROM audit.trial_balance_as_of(:'tenant', :'as_of')
GROUP BY currency
HAVING sum(debit) <> 0 OR sum(credit) <> 0
ORDER BY currency;
