-- The invariants of the journal, checked by Postgres for every insert.

-- Checks the lines of one INSERT statement against the chart of accounts, the currencies and
-- their entries, then adds them to the stored balances. The balance rows are updated in one
-- statement per table, in key order, so two transactions never lock them in opposite orders.
CREATE FUNCTION ledger_apply_lines() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    balance_slot smallint := pg_backend_pid() % 16;
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

CREATE TRIGGER journal_lines_apply AFTER INSERT ON journal_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_lines();

-- Checks one entry at commit: inserted by this transaction, dated in an open period, with
-- lines that sum to zero in every currency.
CREATE FUNCTION ledger_check_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    sums record;
    has_lines boolean := false;
BEGIN
    IF NEW.posted_xact <> pg_current_xact_id() THEN
        RAISE EXCEPTION 'entry %: posted_xact must be the inserting transaction', NEW.id
            USING ERRCODE = 'SL006';
    END IF;
    IF EXISTS (SELECT 1 FROM fiscal_periods p
               WHERE p.tenant_id = NEW.tenant_id
                 AND p.starts_on = date_trunc('month', NEW.effective_date)::date) THEN
        RAISE EXCEPTION 'entry %: effective date % is in a closed period', NEW.id,
            NEW.effective_date USING ERRCODE = 'SL002';
    END IF;
    FOR sums IN
        SELECT l.currency, sum(l.amount) AS total
        FROM journal_lines l
        WHERE l.tenant_id = NEW.tenant_id AND l.entry_id = NEW.id
        GROUP BY l.currency
        ORDER BY l.currency
    LOOP
        has_lines := true;
        IF sums.total <> 0 THEN
            RAISE EXCEPTION 'entry % is not balanced: its % lines sum to %', NEW.id,
                sums.currency, sums.total USING ERRCODE = 'SL001';
        END IF;
    END LOOP;
    IF NOT has_lines THEN
        RAISE EXCEPTION 'entry % has no lines', NEW.id USING ERRCODE = 'SL001';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entry();
