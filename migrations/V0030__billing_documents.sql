-- Billing: parties and their contract accounts, partner agreements, number series, invoices,
-- credit notes, payments with their allocations, and payout runs. Document rows are written in
-- the same transaction as the one journal entry each document posts; `entry_id` names it.

CREATE TABLE parties (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('customer', 'partner', 'platform')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    country char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    subdivision text,
    postal_code text,
    city text,
    time_zone text NOT NULL,
    business boolean NOT NULL,
    vat_id text,
    exemptions text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX parties_one_platform ON parties (tenant_id) WHERE role = 'platform';
COMMENT ON TABLE parties IS
    'Customers, partners (sellers) and the platform itself, each with a domicile for tax.';

CREATE TABLE partner_agreements (
    tenant_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    selling_role text NOT NULL CHECK (selling_role IN ('agent', 'supplier')),
    currencies text[] NOT NULL,
    commission_tiers jsonb NOT NULL,
    fixed_fees jsonb NOT NULL DEFAULT '{}',
    commission_on_refund text NOT NULL CHECK (commission_on_refund IN ('refunded', 'kept')),
    minimum_payouts jsonb NOT NULL DEFAULT '{}',
    payout_delay_days integer NOT NULL CHECK (payout_delay_days BETWEEN 0 AND 366),
    PRIMARY KEY (tenant_id, partner_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES parties (tenant_id, id)
);
COMMENT ON TABLE partner_agreements IS
    'Commission tiers and fees, refund policy, payout minimum and delay, and selling role.';

CREATE TABLE contract_accounts (
    tenant_id uuid NOT NULL,
    party_id uuid NOT NULL,
    currency char(3) NOT NULL,
    purpose text NOT NULL CHECK (purpose IN ('receivable', 'customer_credit', 'payable')),
    account_code text NOT NULL,
    -- Unapplied customer credit; kept here so the next invoice can use it under a row lock.
    credit_balance numeric NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    PRIMARY KEY (tenant_id, party_id, currency, purpose),
    FOREIGN KEY (tenant_id, party_id) REFERENCES parties (tenant_id, id)
);
COMMENT ON TABLE contract_accounts IS
    'One ledger account per party, currency and purpose: receivable, customer credit, payable.';

CREATE TABLE partner_year_revenue (
    tenant_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    year integer NOT NULL,
    currency char(3) NOT NULL,
    net_revenue numeric NOT NULL,
    PRIMARY KEY (tenant_id, partner_id, year, currency),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES parties (tenant_id, id)
);
COMMENT ON TABLE partner_year_revenue IS
    'Net sales per partner, calendar year and currency: selects the commission tier.';

CREATE TABLE number_series (
    tenant_id uuid NOT NULL,
    issuer_id uuid NOT NULL,
    series text NOT NULL CHECK (series ~ '^[A-Z0-9]{1,12}$'),
    year integer NOT NULL,
    last_number bigint NOT NULL CHECK (last_number > 0),
    last_issued_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, issuer_id, series, year),
    FOREIGN KEY (tenant_id, issuer_id) REFERENCES parties (tenant_id, id)
);
COMMENT ON TABLE number_series IS
    'Gapless counters, one per issuer, series and year, taken in the posting transaction.';

CREATE TABLE invoices (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    number text NOT NULL,
    issuer_id uuid NOT NULL,
    series text NOT NULL,
    customer_id uuid NOT NULL,
    seller_id uuid NOT NULL,
    currency char(3) NOT NULL,
    selling_role text NOT NULL CHECK (selling_role IN ('agent', 'supplier')),
    prices_include_tax boolean NOT NULL,
    issued_at timestamptz NOT NULL,
    issue_date date NOT NULL,
    due_on date NOT NULL,
    net_total numeric NOT NULL,
    tax_total numeric NOT NULL,
    total numeric NOT NULL CHECK (total >= 0),
    commission numeric NOT NULL,
    commission_tax numeric NOT NULL,
    partner_share numeric NOT NULL,
    credit_applied numeric NOT NULL DEFAULT 0,
    open_amount numeric NOT NULL CHECK (open_amount >= 0),
    credited_total numeric NOT NULL DEFAULT 0 CHECK (credited_total >= 0),
    credited_partner_cost numeric NOT NULL DEFAULT 0,
    tax_determination jsonb NOT NULL,
    commission_legal_mention text,
    entry_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, issuer_id, number),
    CHECK (credited_total <= total),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES parties (tenant_id, id),
    FOREIGN KEY (tenant_id, seller_id) REFERENCES parties (tenant_id, id),
    FOREIGN KEY (tenant_id, issuer_id) REFERENCES parties (tenant_id, id)
);
CREATE INDEX invoices_open_by_customer
    ON invoices (tenant_id, customer_id, currency, due_on, issued_at) WHERE open_amount > 0;
CREATE INDEX invoices_by_seller ON invoices (tenant_id, seller_id, currency);
COMMENT ON TABLE invoices IS
    'Customer invoices; `open_amount` is the open item, lowered only under a row lock.';

CREATE TABLE invoice_lines (
    tenant_id uuid NOT NULL,
    invoice_id uuid NOT NULL,
    line_no integer NOT NULL,
    product text NOT NULL,
    tax_code text NOT NULL,
    quantity numeric NOT NULL CHECK (quantity > 0),
    unit_price numeric NOT NULL CHECK (unit_price >= 0),
    discount numeric NOT NULL CHECK (discount >= 0),
    net numeric NOT NULL CHECK (net >= 0),
    commission numeric NOT NULL,
    credited_quantity numeric NOT NULL DEFAULT 0,
    credited_net numeric NOT NULL DEFAULT 0,
    credited_commission numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, invoice_id, line_no),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    CHECK (credited_net <= net)
);

CREATE TABLE invoice_taxes (
    tenant_id uuid NOT NULL,
    invoice_id uuid NOT NULL,
    seq integer NOT NULL,
    -- `sale`: tax on the customer's purchase; `commission`: tax on the platform's commission.
    kind text NOT NULL CHECK (kind IN ('sale', 'commission')),
    jurisdiction text NOT NULL,
    rate numeric NOT NULL,
    rule text NOT NULL,
    liable text NOT NULL CHECK (liable IN ('partner', 'platform', 'customer', 'nobody')),
    base numeric NOT NULL,
    amount numeric NOT NULL,
    account_code text,
    lines integer[] NOT NULL,
    legal_mention text,
    credited_base numeric NOT NULL DEFAULT 0,
    credited_amount numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, invoice_id, seq),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
COMMENT ON TABLE invoice_taxes IS
    'Tax per jurisdiction and rate of an invoice and of its commission, with what was credited.';

CREATE TABLE credit_notes (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    number text NOT NULL,
    issuer_id uuid NOT NULL,
    invoice_id uuid NOT NULL,
    currency char(3) NOT NULL,
    issued_at timestamptz NOT NULL,
    issue_date date NOT NULL,
    reason text,
    net numeric NOT NULL,
    tax numeric NOT NULL,
    total numeric NOT NULL CHECK (total > 0),
    commission numeric NOT NULL,
    commission_tax numeric NOT NULL,
    partner_cost numeric NOT NULL,
    applied_to_open numeric NOT NULL,
    to_customer_credit numeric NOT NULL,
    detail jsonb NOT NULL,
    entry_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, issuer_id, number),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE INDEX credit_notes_by_invoice ON credit_notes (tenant_id, invoice_id);

CREATE TABLE payments (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    customer_id uuid NOT NULL,
    currency char(3) NOT NULL,
    amount numeric NOT NULL CHECK (amount > 0),
    received_on date NOT NULL,
    reference text,
    unapplied numeric NOT NULL CHECK (unapplied >= 0),
    entry_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES parties (tenant_id, id)
);

CREATE TABLE allocations (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    invoice_id uuid NOT NULL,
    -- NULL when customer credit from an earlier overpayment or refund cleared the invoice.
    payment_id uuid,
    amount numeric NOT NULL CHECK (amount > 0),
    applied_on date NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id)
);
CREATE INDEX allocations_by_invoice ON allocations (tenant_id, invoice_id);
COMMENT ON TABLE allocations IS 'Clearing of invoices by payments or by customer credit.';

CREATE TABLE payout_runs (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    as_of date NOT NULL,
    period char(7) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE payouts (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    run_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    currency char(3) NOT NULL,
    period char(7) NOT NULL,
    paid_on date NOT NULL,
    amount numeric NOT NULL CHECK (amount > 0),
    entry_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, id),
    -- One payout per partner, currency and month, whichever run gets there first.
    UNIQUE (tenant_id, partner_id, currency, period),
    FOREIGN KEY (tenant_id, run_id) REFERENCES payout_runs (tenant_id, id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES parties (tenant_id, id)
);

CREATE TABLE payout_run_lines (
    tenant_id uuid NOT NULL,
    run_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    currency char(3) NOT NULL,
    releasable numeric NOT NULL,
    paid_before numeric NOT NULL,
    balance numeric NOT NULL,
    outcome text NOT NULL
        CHECK (outcome IN ('paid', 'carried_forward', 'below_minimum', 'already_paid')),
    payout_id uuid,
    PRIMARY KEY (tenant_id, run_id, partner_id, currency),
    FOREIGN KEY (tenant_id, run_id) REFERENCES payout_runs (tenant_id, id)
);
COMMENT ON TABLE payout_run_lines IS
    'What a run decided per partner and currency; a negative balance is carried forward.';

GRANT SELECT, INSERT, UPDATE ON parties, partner_agreements, contract_accounts,
    partner_year_revenue, number_series, invoices, invoice_lines, invoice_taxes
    TO subledger_app;
GRANT SELECT, INSERT ON credit_notes, payments, allocations, payout_runs, payouts,
    payout_run_lines TO subledger_app;
