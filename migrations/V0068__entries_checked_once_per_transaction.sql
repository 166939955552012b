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

-- Queues the entries of one INSERT statement for the check at commit.
CREATE FUNCTION ledger_queue_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    WITH queued AS (
        INSERT INTO ledger_unchecked_entries (tenant_id, xact, entry_id)
        SELECT tenant_id, pg_current_xact_id(), id FROM new_entries
        RETURNING tenant_id
    )
    INSERT INTO ledger_entry_checks (tenant_id, xact)
    SELECT DISTINCT tenant_id, pg_current_xact_id() FROM queued
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

-- The lines trigger of V0061, which now also queues the entries of the lines it adds.
CREATE OR REPLACE FUNCTION ledger_apply_lines() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET enable_seqscan = off
SET jit = off
AS $$
DECLARE
    balance_slot smallint := ledger_balance_slot();
    bad record;
BEGIN
    SELECT l.entry_id, l.line_no, l.account_code, l.currency, l.amount,
           a.code IS NOT NULL AS account_found, a.currency AS account_currency,
           c.minor_units
    INTO bad
    FROM new_lines l
    LEFT JOIN LATERAL (
        SELECT code, currency FROM accounts
        WHERE tenant_id = l.tenant_id AND code = l.account_code
        LIMIT 1
    ) a ON true
    LEFT JOIN currencies c ON c.code = l.currency
    WHERE a.code IS NULL OR a.currency <> l.currency
       OR c.code IS NULL OR l.amount <> round(l.amount, c.minor_units)
    LIMIT 1;
    IF FOUND THEN
        IF NOT bad.account_found THEN
            RAISE EXCEPTION 'line % of entry %: account % not found',
                bad.line_no, bad.entry_id, bad.account_code USING ERRCODE = 'SL003';
        ELSIF bad.account_currency <> bad.currency THEN
            RAISE EXCEPTION 'line % of entry %: account % holds %, not %', bad.line_no,
                bad.entry_id, bad.account_code, bad.account_currency, bad.currency
                USING ERRCODE = 'SL004';
        ELSE
            RAISE EXCEPTION 'line % of entry %: amount % has more decimals than % allows',
                bad.line_no, bad.entry_id, bad.amount, bad.currency USING ERRCODE = 'SL007';
        END IF;
    END IF;

    SELECT n.entry_id, n.line_no INTO bad
    FROM (
        SELECT tenant_id, entry_id, min(line_no) AS line_no FROM new_lines
        GROUP BY tenant_id, entry_id
    ) n
    LEFT JOIN LATERAL (
        SELECT posted_xact FROM journal_entries
        WHERE tenant_id = n.tenant_id AND id = n.entry_id
        LIMIT 1
    ) e ON true
    WHERE e.posted_xact IS NULL OR e.posted_xact <> pg_current_xact_id()
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'line % of entry %: the entry was not inserted in this transaction',
            bad.line_no, bad.entry_id USING ERRCODE = 'SL006';
    END IF;

    -- Lines change their entry's sums, so their entries go back into the queue, even an entry
    -- whose check already ran under SET CONSTRAINTS ... IMMEDIATE.
    WITH queued AS (
        INSERT INTO ledger_unchecked_entries (tenant_id, xact, entry_id)
        SELECT DISTINCT tenant_id, pg_current_xact_id(), entry_id FROM new_lines
        RETURNING tenant_id
    )
    INSERT INTO ledger_entry_checks (tenant_id, xact)
    SELECT DISTINCT tenant_id, pg_current_xact_id() FROM queued
    ON CONFLICT DO NOTHING;

    INSERT INTO account_balances AS b (tenant_id, account_code, slot, balance, line_count)
    SELECT l.tenant_id, l.account_code, balance_slot, sum(l.amount), count(*)
    FROM new_lines l
    GROUP BY l.tenant_id, l.account_code
    ORDER BY l.tenant_id, l.account_code
    ON CONFLICT (tenant_id, account_code, slot) DO UPDATE
        SET balance = b.balance + excluded.balance, line_count = b.line_count + excluded.line_count;

    -- MATERIALIZED keeps the planner from moving the lookup into the join, where it ran once
    -- for every account of an entry.
    WITH dated AS MATERIALIZED (
        SELECT n.tenant_id, n.entry_id, e.effective_date
        FROM (SELECT DISTINCT tenant_id, entry_id FROM new_lines) n
        CROSS JOIN LATERAL (
            SELECT effective_date FROM journal_entries
            WHERE tenant_id = n.tenant_id AND id = n.entry_id
            LIMIT 1
        ) e
    )
    INSERT INTO account_daily_balances AS d
        (tenant_id, account_code, effective_date, slot, delta, line_count)
    SELECT p.tenant_id, p.account_code, e.effective_date, balance_slot, sum(p.amount),
           sum(p.lines)::bigint
    FROM (
        SELECT tenant_id, entry_id, account_code, sum(amount) AS amount, count(*) AS lines
        FROM new_lines
        GROUP BY tenant_id, entry_id, account_code
    ) p
    JOIN dated e ON e.tenant_id = p.tenant_id AND e.entry_id = p.entry_id
    GROUP BY p.tenant_id, p.account_code, e.effective_date
    ORDER BY p.tenant_id, p.account_code, e.effective_date
    ON CONFLICT (tenant_id, account_code, effective_date, slot) DO UPDATE
        SET delta = d.delta + excluded.delta, line_count = d.line_count + excluded.line_count;

    RETURN NULL;
END
$$;

DROP TRIGGER journal_entries_balanced ON journal_entries;
DROP FUNCTION ledger_check_entry();

CREATE TRIGGER journal_entries_queue AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_queue_entries();

CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON ledger_entry_checks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entries();
