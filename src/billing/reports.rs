//! Read models over the `audit` views: open items, aging, partner and customer statements.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::Error;
use crate::money::Currency;

/// Returns `amount` at the minor-unit scale of `currency`, so "0" reads "0.00" in EUR.
fn scaled(amount: Decimal, currency: &str) -> Decimal {
    let mut amount = amount;
    if let Ok(currency) = Currency::parse(currency) {
        amount.rescale(currency.minor_units());
    }
    amount
}

fn amount(row: &Row, index: usize, currency: &str) -> Decimal {
    scaled(row.get(index), currency)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpenItem {
    pub customer_id: Uuid,
    pub invoice_id: Uuid,
    pub number: String,
    pub currency: String,
    pub issue_date: NaiveDate,
    pub due_on: NaiveDate,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub total: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub paid: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub credited: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub open_amount: Decimal,
    pub days_overdue: i32,
}

/// Lists open items as of `as_of`, of one customer or of all.
pub async fn open_items(
    client: &impl GenericClient,
    tenant_id: Uuid,
    customer_id: Option<Uuid>,
    as_of: NaiveDate,
) -> Result<Vec<OpenItem>, Error> {
    let rows = client
        .query(
            "SELECT customer_id, invoice_id, number, currency, issue_date, due_on, total, paid, \
             credited, open_amount, days_overdue FROM audit.open_items_at($1, $2) \
             WHERE $3::uuid IS NULL OR customer_id = $3 ORDER BY due_on, number",
            &[&tenant_id, &as_of, &customer_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let currency: String = row.get(3);
            OpenItem {
                customer_id: row.get(0),
                invoice_id: row.get(1),
                number: row.get(2),
                issue_date: row.get(4),
                due_on: row.get(5),
                total: amount(row, 6, &currency),
                paid: amount(row, 7, &currency),
                credited: amount(row, 8, &currency),
                open_amount: amount(row, 9, &currency),
                days_overdue: row.get(10),
                currency,
            }
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingRow {
    pub customer_id: Uuid,
    pub currency: String,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub not_due: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub days_0_30: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub days_31_60: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub days_61_90: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub days_over_90: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub total: Decimal,
}

/// Ages the open receivables as of `as_of` per customer and currency.
pub async fn aging(
    client: &impl GenericClient,
    tenant_id: Uuid,
    as_of: NaiveDate,
) -> Result<Vec<AgingRow>, Error> {
    let rows = client
        .query(
            "SELECT customer_id, currency, not_due, days_0_30, days_31_60, days_61_90, \
             days_over_90, total FROM audit.aging_at($1, $2) ORDER BY customer_id, currency",
            &[&tenant_id, &as_of],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let currency: String = row.get(1);
            AgingRow {
                customer_id: row.get(0),
                not_due: amount(row, 2, &currency),
                days_0_30: amount(row, 3, &currency),
                days_31_60: amount(row, 4, &currency),
                days_61_90: amount(row, 5, &currency),
                days_over_90: amount(row, 6, &currency),
                total: amount(row, 7, &currency),
                currency,
            }
        })
        .collect())
}

/// One month of a partner statement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartnerMonth {
    pub currency: String,
    /// `YYYY-MM`.
    pub period: String,
    pub sales_count: i32,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub sales_net: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub sales_tax: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub sales_total: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission_tax: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub partner_share: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub refunds_total: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission_refunded: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub refunds_partner_cost: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub payouts: Decimal,
    /// Owed to the partner at the end of the month; negative when the partner owes.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub balance: Decimal,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartnerStatement {
    pub partner_id: Uuid,
    pub months: Vec<PartnerMonth>,
}

/// Reads a partner's statement per month and currency from `audit.partner_statement`.
pub async fn partner_statement(
    client: &impl GenericClient,
    tenant_id: Uuid,
    partner_id: Uuid,
) -> Result<PartnerStatement, Error> {
    let rows = client
        .query(
            "SELECT currency, period, sales_count, sales_net, sales_tax, sales_total, commission, \
             commission_tax, partner_share, refunds_total, commission_refunded, \
             refunds_partner_cost, payouts, balance FROM audit.partner_statement \
             WHERE tenant_id = $1 AND partner_id = $2 ORDER BY currency, period",
            &[&tenant_id, &partner_id],
        )
        .await?;
    let months = rows
        .iter()
        .map(|row| {
            let currency: String = row.get(0);
            PartnerMonth {
                period: row.get(1),
                sales_count: row.get(2),
                sales_net: amount(row, 3, &currency),
                sales_tax: amount(row, 4, &currency),
                sales_total: amount(row, 5, &currency),
                commission: amount(row, 6, &currency),
                commission_tax: amount(row, 7, &currency),
                partner_share: amount(row, 8, &currency),
                refunds_total: amount(row, 9, &currency),
                commission_refunded: amount(row, 10, &currency),
                refunds_partner_cost: amount(row, 11, &currency),
                payouts: amount(row, 12, &currency),
                balance: amount(row, 13, &currency),
                currency,
            }
        })
        .collect();
    Ok(PartnerStatement { partner_id, months })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerEvent {
    pub currency: String,
    pub event_date: NaiveDate,
    /// `invoice`, `payment` or `credit_note`.
    pub kind: String,
    pub document_id: Uuid,
    pub reference: Option<String>,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub debit: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub credit: Decimal,
    /// What the customer owes after the event, less its unapplied credit.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub balance: Decimal,
}

/// Reads a customer's statement from `audit.customer_statement`.
pub async fn customer_statement(
    client: &impl GenericClient,
    tenant_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<CustomerEvent>, Error> {
    let rows = client
        .query(
            "SELECT currency, event_date, kind, document_id, reference, debit, credit, balance \
             FROM audit.customer_statement WHERE tenant_id = $1 AND customer_id = $2 \
             ORDER BY currency, event_date, recorded_at, document_id",
            &[&tenant_id, &customer_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let currency: String = row.get(0);
            CustomerEvent {
                event_date: row.get(1),
                kind: row.get(2),
                document_id: row.get(3),
                reference: row.get(4),
                debit: amount(row, 5, &currency),
                credit: amount(row, 6, &currency),
                balance: amount(row, 7, &currency),
                currency,
            }
        })
        .collect())
}
