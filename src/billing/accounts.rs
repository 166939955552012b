//! Contract accounts (one ledger account per party, currency and purpose) and the platform's
//! own accounts that billing documents post to.

use deadpool_postgres::Transaction;
use uuid::Uuid;

use crate::error::Error;
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

/// Opens a party's contract account in the ledger and returns its code; an account already
/// open is kept.
pub async fn open_contract_account(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    party_id: Uuid,
    currency: Currency,
    purpose: Purpose,
) -> Result<String, Error> {
    let code = format!("{}:{}.{currency}", purpose.prefix(), party_id.simple());
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
    let account = account.new_account(currency)?;
    // Every document posts to the same few platform accounts, so they are read first: a read
    // costs Postgres far less than an insert that finds the row.
    let stored = ledger::find_account(tx, tenant_id, &account.code).await?;
    let opened = stored.is_some_and(|stored| {
        (stored.kind, stored.currency, &stored.party)
            == (account.kind, account.currency, &account.party)
    });
    if !opened {
        // Opens the account, or reports one of the same code that is not the platform's.
        ledger::ensure_account(tx, tenant_id, &account).await?;
    }
    Ok(account.code.as_str().to_string())
}
