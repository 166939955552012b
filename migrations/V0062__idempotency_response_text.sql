-- Stores each response as the exact text that was sent.
--
-- As jsonb, a stored response came back with its object keys reordered and its whitespace
-- changed, so a replay differed byte for byte from the first answer; Postgres also parsed
-- every response into jsonb on the way in, and jsonb cannot hold U+0000, which a problem
-- quoting a rejected value may contain (JSON text escapes it as `\u0000`). Nothing queries
-- inside a stored response: it is only replayed.
ALTER TABLE idempotency_keys ALTER COLUMN response TYPE text USING response::text;

-- Responses of an invoice are about 2 kB, at the size where Postgres starts to compress
-- values; lz4 compresses them several times faster than the default pglz. A server built
-- without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE idempotency_keys ALTER COLUMN response SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available; stored responses keep the default compression';
END
$$;
