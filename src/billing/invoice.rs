//! Customer invoices: priced, taxed, numbered and posted as one journal entry.

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
/// customer's credit, takes its number and posts its one entry, all in `tx`.
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
    let credit_applied =
        apply_customer_credit(tx, tenant_id, &sale.customer, checked.currency, priced.total)
            .await?;

    let year = numbering::issue_year(new.issued_at, issuer.time_zone());
    let number =
        numbering::next_number(tx, tenant_id, issuer.id, &checked.series, new.issued_at, year)
            .await?;
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
    let draft = draft(tx, tenant_id, &stored, &sale.customer, &sale.seller).await?;
    let description = format!("Invoice {}", stored.number);
    let entry_id =
        posting::post(tx, tenant_id, issue_date, description, format!("invoice:{id}"), draft)
            .await
            .map_err(posting::request_fields("issued_at", Some("lines")))?;

    insert(tx, tenant_id, &new, &stored, &checked.lines, entry_id).await?;
    for (kind, determination) in &determinations {
        crate::tax::store_determination(tx, tenant_id, kind, id, determination).await?;
    }
    if credit_applied > Decimal::ZERO {
        insert_credit_allocation(tx, tenant_id, id, credit_applied, issue_date).await?;
    }
    let document = outbox::Document { kind: "invoice", id, number: &stored.number };
    for message in provider_messages {
        outbox::enqueue(tx, tenant_id, document, message, None).await?;
    }
    find(tx, tenant_id, id)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("invoice vanished")))
}

/// The parties of a sale, checked to exist in their roles.
struct SaleParties {
    customer: Party,
    seller: Party,
    platform: Party,
    agreement: Agreement,
}

async fn load_parties(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewInvoice,
    currency: Currency,
) -> Result<SaleParties, Error> {
    let customer =
        parties::require(tx, tenant_id, new.customer_id, PartyRole::Customer, "customer_id")
            .await?;
    let seller = parties::require_partner_locked(tx, tenant_id, new.seller_id, "seller_id").await?;
    let platform = parties::platform(tx, tenant_id).await?;
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
    Ok(SaleParties { customer, seller, platform, agreement })
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

/// Uses the customer's unapplied credit for the new invoice, up to its total.
async fn apply_customer_credit(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer: &Party,
    currency: Currency,
    total: Decimal,
) -> Result<Decimal, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT credit_balance FROM contract_accounts WHERE tenant_id = $1 AND party_id = $2 \
             AND currency = $3 AND purpose = 'customer_credit' FOR UPDATE",
        )
        .await?;
    let row = tx.query_opt(&statement, &[&tenant_id, &customer.id, &currency.code()]).await?;
    let balance: Decimal = row.map(|row| row.get(0)).unwrap_or(Decimal::ZERO);
    let applied = balance.min(total);
    if applied > Decimal::ZERO {
        tx.execute(
            "UPDATE contract_accounts SET credit_balance = credit_balance - $4 WHERE tenant_id = $1 \
             AND party_id = $2 AND currency = $3 AND purpose = 'customer_credit'",
            &[&tenant_id, &customer.id, &currency.code(), &applied],
        )
        .await?;
    }
    Ok(applied)
}

async fn draft(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    invoice: &StoredInvoice,
    customer: &Party,
    seller: &Party,
) -> Result<Draft, Error> {
    let currency = invoice.currency;
    let priced = &invoice.priced;
    let receivable =
        accounts::contract_account(tx, tenant_id, customer.id, currency, Purpose::Receivable)
            .await?;
    let payable =
        accounts::contract_account(tx, tenant_id, seller.id, currency, Purpose::Payable).await?;
    let revenue =
        accounts::platform_account(tx, tenant_id, &PlatformAccount::CommissionRevenue, currency)
            .await?;

    let mut draft = Draft::new(currency);
    draft.debit(&receivable, priced.total - invoice.credit_applied, "sale, gross");
    if invoice.credit_applied > Decimal::ZERO {
        let credit = accounts::contract_account(
            tx,
            tenant_id,
            customer.id,
            currency,
            Purpose::CustomerCredit,
        )
        .await?;
        draft.debit(&credit, invoice.credit_applied, "customer credit used");
    }

    match invoice.role {
        SellingRole::Agent => {
            draft.credit(&payable, priced.net_total, "sale, net, owed to the partner");
            for tax in priced.sale_taxes.iter().filter(|tax| tax.liable == Liable::Partner) {
                let memo = format!("{} tax {}% owed by the partner", tax.jurisdiction, tax.rate);
                draft.credit(&payable, tax.amount, memo);
            }
            draft.debit(&payable, priced.commission + priced.commission_tax, "commission charged");
        }
        SellingRole::Supplier => {
            draft.credit(&payable, priced.partner_share, "partner share of the sale");
        }
    }
    draft.credit(&revenue, priced.commission, "commission");
    post_platform_taxes(tx, tenant_id, &mut draft, &priced.sale_taxes, currency).await?;
    post_platform_taxes(tx, tenant_id, &mut draft, &priced.commission_taxes, currency).await?;
    Ok(draft)
}

async fn post_platform_taxes(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    draft: &mut Draft,
    taxes: &[TaxLine],
    currency: Currency,
) -> Result<(), Error> {
    for tax in taxes.iter().filter(|tax| tax.liable == Liable::Platform) {
        let account = PlatformAccount::TaxPayable(tax.jurisdiction.clone());
        let code = accounts::platform_account(tx, tenant_id, &account, currency).await?;
        draft.credit(&code, tax.amount, format!("{} tax {}%", tax.jurisdiction, tax.rate));
    }
    Ok(())
}

/// Ledger account of a tax line, `None` when the partner or the customer owes it.
pub fn tax_account_code(tax: &TaxLine, currency: Currency) -> Option<String> {
    (tax.liable == Liable::Platform).then(|| format!("tax_payable:{}.{currency}", tax.jurisdiction))
}

async fn insert(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewInvoice,
    stored: &StoredInvoice,
    lines: &[LineInput],
    entry_id: Uuid,
) -> Result<(), Error> {
    let priced = &stored.priced;
    let mention = priced.commission_taxes.iter().find_map(|tax| tax.legal_mention.clone());
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
    futures::future::try_join_all(inserts).await?;
    Ok(())
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

async fn insert_credit_allocation(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    invoice_id: Uuid,
    amount: Decimal,
    applied_on: NaiveDate,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO allocations (tenant_id, id, invoice_id, payment_id, amount, applied_on) \
         VALUES ($1, $2, $3, NULL, $4, $5)",
        &[&tenant_id, &Uuid::now_v7(), &invoice_id, &amount, &applied_on],
    )
    .await?;
    Ok(())
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

/// Reads a unit price with at least the currency's decimals and any finer ones it was given.
fn unit_price_at(row: &tokio_postgres::Row, index: usize, currency: Currency) -> Decimal {
    let mut price: Decimal = row.get(index);
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
            unit_price: unit_price_at(row, 4, currency),
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
