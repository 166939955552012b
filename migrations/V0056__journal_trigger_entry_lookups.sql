-- Looks up the account and the entry of each inserted line by primary key.
--
-- A statement that inserts many entries at once (a batch of invoices) gives the trigger
-- thousands of lines. With the plain joins of V0007, the planner could then read the whole
-- journal_entries and accounts indexes in key order and merge them with the lines, and
-- PL/pgSQL kept that plan as the journal grew, so each batch read every entry posted before
-- it. A LATERAL subquery with LIMIT is not merged into the join, so each line costs one index
-- lookup whatever the table sizes and statistics. JIT compilation is turned off as well: it
-- costs tens of milliseconds per statement and a trigger statement runs for a few.
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
           c.minor_units, e.id IS NOT NULL AS entry_found
    INTO bad
    FROM new_lines l
    LEFT JOIN LATERAL (
        SELECT code, currency FROM accounts
        WHERE tenant_id = l.tenant_id AND code = l.account_code
        LIMIT 1
    ) a ON true
    LEFT JOIN currencies c ON c.code = l.currency
    LEFT JOIN LATERAL (
        SELECT id, posted_xact FROM journal_entries
        WHERE tenant_id = l.tenant_id AND id = l.entry_id
        LIMIT 1
    ) e ON true
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
    CROSS JOIN LATERAL (
        SELECT effective_date FROM journal_entries
        WHERE tenant_id = l.tenant_id AND id = l.entry_id
        LIMIT 1
    ) e
    GROUP BY l.tenant_id, l.account_code, e.effective_date
    ORDER BY l.tenant_id, l.account_code, e.effective_date
    ON CONFLICT (tenant_id, account_code, effective_date, slot) DO UPDATE
        SET delta = d.delta + excluded.delta, line_count = d.line_count + excluded.line_count;

    RETURN NULL;
END
$$;

ALTER FUNCTION ledger_check_entry() SET jit = off;
