-- Checks once per statement, instead of once per row, that journal entries, tax
-- determinations and idempotency records name an existing tenant, and that invoices name
-- existing parties of their tenant.
--
-- Each invoice posted ran eight key checks, one query each: one for its entry, one for its
-- idempotency record and three for its tax determinations against `tenants`, and three for its
-- customer, seller and issuer against `parties`. A batch of 100 invoices ran 800. Posting such
-- batches at two clients used 524 and 559 µs of the machine per invoice with the keys, and 507
-- and 477 µs with the keys dropped and nothing in their place (2 vCPU AMD EPYC, PostgreSQL
-- 15.20, two runs each). The checks below cost one trigger call per statement, and the journal
-- entries' check runs inside the statement trigger that already queues the entries.
--
-- They keep what the keys guaranteed, as the checks of V0065 do for document rows, and raise
-- SQLSTATE 23503 (foreign_key_violation) as the keys did:
--
-- * a row is inserted only for a tenant, or an invoice only for parties of its tenant, that
--   exist, and those rows are locked FOR KEY SHARE until the transaction ends, as a key check
--   locks them;
-- * a tenant or party cannot be deleted or given another key while rows name it. This check
--   runs after the change, in READ COMMITTED transactions only (0A000 otherwise), for the
--   reason given in V0065.
--
-- They are stricter than the keys in two ways that the service never needs: a row cannot be
-- given another tenant, nor an invoice other parties (23001, restrict_violation); and
-- `tenants` and `parties` cannot be truncated (23001).
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_tenant_id_fkey;
ALTER TABLE tax_determinations DROP CONSTRAINT tax_determinations_tenant_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_tenant_id_fkey;
ALTER TABLE invoices
    DROP CONSTRAINT invoices_tenant_id_customer_id_fkey,
    DROP CONSTRAINT invoices_tenant_id_seller_id_fkey,
    DROP CONSTRAINT invoices_tenant_id_issuer_id_fkey;

-- Raises 23503 when a tenant of `tenant_ids` (each given once) does not exist, and locks the
-- others FOR KEY SHARE. `table_name` names the table in the error.
CREATE FUNCTION ledger_check_tenants(table_name text, tenant_ids uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    missing uuid;
BEGIN
    SELECT w.id INTO missing
    FROM unnest(tenant_ids) AS w (id)
    LEFT JOIN LATERAL (
        SELECT true AS found FROM tenants WHERE id = w.id FOR KEY SHARE
    ) t ON true
    WHERE t.found IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%: tenant % not found', table_name, missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
END
$$;

-- Rows of tax_determinations or idempotency_keys inserted by one statement, seen as `written`.
CREATE FUNCTION ledger_check_row_tenants() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM ledger_check_tenants(TG_TABLE_NAME,
                                 (SELECT array_agg(DISTINCT tenant_id) FROM written));
    RETURN NULL;
END
$$;

-- The queue of V0068, which now also checks the tenants of the entries it queues.
CREATE OR REPLACE FUNCTION ledger_queue_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_TABLE_NAME = 'journal_entries' THEN
        PERFORM ledger_check_tenants(TG_TABLE_NAME,
                                     (SELECT array_agg(DISTINCT tenant_id) FROM new_rows));
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

-- Invoices inserted by one statement, seen as `written`: their customer, seller and issuer.
CREATE FUNCTION billing_check_invoice_parties() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    missing record;
BEGIN
    SELECT w.tenant_id, w.party_id INTO missing
    FROM (
        SELECT DISTINCT i.tenant_id, p.party_id
        FROM written i
        CROSS JOIN LATERAL (VALUES (i.customer_id), (i.seller_id), (i.issuer_id))
            AS p (party_id)
    ) w
    LEFT JOIN LATERAL (
        SELECT true AS found FROM parties
        WHERE tenant_id = w.tenant_id AND id = w.party_id
        FOR KEY SHARE
    ) p ON true
    WHERE p.found IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invoices: party % of tenant % not found', missing.party_id,
            missing.tenant_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

-- Rejects an update that gives a row another tenant or party, or a truncation.
CREATE FUNCTION ledger_reject_new_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION '%: TRUNCATE is not allowed', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RAISE EXCEPTION '%: a row cannot move to another tenant or party', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

-- Raises 0A000 outside READ COMMITTED, where the checks below would read an older snapshot
-- and miss rows that a transaction they waited for has just committed.
CREATE FUNCTION ledger_require_read_committed(table_name text, operation text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION '%: % is allowed only in READ COMMITTED transactions', table_name,
            operation USING ERRCODE = 'feature_not_supported',
                            HINT = 'Run it in a READ COMMITTED transaction.';
    END IF;
END
$$;

-- Rejects a delete or key change of a tenant that entries, determinations or idempotency
-- records still name.
CREATE FUNCTION ledger_keep_tenant_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM ledger_require_read_committed(TG_TABLE_NAME, TG_OP);
    IF EXISTS (SELECT 1 FROM journal_entries WHERE tenant_id = OLD.id)
       OR EXISTS (SELECT 1 FROM tax_determinations WHERE tenant_id = OLD.id)
       OR EXISTS (SELECT 1 FROM idempotency_keys WHERE tenant_id = OLD.id) THEN
        RAISE EXCEPTION 'tenants: % failed: rows still name tenant %', TG_OP, OLD.id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Delete its entries, tax determinations and idempotency records first.';
    END IF;
    RETURN NULL;
END
$$;

-- Rejects a delete or key change of a party that invoices still name.
CREATE FUNCTION billing_keep_party_invoices() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM ledger_require_read_committed(TG_TABLE_NAME, TG_OP);
    IF EXISTS (SELECT 1 FROM invoices
               WHERE tenant_id = OLD.tenant_id AND customer_id = OLD.id)
       OR EXISTS (SELECT 1 FROM invoices
                  WHERE tenant_id = OLD.tenant_id AND seller_id = OLD.id)
       OR EXISTS (SELECT 1 FROM invoices
                  WHERE tenant_id = OLD.tenant_id AND issuer_id = OLD.id) THEN
        RAISE EXCEPTION 'parties: % failed: invoices still name party % of tenant %', TG_OP,
            OLD.id, OLD.tenant_id USING ERRCODE = 'foreign_key_violation',
                                      HINT = 'Delete the invoices that name it first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tax_determinations_of_tenant AFTER INSERT ON tax_determinations
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_row_tenants();
CREATE TRIGGER idempotency_keys_of_tenant AFTER INSERT ON idempotency_keys
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_row_tenants();
CREATE TRIGGER invoices_of_parties AFTER INSERT ON invoices
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION billing_check_invoice_parties();

-- journal_entries rejects every update already.
CREATE TRIGGER tax_determinations_stay BEFORE UPDATE OF tenant_id ON tax_determinations
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION ledger_reject_new_owner();
CREATE TRIGGER idempotency_keys_stay BEFORE UPDATE OF tenant_id ON idempotency_keys
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION ledger_reject_new_owner();
CREATE TRIGGER invoices_stay BEFORE UPDATE OF tenant_id, customer_id, seller_id, issuer_id
    ON invoices
    FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
          OR OLD.customer_id IS DISTINCT FROM NEW.customer_id
          OR OLD.seller_id IS DISTINCT FROM NEW.seller_id
          OR OLD.issuer_id IS DISTINCT FROM NEW.issuer_id)
    EXECUTE FUNCTION ledger_reject_new_owner();

CREATE TRIGGER tenants_keep_rows AFTER DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION ledger_keep_tenant_rows();
CREATE TRIGGER tenants_keep_rows_on_new_key AFTER UPDATE OF id ON tenants
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION ledger_keep_tenant_rows();
CREATE TRIGGER tenants_no_truncate BEFORE TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_new_owner();
CREATE TRIGGER parties_keep_invoices AFTER DELETE ON parties
    FOR EACH ROW EXECUTE FUNCTION billing_keep_party_invoices();
CREATE TRIGGER parties_keep_invoices_on_new_key AFTER UPDATE OF tenant_id, id ON parties
    FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION billing_keep_party_invoices();
CREATE TRIGGER parties_no_truncate BEFORE TRUNCATE ON parties
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_new_owner();

-- Triggers fire without the EXECUTE privilege; revoking it keeps other roles from attaching
-- these functions, which run as their owner, to tables of their own.
REVOKE ALL ON FUNCTION ledger_check_tenants(text, uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger_check_row_tenants() FROM PUBLIC;
REVOKE ALL ON FUNCTION billing_check_invoice_parties() FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger_reject_new_owner() FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger_require_read_committed(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger_keep_tenant_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION billing_keep_party_invoices() FROM PUBLIC;
