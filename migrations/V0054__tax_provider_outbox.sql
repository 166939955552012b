-- Invoice messages for the external tax provider. The tax of a document is determined with a
-- quotation, which the provider does not record; the message that records the sale in the
-- provider's tax journal is written here in the transaction that posts the document, and sent
-- only after that transaction commits. A document that is rolled back therefore never reaches
-- the provider's journal.

CREATE TABLE tax_provider_outbox (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    document_kind text NOT NULL CHECK (document_kind IN ('invoice', 'credit_note')),
    document_id uuid NOT NULL,
    document_number text NOT NULL,
    -- 'sale' for the sale to the customer, 'commission' for the platform's commission.
    part text NOT NULL CHECK (part IN ('sale', 'commission')),
    -- The calculation request to send, with saleMessageType INVOICE.
    request jsonb NOT NULL,
    -- A credit note's message waits until the message of the invoice it credits is sent.
    after_id uuid,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'rejected')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text,
    last_attempt_at timestamptz,
    -- The provider's response to the message that was sent.
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, document_kind, document_id, part),
    FOREIGN KEY (tenant_id, after_id) REFERENCES tax_provider_outbox (tenant_id, id),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX tax_provider_outbox_pending ON tax_provider_outbox (tenant_id, created_at, id)
    WHERE status = 'pending';
COMMENT ON TABLE tax_provider_outbox IS
    'Invoice messages for the tax provider, written with their document, sent after it commits.';

GRANT SELECT, INSERT, UPDATE ON tax_provider_outbox TO subledger_app;
