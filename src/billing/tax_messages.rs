//! Messages that record credit notes at the external tax provider, built from the messages
//! stored for the invoice they credit.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::Error;
use crate::tax::outbox::{self, CreditedLine, Document, Message};

/// A credit note, for its provider messages.
pub struct CreditedDocument<'a> {
    pub invoice_id: Uuid,
    pub note: Document<'a>,
    pub issue_date: NaiveDate,
    /// Credited invoice lines: line number, net amount and quantity (zero for an amount).
    pub lines: Vec<(i32, Decimal, Decimal)>,
    /// Commission given back to the partner.
    pub commission: Decimal,
}

/// Stores the messages that record a credit note at the tax provider: for each message
/// stored for the credited invoice, its credited lines with negative amounts. Each waits for
/// the invoice's message, so the provider never receives a credit before its sale. An invoice
/// whose tax the provider did not determine has no messages, and neither has its credit.
pub async fn enqueue_credit(
    client: &impl GenericClient,
    tenant_id: Uuid,
    credit: &CreditedDocument<'_>,
) -> Result<(), Error> {
    let stored = outbox::messages_of(client, tenant_id, "invoice", credit.invoice_id).await?;
    for message in stored {
        let (part, lines) = match message.part.as_str() {
            "sale" => ("sale", sale_lines(&credit.lines)),
            "commission" if credit.commission > Decimal::ZERO => {
                let line =
                    CreditedLine { line_item_number: 1, amount: credit.commission, quantity: None };
                ("commission", vec![line])
            }
            _ => continue,
        };
        let Some(request) = outbox::credit_request(&message.request, &lines, credit.issue_date)
        else {
            continue;
        };
        let message_id = Some(message.id);
        outbox::enqueue(client, tenant_id, credit.note, Message { part, request }, message_id)
            .await?;
    }
    Ok(())
}

fn sale_lines(lines: &[(i32, Decimal, Decimal)]) -> Vec<CreditedLine> {
    lines
        .iter()
        .filter(|(_, net, _)| !net.is_zero())
        .map(|&(line_no, amount, quantity)| CreditedLine {
            line_item_number: line_no as u32,
            amount,
            quantity: Some(quantity),
        })
        .collect()
}
