-- Pins the search path of the deferred entry check.
--
-- ledger_check_entry runs with the rights and the search path of the session that inserted
-- the entry. A session's default search path looks in its temporary schema before public, so
-- a role allowed to create temporary tables (the app role is, as every role is by default)
-- could create a temporary journal_lines holding balanced lines and commit an unbalanced
-- entry, or a temporary fiscal_periods and post into a closed month. The check now reads
-- public first and temporary tables last, as every other journal function does.
ALTER FUNCTION ledger_check_entry() SET search_path = public, pg_temp;
