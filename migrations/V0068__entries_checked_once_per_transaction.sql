-- Checks the entries a transaction posts with one query per check instead of one trigger call
-- per entry.
--
-- journal_entries_balanced was a deferred row trigger: at commit it ran ledger_check_entry once
-- per entry, with two queries each. Postgres has no deferred statement triggers, so the
-- entries are now queued instead:
-- - the statement triggers on journal_entries and journal_lines add the entries they insert,
--   or add lines to, to ledger_unchecked_entries, and one row per tenant and transaction to
--   ledger_entry_checks;
-- - the deferred constraint trigger journal_entries_balanced, now on ledger_entry_checks,
--   fires for that row at commit, checks every entry the transaction queued for the tenant in
--   one query and empties the queue.
-- An insert of 100 entries of 7 lines in one transaction took 13.5 to 14.5 ms with the row
-- trigger and 11.6 to 11.9 ms with the queue; an entry posted alone took the same time with
-- both (pgbench, one client, PostgreSQL 15.20 on a 2-core machine, three runs each).
-- The checks and their errors are those of ledger_check_entry. When several entries fail,
-- the error names one of them, where the row trigger named the first inserted.
--
-- The row trigger also left a gap that the queue closes: after `SET CONSTRAINTS
-- journal_entries_balanced IMMEDIATE` had checked an entry, further lines for it were never
-- checked, so a client could unbalance it before COMMIT. Lines now queue their entry again.
--
-- `SET CONSTRAINTS journal_entries_balanced IMMEDIATE` still runs the check at once. The check
-- deletes its row, so an entry queued after it adds a new row, which is checked at COMMIT or,
-- while the constraint stays immediate, at the end of the statement. A subtransaction that
-- rolls back takes its queue rows with it. A check that ran inside it runs again, because
-- Postgres marks the trigger events fired in a rolled-back subtransaction as not fired; an
-- event queued inside it is discarded with the queue rows it covers. Only the trigger
-- functions, which run as the owner, can read or write the queue, so a client cannot take its
-- entries out of it. The queue tables are unlogged, because the check removes their rows in
-- the transaction that wrote them; only a copy whose check trigger was disabled keeps any.
-- Both tables are keyed by tenant, like every other table, so the check reads one tenant's
-- rows only.
CREATE UNLOGGED TABLE ledger_unchecked_entries (
    tenant_id uuid NOT NULL,
    xact xid8 NOT NULL,
    entry_id uuid NOT NULL
);
CREATE INDEX ledger_unchecked_entries_xact ON ledger_unchecked_entries (tenant_id, xact);

CREATE UNLOGGED TABLE ledger_entry_checks (
    tenant_id uuid NOT NULL,
    xact xid8 NOT NULL,
    PRIMARY KEY (tenant_id, xact)
);

REVOKE ALL ON ledger_unchecked_entries, ledger_entry_checks FROM PUBLIC;

-- Queues for the check at commit the entries of one INSERT statement on journal_entries, or
-- the entries of the lines of one INSERT statement on journal_lines.
CREATE FUNCTION ledger_queue_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_TABLE_NAME = 'journal_entries' THEN
        INSERT INTO ledger_unchecked_entries (tenant_id, xact, entry_id)
        SELECT tenant_id, pg_current_xact_id(), id FROM new_rows;
    ELSE
        INSERT INTO ledger_unchecked_entries (tenant_id, xact, entry_id)
        SELECT DISTINCT tenant_id, pg_current_xact_id(), entry_id FROM new_rows;
    END IF;
    INSERT INTO ledger_entry_checks (tenant_id, xact)
    SELECT DISTINCT tenant_id, pg_current_xact_id() FROM new_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- Checks every entry the current transaction queued for the tenant of the fired row: inserted
-- by this transaction, dated in an open period, with lines that sum to zero in every currency.
-- Then removes the tenant's queue rows.
CREATE FUNCTION ledger_check_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET enable_seqscan = off
SET jit = off
AS $$
DECLARE
    bad record;
    total numeric;
BEGIN
    WITH queued AS (
        DELETE FROM ledger_unchecked_entries
        WHERE tenant_id = NEW.tenant_id AND xact = pg_current_xact_id()
        RETURNING entry_id
    ), done AS (
        DELETE FROM ledger_entry_checks
        WHERE tenant_id = NEW.tenant_id AND xact = pg_current_xact_id()
    )
    SELECT e.id, e.effective_date, e.posted_xact, c.closed, s.currencies, s.unbalanced
    INTO bad
    FROM (SELECT DISTINCT entry_id FROM queued) q
    JOIN LATERAL (
        SELECT id, effective_date, posted_xact FROM journal_entries
        WHERE tenant_id = NEW.tenant_id AND id = q.entry_id
        LIMIT 1
    ) e ON true
    CROSS JOIN LATERAL (
        -- NOTE: under REPEATABLE READ this reads the transaction's snapshot, so a period
        -- closed after that snapshot was taken, and before the first insert, is not seen.
        SELECT EXISTS (
            SELECT 1 FROM fiscal_periods p
            WHERE p.tenant_id = NEW.tenant_id
              AND p.starts_on = date_trunc('month', e.effective_date)::date
        ) AS closed
    ) c
    CROSS JOIN LATERAL (
        SELECT count(*) AS currencies,
               min(sums.currency) FILTER (WHERE sums.total <> 0) AS unbalanced
        FROM (
            SELECT l.currency, sum(l.amount) AS total
            FROM journal_lines l
            WHERE l.tenant_id = NEW.tenant_id AND l.entry_id = q.entry_id
            GROUP BY l.currency
        ) sums
    ) s
    WHERE e.posted_xact <> pg_current_xact_id() OR c.closed
       OR s.currencies = 0 OR s.unbalanced IS NOT NULL
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF bad.posted_xact <> pg_current_xact_id() THEN
        RAISE EXCEPTION 'entry %: posted_xact must be the inserting transaction', bad.id
            USING ERRCODE = 'SL006';
    ELSIF bad.closed THEN
        RAISE EXCEPTION 'entry %: effective date % is in a closed period', bad.id,
            bad.effective_date USING ERRCODE = 'SL002';
    ELSIF bad.unbalanced IS NOT NULL THEN
        SELECT sum(l.amount) INTO total FROM journal_lines l
        WHERE l.tenant_id = NEW.tenant_id AND l.entry_id = bad.id
          AND l.currency = bad.unbalanced;
        RAISE EXCEPTION 'entry % is not balanced: its % lines sum to %', bad.id,
            bad.unbalanced, total USING ERRCODE = 'SL001';
    ELSE
        RAISE EXCEPTION 'entry % has no lines', bad.id USING ERRCODE = 'SL001';
    END IF;
END
$$;

REVOKE ALL ON FUNCTION ledger_queue_entries(), ledger_check_entries() FROM PUBLIC;

DROP TRIGGER journal_entries_balanced ON journal_entries;
DROP FUNCTION ledger_check_entry();

CREATE TRIGGER journal_entries_queue AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_queue_entries();
-- Lines change their entry's sums, so they queue their entry again, even an entry whose check
-- already ran under SET CONSTRAINTS ... IMMEDIATE.
CREATE TRIGGER journal_lines_queue AFTER INSERT ON journal_lines
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_queue_entries();

CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON ledger_entry_checks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entries();
