//! The chart of accounts: creating accounts idempotently, reading them, and the default chart
//! every tenant starts with.

use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{currency_from_db, AccountCode, AccountKind};
use crate::error::{Error, ErrorCode};
use crate::money::Currency;

/// Maximum length of an account name or party, in characters.
pub const MAX_NAME_LEN: usize = 200;

/// An account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub code: AccountCode,
    pub name: String,
    pub kind: AccountKind,
    pub currency: Currency,
    /// The customer or partner a personal account belongs to.
    pub party: Option<String>,
}

/// An account of a tenant's chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub code: AccountCode,
    pub name: String,
    pub kind: AccountKind,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub party: Option<String>,
}

const INSERT_ACCOUNT: &str = "INSERT INTO accounts (tenant_id, code, name, kind, currency, party) \
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, code) DO NOTHING";

const SELECT_ACCOUNT: &str =
    "SELECT code, name, kind, currency, party FROM accounts WHERE tenant_id = $1 AND code = $2";

/// Creates the account, or returns the existing one with the same code. An existing account
/// with another currency, kind or party is an `account_conflict`; a different name is kept
/// as stored.
#[tracing::instrument(level = "debug", skip_all, fields(tenant.id = %tenant_id, account.code = %account.code))]
pub async fn ensure_account(
    client: &impl GenericClient,
    tenant_id: Uuid,
    account: &NewAccount,
) -> Result<Account, Error> {
    check_text("name", &account.name)?;
    if let Some(party) = &account.party {
        check_text("party", party)?;
    }
    // Both statements are prepared before either is sent, so Postgres runs the read after the
    // insert even on a connection that prepares them for the first time.
    let (statement, _) = tokio::try_join!(
        client.prepare_cached(INSERT_ACCOUNT),
        client.prepare_cached(SELECT_ACCOUNT)
    )?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &tenant_id,
        &account.code.as_str(),
        &account.name,
        &account.kind.as_str(),
        &account.currency.code(),
        &account.party,
    ];
    // Both statements are sent together (one round trip), and the read finds the account
    // whether the insert added it or found it.
    let (_, stored) = tokio::try_join!(
        async { client.execute(&statement, &params).await.map_err(Error::from) },
        get_account(client, tenant_id, &account.code),
    )?;
    if stored.currency != account.currency
        || stored.kind != account.kind
        || stored.party != account.party
    {
        return Err(Error::new(
            ErrorCode::AccountConflict,
            format!(
                "account '{}' already exists as {} {}{}; choose another code",
                stored.code,
                stored.kind.as_str(),
                stored.currency,
                stored.party.as_ref().map(|p| format!(" of party '{p}'")).unwrap_or_default(),
            ),
        )
        .field("code")
        .value(stored.code.as_str()));
    }
    Ok(stored)
}

/// Reads an account; `not_found` when the tenant has no account with this code.
pub async fn get_account(
    client: &impl GenericClient,
    tenant_id: Uuid,
    code: &AccountCode,
) -> Result<Account, Error> {
    find_account(client, tenant_id, code).await?.ok_or_else(|| Error::not_found("account", code))
}

/// Reads an account, or returns `None` when the tenant has no account with this code.
pub async fn find_account(
    client: &impl GenericClient,
    tenant_id: Uuid,
    code: &AccountCode,
) -> Result<Option<Account>, Error> {
    let statement = client.prepare_cached(SELECT_ACCOUNT).await?;
    let row = client.query_opt(&statement, &[&tenant_id, &code.as_str()]).await?;
    row.map(|row| account_from_row(&row)).transpose()
}

/// Reads an account as [`find_account`] does, with whether it was created before the reading
/// transaction began. Such an account was committed by another transaction, so no rollback of
/// the reader can remove it.
pub async fn find_account_created_before(
    client: &impl GenericClient,
    tenant_id: Uuid,
    code: &AccountCode,
) -> Result<Option<(Account, bool)>, Error> {
    let statement = client
        .prepare_cached(
            "SELECT code, name, kind, currency, party, created_at < now() FROM accounts \
             WHERE tenant_id = $1 AND code = $2",
        )
        .await?;
    let row = client.query_opt(&statement, &[&tenant_id, &code.as_str()]).await?;
    row.map(|row| Ok((account_from_row(&row)?, row.get(5)))).transpose()
}

fn account_from_row(row: &Row) -> Result<Account, Error> {
    Ok(Account {
        code: AccountCode(row.get(0)),
        name: row.get(1),
        kind: AccountKind::from_db(row.get(2))?,
        currency: currency_from_db(row.get(3))?,
        party: row.get(4),
    })
}

fn check_text(field: &'static str, text: &str) -> Result<(), Error> {
    super::check_no_nul(field, text)?;
    let length = text.chars().count();
    if length == 0 || length > MAX_NAME_LEN {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("{field} must have 1 to {MAX_NAME_LEN} characters, not {length}"),
        )
        .field(field)
        .value(text));
    }
    Ok(())
}

/// The platform accounts every tenant needs, one per currency. Billing adds per-party and
/// per-jurisdiction accounts on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartAccount {
    /// Customer payments received but not yet settled to the bank.
    CashClearing,
    Bank,
    CommissionRevenue,
    /// Customer money received beyond what was invoiced, not yet applied to an invoice.
    CustomerCredit,
    TaxPayable,
    TaxReceivable,
    /// Amounts whose final account is not known yet.
    Suspense,
    /// Residual cents from rounding that must not be lost.
    RoundingDifferences,
    RetainedEarnings,
}

impl ChartAccount {
    pub const ALL: &'static [ChartAccount] = &[
        ChartAccount::CashClearing,
        ChartAccount::Bank,
        ChartAccount::CommissionRevenue,
        ChartAccount::CustomerCredit,
        ChartAccount::TaxPayable,
        ChartAccount::TaxReceivable,
        ChartAccount::Suspense,
        ChartAccount::RoundingDifferences,
        ChartAccount::RetainedEarnings,
    ];

    fn parts(self) -> (&'static str, &'static str, AccountKind) {
        use AccountKind::*;
        match self {
            ChartAccount::CashClearing => ("cash_clearing", "Cash clearing", Asset),
            ChartAccount::Bank => ("bank", "Bank", Asset),
            ChartAccount::CommissionRevenue => {
                ("commission_revenue", "Commission revenue", Revenue)
            }
            ChartAccount::CustomerCredit => {
                ("customer_credit", "Customer credit (unapplied)", Liability)
            }
            ChartAccount::TaxPayable => ("tax_payable", "Tax payable", Liability),
            ChartAccount::TaxReceivable => ("tax_receivable", "Tax receivable", Asset),
            ChartAccount::Suspense => ("suspense", "Suspense", Asset),
            ChartAccount::RoundingDifferences => {
                ("rounding_differences", "Rounding differences", Expense)
            }
            ChartAccount::RetainedEarnings => ("retained_earnings", "Retained earnings", Equity),
        }
    }

    /// Returns the account's code in `currency`: `<name>.<currency>`, such as
    /// `cash_clearing.EUR`.
    pub fn code(self, currency: Currency) -> AccountCode {
        AccountCode(format!("{}.{}", self.parts().0, currency))
    }

    pub fn kind(self) -> AccountKind {
        self.parts().2
    }

    /// Returns the account to create in `currency`.
    pub fn new_account(self, currency: Currency) -> NewAccount {
        let (_, name, kind) = self.parts();
        NewAccount {
            code: self.code(currency),
            name: format!("{name} {currency}"),
            kind,
            currency,
            party: None,
        }
    }
}

/// Currencies the default chart is created in when a tenant is created. Other currencies get
/// their platform accounts from [`ensure_chart`] when first needed.
pub const DEFAULT_CHART_CURRENCIES: &[&str] = &["EUR", "USD"];

/// Creates the platform accounts of [`ChartAccount`] in `currency`; existing ones are kept.
pub async fn ensure_chart(
    client: &impl GenericClient,
    tenant_id: Uuid,
    currency: Currency,
) -> Result<Vec<Account>, Error> {
    let mut accounts = Vec::with_capacity(ChartAccount::ALL.len());
    for chart_account in ChartAccount::ALL {
        accounts
            .push(ensure_account(client, tenant_id, &chart_account.new_account(currency)).await?);
    }
    Ok(accounts)
}

/// Creates the default chart of a new tenant: the platform accounts in each currency of
/// [`DEFAULT_CHART_CURRENCIES`].
pub async fn seed_default_chart(
    client: &impl GenericClient,
    tenant_id: Uuid,
) -> Result<Vec<Account>, Error> {
    let mut accounts = Vec::new();
    for code in DEFAULT_CHART_CURRENCIES {
        let currency = Currency::parse(code)?;
        accounts.extend(ensure_chart(client, tenant_id, currency).await?);
    }
    Ok(accounts)
}
