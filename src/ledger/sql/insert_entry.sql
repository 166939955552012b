-- Inserts an entry and its lines in one statement. An entry whose idempotency key the tenant
-- already used is skipped, lines included, and the statement returns no row.
WITH entry AS (
    INSERT INTO journal_entries
        (tenant_id, id, effective_date, description, idempotency_key, reverses)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING tenant_id, id, posted_at
), lines AS (
    INSERT INTO journal_lines (tenant_id, entry_id, line_no, account_code, currency, amount, memo)
    SELECT entry.tenant_id, entry.id, line.line_no, line.account_code, line.currency,
           line.amount, line.memo
    FROM entry,
         unnest($7::text[], $8::text[], $9::numeric[], $10::text[])
             WITH ORDINALITY AS line (account_code, currency, amount, memo, line_no)
)
SELECT posted_at FROM entry
