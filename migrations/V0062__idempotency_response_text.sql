-- Stores each response as the exact text that was sent.
--
-- As jsonb, a stored response came back with its object keys reordered and its whitespace
-- changed, so a replay differed byte for byte from the first answer. Postgres also parsed
-- every response into jsonb on the way in, and jsonb cannot hold U+0000, which a problem
-- quoting a rejected value may contain (JSON text escapes it as `\u0000`). Nothing queries
-- inside a stored response: it is only replayed.
-- NOTE: responses stored before this migration keep the jsonb text (spaces after colons,
-- jsonb key order), so their replays still differ from the first answer in layout.
ALTER TABLE idempotency_keys ALTER COLUMN response TYPE text USING response::text;
