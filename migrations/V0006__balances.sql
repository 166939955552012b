-- Stored balances. Each account's balance is split over 16 slot rows; a transaction adds its
-- lines to the slot of its database connection (pg_backend_pid() % 16), so concurrent
-- postings to one hot platform account update different rows and do not wait for each other.
-- The balance is the sum of an account's slots: at most 16 rows, read through the primary key.
-- Per-day deltas, striped the same way, answer balances as of a past effective date.

CREATE TABLE account_balances (
    tenant_id uuid NOT NULL,
    account_code text NOT NULL,
    slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    balance numeric NOT NULL,
    line_count bigint NOT NULL,
    PRIMARY KEY (tenant_id, account_code, slot),
    FOREIGN KEY (tenant_id, account_code) REFERENCES accounts (tenant_id, code)
) WITH (fillfactor = 50);
COMMENT ON TABLE account_balances IS
    'Running balance of each account, split over up to 16 slot rows so that concurrent '
    'postings do not lock one row; the balance is the sum of the slots.';

CREATE TABLE account_daily_balances (
    tenant_id uuid NOT NULL,
    account_code text NOT NULL,
    effective_date date NOT NULL,
    slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    delta numeric NOT NULL,
    line_count bigint NOT NULL,
    PRIMARY KEY (tenant_id, account_code, effective_date, slot),
    FOREIGN KEY (tenant_id, account_code) REFERENCES accounts (tenant_id, code)
) WITH (fillfactor = 70);
COMMENT ON TABLE account_daily_balances IS
    'Change of each account per effective date (split into slots like account_balances); the '
    'balance as of a date is the sum of the changes up to that date.';

CREATE TRIGGER account_balances_no_delete BEFORE DELETE ON account_balances
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER account_daily_balances_no_delete BEFORE DELETE ON account_daily_balances
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();

-- Only the trigger on journal_lines, which runs as its owner, writes balances.
GRANT SELECT ON account_balances, account_daily_balances TO subledger_app;
