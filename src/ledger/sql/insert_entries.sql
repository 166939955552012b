-- Inserts many entries and their lines in one statement, for a caller that checked them and
-- chose their ids. Each entry and each line names its tenant. Fails as a whole when any entry
-- breaks a rule or reuses an idempotency key.
WITH entries AS (
    INSERT INTO journal_entries (tenant_id, id, effective_date, description, idempotency_key)
    SELECT entry.tenant_id, entry.id, entry.effective_date, entry.description,
           entry.idempotency_key
    FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::text[], $5::text[])
        AS entry (tenant_id, id, effective_date, description, idempotency_key)
    RETURNING id
), lines AS (
    INSERT INTO journal_lines (tenant_id, entry_id, line_no, account_code, currency, amount, memo)
    SELECT line.tenant_id, line.entry_id, line.line_no, line.account_code, line.currency,
           line.amount, line.memo
    FROM unnest($12::uuid[], $6::uuid[], $7::smallint[], $8::text[], $9::text[],
                $10::numeric[], $11::text[])
        AS line (tenant_id, entry_id, line_no, account_code, currency, amount, memo)
)
SELECT count(*) FROM entries
