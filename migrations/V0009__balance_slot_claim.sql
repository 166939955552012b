-- Gives each writing transaction a balance slot of its own. A transaction claims a slot with
-- a transaction-scoped advisory lock, starting at pg_backend_pid() % 16 and moving on while
-- slots are taken, and keeps it until it ends. Up to 16 concurrent writers therefore never
-- update the same balance row, so they neither wait for nor deadlock with each other, even
-- when each posts many entries in one transaction. A 17th writer shares a slot and may wait.

-- Returns the slot of the current transaction, claiming one on first use. The claim is kept
-- in the transaction-local setting subledger.balance_slot.
CREATE FUNCTION ledger_balance_slot() RETURNS smallint
LANGUAGE plpgsql AS $$
DECLARE
    claimed text := current_setting('subledger.balance_slot', true);
    preferred smallint := pg_backend_pid() % 16;
    candidate smallint;
BEGIN
    IF claimed IS NOT NULL AND claimed <> '' THEN
        RETURN claimed::smallint;
    END IF;
    FOR step IN 0..15 LOOP
        candidate := (preferred + step) % 16;
        -- The first key names the lock class: 'SLBS' (subledger balance slot) in ASCII.
        IF pg_try_advisory_xact_lock(1397506643, candidate) THEN
            PERFORM set_config('subledger.balance_slot', candidate::text, true);
            RETURN candidate;
        END IF;
    END LOOP;
    -- Every slot is claimed by another transaction: share the preferred one.
    PERFORM set_config('subledger.balance_slot', preferred::text, true);
    RETURN preferred;
END
$$;
REVOKE ALL ON FUNCTION ledger_balance_slot() FROM PUBLIC;

CREATE OR REPLACE FUNCTION ledger_apply_lines() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    balance_slot smallint := ledger_balance_slot();
    bad record;
BEGIN
    SELECT l.entry_id, l.line_no, l.account_code, l.currency, l.amount,
           a.code IS NOT NULL AS account_found, a.currency AS account_currency,
           c.minor_units, e.id IS NOT NULL AS entry_found
    INTO bad
    FROM new_lines l
    LEFT JOIN accounts a ON a.tenant_id = l.tenant_id AND a.code = l.account_code
    LEFT JOIN currencies c ON c.code = l.currency
    LEFT JOIN journal_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
    WHERE a.code IS NULL OR a.currency <> l.currency
       OR c.code IS NULL OR l.amount <> round(l.amount, c.minor_units)
       OR e.id IS NULL OR e.posted_xact <> pg_current_xact_id()
    LIMIT 1;
    IF FOUND THEN
        IF NOT bad.account_found THEN
            RAISE EXCEPTION 'line % of entry %: account % not found',
                bad.line_no, bad.entry_id, bad.account_code USING ERRCODE = 'SL003';
        ELSIF bad.account_currency <> bad.currency THEN
            RAISE EXCEPTION 'line % of entry %: account % holds %, not %', bad.line_no,
                bad.entry_id, bad.account_code, bad.account_currency, bad.currency
                USING ERRCODE = 'SL004';
        ELSIF bad.minor_units IS NULL OR bad.amount <> round(bad.amount, bad.minor_units) THEN
            RAISE EXCEPTION 'line % of entry %: amount % has more decimals than % allows',
                bad.line_no, bad.entry_id, bad.amount, bad.currency USING ERRCODE = 'SL007';
        ELSE
            RAISE EXCEPTION 'line % of entry %: the entry was not inserted in this transaction',
                bad.line_no, bad.entry_id USING ERRCODE = 'SL006';
        END IF;
    END IF;

    INSERT INTO account_balances AS b (tenant_id, account_code, slot, balance, line_count)
    SELECT l.tenant_id, l.account_code, balance_slot, sum(l.amount), count(*)
    FROM new_lines l
    GROUP BY l.tenant_id, l.account_code
    ORDER BY l.tenant_id, l.account_code
    ON CONFLICT (tenant_id, account_code, slot) DO UPDATE
        SET balance = b.balance + excluded.balance, line_count = b.line_count + excluded.line_count;

    INSERT INTO account_daily_balances AS d
        (tenant_id, account_code, effective_date, slot, delta, line_count)
    SELECT l.tenant_id, l.account_code, e.effective_date, balance_slot, sum(l.amount), count(*)
    FROM new_lines l
    JOIN journal_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
    GROUP BY l.tenant_id, l.account_code, e.effective_date
    ORDER BY l.tenant_id, l.account_code, e.effective_date
    ON CONFLICT (tenant_id, account_code, effective_date, slot) DO UPDATE
        SET delta = d.delta + excluded.delta, line_count = d.line_count + excluded.line_count;

    RETURN NULL;
END
$$;
