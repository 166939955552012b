-- Keeps each tax determination as the JSON text the service wrote, in `json` instead of
-- `jsonb`.
--
-- Nothing queries inside these documents: they are the record of how tax was determined,
-- read back whole, and auditors read the rates and amounts from the columns and lines beside
-- them. As jsonb, Postgres built a binary tree of every determination on the way in, about
-- 4 kB of JSON per invoice. `json` only checks that the text is valid JSON and keeps it as
-- the service wrote it. The json operators (`->`, `->>`, `json_array_elements`) still read it.
ALTER TABLE tax_determinations
    ALTER COLUMN determination TYPE json USING determination::json,
    ALTER COLUMN provider_response TYPE json USING provider_response::json;
ALTER TABLE invoices ALTER COLUMN tax_determination TYPE json USING tax_determination::json;
