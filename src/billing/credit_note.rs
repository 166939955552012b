//! Credit notes: full or partial reversal of an invoice, at its original tax rates and
//! jurisdictions, with the commission reversed as the partner agreement sets.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::{self, PlatformAccount, Purpose};
use super::numbering;
use super::parties::{self, CommissionOnRefund, SellingRole};
use super::payment;
use super::posting::{self, Draft};
use super::pricing;
use super::proration::{self, Prorated};
use super::tax_messages;
use crate::error::{Error, ErrorCode};
use crate::money::{Currency, Rounding};
use crate::tax::outbox;

/// A request to credit an invoice. Without `lines` the whole rest of the invoice is credited.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCreditNote {
    pub invoice_id: Uuid,
    pub issued_at: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Number series of the issuer; "CN" when absent.
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub lines: Option<Vec<NewCreditLine>>,
}

/// A line to credit: a quantity, a net amount, or (with neither) all that is left of it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCreditLine {
    pub line_no: i32,
    #[serde(default, with = "crate::money::option_amount_str")]
    #[schema(value_type = Option<String>)]
    pub quantity: Option<Decimal>,
    /// Net amount to credit, tax excluded.
    #[serde(default, with = "crate::money::option_amount_str")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
}

/// An issued credit note.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreditNote {
    pub id: Uuid,
    pub number: String,
    pub invoice_id: Uuid,
    pub currency: String,
    pub issued_at: DateTime<Utc>,
    pub reason: Option<String>,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub net: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub tax: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub total: Decimal,
    /// Commission given back to the partner (zero when the platform keeps it).
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission_tax: Decimal,
    /// Amount the credit takes back from the partner's payable.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub partner_cost: Decimal,
    /// Part of the total that lowered the invoice's open amount.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub applied_to_open: Decimal,
    /// Part of the total owed back to the customer, as customer credit.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub to_customer_credit: Decimal,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub entry_id: Uuid,
}

struct LockedInvoice {
    issuer_id: Uuid,
    customer_id: Uuid,
    seller_id: Uuid,
    currency: Currency,
    role: SellingRole,
    open_amount: Decimal,
    /// Issue date of the invoice: its year's revenue is what the credit lowers.
    issue_date: NaiveDate,
    /// A credit note may not be issued before the invoice it credits.
    issued_at: DateTime<Utc>,
}

struct LineState {
    line_no: i32,
    quantity: Decimal,
    net: Decimal,
    commission: Decimal,
    credited_quantity: Decimal,
    credited_net: Decimal,
    credited_commission: Decimal,
}

struct TaxState {
    seq: i32,
    kind: String,
    jurisdiction: String,
    rate: Decimal,
    liable: String,
    base: Decimal,
    amount: Decimal,
    lines: Vec<i32>,
    credited_base: Decimal,
    credited_amount: Decimal,
}

/// The amounts one credit reverses, per line and per tax line.
#[derive(Default)]
struct Reversal {
    lines: Vec<(i32, Decimal, Decimal, Decimal)>,
    taxes: Vec<(i32, Decimal, Decimal)>,
    net: Decimal,
    tax: Decimal,
    commission: Decimal,
    commission_tax: Decimal,
    /// Reversed sale tax that the partner owes, returned through its payable.
    partner_tax: Decimal,
    platform_taxes: Vec<(String, Decimal)>,
}

impl Reversal {
    /// Puts the totals at the currency's minor unit: sums of zeros lose their scale.
    fn rescale(&mut self, currency: Currency) {
        let amounts = [
            &mut self.net,
            &mut self.tax,
            &mut self.commission,
            &mut self.commission_tax,
            &mut self.partner_tax,
        ];
        for amount in amounts {
            *amount = currency.round(*amount, Rounding::HalfUp);
        }
    }
}

/// Issues a credit note against an invoice and posts its one entry, all in `tx`.
pub async fn create(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: NewCreditNote,
) -> Result<CreditNote, Error> {
    let series = new.series.clone().unwrap_or_else(|| "CN".to_string());
    numbering::validate_series(&series, "series")?;
    if let Some(reason) = &new.reason {
        crate::ledger::check_no_nul("reason", reason)?;
    }
    let invoice = lock_invoice(tx, tenant_id, new.invoice_id).await?;
    if new.issued_at < invoice.issued_at {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("the credited invoice was issued later, at {}", invoice.issued_at),
        )
        .field("issued_at")
        .value(new.issued_at.to_rfc3339()));
    }
    let seller = parties::find(tx, tenant_id, invoice.seller_id).await?;
    let issuer = parties::find(tx, tenant_id, invoice.issuer_id).await?;
    let (Some(seller), Some(issuer)) = (seller, issuer) else {
        return Err(Error::internal(anyhow::anyhow!("invoice parties vanished")));
    };
    // The agreement the invoice was priced under decides who bears the refunded commission.
    let policy = seller.agreement_on(invoice.issue_date).map(|a| a.commission_on_refund);
    let refunded = policy != Some(CommissionOnRefund::Kept);

    let mut lines = load_lines(tx, tenant_id, new.invoice_id).await?;
    let mut taxes = load_taxes(tx, tenant_id, new.invoice_id).await?;
    let credited = credited_nets(&lines, new.lines.as_deref(), invoice.currency)?;
    if credited.iter().all(|(_, net, _)| net.is_zero()) {
        return Err(Error::new(ErrorCode::CreditAboveResidual, "nothing is left to credit")
            .field("invoice_id")
            .value(new.invoice_id.to_string()));
    }
    let mut reversal = reverse(&invoice, &mut lines, &mut taxes, &credited, refunded);
    if !refunded {
        // The platform keeps the commission, so the credit gives none of it back.
        reversal.commission = Decimal::ZERO;
    }
    reversal.rescale(invoice.currency);
    let total = reversal.net + reversal.tax;
    let applied_to_open = total.min(invoice.open_amount);
    let amounts = Amounts {
        total,
        applied_to_open,
        to_customer_credit: total - applied_to_open,
        partner_cost: partner_cost(&reversal, refunded),
    };

    let issue_date = new.issued_at.with_timezone(&issuer.time_zone()).date_naive();
    let year = numbering::issue_year(new.issued_at, issuer.time_zone());
    let number =
        numbering::next_number(tx, tenant_id, issuer.id, &series, new.issued_at, year).await?;
    let id = Uuid::now_v7();
    let draft = draft(tx, tenant_id, &invoice, &reversal, &amounts, refunded).await?;
    let description = format!("Credit note {number}");
    let key = format!("credit_note:{id}");
    let entry_id = posting::post(tx, tenant_id, issue_date, description, key, draft)
        .await
        .map_err(posting::request_fields("issued_at", Some("lines")))?;

    store(tx, tenant_id, &invoice, &lines, &taxes, &reversal, &amounts, new.invoice_id).await?;
    let row = NoteRow { id, number, issuer_id: issuer.id, issue_date, entry_id };
    insert_note(
        tx,
        tenant_id,
        &new,
        &invoice,
        &row,
        &reversal,
        &amounts,
        detail(&reversal, &taxes),
    )
    .await?;
    let credit = tax_messages::CreditedDocument {
        invoice_id: new.invoice_id,
        note: outbox::Document { kind: "credit_note", id, number: &row.number },
        issue_date,
        lines: reversal
            .lines
            .iter()
            .map(|&(line, net, quantity, _)| (line, net, quantity))
            .collect(),
        commission: reversal.commission,
    };
    tax_messages::enqueue_credit(tx, tenant_id, &credit).await?;
    if amounts.to_customer_credit > Decimal::ZERO {
        let customer = invoice.customer_id;
        let credit = amounts.to_customer_credit;
        payment::add_customer_credit(tx, tenant_id, customer, invoice.currency, credit).await?;
    }
    find(tx, tenant_id, id)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("credit note vanished")))
}

/// Identity of a new credit note and the entry it posted.
struct NoteRow {
    id: Uuid,
    number: String,
    issuer_id: Uuid,
    issue_date: NaiveDate,
    entry_id: Uuid,
}

#[allow(clippy::too_many_arguments)]
async fn insert_note(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewCreditNote,
    invoice: &LockedInvoice,
    row: &NoteRow,
    reversal: &Reversal,
    amounts: &Amounts,
    detail: serde_json::Value,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO credit_notes (tenant_id, id, number, issuer_id, invoice_id, currency, \
         issued_at, issue_date, reason, net, tax, total, commission, commission_tax, \
         partner_cost, applied_to_open, to_customer_credit, detail, entry_id) VALUES ($1, $2, \
         $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        &[
            &tenant_id,
            &row.id,
            &row.number,
            &row.issuer_id,
            &new.invoice_id,
            &invoice.currency.code(),
            &new.issued_at,
            &row.issue_date,
            &new.reason,
            &reversal.net,
            &reversal.tax,
            &amounts.total,
            &reversal.commission,
            &reversal.commission_tax,
            &amounts.partner_cost,
            &amounts.applied_to_open,
            &amounts.to_customer_credit,
            &detail,
            &row.entry_id,
        ],
    )
    .await?;
    Ok(())
}

struct Amounts {
    total: Decimal,
    applied_to_open: Decimal,
    to_customer_credit: Decimal,
    partner_cost: Decimal,
}

async fn lock_invoice(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<LockedInvoice, Error> {
    let row = tx
        .query_opt(
            "SELECT issuer_id, customer_id, seller_id, currency, selling_role, open_amount, \
             issue_date, issued_at \
             FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            &[&tenant_id, &id],
        )
        .await?;
    let Some(row) = row else {
        return Err(Error::new(ErrorCode::UnknownInvoice, "no invoice with this id")
            .field("invoice_id")
            .value(id.to_string()));
    };
    Ok(LockedInvoice {
        issuer_id: row.get(0),
        customer_id: row.get(1),
        seller_id: row.get(2),
        currency: Currency::parse(row.get(3))?,
        role: SellingRole::parse(row.get(4)),
        open_amount: row.get(5),
        issue_date: row.get(6),
        issued_at: row.get(7),
    })
}

async fn load_lines(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Vec<LineState>, Error> {
    let rows = tx
        .query(
            "SELECT line_no, quantity, net, commission, credited_quantity, credited_net, \
             credited_commission FROM invoice_lines \
             WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY line_no",
            &[&tenant_id, &id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| LineState {
            line_no: row.get(0),
            quantity: row.get(1),
            net: row.get(2),
            commission: row.get(3),
            credited_quantity: row.get(4),
            credited_net: row.get(5),
            credited_commission: row.get(6),
        })
        .collect())
}

async fn load_taxes(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Vec<TaxState>, Error> {
    let rows = tx
        .query(
            "SELECT seq, kind, jurisdiction, rate, liable, base, amount, lines, credited_base, \
             credited_amount FROM invoice_taxes \
             WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY seq",
            &[&tenant_id, &id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| TaxState {
            seq: row.get(0),
            kind: row.get(1),
            jurisdiction: row.get(2),
            rate: row.get(3),
            liable: row.get(4),
            base: row.get(5),
            amount: row.get(6),
            lines: row.get(7),
            credited_base: row.get(8),
            credited_amount: row.get(9),
        })
        .collect())
}

/// Net amount and quantity credited per line, checked against what is left of each line.
fn credited_nets(
    lines: &[LineState],
    requested: Option<&[NewCreditLine]>,
    currency: Currency,
) -> Result<Vec<(i32, Decimal, Decimal)>, Error> {
    let Some(requested) = requested else {
        return Ok(lines
            .iter()
            .map(|line| {
                let rest_quantity = line.quantity - line.credited_quantity;
                (line.line_no, line.net - line.credited_net, rest_quantity)
            })
            .collect());
    };
    if requested.is_empty() {
        return Err(Error::new(ErrorCode::InvalidField, "give at least one line, or omit lines")
            .field("lines"));
    }
    let mut credited: Vec<(i32, Decimal, Decimal)> = Vec::new();
    for (index, request) in requested.iter().enumerate() {
        let field = |name: &str| format!("lines[{index}].{name}");
        let Some(line) = lines.iter().find(|line| line.line_no == request.line_no) else {
            return Err(Error::new(ErrorCode::InvalidField, "the invoice has no such line")
                .field(field("line_no"))
                .value(request.line_no));
        };
        if credited.iter().any(|(line_no, _, _)| *line_no == request.line_no) {
            return Err(Error::new(
                ErrorCode::InvalidField,
                "a line may be credited once per note",
            )
            .field(field("line_no"))
            .value(request.line_no));
        }
        credited.push(credit_line(line, request, currency, &field)?);
    }
    Ok(credited)
}

fn credit_line(
    line: &LineState,
    request: &NewCreditLine,
    currency: Currency,
    field: &dyn Fn(&str) -> String,
) -> Result<(i32, Decimal, Decimal), Error> {
    let rest_net = line.net - line.credited_net;
    let rest_quantity = line.quantity - line.credited_quantity;
    let above = |name: &str, value: Decimal, rest: Decimal| {
        Error::new(
            ErrorCode::CreditAboveResidual,
            format!("{name} {value} is above the {rest} left"),
        )
        .field(field(name))
        .value(value.to_string())
    };
    let positive = |name: &str, value: Decimal| {
        if value <= Decimal::ZERO {
            return Err(Error::new(ErrorCode::InvalidField, format!("{name} must be positive"))
                .field(field(name))
                .value(value.to_string()));
        }
        Ok(())
    };
    match (request.quantity, request.amount) {
        (Some(_), Some(_)) => {
            Err(Error::new(ErrorCode::InvalidField, "give quantity or amount, not both")
                .field(field("amount")))
        }
        (Some(quantity), None) => {
            positive("quantity", quantity)?;
            pricing::check_fine(quantity, &field("quantity"))?;
            if quantity > rest_quantity {
                return Err(above("quantity", quantity, rest_quantity));
            }
            // The line's share, rounded as the invoice rounded the line; never above the rest.
            let net = if quantity == rest_quantity {
                rest_net
            } else {
                let share = proration::pro_rata(line.net, quantity, line.quantity);
                currency.round(share, pricing::LINE_ROUNDING).min(rest_net)
            };
            Ok((line.line_no, net, quantity))
        }
        (None, Some(amount)) => {
            positive("amount", amount)?;
            let amount =
                currency.exact(amount).map_err(|err| Error::from(err).field(field("amount")))?;
            if amount > rest_net {
                return Err(above("amount", amount, rest_net));
            }
            Ok((line.line_no, amount, Decimal::ZERO))
        }
        (None, None) => Ok((line.line_no, rest_net, rest_quantity)),
    }
}

/// Computes the reversal and advances the credited amounts of `lines` and `taxes`.
fn reverse(
    invoice: &LockedInvoice,
    lines: &mut [LineState],
    taxes: &mut [TaxState],
    credited: &[(i32, Decimal, Decimal)],
    refunded: bool,
) -> Reversal {
    let currency = invoice.currency;
    let mut reversal = Reversal::default();
    for (line_no, net, quantity) in credited {
        let Some(line) = lines.iter_mut().find(|line| line.line_no == *line_no) else {
            continue;
        };
        let prorated = Prorated {
            amount: line.commission,
            base: line.net,
            credited_amount: line.credited_commission,
            credited_base: line.credited_net,
        };
        let commission = prorated.share(*net, currency);
        line.credited_net += *net;
        line.credited_quantity += *quantity;
        line.credited_commission += commission;
        reversal.net += *net;
        reversal.commission += commission;
        reversal.lines.push((*line_no, *net, *quantity, commission));
    }
    for tax in taxes.iter_mut().filter(|tax| tax.kind == "sale") {
        let base: Decimal = credited
            .iter()
            .filter(|(line_no, _, _)| tax.lines.contains(line_no))
            .map(|(_, net, _)| *net)
            .sum();
        let (base, amount) = advance(tax, base, currency);
        reversal.tax += amount;
        reversal.taxes.push((tax.seq, base, amount));
        if tax.liable == "partner" {
            reversal.partner_tax += amount;
        }
        if tax.liable == "platform" {
            reversal.platform_taxes.push((tax.jurisdiction.clone(), amount));
        }
    }
    if refunded && invoice.role == SellingRole::Agent {
        for tax in taxes.iter_mut().filter(|tax| tax.kind == "commission") {
            let (base, amount) = advance(tax, reversal.commission, currency);
            reversal.commission_tax += amount;
            reversal.taxes.push((tax.seq, base, amount));
            if tax.liable == "platform" {
                reversal.platform_taxes.push((tax.jurisdiction.clone(), amount));
            }
        }
    }
    reversal
}

/// Credits `base` more of a tax line and returns the base counted and the tax reversed. The
/// base counted never goes past the line's own base: an untaxed line (an export, a sale out of
/// scope) has a base of zero, however much of the invoice is credited.
fn advance(tax: &mut TaxState, base: Decimal, currency: Currency) -> (Decimal, Decimal) {
    let prorated = Prorated {
        amount: tax.amount,
        base: tax.base,
        credited_amount: tax.credited_amount,
        credited_base: tax.credited_base,
    };
    let amount = prorated.share(base, currency);
    let counted = base.min(tax.base - tax.credited_base);
    tax.credited_base += counted;
    tax.credited_amount += amount;
    (counted, amount)
}

/// Computes what the credit takes back from the partner: the reversed net and the sale tax it owes,
/// less the commission and commission tax given back when the platform refunds its commission.
fn partner_cost(reversal: &Reversal, refunded: bool) -> Decimal {
    let given_back =
        if refunded { reversal.commission + reversal.commission_tax } else { Decimal::ZERO };
    reversal.net + reversal.partner_tax - given_back
}

async fn draft(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    invoice: &LockedInvoice,
    reversal: &Reversal,
    amounts: &Amounts,
    refunded: bool,
) -> Result<Draft, Error> {
    let currency = invoice.currency;
    let customer = invoice.customer_id;
    let receivable =
        accounts::contract_account(tx, tenant_id, customer, currency, Purpose::Receivable).await?;
    let payable =
        accounts::contract_account(tx, tenant_id, invoice.seller_id, currency, Purpose::Payable)
            .await?;
    let mut draft = Draft::new(currency);
    draft.credit(&receivable, amounts.applied_to_open, "open item credited");
    if amounts.to_customer_credit > Decimal::ZERO {
        let credit =
            accounts::contract_account(tx, tenant_id, customer, currency, Purpose::CustomerCredit)
                .await?;
        draft.credit(&credit, amounts.to_customer_credit, "refund owed to the customer");
    }
    draft.debit(&payable, amounts.partner_cost, "sale reversed, partner share");
    if refunded && reversal.commission > Decimal::ZERO {
        let revenue = accounts::platform_account(
            tx,
            tenant_id,
            &PlatformAccount::CommissionRevenue,
            currency,
        )
        .await?;
        draft.debit(&revenue, reversal.commission, "commission reversed");
    }
    for (jurisdiction, amount) in &reversal.platform_taxes {
        let account = PlatformAccount::TaxPayable(jurisdiction.clone());
        let code = accounts::platform_account(tx, tenant_id, &account, currency).await?;
        draft.debit(&code, *amount, format!("{jurisdiction} tax reversed"));
    }
    Ok(draft)
}

fn detail(reversal: &Reversal, taxes: &[TaxState]) -> serde_json::Value {
    let lines: Vec<_> = reversal
        .lines
        .iter()
        .map(|(line_no, net, quantity, commission)| {
            serde_json::json!({
                "line_no": line_no,
                "net": net.to_string(),
                "quantity": quantity.normalize().to_string(),
                "commission": commission.to_string(),
            })
        })
        .collect();
    let tax_lines: Vec<_> = reversal
        .taxes
        .iter()
        .filter_map(|(seq, base, amount)| {
            let tax = taxes.iter().find(|tax| tax.seq == *seq)?;
            Some(serde_json::json!({
                "seq": seq,
                "kind": tax.kind,
                "jurisdiction": tax.jurisdiction,
                "rate": tax.rate.normalize().to_string(),
                "base": base.to_string(),
                "amount": amount.to_string(),
            }))
        })
        .collect();
    serde_json::json!({ "lines": lines, "taxes": tax_lines })
}

#[allow(clippy::too_many_arguments)]
async fn store(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    invoice: &LockedInvoice,
    lines: &[LineState],
    taxes: &[TaxState],
    reversal: &Reversal,
    amounts: &Amounts,
    invoice_id: Uuid,
) -> Result<(), Error> {
    for (line_no, ..) in &reversal.lines {
        let Some(line) = lines.iter().find(|line| line.line_no == *line_no) else {
            continue;
        };
        tx.execute(
            "UPDATE invoice_lines SET credited_quantity = $4, credited_net = $5, \
             credited_commission = $6 WHERE tenant_id = $1 AND invoice_id = $2 AND line_no = $3",
            &[
                &tenant_id,
                &invoice_id,
                &line.line_no,
                &line.credited_quantity,
                &line.credited_net,
                &line.credited_commission,
            ],
        )
        .await?;
    }
    for (seq, ..) in &reversal.taxes {
        let Some(tax) = taxes.iter().find(|tax| tax.seq == *seq) else {
            continue;
        };
        tx.execute(
            "UPDATE invoice_taxes SET credited_base = $4, credited_amount = $5 \
             WHERE tenant_id = $1 AND invoice_id = $2 AND seq = $3",
            &[&tenant_id, &invoice_id, &tax.seq, &tax.credited_base, &tax.credited_amount],
        )
        .await?;
    }
    tx.execute(
        "UPDATE invoices SET open_amount = open_amount - $3, credited_total = credited_total + $4, \
         credited_partner_cost = credited_partner_cost + $5 WHERE tenant_id = $1 AND id = $2",
        &[&tenant_id, &invoice_id, &amounts.applied_to_open, &amounts.total, &amounts.partner_cost],
    )
    .await?;
    use chrono::Datelike;
    tx.execute(
        "UPDATE partner_year_revenue SET net_revenue = net_revenue - $5 WHERE tenant_id = $1 \
         AND partner_id = $2 AND year = $3 AND currency = $4",
        &[
            &tenant_id,
            &invoice.seller_id,
            &invoice.issue_date.year(),
            &invoice.currency.code(),
            &reversal.net,
        ],
    )
    .await?;
    Ok(())
}

/// Loads a credit note.
pub async fn find(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<CreditNote>, Error> {
    let row = client
        .query_opt(
            "SELECT id, number, invoice_id, currency, issued_at, reason, net, tax, total, \
             commission, commission_tax, partner_cost, applied_to_open, to_customer_credit, \
             detail, entry_id FROM credit_notes WHERE tenant_id = $1 AND id = $2",
            &[&tenant_id, &id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let currency = Currency::parse(row.get::<_, &str>(3))?;
    let at = |index| super::amount_at(&row, index, currency);
    Ok(Some(CreditNote {
        id: row.get(0),
        number: row.get(1),
        invoice_id: row.get(2),
        currency: row.get(3),
        issued_at: row.get(4),
        reason: row.get(5),
        net: at(6),
        tax: at(7),
        total: at(8),
        commission: at(9),
        commission_tax: at(10),
        partner_cost: at(11),
        applied_to_open: at(12),
        to_customer_credit: at(13),
        detail: row.get(14),
        entry_id: row.get(15),
    }))
}

#[cfg(test)]
mod advance_tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn tax_line(base: Decimal, amount: Decimal) -> TaxState {
        TaxState {
            seq: 0,
            kind: "commission".to_string(),
            jurisdiction: "DE".to_string(),
            rate: dec!(0),
            liable: "nobody".to_string(),
            base,
            amount,
            lines: Vec::new(),
            credited_base: dec!(0),
            credited_amount: dec!(0),
        }
    }

    #[test]
    fn untaxed_line_counts_no_base() {
        let eur = Currency::parse("EUR").unwrap();
        let mut tax = tax_line(dec!(0), dec!(0));
        assert_eq!(advance(&mut tax, dec!(1.50), eur), (dec!(0), dec!(0)));
        assert_eq!(tax.credited_base, dec!(0));
    }

    #[test]
    fn credited_base_stops_at_base() {
        let eur = Currency::parse("EUR").unwrap();
        let mut tax = tax_line(dec!(10.00), dec!(2.00));
        assert_eq!(advance(&mut tax, dec!(6.00), eur), (dec!(6.00), dec!(1.20)));
        assert_eq!(advance(&mut tax, dec!(6.00), eur), (dec!(4.00), dec!(0.80)));
        assert_eq!(tax.credited_base, tax.base);
        assert_eq!(tax.credited_amount, tax.amount);
    }
}
