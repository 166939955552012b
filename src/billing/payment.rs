//! Customer payments: clearing of open items, explicit or oldest due first, and overpayments
//! to the customer's credit.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;
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
    if let Some(reference) = &new.reference {
        crate::ledger::check_no_nul("reference", reference)?;
    }
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
    // Every read and lock is sent at once, in one round trip. The results are checked in a
    // fixed order, so a request with several faults always gets the same error.
    let (customer, requested, items, found) = tokio::join!(
        parties::require(tx, tenant_id, new.customer_id, PartyRole::Customer, "customer_id"),
        check_requested(tx, tenant_id, &new, currency),
        lock_open_items(tx, tenant_id, new.customer_id, currency),
        read_accounts(tx, tenant_id, new.customer_id, currency),
    );
    let (customer, requested, items) = (customer?, requested?, items?);
    let clearing = match &requested {
        Some(requested) => allocation::explicit(&items, requested, amount)?,
        None => allocation::oldest_due_first(&items, amount),
    };
    let accounts = open_accounts(tx, tenant_id, customer.id, currency, found?, &clearing).await?;
    let id = Uuid::now_v7();
    let entry_id = Uuid::now_v7();
    let draft = draft(&accounts, currency, amount, &clearing);
    let description = format!("Payment from customer {}", customer.id);
    let key = format!("payment:{id}");
    let written = Written { id, entry_id, customer_id: customer.id, currency, amount };

    // The entry and the payment's rows go in one round trip: the rows name the entry by the id
    // chosen here, and any failure rolls the whole transaction back.
    let (posted, allocations) = tokio::join!(
        posting::post_as(tx, tenant_id, entry_id, new.received_on, description, key, draft),
        write(tx, tenant_id, &new, &written, &clearing),
    );
    posted.map_err(posting::request_fields("received_on", Some("amount")))?;
    Ok(Payment {
        id,
        customer_id: customer.id,
        currency: currency.code().to_string(),
        amount,
        received_on: new.received_on,
        reference: new.reference,
        allocations: allocations?,
        unapplied: clearing.unapplied,
        entry_id,
    })
}

/// The values of a new payment that its rows repeat.
struct Written {
    id: Uuid,
    entry_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
    amount: Decimal,
}

/// Ledger accounts a payment posts to.
struct PaymentAccounts {
    cash: String,
    /// The customer's receivable, when the payment clears open items.
    receivable: Option<String>,
    /// The customer's credit account, when part of the payment is unapplied.
    credit: Option<String>,
}

/// Opens the cash clearing account if needed and reads the customer's receivable and credit
/// accounts, `None` for those not open yet.
async fn read_accounts(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
) -> Result<(String, Option<String>, Option<String>), Error> {
    let (receivable, credit) = (Purpose::Receivable, Purpose::CustomerCredit);
    tokio::try_join!(
        accounts::platform_account(tx, tenant_id, &PlatformAccount::CashClearing, currency),
        accounts::find_contract_account(tx, tenant_id, customer_id, currency, receivable),
        accounts::find_contract_account(tx, tenant_id, customer_id, currency, credit),
    )
}

/// Keeps the accounts the clearing posts to, opening those not open yet.
async fn open_accounts(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
    (cash, receivable, credit): (String, Option<String>, Option<String>),
    clearing: &Clearing,
) -> Result<PaymentAccounts, Error> {
    let clears = clearing.allocations.iter().any(|(_, amount)| *amount > Decimal::ZERO);
    let overpaid = clearing.unapplied > Decimal::ZERO;
    let open = |found: Option<String>, needed: bool, purpose: Purpose| async move {
        match found {
            _ if !needed => Ok(None),
            Some(code) => Ok(Some(code)),
            None => {
                let code =
                    accounts::open_contract_account(tx, tenant_id, customer_id, currency, purpose)
                        .await?;
                Ok::<_, Error>(Some(code))
            }
        }
    };
    let (receivable, credit) = tokio::try_join!(
        open(receivable, clears, Purpose::Receivable),
        open(credit, overpaid, Purpose::CustomerCredit),
    )?;
    Ok(PaymentAccounts { cash, receivable, credit })
}

/// Checks each requested allocation's amount and that its invoice is the customer's and in
/// the payment currency, so the error names the exact reason. The invoices are read in one
/// round trip; `None` when the payment names no allocations.
async fn check_requested(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewPayment,
    currency: Currency,
) -> Result<Option<Vec<Requested>>, Error> {
    let Some(allocations) = &new.allocations else {
        return Ok(None);
    };
    let statement = tx
        .prepare_cached(
            "SELECT customer_id, currency FROM invoices WHERE tenant_id = $1 AND id = $2",
        )
        .await?;
    let params: Vec<[&(dyn ToSql + Sync); 2]> = allocations
        .iter()
        .map(|allocation| [&tenant_id as _, &allocation.invoice_id as _])
        .collect();
    let reads = params.iter().map(|params| tx.query_opt(&statement, params));
    let rows = futures::future::try_join_all(reads).await?;
    let mut requested = Vec::with_capacity(allocations.len());
    for (index, (allocation, row)) in allocations.iter().zip(rows).enumerate() {
        let field = format!("allocations[{index}]");
        let amount = currency
            .exact(allocation.amount)
            .map_err(|err| Error::from(err).field(format!("{field}.amount")))?;
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
    Ok(Some(requested))
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

fn draft(
    accounts: &PaymentAccounts,
    currency: Currency,
    amount: Decimal,
    clearing: &Clearing,
) -> Draft {
    let mut draft = Draft::new(currency);
    draft.debit(&accounts.cash, amount, "payment received");
    let cleared: Decimal = clearing.allocations.iter().map(|(_, amount)| *amount).sum();
    if let Some(receivable) = &accounts.receivable {
        draft.credit(receivable, cleared, "open items cleared");
    }
    if let Some(credit) = &accounts.credit {
        draft.credit(credit, clearing.unapplied, "overpayment to customer credit");
    }
    draft
}

/// Inserts the payment, lowers each cleared invoice's open amount and records its
/// allocation, and adds the unapplied rest to the customer's credit, in one round trip.
/// Returns the allocations with each invoice's residual.
async fn write(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: &NewPayment,
    payment: &Written,
    clearing: &Clearing,
) -> Result<Vec<Allocation>, Error> {
    let (insert, lower, allocate) = tokio::try_join!(
        tx.prepare_cached(
            "INSERT INTO payments (tenant_id, id, customer_id, currency, amount, received_on, \
             reference, unapplied, entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        ),
        tx.prepare_cached(
            "UPDATE invoices SET open_amount = open_amount - $3 \
             WHERE tenant_id = $1 AND id = $2 RETURNING open_amount",
        ),
        tx.prepare_cached(
            "INSERT INTO allocations (tenant_id, id, invoice_id, payment_id, amount, applied_on) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        ),
    )?;
    let currency = payment.currency;
    let params: [&(dyn ToSql + Sync); 9] = [
        &tenant_id,
        &payment.id,
        &payment.customer_id,
        &currency.code(),
        &payment.amount,
        &new.received_on,
        &new.reference,
        &clearing.unapplied,
        &payment.entry_id,
    ];
    let inserted = tx.execute(&insert, &params);
    let allocations = clearing.allocations.iter().map(|(invoice_id, amount)| {
        let (lower, allocate) = (&lower, &allocate);
        async move {
            let allocation_id = Uuid::now_v7();
            let lowered: [&(dyn ToSql + Sync); 3] = [&tenant_id, invoice_id, amount];
            let allocated: [&(dyn ToSql + Sync); 6] =
                [&tenant_id, &allocation_id, invoice_id, &payment.id, amount, &new.received_on];
            let (row, _) =
                tokio::try_join!(tx.query_one(lower, &lowered), tx.execute(allocate, &allocated),)?;
            let mut amount = *amount;
            amount.rescale(currency.minor_units());
            Ok::<_, Error>(Allocation {
                invoice_id: *invoice_id,
                amount,
                residual: super::amount_at(&row, 0, currency),
            })
        }
    });
    let credited = add_unapplied(tx, tenant_id, payment.customer_id, currency, clearing.unapplied);
    let (inserted, allocations, credited) =
        tokio::join!(inserted, futures::future::try_join_all(allocations), credited,);
    inserted?;
    let allocations = allocations?;
    credited?;
    Ok(allocations)
}

/// Adds the unapplied part of a payment to the customer's credit, whose account is open;
/// does nothing when it is zero.
async fn add_unapplied(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    customer_id: Uuid,
    currency: Currency,
    amount: Decimal,
) -> Result<(), Error> {
    if amount <= Decimal::ZERO {
        return Ok(());
    }
    let statement = tx.prepare_cached(ADD_CUSTOMER_CREDIT).await?;
    tx.execute(&statement, &[&tenant_id, &customer_id, &currency.code(), &amount]).await?;
    Ok(())
}

const ADD_CUSTOMER_CREDIT: &str = "UPDATE contract_accounts \
    SET credit_balance = credit_balance + $4 WHERE tenant_id = $1 \
    AND party_id = $2 AND currency = $3 AND purpose = 'customer_credit'";

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
    tx.execute(ADD_CUSTOMER_CREDIT, &[&tenant_id, &customer_id, &currency.code(), &amount]).await?;
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
