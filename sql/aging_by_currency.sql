-- Open receivables on :as_of per currency, by days past due.
SELECT currency, count(*) AS customers, sum(not_due) AS not_due, sum(days_0_30) AS days_0_30,
       sum(days_31_60) AS days_31_60, sum(days_61_90) AS days_61_90,
       sum(days_over_90) AS days_over_90, sum(total) AS total
FROM audit.aging_at(:'tenant', :'as_of')
GROUP BY currency
ORDER BY currency;
