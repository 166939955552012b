-- Switches off the database's checks on the tables an invoice writes, to measure what they
-- cost. Run it as a superuser on a COPY of a benchmark database, never on one that keeps
-- books: without these triggers the database accepts an unbalanced entry, a posting into a
-- closed period and rows of documents that do not exist.
--
--   psql -v keys=on -f without_checks.sql     -- row checks off, foreign keys kept
--   psql -v keys=off -f without_checks.sql    -- row checks and foreign keys off
--
-- With keys=on, the statement triggers that took the place of foreign keys to tenants and
-- parties stay on too, except the tenant check of journal entries, which runs inside the
-- trigger that queues entries for the check at commit.
--
-- The journal lines trigger stays on in both, because it also keeps the stored balances,
-- which the service reads and the floor writes too. It still checks each line's account and
-- entry. Switched off: the entry check at commit (balance and open period) with the triggers
-- that queue entries for it, the checks of invoice, tax and determination rows, and the guards
-- against updates, deletes and truncation, which an insert does not fire.
\set ON_ERROR_STOP on

\if :{?keys}
\else
    \set keys ''
\endif
SELECT set_config('bench.keys', :'keys', false) IS NULL AS unused \gset
DO $$
BEGIN
    IF current_setting('bench.keys') NOT IN ('on', 'off') THEN
        RAISE EXCEPTION 'keys must be on or off, not "%"', current_setting('bench.keys')
            USING HINT = 'psql -v keys=on -f without_checks.sql';
    END IF;
END
$$;
SELECT CASE :'keys' WHEN 'off' THEN 'ALL' ELSE 'USER' END AS triggers \gset

BEGIN;
ALTER TABLE journal_entries DISABLE TRIGGER :triggers;
ALTER TABLE journal_lines DISABLE TRIGGER :triggers;
ALTER TABLE account_balances DISABLE TRIGGER :triggers;
ALTER TABLE account_daily_balances DISABLE TRIGGER :triggers;
ALTER TABLE tax_determinations DISABLE TRIGGER :triggers;
ALTER TABLE tax_determination_lines DISABLE TRIGGER :triggers;
ALTER TABLE invoices DISABLE TRIGGER :triggers;
ALTER TABLE invoice_lines DISABLE TRIGGER :triggers;
ALTER TABLE invoice_taxes DISABLE TRIGGER :triggers;
ALTER TABLE idempotency_keys DISABLE TRIGGER :triggers;
ALTER TABLE partner_year_revenue DISABLE TRIGGER :triggers;
ALTER TABLE number_series DISABLE TRIGGER :triggers;
ALTER TABLE ledger_entry_checks DISABLE TRIGGER :triggers;
ALTER TABLE journal_lines ENABLE TRIGGER journal_lines_apply;
\if :keys
    ALTER TABLE tax_determinations ENABLE TRIGGER tax_determinations_of_tenant;
    ALTER TABLE idempotency_keys ENABLE TRIGGER idempotency_keys_of_tenant;
    ALTER TABLE invoices ENABLE TRIGGER invoices_of_parties;
\endif
COMMIT;

SELECT tgrelid::regclass AS "table", count(*) AS "triggers still on"
FROM pg_trigger
WHERE tgenabled <> 'D'
  AND tgrelid IN (SELECT tgrelid FROM pg_trigger WHERE tgenabled = 'D')
GROUP BY 1
ORDER BY 1;
