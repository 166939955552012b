//! Customer payments: clearing of open items, explicit or oldest due first, and overpayments
//! to the customer's credit.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::{self, PlatformAccount, Purpose};
use super::allocation::{self, Clearing, OpenItem, Requested};
use super::parties::{self, PartyRole};
use super::posting::{self, Draft};
use crate::error::{Error, ErrorCode};
use crate::money::Currency;

/// A request to record a customer payment.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    pub customer_id: Uuid,
    #[schema(value_type = String, example = "EUR")]
    pub currency: String,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "12.20")]
    pub amount: Decimal,
    /// Value date of the payment; the payout delay counts from it.
    pub received_on: NaiveDate,
    #[serde(default)]
    pub reference: Option<String>,
    /// Invoices to clear and how much of each; oldest due first when absent.
    #[serde(default)]
    pub allocations: Option<Vec<NewAllocation>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllocation {
    pub invoice_id: Uuid,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "12.20")]
    pub amount: Decimal,
}

/// A recorded payment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub currency: String,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub received_on: NaiveDate,
    pub reference: Option<String>,
    pub allocations: Vec<Allocation>,
    /// Part of the payment that went to the customer's credit.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub unapplied: Decimal,
    pub entry_id: Uuid,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Allocation {
    pub invoice_id: Uuid,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// Open amount of the invoice after this payment.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub residual: Decimal,
}

/// Records a payment: locks the customer's open items, clears them, credits the rest to the
/// customer and posts one entry, all in `tx`. A payment received on a date that has not yet
/// begun anywhere at `now` is rejected.
pub async fn create(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: NewPayment,
    now: DateTime<Utc>,
) -> Result<Payment, Error> {
    // UTC+14 is the earliest time zone, so no bank has reached a later date yet.
    let latest = (now + chrono::Duration::hours(14)).date_naive();
    if new.received_on > latest {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("a payment cannot be received after today ({latest})"),
        )
        .field("received_on")
        .value(new.received_on.to_string()));
    }
    let currency =
        Currency::parse(&new.currency).map_err(|err| Error::from(err).field("currency"))?;
    let amount = currency.exact(new.amount).map_err(|err| Error::from(err).field("amount"))?;
    if amount <= Decimal::ZERO {
        return Err(Error::new(ErrorCode::InvalidField, "amount must be positive")
            .field("amount")
            .value(amount.to_string()));
    }
    let customer =
        parties::require(tx, tenant_id, new.customer_id, PartyRole::Customer, "customer_id")
            .await?;
    let requested = match &new.allocations {
        Some(allocations) => {
            Some(check_requested(tx, tenant_id, &new, allocations, currency).await?)
        }
        None => None,
    };
    let items = lock_open_items(tx, tenant_id, customer.id, currency).await?;
    let clearing = match &requested {
        Some(requested) => allocation::explicit(&items, requested, amount)?,
        None => allocation::oldest_due_first(&items, amount),
    };
    let id = Uuid::now_v7();
    let draft = draft(tx, tenant_id, customer.id, currency, amount, &clearing).await?;
    let description = format!("Payment from customer {}", customer.id);
    let entry_id =
        posting::post(tx, tenant_id, new.received_on, description, format!("payment:{id}"), draft)
            .await
            .map_err(posting::request_fields("received_on", Some("amount")))?;
    tx.execute(
        "INSERT INTO payments (tenant_id, id, customer_id, currency, amount, received_on, \
         reference, unapplied, entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &tenant_id,
            &id,
            &customer.id,
            &currency.code(),
            &amount,
            &new.received_on,
            &new.reference,
            &clearing.unapplied,
            &entry_id,
        ],
    )
    .await?;
    let allocations = apply(tx, tenant_id, id, new.received_on, &clearing).await?;
    if clearing.unapplied > Decimal::ZERO {
        add_customer_credit(tx, tenant_id, customer.id, currency, clearing.unapplied).await?;
    }
    Ok(Payment {
        id,
        customer_id: customer.id,
        currency: currency.code().to_string(),
        amount,
        received_on: new.received_on,
        reference: new.reference,
        allocations,
        unapplied: clearing.unapplied,
        entry_id,
    })
}

/// Checks each requested allocation's amount and that its invoice is the customer's and in
/// the payment currency, so the error names the exact reason.
async fn check_requested(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewPayment,
    allocations: &[NewAllocation],
    currency: Currency,
) -> Result<Vec<Requested>, Error> {
    let mut requested = Vec::with_capacity(allocations.len());
    for (index, allocation) in allocations.iter().enumerate() {
        let field = format!("allocations[{index}]");
        let amount = currency
            .exact(allocation.amount)
            .map_err(|err| Error::from(err).field(format!("{field}.amount")))?;
        let row = tx
            .query_opt(
                "SELECT customer_id, currency FROM invoices WHERE tenant_id = $1 AND id = $2",
                &[&tenant_id, &allocation.invoice_id],
            )
            .await?;
        let invoice_field = format!("{field}.invoice_id");
        let value = allocation.invoice_id.to_string();
        let Some(row) = row else {
            return Err(Error::new(ErrorCode::UnknownInvoice, "no invoice with this id")
                .field(invoice_field)
                .value(value));
        };
        if row.get::<_, Uuid>(0) != new.customer_id {
            return Err(Error::new(
                ErrorCode::AllocationNotOpen,
                "the invoice belongs to another customer",
            )
            .field(invoice_field)
            .value(value));
        }
        if row.get::<_, String>(1) != currency.code() {
            return Err(Error::new(
                ErrorCode::CurrencyMismatch,
                format!("the invoice is in {}, the payment in {currency}", row.get::<_, String>(1)),
            )
            .field(invoice_field)
            .value(value));
        }
        requested.push(Requested { invoice_id: allocation.invoice_id, amount });
    }
    Ok(requested)
}

/// Locks the customer's open invoices in the currency, oldest due first. The row locks make a
/// concurrent payment wait and then read the lowered open amounts, so two payments never
/// clear more than an invoice's residual.
async fn lock_open_items(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
) -> Result<Vec<OpenItem>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT id, open_amount FROM invoices WHERE tenant_id = $1 AND customer_id = $2 \
             AND currency = $3 AND open_amount > 0 \
             ORDER BY due_on, issued_at, id FOR UPDATE",
        )
        .await?;
    let rows = tx.query(&statement, &[&tenant_id, &customer_id, &currency.code()]).await?;
    Ok(rows
        .iter()
        .map(|row| OpenItem { invoice_id: row.get(0), open_amount: row.get(1) })
        .filter(|item| item.open_amount > Decimal::ZERO)
        .collect())
}

async fn draft(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
    amount: Decimal,
    clearing: &Clearing,
) -> Result<Draft, Error> {
    let cash =
        accounts::platform_account(tx, tenant_id, &PlatformAccount::CashClearing, currency).await?;
    let mut draft = Draft::new(currency);
    draft.debit(&cash, amount, "payment received");
    let cleared: Decimal = clearing.allocations.iter().map(|(_, amount)| *amount).sum();
    if cleared > Decimal::ZERO {
        let receivable =
            accounts::contract_account(tx, tenant_id, customer_id, currency, Purpose::Receivable)
                .await?;
        draft.credit(&receivable, cleared, "open items cleared");
    }
    if clearing.unapplied > Decimal::ZERO {
        let credit = accounts::contract_account(
            tx,
            tenant_id,
            customer_id,
            currency,
            Purpose::CustomerCredit,
        )
        .await?;
        draft.credit(&credit, clearing.unapplied, "overpayment to customer credit");
    }
    Ok(draft)
}

async fn apply(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    payment_id: Uuid,
    received_on: NaiveDate,
    clearing: &Clearing,
) -> Result<Vec<Allocation>, Error> {
    let mut applied = Vec::with_capacity(clearing.allocations.len());
    for (invoice_id, amount) in &clearing.allocations {
        let row = tx
            .query_one(
                "UPDATE invoices SET open_amount = open_amount - $3 \
                 WHERE tenant_id = $1 AND id = $2 RETURNING open_amount",
                &[&tenant_id, invoice_id, amount],
            )
            .await?;
        tx.execute(
            "INSERT INTO allocations (tenant_id, id, invoice_id, payment_id, amount, applied_on) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&tenant_id, &Uuid::now_v7(), invoice_id, &payment_id, amount, &received_on],
        )
        .await?;
        applied.push(Allocation { invoice_id: *invoice_id, amount: *amount, residual: row.get(0) });
    }
    Ok(applied)
}

/// Adds `amount` to the customer's unapplied credit, opening the contract account if needed.
pub async fn add_customer_credit(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
    amount: Decimal,
) -> Result<(), Error> {
    accounts::contract_account(tx, tenant_id, customer_id, currency, Purpose::CustomerCredit)
        .await?;
    tx.execute(
        "UPDATE contract_accounts SET credit_balance = credit_balance + $4 WHERE tenant_id = $1 \
         AND party_id = $2 AND currency = $3 AND purpose = 'customer_credit'",
        &[&tenant_id, &customer_id, &currency.code(), &amount],
    )
    .await?;
    Ok(())
}

/// Loads a payment with its allocations.
pub async fn find(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Payment>, Error> {
    let row = client
        .query_opt(
            "SELECT id, customer_id, currency, amount, received_on, reference, unapplied, entry_id \
             FROM payments WHERE tenant_id = $1 AND id = $2",
            &[&tenant_id, &id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let rows = client
        .query(
            "SELECT a.invoice_id, a.amount, i.open_amount FROM allocations a JOIN invoices i \
             ON i.tenant_id = a.tenant_id AND i.id = a.invoice_id \
             WHERE a.tenant_id = $1 AND a.payment_id = $2 ORDER BY a.id",
            &[&tenant_id, &id],
        )
        .await?;
    let currency = Currency::parse(row.get::<_, &str>(2))?;
    let allocations = rows
        .iter()
        .map(|row| Allocation {
            invoice_id: row.get(0),
            amount: super::amount_at(row, 1, currency),
            residual: super::amount_at(row, 2, currency),
        })
        .collect();
    Ok(Some(Payment {
        id: row.get(0),
        customer_id: row.get(1),
        currency: row.get(2),
        amount: super::amount_at(&row, 3, currency),
        received_on: row.get(4),
        reference: row.get(5),
        allocations,
        unapplied: super::amount_at(&row, 6, currency),
        entry_id: row.get(7),
    }))
}
