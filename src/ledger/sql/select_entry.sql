SELECT e.id, e.effective_date, e.description, e.idempotency_key, e.reverses, e.posted_at,
       (SELECT r.id FROM journal_entries r
        WHERE r.tenant_id = e.tenant_id AND r.reverses = e.id) AS reversed_by
FROM journal_entries e
WHERE e.tenant_id = $1 AND e.id = $2
