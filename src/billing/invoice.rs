//! Customer invoices: priced, taxed, numbered and posted as one journal entry.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::accounts::{self, PlatformAccount, Purpose};
use super::invoice_batch::{AccountsToOpen, Credit, Effects, InvoiceBatch, RevenueKey};
use super::numbering;
use super::parties::Agreement;
use super::parties::{self, Party, PartyRole, SellingRole};
use super::posting::{self, Draft};
use super::pricing::{self, LineInput, Priced};
use super::taxes::{self, Liable, TaxLine, TaxParties, TaxableLine};
use crate::error::{Error, ErrorCode};
use crate::ledger::{self, NewEntry};
use crate::money::Currency;
use crate::tax::{outbox, Determination, Engine};

/// A request to issue an invoice.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub customer_id: Uuid,
    /// The partner whose products are sold.
    pub seller_id: Uuid,
    #[schema(value_type = String, example = "EUR")]
    pub currency: String,
    /// When the invoice is issued: the tax point.
    pub issued_at: DateTime<Utc>,
    /// Due date; the issue date when absent.
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
    #[serde(default)]
    pub prices_include_tax: bool,
    /// Number series of the issuer; "INV" when absent.
    #[serde(default)]
    pub series: Option<String>,
    pub lines: Vec<NewLine>,
}

/// A line of a new invoice.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLine {
    pub product: String,
    #[schema(example = "electronic_service")]
    pub tax_code: String,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "1")]
    pub quantity: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "10.00")]
    pub unit_price: Decimal,
    #[serde(default, with = "crate::money::option_amount_str")]
    #[schema(value_type = Option<String>, example = "0.00")]
    pub discount: Option<Decimal>,
    /// Must equal the invoice currency when given: an invoice has one currency.
    #[serde(default)]
    pub currency: Option<String>,
}

/// An invoice as read back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: Uuid,
    pub number: String,
    pub issuer_id: Uuid,
    pub customer_id: Uuid,
    pub seller_id: Uuid,
    pub currency: String,
    pub selling_role: SellingRole,
    pub prices_include_tax: bool,
    pub issued_at: DateTime<Utc>,
    pub issue_date: NaiveDate,
    pub due_on: NaiveDate,
    pub lines: Vec<InvoiceLine>,
    pub taxes: Vec<InvoiceTax>,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub net_total: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub tax_total: Decimal,
    /// True when some tax comes from fallback rates because the tax provider failed.
    pub tax_estimated: bool,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub total: Decimal,
    pub commission: CommissionSummary,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub partner_share: Decimal,
    pub status: InvoiceStatus,
    /// Open amount still to be paid.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub residual: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub paid_total: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub credited_total: Decimal,
    pub entry_id: Uuid,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    pub line_no: i32,
    pub product: String,
    pub tax_code: String,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub discount: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub net: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub credited_net: Decimal,
}

/// Tax of an invoice or of its commission for one jurisdiction and rate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceTax {
    pub kind: String,
    pub jurisdiction: String,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub rate: Decimal,
    pub rule: String,
    pub liable: String,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub base: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub lines: Vec<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_mention: Option<String>,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub credited_amount: Decimal,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommissionSummary {
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub tax: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_mention: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    PartiallyPaid,
    Paid,
    Credited,
}

struct Checked {
    currency: Currency,
    lines: Vec<LineInput>,
    taxable: Vec<TaxableLine>,
    series: String,
}

fn check(new: &NewInvoice) -> Result<Checked, Error> {
    let currency =
        Currency::parse(&new.currency).map_err(|err| Error::from(err).field("currency"))?;
    let series = new.series.clone().unwrap_or_else(|| "INV".to_string());
    numbering::validate_series(&series, "series")?;
    if new.lines.is_empty() {
        return Err(Error::new(ErrorCode::InvalidField, "an invoice needs at least one line")
            .field("lines"));
    }
    let mut lines = Vec::with_capacity(new.lines.len());
    let mut taxable = Vec::with_capacity(new.lines.len());
    for (index, line) in new.lines.iter().enumerate() {
        let input = check_line(index, line, currency)?;
        let field = format!("lines[{index}].tax_code");
        taxable.push(TaxableLine {
            tax_code: taxes::parse_tax_code(&line.tax_code, &field)?,
            amount: pricing::line_amount(index, &input, currency)?,
            quantity: input.quantity,
        });
        lines.push(input);
    }
    Ok(Checked { currency, lines, taxable, series })
}

fn check_line(index: usize, line: &NewLine, currency: Currency) -> Result<LineInput, Error> {
    let field = |name: &str| format!("lines[{index}].{name}");
    if let Some(code) = &line.currency {
        if code != currency.code() {
            let detail = format!("an invoice has one currency, {currency}; this line is in {code}");
            return Err(Error::new(ErrorCode::CurrencyMismatch, detail)
                .field(field("currency"))
                .value(code.as_str()));
        }
    }
    if line.product.trim().is_empty() {
        return Err(Error::new(ErrorCode::InvalidField, "product must not be empty")
            .field(field("product")));
    }
    crate::ledger::check_no_nul(&field("product"), &line.product)?;
    let positive = |name: &str, amount: Decimal, allow_zero: bool| {
        let bad = amount < Decimal::ZERO || (!allow_zero && amount.is_zero());
        if bad {
            let rule = if allow_zero { "must not be negative" } else { "must be positive" };
            return Err(Error::new(ErrorCode::InvalidField, format!("{name} {rule}"))
                .field(field(name))
                .value(amount.to_string()));
        }
        Ok(())
    };
    let discount = line.discount.unwrap_or(Decimal::ZERO);
    positive("quantity", line.quantity, false)?;
    positive("unit_price", line.unit_price, true)?;
    positive("discount", discount, true)?;
    let exact = |name: &str, amount: Decimal| {
        currency.exact(amount).map_err(|err| Error::from(err).field(field(name)))
    };
    Ok(LineInput {
        quantity: pricing::check_fine(line.quantity, &field("quantity"))?,
        unit_price: pricing::check_fine(line.unit_price, &field("unit_price"))?,
        discount: exact("discount", discount)?,
    })
}

/// Number series of an invoice that names none.
pub const DEFAULT_SERIES: &str = "INV";

/// Issues an invoice: checks it, has its tax determined, prices its commission, applies the
/// customer's credit, takes its number and posts its one entry, all in `tx`. Returns the
/// invoice as [`find`] would read it back.
pub async fn create(
    tx: &Transaction<'_>,
    engine: &Engine,
    tenant_id: Uuid,
    new: NewInvoice,
) -> Result<Invoice, Error> {
    let mut batch = InvoiceBatch::new(tenant_id);
    let invoice = issue(&mut batch, tx, engine, new).await?;
    batch.flush(tx).await?;
    Ok(invoice)
}

/// Prices an invoice as [`create`] does and adds it to `batch`, which writes it at its next
/// flush. Returns the invoice as [`find`] will read it back after the flush. A rejected
/// invoice leaves the batch as it was and opens no account, because the accounts it posts to
/// are opened after its last check. Only a failure while opening them can leave some opened.
pub async fn issue(
    batch: &mut InvoiceBatch,
    tx: &Transaction<'_>,
    engine: &Engine,
    new: NewInvoice,
) -> Result<Invoice, Error> {
    let checked = check(&new)?;
    batch.load(tx, &[&new]).await?;
    let mut to_open = AccountsToOpen::default();
    let sale = sale_parties(batch, tx, &new, checked.currency, &mut to_open).await?;
    let issuer = sale.agreement.selling_role.issuer(&sale.seller, &sale.platform);
    let issue_date = new.issued_at.with_timezone(&issuer.time_zone()).date_naive();

    let id = Uuid::now_v7();
    let (priced, determinations, provider_messages, revenue) =
        price(batch, engine, &new, &checked, &sale, issue_date).await?;
    let credit_applied = sale
        .accounts
        .credit
        .as_ref()
        .map_or(Decimal::ZERO, |credit| credit.balance.min(priced.total).max(Decimal::ZERO));

    let year = numbering::issue_year(new.issued_at, issuer.time_zone());
    let series_key = (issuer.id, checked.series.clone(), year);
    let number = batch.next_number(&series_key, new.issued_at)?;
    let tax_accounts = platform_tax_accounts(batch, &priced, checked.currency, &mut to_open)?;
    let stored = StoredInvoice {
        id,
        number: numbering::format_number(&checked.series, year, number),
        issuer: issuer.id,
        series: checked.series.clone(),
        currency: checked.currency,
        role: sale.agreement.selling_role,
        issue_date,
        due_on: new.due_on.unwrap_or(issue_date),
        credit_applied,
        priced,
        tax_estimated: determinations.iter().any(|(_, found)| found.tax_estimated),
    };
    let draft = draft(&stored, &sale.accounts, &tax_accounts)?;
    let description = format!("Invoice {}", stored.number);
    let key = format!("invoice:{id}");
    let fields = posting::request_fields("issued_at", Some("lines"));
    let entry = posting::new_entry(issue_date, description, key, draft).map_err(&fields)?;
    ledger::posting::validate(&entry).map_err(&fields)?;
    if batch.period_closed(issue_date) {
        return Err(fields(ledger::posting::period_closed(issue_date)));
    }
    batch.open_accounts(tx, to_open).await?;

    let entry_id = Uuid::now_v7();
    let invoice = issued(&new, &stored, &checked.lines, entry_id);
    let effects = Effects {
        series: series_key,
        // The series keeps the instant as stored, so the next invoice of the batch is checked
        // against what a later request would read back.
        issued_at: as_stored(new.issued_at),
        revenue,
        credit: (credit_applied > Decimal::ZERO)
            .then_some(((new.customer_id, checked.currency), credit_applied)),
    };
    let pending = PendingInvoice {
        new,
        stored,
        lines: checked.lines,
        entry_id,
        entry,
        determinations,
        messages: provider_messages,
    };
    batch.add(pending, effects);
    Ok(invoice)
}

/// An accepted invoice waiting for its batch's flush.
pub struct PendingInvoice {
    new: NewInvoice,
    stored: StoredInvoice,
    lines: Vec<LineInput>,
    entry_id: Uuid,
    entry: NewEntry,
    determinations: Vec<(String, Determination)>,
    messages: Vec<outbox::Message>,
}

/// The parties of a sale, checked to exist in their roles, and the accounts it posts to.
struct SaleParties {
    customer: Party,
    seller: Party,
    platform: Party,
    agreement: Agreement,
    accounts: SaleAccounts,
}

/// Ledger accounts of a sale, other than the platform's tax accounts.
struct SaleAccounts {
    receivable: String,
    payable: String,
    revenue: String,
    /// The customer's credit account, locked, when the customer has one.
    credit: Option<Credit>,
}

/// Checks the parties of a sale in a fixed order, customer first, so a request with several
/// faults always gets the same error, and returns them with the sale's accounts.
async fn sale_parties(
    batch: &mut InvoiceBatch,
    tx: &Transaction<'_>,
    new: &NewInvoice,
    currency: Currency,
    to_open: &mut AccountsToOpen,
) -> Result<SaleParties, Error> {
    let customer = batch.party_in_role(new.customer_id, PartyRole::Customer, "customer_id")?;
    let seller = batch.party_in_role(new.seller_id, PartyRole::Partner, "seller_id")?;
    let platform = batch.platform().cloned().ok_or_else(parties::platform_not_configured)?;
    let agreement = seller.agreement_for_sale(&platform, new.issued_at);
    let agreement = agreement.map(|version| version.agreement.clone()).ok_or_else(|| {
        Error::new(ErrorCode::UnknownParty, "the partner has no agreement").field("seller_id")
    })?;
    if !agreement.currencies.contains(&currency) {
        let allowed: Vec<&str> = agreement.currencies.iter().map(|c| c.code()).collect();
        return Err(Error::new(
            ErrorCode::CurrencyNotAllowed,
            format!("the partner's agreement allows {}", allowed.join(", ")),
        )
        .field("currency")
        .value(new.currency.as_str()));
    }
    let receivable =
        batch.contract_account(tx, customer.id, currency, Purpose::Receivable, to_open).await?;
    let payable =
        batch.contract_account(tx, seller.id, currency, Purpose::Payable, to_open).await?;
    let revenue = PlatformAccount::CommissionRevenue;
    let revenue = batch.platform_accounts(&[revenue], currency, to_open)?.remove(0);
    let credit = batch.credit(customer.id, currency).cloned();
    let accounts = SaleAccounts { receivable, payable, revenue, credit };
    Ok(SaleParties { customer, seller, platform, agreement, accounts })
}

/// Determines the sale's tax, the commission (tiered by the partner's revenue of the year)
/// and the commission's tax, and adds up the invoice. Also returns the messages that record
/// the invoice at the tax provider once it commits, and what it adds to the partner's revenue
/// of the year when the commission is tiered.
async fn price(
    batch: &InvoiceBatch,
    engine: &Engine,
    new: &NewInvoice,
    checked: &Checked,
    sale: &SaleParties,
    issue_date: NaiveDate,
) -> Result<PricedSale, Error> {
    use chrono::Datelike;
    let currency = checked.currency;
    let role = sale.agreement.selling_role;
    let parties = TaxParties {
        seller: &sale.seller,
        customer: &sale.customer,
        platform: &sale.platform,
        role,
    };
    let sale_tax = taxes::sale_tax(
        engine,
        &parties,
        &checked.taxable,
        new.prices_include_tax,
        currency,
        new.issued_at,
    )
    .await?;

    let net_total: Decimal = sale_tax.nets.iter().sum();
    // Only tiers depend on the year's revenue. Its row, locked by the batch, orders the
    // partner's invoices, so a flat rate skips it and the partner's sales do not wait.
    let (revenue_before, revenue) = if sale.agreement.commission_tiers.len() > 1 {
        let key = (sale.seller.id, issue_date.year(), currency);
        (batch.revenue(&key)?, Some((key, net_total)))
    } else {
        (Decimal::ZERO, None)
    };
    let lines = pricing::commissions(
        &sale.agreement,
        &sale_tax.nets,
        &checked.lines,
        revenue_before,
        currency,
    )?;
    let commission: Decimal = lines.iter().map(|line| line.commission).sum();

    let mut determinations = sale_tax.determinations;
    let mut messages: Vec<_> = sale_tax.provider_message.into_iter().collect();
    let mut commission_taxes = Vec::new();
    if role == SellingRole::Agent && commission > Decimal::ZERO {
        let tax = taxes::commission_tax(
            engine,
            &sale.platform,
            &sale.seller,
            commission,
            currency,
            new.issued_at,
        )
        .await?;
        commission_taxes = tax.taxes;
        determinations.push(("invoice_commission".to_string(), tax.determination));
        messages.extend(tax.provider_message);
    }
    let priced = pricing::totals(lines, sale_tax.taxes, commission_taxes, currency);
    Ok((priced, determinations, messages, revenue))
}

type PricedSale =
    (Priced, Vec<(String, Determination)>, Vec<outbox::Message>, Option<(RevenueKey, Decimal)>);

struct StoredInvoice {
    id: Uuid,
    number: String,
    issuer: Uuid,
    series: String,
    currency: Currency,
    role: SellingRole,
    issue_date: NaiveDate,
    due_on: NaiveDate,
    credit_applied: Decimal,
    priced: Priced,
    tax_estimated: bool,
}

fn draft(
    invoice: &StoredInvoice,
    accounts: &SaleAccounts,
    tax_accounts: &HashMap<String, String>,
) -> Result<Draft, Error> {
    let priced = &invoice.priced;
    let payable = &accounts.payable;
    let mut draft = Draft::new(invoice.currency);
    draft.debit(&accounts.receivable, priced.total - invoice.credit_applied, "sale, gross");
    if let Some(credit) = &accounts.credit {
        draft.debit(&credit.account, invoice.credit_applied, "customer credit used");
    }

    match invoice.role {
        SellingRole::Agent => {
            draft.credit(payable, priced.net_total, "sale, net, owed to the partner");
            for tax in priced.sale_taxes.iter().filter(|tax| tax.liable == Liable::Partner) {
                let memo = format!("{} tax {}% owed by the partner", tax.jurisdiction, tax.rate);
                draft.credit(payable, tax.amount, memo);
            }
            draft.debit(payable, priced.commission + priced.commission_tax, "commission charged");
        }
        SellingRole::Supplier => {
            draft.credit(payable, priced.partner_share, "partner share of the sale");
        }
    }
    draft.credit(&accounts.revenue, priced.commission, "commission");
    for tax in platform_taxes(priced) {
        let account = tax_accounts.get(&tax.jurisdiction).ok_or_else(|| {
            Error::internal(anyhow::anyhow!("no tax account for {}", tax.jurisdiction))
        })?;
        draft.credit(account, tax.amount, format!("{} tax {}%", tax.jurisdiction, tax.rate));
    }
    Ok(draft)
}

/// Returns the taxes the platform owes, the sale's first and then the commission's.
fn platform_taxes(priced: &Priced) -> impl Iterator<Item = &TaxLine> {
    let taxes = priced.sale_taxes.iter().chain(&priced.commission_taxes);
    taxes.filter(|tax| tax.liable == Liable::Platform)
}

/// Returns the codes of the platform's tax payable accounts, by jurisdiction, of each
/// jurisdiction whose tax the platform owes. Those not open yet are added to `to_open`.
fn platform_tax_accounts(
    batch: &InvoiceBatch,
    priced: &Priced,
    currency: Currency,
    to_open: &mut AccountsToOpen,
) -> Result<HashMap<String, String>, Error> {
    let mut jurisdictions: Vec<&str> =
        platform_taxes(priced).map(|tax| tax.jurisdiction.as_str()).collect();
    jurisdictions.sort_unstable();
    jurisdictions.dedup();
    let accounts: Vec<PlatformAccount> = jurisdictions
        .iter()
        .map(|jurisdiction| PlatformAccount::TaxPayable(jurisdiction.to_string()))
        .collect();
    let codes = batch.platform_accounts(&accounts, currency, to_open)?;
    Ok(jurisdictions.into_iter().map(str::to_string).zip(codes).collect())
}

/// Ledger account of a tax line, `None` when the partner or the customer owes it.
pub fn tax_account_code(tax: &TaxLine, currency: Currency) -> Option<String> {
    (tax.liable == Liable::Platform).then(|| format!("tax_payable:{}.{currency}", tax.jurisdiction))
}

/// Inserts the entries, rows, tax determinations, credit allocations and provider messages of
/// `invoices`, each of the tenant paired with it, with one statement per table sent together
/// (one round trip).
pub async fn write_all(
    tx: &Transaction<'_>,
    invoices: &[(Uuid, PendingInvoice)],
) -> Result<(), Error> {
    let mut columns = InvoiceColumns::default();
    let mut line_columns = LineColumns::default();
    let mut tax_columns = TaxColumns::default();
    let mut credits = AllocationColumns::default();
    for (tenant_id, invoice) in invoices {
        columns.push(*tenant_id, invoice);
        line_columns.push(*tenant_id, invoice);
        tax_columns.push(*tenant_id, invoice);
        if invoice.stored.credit_applied > Decimal::ZERO {
            credits.push(*tenant_id, &invoice.stored);
        }
    }
    let entries: Vec<(Uuid, Uuid, &NewEntry)> = invoices
        .iter()
        .map(|(tenant_id, invoice)| (*tenant_id, invoice.entry_id, &invoice.entry))
        .collect();
    let determinations: Vec<(Uuid, &str, Uuid, &Determination)> = invoices
        .iter()
        .flat_map(|(tenant_id, invoice)| {
            let id = invoice.stored.id;
            invoice
                .determinations
                .iter()
                .map(move |(kind, found)| (*tenant_id, kind.as_str(), id, found))
        })
        .collect();
    let mut tenants: Vec<Uuid> = invoices.iter().map(|(tenant_id, _)| *tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let ((), insert_header, insert_line, insert_tax, insert_allocation) = tokio::try_join!(
        ledger::posting::prepare_insert_entries(tx),
        tx.prepare_cached(INSERT_INVOICES),
        tx.prepare_cached(INSERT_INVOICE_LINES),
        tx.prepare_cached(INSERT_INVOICE_TAXES),
        tx.prepare_cached(INSERT_ALLOCATIONS),
    )?;
    // Every statement is prepared, so Postgres receives them in this order: the entries before
    // the invoices that name them, the invoices before their lines, taxes and allocations.
    let posted = async {
        let posted = ledger::insert_entries(tx, &entries).await;
        let posted = posted.map_err(accounts::retry_if_account_missing(&tenants));
        posted.map_err(posting::request_fields("issued_at", Some("lines")))
    };
    let header_params = columns.params();
    let line_params = line_columns.params();
    let tax_params = tax_columns.params();
    let allocation_params = credits.params();
    let rows = async {
        let allocations = async {
            if credits.invoice_id.is_empty() {
                return Ok(0);
            }
            tx.execute(&insert_allocation, &allocation_params).await
        };
        tokio::try_join!(
            tx.execute(&insert_header, &header_params),
            tx.execute(&insert_line, &line_params),
            tx.execute(&insert_tax, &tax_params),
            allocations,
        )
        .map_err(Error::from)
    };
    let stored_determinations = crate::tax::store_determinations(tx, &determinations);
    let messages =
        futures::future::try_join_all(invoices.iter().flat_map(|(tenant_id, invoice)| {
            let document = outbox::Document {
                kind: "invoice",
                id: invoice.stored.id,
                number: &invoice.stored.number,
            };
            invoice.messages.iter().map(move |message| {
                outbox::enqueue(tx, *tenant_id, document, message.clone(), None)
            })
        }));
    let (posted, rows, stored_determinations, messages) =
        tokio::join!(posted, rows, stored_determinations, messages);
    posted?;
    rows?;
    stored_determinations?;
    messages?;
    Ok(())
}

const INSERT_INVOICES: &str = "INSERT INTO invoices (tenant_id, id, number, issuer_id, series, \
    customer_id, seller_id, currency, selling_role, prices_include_tax, issued_at, issue_date, \
    due_on, net_total, tax_total, total, commission, commission_tax, partner_share, \
    credit_applied, open_amount, tax_determination, commission_legal_mention, entry_id, \
    tax_estimated) \
    SELECT i.* FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::uuid[], \
    $7::uuid[], $8::text[], $9::text[], $10::boolean[], $11::timestamptz[], $12::date[], \
    $13::date[], $14::numeric[], $15::numeric[], $16::numeric[], $17::numeric[], \
    $18::numeric[], $19::numeric[], $20::numeric[], $21::numeric[], $22::json[], $23::text[], \
    $24::uuid[], $25::boolean[]) AS i";

const INSERT_INVOICE_LINES: &str = "INSERT INTO invoice_lines (tenant_id, invoice_id, line_no, \
    product, tax_code, quantity, unit_price, discount, net, commission) \
    SELECT l.* FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], \
    $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[]) AS l";

const INSERT_INVOICE_TAXES: &str = "INSERT INTO invoice_taxes (tenant_id, invoice_id, seq, kind, \
    jurisdiction, rate, rule, liable, base, amount, account_code, lines, legal_mention) \
    SELECT t.tenant_id, t.invoice_id, t.seq, t.kind, t.jurisdiction, t.rate, t.rule, t.liable, \
    t.base, t.amount, t.account_code, t.lines::int[], t.legal_mention \
    FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::numeric[], \
    $7::text[], \
    $8::text[], $9::numeric[], $10::numeric[], $11::text[], $12::text[], $13::text[]) \
    AS t (tenant_id, invoice_id, seq, kind, jurisdiction, rate, rule, liable, base, amount, \
    account_code, lines, legal_mention)";

/// Records the customer's credit used by an invoice as an allocation without a payment.
const INSERT_ALLOCATIONS: &str = "INSERT INTO allocations (tenant_id, id, invoice_id, \
    payment_id, amount, applied_on) \
    SELECT a.tenant_id, a.id, a.invoice_id, NULL, a.amount, a.applied_on \
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::numeric[], $5::date[]) \
    AS a (tenant_id, id, invoice_id, amount, applied_on)";

/// The columns of `invoices` rows, one array each.
#[derive(Default)]
struct InvoiceColumns<'a> {
    tenant_id: Vec<Uuid>,
    id: Vec<Uuid>,
    number: Vec<&'a str>,
    issuer: Vec<Uuid>,
    series: Vec<&'a str>,
    customer_id: Vec<Uuid>,
    seller_id: Vec<Uuid>,
    currency: Vec<String>,
    role: Vec<&'static str>,
    prices_include_tax: Vec<bool>,
    issued_at: Vec<DateTime<Utc>>,
    issue_date: Vec<NaiveDate>,
    due_on: Vec<NaiveDate>,
    net_total: Vec<Decimal>,
    tax_total: Vec<Decimal>,
    total: Vec<Decimal>,
    commission: Vec<Decimal>,
    commission_tax: Vec<Decimal>,
    partner_share: Vec<Decimal>,
    credit_applied: Vec<Decimal>,
    open_amount: Vec<Decimal>,
    determination: Vec<serde_json::Value>,
    mention: Vec<Option<String>>,
    entry_id: Vec<Uuid>,
    tax_estimated: Vec<bool>,
}

impl<'a> InvoiceColumns<'a> {
    fn push(&mut self, tenant_id: Uuid, invoice: &'a PendingInvoice) {
        let (new, stored) = (&invoice.new, &invoice.stored);
        let priced = &stored.priced;
        self.tenant_id.push(tenant_id);
        self.id.push(stored.id);
        self.number.push(&stored.number);
        self.issuer.push(stored.issuer);
        self.series.push(&stored.series);
        self.customer_id.push(new.customer_id);
        self.seller_id.push(new.seller_id);
        self.currency.push(stored.currency.code().to_string());
        self.role.push(stored.role.as_str());
        self.prices_include_tax.push(new.prices_include_tax);
        self.issued_at.push(new.issued_at);
        self.issue_date.push(stored.issue_date);
        self.due_on.push(stored.due_on);
        self.net_total.push(priced.net_total);
        self.tax_total.push(priced.tax_total);
        self.total.push(priced.total);
        self.commission.push(priced.commission);
        self.commission_tax.push(priced.commission_tax);
        self.partner_share.push(priced.partner_share);
        self.credit_applied.push(stored.credit_applied);
        self.open_amount.push(priced.total - stored.credit_applied);
        self.determination.push(serde_json::json!({
            "sale": priced.sale_taxes,
            "commission": priced.commission_taxes,
        }));
        self.mention.push(commission_legal_mention(priced));
        self.entry_id.push(invoice.entry_id);
        self.tax_estimated.push(stored.tax_estimated);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 25] {
        [
            &self.tenant_id,
            &self.id,
            &self.number,
            &self.issuer,
            &self.series,
            &self.customer_id,
            &self.seller_id,
            &self.currency,
            &self.role,
            &self.prices_include_tax,
            &self.issued_at,
            &self.issue_date,
            &self.due_on,
            &self.net_total,
            &self.tax_total,
            &self.total,
            &self.commission,
            &self.commission_tax,
            &self.partner_share,
            &self.credit_applied,
            &self.open_amount,
            &self.determination,
            &self.mention,
            &self.entry_id,
            &self.tax_estimated,
        ]
    }
}

/// The columns of `invoice_lines` rows, one array each.
#[derive(Default)]
struct LineColumns<'a> {
    tenant_id: Vec<Uuid>,
    invoice_id: Vec<Uuid>,
    line_no: Vec<i32>,
    product: Vec<&'a str>,
    tax_code: Vec<&'a str>,
    quantity: Vec<Decimal>,
    unit_price: Vec<Decimal>,
    discount: Vec<Decimal>,
    net: Vec<Decimal>,
    commission: Vec<Decimal>,
}

impl<'a> LineColumns<'a> {
    fn push(&mut self, tenant_id: Uuid, invoice: &'a PendingInvoice) {
        let lines = invoice.new.lines.iter().zip(&invoice.lines).zip(&invoice.stored.priced.lines);
        for ((line, input), priced) in lines {
            self.tenant_id.push(tenant_id);
            self.invoice_id.push(invoice.stored.id);
            self.line_no.push(priced.line_no);
            self.product.push(&line.product);
            self.tax_code.push(&line.tax_code);
            self.quantity.push(input.quantity);
            self.unit_price.push(input.unit_price);
            self.discount.push(input.discount);
            self.net.push(priced.net);
            self.commission.push(priced.commission);
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.tenant_id,
            &self.invoice_id,
            &self.line_no,
            &self.product,
            &self.tax_code,
            &self.quantity,
            &self.unit_price,
            &self.discount,
            &self.net,
            &self.commission,
        ]
    }
}

/// The columns of `invoice_taxes` rows, one array each; `lines` as array literals.
#[derive(Default)]
struct TaxColumns<'a> {
    tenant_id: Vec<Uuid>,
    invoice_id: Vec<Uuid>,
    seq: Vec<i32>,
    kind: Vec<&'static str>,
    jurisdiction: Vec<&'a str>,
    rate: Vec<Decimal>,
    rule: Vec<&'a str>,
    liable: Vec<&'static str>,
    base: Vec<Decimal>,
    amount: Vec<Decimal>,
    account_code: Vec<Option<String>>,
    lines: Vec<String>,
    legal_mention: Vec<Option<&'a str>>,
}

impl<'a> TaxColumns<'a> {
    fn push(&mut self, tenant_id: Uuid, invoice: &'a PendingInvoice) {
        let priced = &invoice.stored.priced;
        let sale_taxes = priced.sale_taxes.iter().map(|tax| ("sale", tax));
        let commission_taxes = priced.commission_taxes.iter().map(|tax| ("commission", tax));
        for (seq, (kind, tax)) in (0..).zip(sale_taxes.chain(commission_taxes)) {
            let lines: Vec<String> = tax.lines.iter().map(i32::to_string).collect();
            self.tenant_id.push(tenant_id);
            self.invoice_id.push(invoice.stored.id);
            self.seq.push(seq);
            self.kind.push(kind);
            self.jurisdiction.push(&tax.jurisdiction);
            self.rate.push(tax.rate);
            self.rule.push(&tax.rule);
            self.liable.push(tax.liable.as_str());
            self.base.push(tax.base);
            self.amount.push(tax.amount);
            self.account_code.push(tax_account_code(tax, invoice.stored.currency));
            self.lines.push(format!("{{{}}}", lines.join(",")));
            self.legal_mention.push(tax.legal_mention.as_deref());
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.tenant_id,
            &self.invoice_id,
            &self.seq,
            &self.kind,
            &self.jurisdiction,
            &self.rate,
            &self.rule,
            &self.liable,
            &self.base,
            &self.amount,
            &self.account_code,
            &self.lines,
            &self.legal_mention,
        ]
    }
}

/// The columns of credit allocations, one array each.
#[derive(Default)]
struct AllocationColumns {
    tenant_id: Vec<Uuid>,
    id: Vec<Uuid>,
    invoice_id: Vec<Uuid>,
    amount: Vec<Decimal>,
    applied_on: Vec<NaiveDate>,
}

impl AllocationColumns {
    fn push(&mut self, tenant_id: Uuid, invoice: &StoredInvoice) {
        self.tenant_id.push(tenant_id);
        self.id.push(Uuid::now_v7());
        self.invoice_id.push(invoice.id);
        self.amount.push(invoice.credit_applied);
        self.applied_on.push(invoice.issue_date);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 5] {
        [&self.tenant_id, &self.id, &self.invoice_id, &self.amount, &self.applied_on]
    }
}

/// Builds the response of a new invoice from the values just written: the same JSON that
/// [`find`] returns for it, without reading it back.
fn issued(
    new: &NewInvoice,
    stored: &StoredInvoice,
    inputs: &[LineInput],
    entry_id: Uuid,
) -> Invoice {
    let currency = stored.currency;
    let amount = |mut value: Decimal| {
        value.rescale(currency.minor_units());
        value
    };
    let priced = &stored.priced;
    let lines = new
        .lines
        .iter()
        .zip(inputs)
        .zip(&priced.lines)
        .map(|((line, input), priced_line)| InvoiceLine {
            line_no: priced_line.line_no,
            product: line.product.clone(),
            tax_code: line.tax_code.clone(),
            quantity: input.quantity.normalize(),
            unit_price: unit_price_shown(input.unit_price, currency),
            discount: amount(input.discount),
            net: amount(priced_line.net),
            commission: amount(priced_line.commission),
            credited_net: amount(Decimal::ZERO),
        })
        .collect();
    let sale_taxes = priced.sale_taxes.iter().map(|tax| ("sale", tax));
    let commission_taxes = priced.commission_taxes.iter().map(|tax| ("commission", tax));
    let taxes = sale_taxes
        .chain(commission_taxes)
        .map(|(kind, tax)| InvoiceTax {
            kind: kind.to_string(),
            jurisdiction: tax.jurisdiction.clone(),
            rate: tax.rate.normalize(),
            rule: tax.rule.clone(),
            liable: tax.liable.as_str().to_string(),
            base: amount(tax.base),
            amount: amount(tax.amount),
            lines: tax.lines.clone(),
            legal_mention: tax.legal_mention.clone(),
            credited_amount: amount(Decimal::ZERO),
        })
        .collect();
    let total = amount(priced.total);
    let residual = amount(priced.total - stored.credit_applied);
    let credited_total = amount(Decimal::ZERO);
    Invoice {
        id: stored.id,
        number: stored.number.clone(),
        issuer_id: stored.issuer,
        customer_id: new.customer_id,
        seller_id: new.seller_id,
        currency: currency.code().to_string(),
        selling_role: stored.role,
        prices_include_tax: new.prices_include_tax,
        issued_at: as_stored(new.issued_at),
        issue_date: stored.issue_date,
        due_on: stored.due_on,
        lines,
        taxes,
        net_total: amount(priced.net_total),
        tax_total: amount(priced.tax_total),
        tax_estimated: stored.tax_estimated,
        total,
        commission: CommissionSummary {
            amount: amount(priced.commission),
            tax: amount(priced.commission_tax),
            legal_mention: commission_legal_mention(priced),
        },
        partner_share: amount(priced.partner_share),
        status: status(total, residual, credited_total),
        residual,
        paid_total: amount(stored.credit_applied),
        credited_total,
        entry_id,
    }
}

/// Returns `at` as a `timestamptz` column stores it: whole microseconds since 2000-01-01,
/// truncated toward that epoch as the Postgres driver (postgres-types 0.2) sends them.
fn as_stored(at: DateTime<Utc>) -> DateTime<Utc> {
    let epoch = DateTime::<Utc>::from_naive_utc_and_offset(
        NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .unwrap_or_default(),
        Utc,
    );
    match (at - epoch).num_microseconds() {
        Some(micros) => epoch + chrono::Duration::microseconds(micros),
        None => at,
    }
}

/// Returns the legal mention of the commission's tax, such as a reverse-charge notice.
fn commission_legal_mention(priced: &Priced) -> Option<String> {
    priced.commission_taxes.iter().find_map(|tax| tax.legal_mention.clone())
}

/// Loads an invoice with its lines and taxes.
pub async fn find(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Invoice>, Error> {
    // The three reads are sent together, so they take one round trip.
    let (header, lines, taxes) = tokio::try_join!(
        rows_of(client, SELECT_INVOICE, tenant_id, id),
        rows_of(client, SELECT_INVOICE_LINES, tenant_id, id),
        rows_of(client, SELECT_INVOICE_TAXES, tenant_id, id),
    )?;
    let Some(row) = header.first() else {
        return Ok(None);
    };
    let currency = Currency::parse(row.get::<_, &str>(5))?;
    let at = |index| super::amount_at(row, index, currency);
    let total = at(13);
    let residual = at(18);
    let credited_total = at(19);
    let paid_total = at(21);
    Ok(Some(Invoice {
        id: row.get(0),
        number: row.get(1),
        issuer_id: row.get(2),
        customer_id: row.get(3),
        seller_id: row.get(4),
        currency: row.get(5),
        selling_role: SellingRole::parse(row.get(6)),
        prices_include_tax: row.get(7),
        issued_at: row.get(8),
        issue_date: row.get(9),
        due_on: row.get(10),
        lines: lines_from_rows(&lines, currency),
        taxes: taxes_from_rows(&taxes, currency),
        net_total: at(11),
        tax_total: at(12),
        tax_estimated: row.get(22),
        total,
        commission: CommissionSummary { amount: at(14), tax: at(15), legal_mention: row.get(16) },
        partner_share: at(17),
        status: status(total, residual, credited_total),
        residual,
        paid_total,
        credited_total,
        entry_id: row.get(20),
    }))
}

/// Derives an invoice's status from its total, open amount and credited amount.
pub fn status(total: Decimal, residual: Decimal, credited_total: Decimal) -> InvoiceStatus {
    if credited_total == total && !total.is_zero() {
        InvoiceStatus::Credited
    } else if residual.is_zero() {
        InvoiceStatus::Paid
    } else if residual < total - credited_total {
        InvoiceStatus::PartiallyPaid
    } else {
        InvoiceStatus::Open
    }
}

const SELECT_INVOICE: &str = "SELECT id, number, issuer_id, customer_id, seller_id, currency, \
    selling_role, prices_include_tax, issued_at, issue_date, due_on, net_total, tax_total, total, \
    commission, commission_tax, commission_legal_mention, partner_share, open_amount, \
    credited_total, entry_id, \
    (SELECT coalesce(sum(amount), 0) FROM allocations a \
     WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id), tax_estimated \
    FROM invoices i WHERE tenant_id = $1 AND id = $2";

/// Shows a unit price with at least the currency's decimals and any finer ones it was given.
fn unit_price_shown(mut price: Decimal, currency: Currency) -> Decimal {
    if price.scale() < currency.minor_units() {
        price.rescale(currency.minor_units());
    }
    price
}

const SELECT_INVOICE_LINES: &str = "SELECT line_no, product, tax_code, quantity, unit_price, \
    discount, net, commission, credited_net FROM invoice_lines \
    WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY line_no";

const SELECT_INVOICE_TAXES: &str = "SELECT kind, jurisdiction, rate, rule, liable, base, amount, \
    lines, legal_mention, credited_amount FROM invoice_taxes \
    WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY seq";

async fn rows_of(
    client: &impl GenericClient,
    sql: &str,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Vec<tokio_postgres::Row>, Error> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, &[&tenant_id, &id]).await?)
}

fn lines_from_rows(rows: &[tokio_postgres::Row], currency: Currency) -> Vec<InvoiceLine> {
    rows.iter()
        .map(|row| InvoiceLine {
            line_no: row.get(0),
            product: row.get(1),
            tax_code: row.get(2),
            quantity: row.get::<_, Decimal>(3).normalize(),
            unit_price: unit_price_shown(row.get(4), currency),
            discount: super::amount_at(row, 5, currency),
            net: super::amount_at(row, 6, currency),
            commission: super::amount_at(row, 7, currency),
            credited_net: super::amount_at(row, 8, currency),
        })
        .collect()
}

fn taxes_from_rows(rows: &[tokio_postgres::Row], currency: Currency) -> Vec<InvoiceTax> {
    rows.iter()
        .map(|row| InvoiceTax {
            kind: row.get(0),
            jurisdiction: row.get(1),
            rate: row.get::<_, Decimal>(2).normalize(),
            rule: row.get(3),
            liable: row.get(4),
            base: super::amount_at(row, 5, currency),
            amount: super::amount_at(row, 6, currency),
            lines: row.get(7),
            legal_mention: row.get(8),
            credited_amount: super::amount_at(row, 9, currency),
        })
        .collect()
}
