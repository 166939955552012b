-- The floor: the same entry, four lines and four balance rows (cash.EUR in every entry)
-- written into tables without triggers, one balance row per account.
\set a random(100, 100000)
\set p1 random(0, 63)
\set p2 random(0, 63)
\set p3 random(0, 63)
BEGIN;
INSERT INTO bench_entries VALUES ('00000000-0000-0000-0000-000000000001', gen_random_uuid(), '2026-07-01', 'bench');
INSERT INTO bench_lines SELECT gen_random_uuid(), n, a, m FROM unnest(ARRAY['cash.EUR', 'p' || :p1 || '.EUR', 'p' || :p2 || '.EUR', 'p' || :p3 || '.EUR'], ARRAY[3 * (:a)::numeric / 100, -(:a)::numeric / 100, -(:a)::numeric / 100, -(:a)::numeric / 100]) WITH ORDINALITY AS l (a, m, n);
UPDATE bench_balances SET balance = balance + 3 * (:a)::numeric / 100 WHERE account = 'cash.EUR';
UPDATE bench_balances SET balance = balance - (:a)::numeric / 100 WHERE account = 'p' || :p1 || '.EUR';
UPDATE bench_balances SET balance = balance - (:a)::numeric / 100 WHERE account = 'p' || :p2 || '.EUR';
UPDATE bench_balances SET balance = balance - (:a)::numeric / 100 WHERE account = 'p' || :p3 || '.EUR';
COMMIT;
