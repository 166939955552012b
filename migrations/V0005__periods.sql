-- Fiscal periods are calendar months. A month without a row here is open; closing a month
-- inserts its row, and a closed month stays closed.

CREATE TABLE fiscal_periods (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    starts_on date NOT NULL CHECK (starts_on = date_trunc('month', starts_on)::date),
    closed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, starts_on)
);
COMMENT ON TABLE fiscal_periods IS
    'Closed fiscal periods (calendar months starting on `starts_on`). Entries dated in a closed '
    'month are rejected; months without a row are open.';

-- Closes the month starting on `month_start` and returns when it was closed. The SHARE lock
-- waits for every transaction that is inserting entries and holds new ones back until this
-- one commits, so no entry dated in the month can commit after the month is closed. The
-- function runs as its owner because the application role may not take that lock itself.
CREATE FUNCTION ledger_close_period(p_tenant_id uuid, month_start date)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    closed timestamptz;
BEGIN
    LOCK TABLE journal_entries IN SHARE MODE;
    INSERT INTO fiscal_periods (tenant_id, starts_on) VALUES (p_tenant_id, month_start)
        ON CONFLICT (tenant_id, starts_on) DO NOTHING;
    SELECT closed_at INTO closed FROM fiscal_periods
        WHERE tenant_id = p_tenant_id AND starts_on = month_start;
    RETURN closed;
END
$$;

CREATE TRIGGER fiscal_periods_append_only BEFORE UPDATE OR DELETE ON fiscal_periods
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();

REVOKE ALL ON FUNCTION ledger_close_period(uuid, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_close_period(uuid, date) TO subledger_app;
GRANT SELECT ON fiscal_periods TO subledger_app;
