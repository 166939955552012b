-- Keeps the journal triggers on index lookups whatever the table statistics say.
--
-- PL/pgSQL caches a query's plan per connection for as long as the connection lives. On a
-- new database the first entry finds journal_entries empty and never analyzed, so the
-- planner joins the inserted lines to journal_entries and accounts by scanning both tables.
-- That plan stays cached, and every later entry scans the whole journal again, until an
-- ANALYZE replaces it (never, where autovacuum is off). With sequential scans disabled for
-- these functions the planner takes the primary key indexes at any table size. The
-- inserted lines are a transition table and are still scanned, which is the intended plan.
ALTER FUNCTION ledger_apply_lines() SET enable_seqscan = off;
ALTER FUNCTION ledger_check_entry() SET enable_seqscan = off;
