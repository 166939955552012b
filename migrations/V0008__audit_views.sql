-- The auditor's schema: read-only views over the ledger. The auditor role may SELECT here and
-- nowhere else; the views run with their owner's rights, so the role needs no table access.
-- Every view carries tenant_id: the auditor role reads all tenants.

CREATE VIEW audit.currencies AS
SELECT code, minor_units FROM currencies;
COMMENT ON VIEW audit.currencies IS
    'ISO 4217 currencies the ledger accepts, with the decimals of their minor unit.';

CREATE VIEW audit.accounts AS
SELECT tenant_id, code AS account_code, name, kind, currency, party, created_at
FROM accounts;
COMMENT ON VIEW audit.accounts IS 'Chart of accounts of every tenant.';

CREATE VIEW audit.journal AS
SELECT e.tenant_id, e.id AS entry_id, e.effective_date, e.posted_at, e.description,
       e.idempotency_key, e.reverses, l.line_no, l.account_code, a.name AS account_name,
       a.kind AS account_kind, l.currency, l.amount,
       round(greatest(l.amount, 0), c.minor_units) AS debit,
       round(greatest(-l.amount, 0), c.minor_units) AS credit, l.memo
FROM journal_entries e
JOIN journal_lines l ON l.tenant_id = e.tenant_id AND l.entry_id = e.id
LEFT JOIN accounts a ON a.tenant_id = l.tenant_id AND a.code = l.account_code
LEFT JOIN currencies c ON c.code = l.currency;
COMMENT ON VIEW audit.journal IS
    'Every journal line with its entry, one row per line. `amount` is signed (debit positive, '
    'credit negative); `debit` and `credit` split it into two non-negative columns.';
COMMENT ON COLUMN audit.journal.reverses IS 'The entry this entry reverses, if any.';
COMMENT ON COLUMN audit.journal.effective_date IS
    'Accounting date of the entry; balances as of a date count entries by this date.';

CREATE VIEW audit.account_balances AS
SELECT a.tenant_id, a.code AS account_code, a.name, a.kind, a.currency, a.party,
       round(coalesce(b.balance, 0), c.minor_units) AS balance,
       coalesce(b.line_count, 0) AS line_count
FROM accounts a
JOIN currencies c ON c.code = a.currency
LEFT JOIN (SELECT tenant_id, account_code, sum(balance) AS balance, sum(line_count) AS line_count
           FROM account_balances
           GROUP BY tenant_id, account_code) b
    ON b.tenant_id = a.tenant_id AND b.account_code = a.code;
COMMENT ON VIEW audit.account_balances IS
    'Stored balance of every account (the sum of its slot rows): debits minus credits, so '
    'liability, equity and revenue accounts normally show negative balances.';

CREATE VIEW audit.trial_balance AS
SELECT b.tenant_id, b.currency, b.account_code, b.name, b.kind,
       round(greatest(b.balance, 0), c.minor_units) AS debit,
       round(greatest(-b.balance, 0), c.minor_units) AS credit
FROM audit.account_balances b
JOIN currencies c ON c.code = b.currency;
COMMENT ON VIEW audit.trial_balance IS
    'Trial balance: each account''s balance in the debit or the credit column. Per tenant and '
    'currency the debit column equals the credit column (see audit.trial_balance_totals).';

CREATE VIEW audit.trial_balance_totals AS
SELECT tenant_id, currency, sum(debit) AS total_debit, sum(credit) AS total_credit
FROM audit.trial_balance
GROUP BY tenant_id, currency;
COMMENT ON VIEW audit.trial_balance_totals IS
    'Totals of the trial balance per tenant and currency; total_debit equals total_credit.';

CREATE VIEW audit.daily_balance_changes AS
SELECT tenant_id, account_code, effective_date, sum(delta) AS change,
       sum(line_count) AS line_count
FROM account_daily_balances
GROUP BY tenant_id, account_code, effective_date;
COMMENT ON VIEW audit.daily_balance_changes IS
    'Net change of each account per effective date, from the stored daily balance rows.';

CREATE VIEW audit.balance_check AS
WITH line_totals AS (
    SELECT tenant_id, account_code, sum(amount) AS total, count(*) AS line_count
    FROM journal_lines
    GROUP BY tenant_id, account_code
), stored_totals AS (
    SELECT tenant_id, account_code, sum(balance) AS total, sum(line_count) AS line_count
    FROM account_balances
    GROUP BY tenant_id, account_code
), line_days AS (
    SELECT l.tenant_id, l.account_code, e.effective_date, sum(l.amount) AS total,
           count(*) AS line_count
    FROM journal_lines l
    JOIN journal_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
    GROUP BY l.tenant_id, l.account_code, e.effective_date
), stored_days AS (
    SELECT tenant_id, account_code, effective_date, sum(delta) AS total,
           sum(line_count) AS line_count
    FROM account_daily_balances
    GROUP BY tenant_id, account_code, effective_date
)
SELECT 'balance' AS checked, tenant_id, account_code, NULL::date AS effective_date,
       coalesce(s.total, 0) AS stored_amount, coalesce(l.total, 0) AS lines_amount,
       coalesce(s.line_count, 0) AS stored_line_count, coalesce(l.line_count, 0) AS line_count
FROM stored_totals s
FULL JOIN line_totals l USING (tenant_id, account_code)
WHERE coalesce(s.total, 0) <> coalesce(l.total, 0)
   OR coalesce(s.line_count, 0) <> coalesce(l.line_count, 0)
UNION ALL
SELECT 'daily change', tenant_id, account_code, effective_date,
       coalesce(s.total, 0), coalesce(l.total, 0),
       coalesce(s.line_count, 0), coalesce(l.line_count, 0)
FROM stored_days s
FULL JOIN line_days l USING (tenant_id, account_code, effective_date)
WHERE coalesce(s.total, 0) <> coalesce(l.total, 0)
   OR coalesce(s.line_count, 0) <> coalesce(l.line_count, 0);
COMMENT ON VIEW audit.balance_check IS
    'Stored balances and daily changes that differ from the sum of the journal lines. Must '
    'be empty. It reads every line, so it is a full scan of the journal.';

CREATE VIEW audit.unbalanced_entries AS
SELECT tenant_id, entry_id, currency, sum(amount) AS difference, count(*) AS line_count,
       'lines do not sum to zero' AS problem
FROM journal_lines
GROUP BY tenant_id, entry_id, currency
HAVING sum(amount) <> 0
UNION ALL
SELECT e.tenant_id, e.id, NULL, 0, 0, 'entry has no lines'
FROM journal_entries e
WHERE NOT EXISTS (SELECT 1 FROM journal_lines l
                  WHERE l.tenant_id = e.tenant_id AND l.entry_id = e.id)
UNION ALL
SELECT l.tenant_id, l.entry_id, l.currency, sum(l.amount), count(*), 'lines without an entry'
FROM journal_lines l
WHERE NOT EXISTS (SELECT 1 FROM journal_entries e
                  WHERE e.tenant_id = l.tenant_id AND e.id = l.entry_id)
GROUP BY l.tenant_id, l.entry_id, l.currency;
COMMENT ON VIEW audit.unbalanced_entries IS
    'Entries whose lines do not sum to zero in a currency, entries without lines, and lines '
    'without an entry. Must be empty.';

CREATE VIEW audit.closed_periods AS
SELECT tenant_id, to_char(starts_on, 'YYYY-MM') AS period, starts_on,
       (starts_on + interval '1 month' - interval '1 day')::date AS ends_on, closed_at
FROM fiscal_periods;
COMMENT ON VIEW audit.closed_periods IS
    'Closed fiscal periods (calendar months). A month not listed is open.';

CREATE FUNCTION audit.balance_as_of(p_tenant_id uuid, p_account_code text, p_as_of date)
RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(change), 0)
    FROM audit.daily_balance_changes
    WHERE tenant_id = p_tenant_id AND account_code = p_account_code
      AND effective_date <= p_as_of
$$;
COMMENT ON FUNCTION audit.balance_as_of(uuid, text, date) IS
    'Balance of one account counting the entries effective on or before the date.';

CREATE FUNCTION audit.trial_balance_as_of(p_tenant_id uuid, p_as_of date)
RETURNS TABLE (currency text, account_code text, name text, kind text, debit numeric,
               credit numeric)
LANGUAGE sql STABLE AS $$
    SELECT a.currency, a.account_code, a.name, a.kind,
           round(greatest(coalesce(c.balance, 0), 0), m.minor_units),
           round(greatest(-coalesce(c.balance, 0), 0), m.minor_units)
    FROM audit.accounts a
    JOIN audit.currencies m ON m.code = a.currency
    LEFT JOIN (SELECT account_code, sum(change) AS balance
               FROM audit.daily_balance_changes
               WHERE tenant_id = p_tenant_id AND effective_date <= p_as_of
               GROUP BY account_code) c ON c.account_code = a.account_code
    WHERE a.tenant_id = p_tenant_id
    ORDER BY a.currency, a.account_code
$$;
COMMENT ON FUNCTION audit.trial_balance_as_of(uuid, date) IS
    'Trial balance of one tenant counting the entries effective on or before the date.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA audit FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA audit TO subledger_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO subledger_auditor;
