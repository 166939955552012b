//! Customer invoices: priced, taxed, numbered and posted as one journal entry.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::accounts::{self, PlatformAccount, Purpose};
use super::numbering;
use super::parties::Agreement;
use super::parties::{self, Party, PartyRole, SellingRole};
use super::posting::{self, Draft};
use super::pricing::{self, LineInput, Priced};
use super::taxes::{self, Liable, TaxLine, TaxParties, TaxableLine};
use crate::error::{Error, ErrorCode};
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

/// Issues an invoice: checks it, has its tax determined, prices its commission, applies the
/// customer's credit, takes its number and posts its one entry, all in `tx`. Returns the
/// invoice as [`find`] would read it back.
pub async fn create(
    tx: &Transaction<'_>,
    engine: &Engine,
    tenant_id: Uuid,
    new: NewInvoice,
) -> Result<Invoice, Error> {
    let checked = check(&new)?;
    let sale = load_parties(tx, tenant_id, &new, checked.currency).await?;
    let issuer = match sale.agreement.selling_role {
        SellingRole::Agent => &sale.seller,
        SellingRole::Supplier => &sale.platform,
    };
    let issue_date = new.issued_at.with_timezone(&issuer.time_zone()).date_naive();

    let id = Uuid::now_v7();
    let (priced, determinations, provider_messages) =
        price(tx, engine, tenant_id, &new, &checked, &sale, issue_date).await?;
    let credit_applied = sale
        .accounts
        .credit
        .as_ref()
        .map_or(Decimal::ZERO, |credit| credit.balance.min(priced.total).max(Decimal::ZERO));

    // The number, the tax accounts and the use of the credit are sent together.
    let year = numbering::issue_year(new.issued_at, issuer.time_zone());
    let (number, tax_accounts, credit_used) = tokio::join!(
        numbering::next_number(tx, tenant_id, issuer.id, &checked.series, new.issued_at, year),
        platform_tax_accounts(tx, tenant_id, &priced, checked.currency),
        use_customer_credit(tx, tenant_id, &sale.customer, checked.currency, credit_applied),
    );
    let (number, tax_accounts) = (number?, tax_accounts?);
    credit_used?;
    let stored = StoredInvoice {
        id,
        number,
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
    let entry_id = Uuid::now_v7();
    let key = format!("invoice:{id}");

    // The entry and the invoice's rows go in one round trip: the rows name the entry by the id
    // chosen here, and any failure rolls the whole transaction back.
    let (posted, written) = tokio::join!(
        posting::post_as(tx, tenant_id, entry_id, issue_date, description, key, draft),
        write(tx, tenant_id, &new, &stored, &checked.lines, entry_id, &determinations),
    );
    posted.map_err(posting::request_fields("issued_at", Some("lines")))?;
    written?;
    let document = outbox::Document { kind: "invoice", id, number: &stored.number };
    for message in provider_messages {
        outbox::enqueue(tx, tenant_id, document, message, None).await?;
    }
    Ok(issued(&new, &stored, &checked.lines, entry_id))
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
    credit: Option<CustomerCredit>,
}

struct CustomerCredit {
    account: String,
    balance: Decimal,
}

async fn load_parties(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewInvoice,
    currency: Currency,
) -> Result<SaleParties, Error> {
    // Every read is sent at once (one round trip). The results are checked in a fixed order,
    // customer first, so a request with several faults always gets the same error. The
    // partner's row is share-locked so that its agreement cannot change during the sale.
    let (customer, seller, platform, accounts) = tokio::join!(
        parties::require(tx, tenant_id, new.customer_id, PartyRole::Customer, "customer_id"),
        parties::require_partner_locked(tx, tenant_id, new.seller_id, "seller_id"),
        parties::platform(tx, tenant_id),
        read_accounts(tx, tenant_id, new, currency),
    );
    let (customer, seller, platform) = (customer?, seller?, platform?);
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
    let (receivable, payable, revenue, credit) = accounts?;
    let (receivable, payable) = tokio::try_join!(
        open_unless_found(tx, tenant_id, receivable, customer.id, currency, Purpose::Receivable),
        open_unless_found(tx, tenant_id, payable, seller.id, currency, Purpose::Payable),
    )?;
    let accounts = SaleAccounts { receivable, payable, revenue, credit };
    Ok(SaleParties { customer, seller, platform, agreement, accounts })
}

type FoundAccounts = (Option<String>, Option<String>, String, Option<CustomerCredit>);

/// Reads the customer's and the partner's contract accounts, locks the customer's credit and
/// opens the commission revenue account if needed.
async fn read_accounts(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewInvoice,
    currency: Currency,
) -> Result<FoundAccounts, Error> {
    let (customer, seller) = (new.customer_id, new.seller_id);
    let revenue = PlatformAccount::CommissionRevenue;
    tokio::try_join!(
        accounts::find_contract_account(tx, tenant_id, customer, currency, Purpose::Receivable),
        accounts::find_contract_account(tx, tenant_id, seller, currency, Purpose::Payable),
        accounts::platform_account(tx, tenant_id, &revenue, currency),
        lock_customer_credit(tx, tenant_id, customer, currency),
    )
}

async fn open_unless_found(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    found: Option<String>,
    party_id: Uuid,
    currency: Currency,
    purpose: Purpose,
) -> Result<String, Error> {
    match found {
        Some(code) => Ok(code),
        None => accounts::open_contract_account(tx, tenant_id, party_id, currency, purpose).await,
    }
}

/// Determines the sale's tax, the commission (tiered by the partner's revenue of the year)
/// and the commission's tax, and adds up the invoice. Also returns the messages that record
/// the invoice at the tax provider once it commits.
async fn price(
    tx: &Transaction<'_>,
    engine: &Engine,
    tenant_id: Uuid,
    new: &NewInvoice,
    checked: &Checked,
    sale: &SaleParties,
    issue_date: NaiveDate,
) -> Result<(Priced, Vec<(String, Determination)>, Vec<outbox::Message>), Error> {
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
    // Only tiers depend on the year's revenue. Its counter row orders the partner's invoices,
    // so a flat rate skips it and the partner's sales do not wait for each other.
    let revenue_before = if sale.agreement.commission_tiers.len() > 1 {
        add_year_revenue(tx, tenant_id, &sale.seller, issue_date, currency, net_total).await?
    } else {
        Decimal::ZERO
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
    Ok((priced, determinations, messages))
}

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

/// Adds the invoice's net to the partner's revenue of the year and returns the revenue
/// before it. The row lock orders the invoices of one partner, so tiers are never skipped.
async fn add_year_revenue(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    seller: &Party,
    issue_date: NaiveDate,
    currency: Currency,
    net: Decimal,
) -> Result<Decimal, Error> {
    use chrono::Datelike;
    let statement = tx
        .prepare_cached(
            "INSERT INTO partner_year_revenue (tenant_id, partner_id, year, currency, net_revenue) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, partner_id, year, currency) DO UPDATE \
             SET net_revenue = partner_year_revenue.net_revenue + EXCLUDED.net_revenue \
             RETURNING net_revenue",
        )
        .await?;
    let row = tx
        .query_one(
            &statement,
            &[&tenant_id, &seller.id, &issue_date.year(), &currency.code(), &net],
        )
        .await?;
    Ok(row.get::<_, Decimal>(0) - net)
}

/// Locks the customer's credit account and returns it with its unapplied balance, so that
/// concurrent invoices of the customer never use the same credit twice.
async fn lock_customer_credit(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
) -> Result<Option<CustomerCredit>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT account_code, credit_balance FROM contract_accounts \
             WHERE tenant_id = $1 AND party_id = $2 AND currency = $3 \
             AND purpose = 'customer_credit' FOR UPDATE",
        )
        .await?;
    let row = tx.query_opt(&statement, &[&tenant_id, &customer_id, &currency.code()]).await?;
    Ok(row.map(|row| CustomerCredit { account: row.get(0), balance: row.get(1) }))
}

/// Takes `applied` from the customer's unapplied credit; does nothing when it is zero.
async fn use_customer_credit(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer: &Party,
    currency: Currency,
    applied: Decimal,
) -> Result<(), Error> {
    if applied <= Decimal::ZERO {
        return Ok(());
    }
    let statement = tx
        .prepare_cached(
            "UPDATE contract_accounts SET credit_balance = credit_balance - $4 \
             WHERE tenant_id = $1 AND party_id = $2 AND currency = $3 \
             AND purpose = 'customer_credit'",
        )
        .await?;
    tx.execute(&statement, &[&tenant_id, &customer.id, &currency.code(), &applied]).await?;
    Ok(())
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

/// Opens the platform's tax payable account of each jurisdiction whose tax the platform owes,
/// all in one round trip, and returns their codes by jurisdiction.
async fn platform_tax_accounts(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    priced: &Priced,
    currency: Currency,
) -> Result<HashMap<String, String>, Error> {
    let mut jurisdictions: Vec<&str> =
        platform_taxes(priced).map(|tax| tax.jurisdiction.as_str()).collect();
    jurisdictions.sort_unstable();
    jurisdictions.dedup();
    let opened = jurisdictions.into_iter().map(|jurisdiction| async move {
        let account = PlatformAccount::TaxPayable(jurisdiction.to_string());
        let code = accounts::platform_account(tx, tenant_id, &account, currency).await?;
        Ok::<_, Error>((jurisdiction.to_string(), code))
    });
    Ok(futures::future::try_join_all(opened).await?.into_iter().collect())
}

/// Ledger account of a tax line, `None` when the partner or the customer owes it.
pub fn tax_account_code(tax: &TaxLine, currency: Currency) -> Option<String> {
    (tax.liable == Liable::Platform).then(|| format!("tax_payable:{}.{currency}", tax.jurisdiction))
}

/// Inserts the invoice with its lines and taxes, its tax determinations and the use of the
/// customer's credit, in one round trip.
async fn write(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewInvoice,
    stored: &StoredInvoice,
    lines: &[LineInput],
    entry_id: Uuid,
    determinations: &[(String, Determination)],
) -> Result<(), Error> {
    let priced = &stored.priced;
    let mention = commission_legal_mention(priced);
    let determination = serde_json::json!({
        "sale": priced.sale_taxes,
        "commission": priced.commission_taxes,
    });
    // Cached statements sent without waiting for each result: Postgres runs them in order, so
    // the lines and taxes find their invoice, and the whole insert costs one round trip.
    let (header, line, tax) = tokio::try_join!(
        tx.prepare_cached(INSERT_INVOICE),
        tx.prepare_cached(INSERT_INVOICE_LINE),
        tx.prepare_cached(INSERT_INVOICE_TAX),
    )?;
    let currency = stored.currency.code();
    let role = stored.role.as_str();
    let open_amount = priced.total - stored.credit_applied;
    let header_params: [&(dyn ToSql + Sync); 25] = [
        &tenant_id,
        &stored.id,
        &stored.number,
        &stored.issuer,
        &stored.series,
        &new.customer_id,
        &new.seller_id,
        &currency,
        &role,
        &new.prices_include_tax,
        &new.issued_at,
        &stored.issue_date,
        &stored.due_on,
        &priced.net_total,
        &priced.tax_total,
        &priced.total,
        &priced.commission,
        &priced.commission_tax,
        &priced.partner_share,
        &stored.credit_applied,
        &open_amount,
        &determination,
        &mention,
        &entry_id,
        &stored.tax_estimated,
    ];
    let line_params: Vec<[&(dyn ToSql + Sync); 10]> = new
        .lines
        .iter()
        .zip(lines)
        .zip(&priced.lines)
        .map(|((line, input), priced_line)| {
            [
                &tenant_id as &(dyn ToSql + Sync),
                &stored.id,
                &priced_line.line_no,
                &line.product,
                &line.tax_code,
                &input.quantity,
                &input.unit_price,
                &input.discount,
                &priced_line.net,
                &priced_line.commission,
            ]
        })
        .collect();
    let sale_taxes = priced.sale_taxes.iter().map(|tax| ("sale", tax));
    let commission_taxes = priced.commission_taxes.iter().map(|tax| ("commission", tax));
    let tax_rows: Vec<(i32, &str, &TaxLine, &str, Option<String>)> = sale_taxes
        .chain(commission_taxes)
        .enumerate()
        .map(|(seq, (kind, tax))| {
            let account = tax_account_code(tax, stored.currency);
            (seq as i32, kind, tax, tax.liable.as_str(), account)
        })
        .collect();
    let tax_params: Vec<[&(dyn ToSql + Sync); 13]> = tax_rows
        .iter()
        .map(|(seq, kind, tax, liable, account)| {
            [
                &tenant_id as &(dyn ToSql + Sync),
                &stored.id,
                seq,
                kind,
                &tax.jurisdiction,
                &tax.rate,
                &tax.rule,
                liable,
                &tax.base,
                &tax.amount,
                account,
                &tax.lines,
                &tax.legal_mention,
            ]
        })
        .collect();
    let mut inserts = vec![tx.execute(&header, &header_params)];
    inserts.extend(line_params.iter().map(|params| tx.execute(&line, params)));
    inserts.extend(tax_params.iter().map(|params| tx.execute(&tax, params)));
    let determinations = determinations.iter().map(|(kind, determination)| {
        crate::tax::store_determination(tx, tenant_id, kind, stored.id, determination)
    });
    let (inserted, stored_determinations, allocated) = tokio::join!(
        futures::future::try_join_all(inserts),
        futures::future::try_join_all(determinations),
        insert_credit_allocation(tx, tenant_id, stored),
    );
    inserted?;
    stored_determinations?;
    allocated
}

const INSERT_INVOICE: &str = "INSERT INTO invoices (tenant_id, id, number, issuer_id, series, \
    customer_id, seller_id, currency, selling_role, prices_include_tax, issued_at, issue_date, \
    due_on, net_total, tax_total, total, commission, commission_tax, partner_share, \
    credit_applied, open_amount, tax_determination, commission_legal_mention, entry_id, \
    tax_estimated) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
    $19, $20, $21, $22, $23, $24, $25)";

const INSERT_INVOICE_LINE: &str = "INSERT INTO invoice_lines (tenant_id, invoice_id, line_no, \
    product, tax_code, quantity, unit_price, discount, net, commission) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const INSERT_INVOICE_TAX: &str = "INSERT INTO invoice_taxes (tenant_id, invoice_id, seq, kind, \
    jurisdiction, rate, rule, liable, base, amount, account_code, lines, legal_mention) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Records the customer's credit used by the invoice as an allocation without a payment.
async fn insert_credit_allocation(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    invoice: &StoredInvoice,
) -> Result<(), Error> {
    if invoice.credit_applied <= Decimal::ZERO {
        return Ok(());
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO allocations (tenant_id, id, invoice_id, payment_id, amount, applied_on) \
             VALUES ($1, $2, $3, NULL, $4, $5)",
        )
        .await?;
    let params: [&(dyn ToSql + Sync); 5] =
        [&tenant_id, &Uuid::now_v7(), &invoice.id, &invoice.credit_applied, &invoice.issue_date];
    tx.execute(&statement, &params).await?;
    Ok(())
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
