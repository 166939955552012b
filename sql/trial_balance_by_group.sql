-- Trial balance by account group and currency, counting the entries effective on or before
-- :as_of. The group is the account code up to its first colon or dot.
SELECT currency, regexp_replace(account_code, '[:.].*$', '') AS account_group,
       count(*) AS accounts, sum(debit) AS debit, sum(credit) AS credit
FROM audit.trial_balance_as_of(:'tenant', :'as_of')
GROUP BY 1, 2
HAVING sum(debit) <> 0 OR sum(credit) <> 0
ORDER BY 1, 2;
