-- Payouts of the month of :as_of per currency: partners paid, still waiting for the minimum
-- payout, and owing money after refunds.
SELECT currency, count(*) FILTER (WHERE payouts > 0) AS partners_paid,
       sum(payouts) AS paid_out, count(*) FILTER (WHERE balance > 0) AS partners_waiting,
       count(*) FILTER (WHERE balance < 0) AS partners_owing, sum(balance) AS balance_left
FROM audit.partner_statement
WHERE tenant_id = :'tenant' AND period = to_char(:'as_of'::date, 'YYYY-MM')
GROUP BY currency
ORDER BY currency;
