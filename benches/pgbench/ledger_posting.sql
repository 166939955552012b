-- One four-line entry per transaction through the ledger tables, as post_entry writes it:
-- the checks and balance updates run in the triggers. cash.EUR is in every entry.
\set a random(100, 100000)
\set p1 random(0, 63)
\set p2 random(0, 63)
\set p3 random(0, 63)
BEGIN;
WITH entry AS (
    INSERT INTO journal_entries (tenant_id, id, effective_date, description)
    VALUES ('00000000-0000-0000-0000-000000000001', gen_random_uuid(), '2026-07-01', 'bench')
    RETURNING tenant_id, id, posted_at
), lines AS (
    INSERT INTO journal_lines (tenant_id, entry_id, line_no, account_code, currency, amount)
    SELECT entry.tenant_id, entry.id, l.n, l.account, 'EUR', l.amount
    FROM entry, unnest(ARRAY['cash.EUR', 'p' || :p1 || '.EUR', 'p' || :p2 || '.EUR', 'p' || :p3 || '.EUR'],
                       ARRAY[3 * (:a)::numeric / 100, -(:a)::numeric / 100, -(:a)::numeric / 100, -(:a)::numeric / 100])
         WITH ORDINALITY AS l (account, amount, n)
)
SELECT posted_at FROM entry;
SET CONSTRAINTS journal_entries_balanced IMMEDIATE;
SET CONSTRAINTS journal_entries_balanced DEFERRED;
COMMIT;
