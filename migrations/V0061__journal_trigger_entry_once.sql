-- Looks up the entry of inserted lines twice per entry instead of twice per line.
--
-- The trigger of V0056 read journal_entries twice for every line: once to check that the
-- line's entry was inserted by this transaction, and once for the entry's effective date
-- when adding the line to the daily changes. An invoice of the load benchmark posts seven
-- lines to one entry, so a batch of 100 such invoices made 1,400 index lookups where 200 do.
-- The lines are now grouped by entry first. Errors keep their codes; the one about an entry
-- not inserted by this transaction names the entry's lowest line number.
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
