-- Makes a posting under REPEATABLE READ or SERIALIZABLE fail when a period of its tenant was
-- closed after the posting's snapshot was taken.
--
-- The check at commit reads fiscal_periods with the transaction's snapshot. Under READ
-- COMMITTED that snapshot is taken at commit, and ledger_close_period's SHARE lock on
-- journal_entries keeps a close from committing between an entry's insert and its commit, so
-- the check sees every close that could matter. Under REPEATABLE READ the snapshot is the one
-- of the transaction's first statement: a close that committed after it, but before the
-- first insert, was invisible, and the entry committed into the closed month.
--
-- Every tenant now has a row in fiscal_period_closes, created with the tenant, and each
-- closed month bumps it. At commit, a posting transaction that uses a transaction snapshot locks that row
-- FOR SHARE. PostgreSQL raises serialization_failure (40001) when a REPEATABLE READ or
-- SERIALIZABLE transaction locks a row updated or deleted after its snapshot, or when its
-- INSERT ... ON CONFLICT meets a row inserted after it, so a retry of the transaction sees the
-- close. Such a posting fails after a close of any month of its tenant, not only of its
-- entries' months. A close still waits on its SHARE lock for the postings in flight, as
-- before. The row lock is taken at commit, so it adds no wait for a close. READ COMMITTED
-- postings skip the trigger, because its WHEN clause, evaluated when the check is queued, is
-- false for them.
--
-- Two transactions that each close months of the same two tenants, in opposite orders, can
-- now deadlock on these rows. The service closes one month per transaction.

CREATE TABLE fiscal_period_closes (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    closes bigint NOT NULL DEFAULT 0 CHECK (closes >= 0)
);
COMMENT ON TABLE fiscal_period_closes IS
    'Number of periods each tenant has closed, bumped by every close, so that postings under '
    'REPEATABLE READ detect a close newer than their snapshot.';
REVOKE ALL ON fiscal_period_closes FROM PUBLIC;

-- Counts the periods each tenant closed before this migration.
INSERT INTO fiscal_period_closes (tenant_id, closes)
SELECT t.id, count(p.starts_on)
FROM tenants t LEFT JOIN fiscal_periods p ON p.tenant_id = t.id
GROUP BY t.id;

-- Creates the row of a new tenant. A row created later, by a posting, would be inserted
-- after the snapshots of other postings in flight, whose own insert would then raise
-- serialization_failure although no period was closed.
CREATE FUNCTION ledger_add_period_closes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO fiscal_period_closes (tenant_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ledger_add_period_closes() FROM PUBLIC;

CREATE TRIGGER tenants_period_closes AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION ledger_add_period_closes();

-- Bumps the tenant's count for each closed month. fiscal_periods rejects updates and deletes,
-- so an insert is the only way to close a month, whoever makes it.
CREATE FUNCTION ledger_count_period_close() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO fiscal_period_closes AS c (tenant_id, closes) VALUES (NEW.tenant_id, 1)
        ON CONFLICT (tenant_id) DO UPDATE SET closes = c.closes + 1;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ledger_count_period_close() FROM PUBLIC;

CREATE TRIGGER fiscal_periods_count_closes AFTER INSERT ON fiscal_periods
    FOR EACH ROW EXECUTE FUNCTION ledger_count_period_close();

-- Locks the closes row of the tenant whose entries the transaction queued for the check, so
-- that a close committed after the transaction's snapshot raises serialization_failure. A row
-- deleted by hand is created again.
CREATE FUNCTION ledger_lock_period_closes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO fiscal_period_closes (tenant_id) VALUES (NEW.tenant_id)
        ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM fiscal_period_closes WHERE tenant_id = NEW.tenant_id FOR SHARE;
    RETURN NULL;
EXCEPTION
    WHEN serialization_failure THEN
        RAISE EXCEPTION 'a period of tenant % was closed after this transaction''s snapshot '
            'was taken', NEW.tenant_id
            USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
END
$$;
REVOKE ALL ON FUNCTION ledger_lock_period_closes() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER journal_entries_period_closes AFTER INSERT ON ledger_entry_checks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (current_setting('transaction_isolation') <> 'read committed')
    EXECUTE FUNCTION ledger_lock_period_closes();
