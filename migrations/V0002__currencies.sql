-- Currencies the ledger accepts, with their ISO 4217 minor units (SIX maintenance agency, list
-- one, "Minor unit" column). Shared by all tenants; the same list is compiled into the service,
-- and a test checks that both agree.

CREATE TABLE currencies (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    minor_units smallint NOT NULL CHECK (minor_units BETWEEN 0 AND 4)
);
COMMENT ON TABLE currencies IS
    'ISO 4217 currencies and the number of decimals of their minor unit (JPY 0, EUR 2, BHD 3).';

INSERT INTO currencies (code, minor_units) VALUES
    ('AED', 2),
    ('AUD', 2),
    ('BGN', 2),
    ('BHD', 3),
    ('BRL', 2),
    ('CAD', 2),
    ('CHF', 2),
    ('CLP', 0),
    ('CNY', 2),
    ('CZK', 2),
    ('DKK', 2),
    ('EUR', 2),
    ('GBP', 2),
    ('HKD', 2),
    ('HUF', 2),
    ('ILS', 2),
    ('INR', 2),
    ('ISK', 0),
    ('JOD', 3),
    ('JPY', 0),
    ('KRW', 0),
    ('KWD', 3),
    ('MXN', 2),
    ('NOK', 2),
    ('NZD', 2),
    ('OMR', 3),
    ('PLN', 2),
    ('RON', 2),
    ('SAR', 2),
    ('SEK', 2),
    ('SGD', 2),
    ('TND', 3),
    ('TRY', 2),
    ('USD', 2),
    ('VND', 0),
    ('ZAR', 2);

GRANT SELECT ON currencies TO subledger_app;
