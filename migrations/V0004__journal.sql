-- The journal: entries and their lines. Append-only, balanced per currency at commit, and
-- checked against the chart of accounts and the currencies' minor units by Postgres itself,
-- so raw SQL cannot break what the service checks in Rust.

CREATE TABLE journal_entries (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    effective_date date NOT NULL,
    description text NOT NULL CHECK (length(description) <= 1000),
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    reverses uuid CHECK (reverses <> id),
    posted_at timestamptz NOT NULL DEFAULT now(),
    -- The transaction that inserted the entry: lines may only join an entry of their own
    -- transaction, so the commit-time balance check sees every line of the entry.
    posted_xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, idempotency_key),
    CONSTRAINT journal_entries_reversed_once UNIQUE (tenant_id, reverses),
    FOREIGN KEY (tenant_id, reverses) REFERENCES journal_entries (tenant_id, id)
);
COMMENT ON TABLE journal_entries IS
    'Journal entries: one per business document or manual posting. Never updated or deleted; '
    'a correction is a new entry whose `reverses` names the entry it cancels.';

-- Lines carry their currency (always the account's) so the zero-sum check needs no join.
-- There is no foreign key to `accounts` or `journal_entries`: the statement trigger below
-- checks both for the whole statement at once, and a foreign key would take a share lock on
-- the account row that every entry of a hot platform account contends for.
CREATE TABLE journal_lines (
    tenant_id uuid NOT NULL,
    entry_id uuid NOT NULL,
    line_no smallint NOT NULL CHECK (line_no >= 1),
    account_code text NOT NULL,
    currency text NOT NULL,
    amount numeric NOT NULL CHECK (abs(amount) < 1e15),
    memo text CHECK (length(memo) <= 1000),
    PRIMARY KEY (tenant_id, entry_id, line_no)
);
COMMENT ON TABLE journal_lines IS
    'Lines of journal entries. Signed amounts: debit positive, credit negative. The lines of '
    'an entry sum to zero in each currency.';

-- Custom SQLSTATEs (class SL) name the broken invariant; the service maps them to its error
-- codes.
CREATE FUNCTION ledger_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'SL005', HINT = 'Post a reversal entry instead.';
END
$$;

CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER journal_lines_no_truncate BEFORE TRUNCATE ON journal_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();

GRANT SELECT, INSERT ON journal_entries, journal_lines TO subledger_app;
