//! Contract accounts (one ledger account per party, currency and purpose) and the platform's
//! own accounts that billing documents post to.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use deadpool_postgres::Transaction;
use uuid::Uuid;

use crate::error::{Error, ErrorCode};
use crate::ledger::accounts::ChartAccount;
use crate::ledger::{self, AccountCode, AccountKind, NewAccount};
use crate::money::Currency;

/// What a contract account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// What a customer owes: the sum of its open items.
    Receivable,
    /// What the platform owes a customer: overpayments and refunds not yet used.
    CustomerCredit,
    /// What the platform owes a partner.
    Payable,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Receivable => "receivable",
            Purpose::CustomerCredit => "customer_credit",
            Purpose::Payable => "payable",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Purpose::Receivable => "receivable",
            Purpose::CustomerCredit => "customer_credit",
            Purpose::Payable => "partner_payable",
        }
    }

    fn kind(self) -> AccountKind {
        match self {
            Purpose::Receivable => AccountKind::Asset,
            Purpose::CustomerCredit | Purpose::Payable => AccountKind::Liability,
        }
    }
}

/// An account of the platform itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformAccount {
    /// Money received from customers or paid to partners, before bank reconciliation.
    CashClearing,
    CommissionRevenue,
    /// Tax the platform owes to one jurisdiction.
    TaxPayable(String),
}

impl PlatformAccount {
    /// Returns the code of the ledger account in `currency`.
    pub fn code(&self, currency: Currency) -> Result<String, Error> {
        Ok(self.new_account(currency)?.code.as_str().to_string())
    }

    /// The ledger account: the default chart's for cash and commission, one per
    /// jurisdiction (`tax_payable:IT.EUR`) for tax.
    fn new_account(&self, currency: Currency) -> Result<NewAccount, Error> {
        let account = match self {
            PlatformAccount::CashClearing => ChartAccount::CashClearing.new_account(currency),
            PlatformAccount::CommissionRevenue => {
                ChartAccount::CommissionRevenue.new_account(currency)
            }
            PlatformAccount::TaxPayable(jurisdiction) => NewAccount {
                code: AccountCode::parse(&format!("tax_payable:{jurisdiction}.{currency}"))?,
                name: format!("Tax payable {jurisdiction} {currency}"),
                kind: AccountKind::Liability,
                currency,
                party: None,
            },
        };
        Ok(account)
    }
}

/// Returns the code of a party's contract account, opening it in the ledger on first use.
pub async fn contract_account(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    party_id: Uuid,
    currency: Currency,
    purpose: Purpose,
) -> Result<String, Error> {
    match find_contract_account(tx, tenant_id, party_id, currency, purpose).await? {
        Some(code) => Ok(code),
        None => open_contract_account(tx, tenant_id, party_id, currency, purpose).await,
    }
}

/// Returns the code of a party's contract account; `None` when it is not open yet.
pub async fn find_contract_account(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    party_id: Uuid,
    currency: Currency,
    purpose: Purpose,
) -> Result<Option<String>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT account_code FROM contract_accounts \
             WHERE tenant_id = $1 AND party_id = $2 AND currency = $3 AND purpose = $4",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&tenant_id, &party_id, &currency.code(), &purpose.as_str()];
    Ok(tx.query_opt(&statement, &params).await?.map(|row| row.get(0)))
}

/// Returns the code under which a party's contract account is opened, such as
/// `receivable:<party id without hyphens>.EUR`.
pub fn contract_account_code(party_id: Uuid, currency: Currency, purpose: Purpose) -> String {
    format!("{}:{}.{currency}", purpose.prefix(), party_id.simple())
}

/// Opens a party's contract account in the ledger and returns its code; an account already
/// open is kept.
pub async fn open_contract_account(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    party_id: Uuid,
    currency: Currency,
    purpose: Purpose,
) -> Result<String, Error> {
    let code = contract_account_code(party_id, currency, purpose);
    let account = NewAccount {
        code: AccountCode::parse(&code)?,
        name: format!("{} of party {party_id}", purpose.as_str()),
        kind: purpose.kind(),
        currency,
        party: Some(party_id.to_string()),
    };
    let link = async {
        let statement = tx
            .prepare_cached(
                "INSERT INTO contract_accounts \
                 (tenant_id, party_id, currency, purpose, account_code) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&tenant_id, &party_id, &currency.code(), &purpose.as_str(), &code];
        tx.execute(&statement, &params).await.map_err(Error::from)
    };
    // Both writes are sent together (one round trip); an error of the ledger account wins.
    let (account, linked) = tokio::join!(ledger::ensure_account(tx, tenant_id, &account), link);
    account?;
    linked?;
    Ok(code)
}

/// Returns the code of a platform account, opening it in the ledger on first use.
pub async fn platform_account(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    account: &PlatformAccount,
    currency: Currency,
) -> Result<String, Error> {
    if let Some(code) = find_platform_account(tx, tenant_id, account, currency).await? {
        return Ok(code);
    }
    // Opens the account, or fails when an account with this code exists that is not the
    // platform's.
    let account = account.new_account(currency)?;
    ledger::ensure_account(tx, tenant_id, &account).await?;
    Ok(account.code.as_str().to_string())
}

/// Returns the code of a platform account when it is open as the platform's, without opening
/// it. `None` also covers an account of the same code with another kind, currency or party.
pub async fn find_platform_account(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    account: &PlatformAccount,
    currency: Currency,
) -> Result<Option<String>, Error> {
    let account = account.new_account(currency)?;
    let code = account.code.as_str().to_string();
    if settled().contains(tenant_id, &code) {
        return Ok(Some(code));
    }
    // Every document posts to the same few platform accounts, so they are read first: a read
    // costs Postgres far less than an insert that finds the row.
    let stored = ledger::find_account_created_before(tx, tenant_id, &account.code).await?;
    match stored {
        Some((stored, created_before))
            if (stored.kind, stored.currency, &stored.party)
                == (account.kind, account.currency, &account.party) =>
        {
            if created_before {
                settled().remember(tenant_id, code.clone());
            }
            Ok(Some(code))
        }
        _ => Ok(None),
    }
}

/// Platform accounts known to be open, by tenant and code, so that documents skip reading
/// them. The service's database role can neither delete an account nor change its kind,
/// currency or party, so an open account stays open. Only an account created before the
/// reading transaction began is remembered. One created by that transaction has the
/// transaction's start as its `created_at` and may still be rolled back. One created by a
/// transaction that began later is read again next time.
static SETTLED: LazyLock<Mutex<Settled>> = LazyLock::new(Mutex::default);

/// Locks the remembered accounts. A panic while they were locked leaves them consistent, since
/// each change is one insert or removal, so a poisoned lock is used as it is.
fn settled() -> MutexGuard<'static, Settled> {
    SETTLED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Turns an account missing at posting time into a retryable error. A document posts only to
/// accounts that it read or opened in its own transaction, or to platform accounts remembered
/// as open, so a missing one was remembered and is gone (a restored database, a row deleted by
/// hand). The remembered accounts of `tenants` are forgotten, and the request gets a 503 instead of
/// a 422, which would be stored under its key and replayed: a retry reads them again.
pub fn retry_if_account_missing(tenants: &[Uuid]) -> impl Fn(Error) -> Error + '_ {
    move |error| {
        if error.code != ErrorCode::AccountNotFound {
            return error;
        }
        for &tenant_id in tenants {
            settled().forget_tenant(tenant_id);
        }
        let detail = "a platform account was missing, so nothing was written: retry the request";
        Error::unavailable(detail, error)
    }
}

/// Maximum number of remembered accounts. Past it, the set starts again empty. A platform has
/// a few accounts per currency and tax jurisdiction, so this only bounds memory.
const MAX_SETTLED: usize = 100_000;

/// The remembered accounts, by tenant, with their number.
#[derive(Default)]
struct Settled {
    codes: HashMap<Uuid, HashSet<String>>,
    count: usize,
}

impl Settled {
    fn contains(&self, tenant_id: Uuid, code: &str) -> bool {
        self.codes.get(&tenant_id).is_some_and(|codes| codes.contains(code))
    }

    fn forget_tenant(&mut self, tenant_id: Uuid) {
        if let Some(codes) = self.codes.remove(&tenant_id) {
            self.count -= codes.len();
        }
    }

    fn remember(&mut self, tenant_id: Uuid, code: String) {
        if self.count >= MAX_SETTLED {
            *self = Settled::default();
        }
        if self.codes.entry(tenant_id).or_default().insert(code) {
            self.count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{self, tenancy, testing::TestDatabase};

    /// An account is remembered once a transaction that began after it was created has read
    /// it, never while the transaction that opened it may still roll back. It is forgotten
    /// when a posting finds one of the tenant's accounts missing.
    #[tokio::test]
    async fn only_settled_platform_accounts_are_remembered() {
        let database = TestDatabase::create().await.unwrap();
        let pool = db::pool(&database.url, 1).unwrap();
        let mut client = pool.get().await.unwrap();
        let tenant_id = tenancy::insert_tenant(&client, "Settled").await.unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let account = PlatformAccount::CashClearing;
        let code = account.code(eur).unwrap();

        let tx = client.transaction().await.unwrap();
        platform_account(&tx, tenant_id, &account, eur).await.unwrap();
        platform_account(&tx, tenant_id, &account, eur).await.unwrap();
        assert!(!settled().contains(tenant_id, &code), "remembered its own new account");
        tx.rollback().await.unwrap();

        let tx = client.transaction().await.unwrap();
        platform_account(&tx, tenant_id, &account, eur).await.unwrap();
        tx.commit().await.unwrap();
        assert!(!settled().contains(tenant_id, &code), "remembered an account it opened");

        let tx = client.transaction().await.unwrap();
        platform_account(&tx, tenant_id, &account, eur).await.unwrap();
        tx.commit().await.unwrap();
        assert!(settled().contains(tenant_id, &code), "forgot an account read after it committed");

        let missing = Error::new(ErrorCode::AccountNotFound, "account not found");
        let retry = retry_if_account_missing(&[tenant_id])(missing);
        assert_eq!(retry.code, ErrorCode::Unavailable);
        assert!(!settled().contains(tenant_id, &code), "kept the accounts of a tenant missing one");
    }
}
