//! The marketplace the load posts into: tenants, parties and their ledger accounts, created
//! through the library over a direct connection so the measured service starts with them.

use anyhow::Context;
use deadpool_postgres::Pool;
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use subledger::billing::accounts::{self, PlatformAccount, Purpose};
use subledger::billing::parties::{self, NewParty};
use subledger::db::tenancy::{self, KeyKind};
use subledger::money::Currency;

/// Customers and partners of the whole marketplace, in either layout.
pub const CUSTOMERS: usize = 10_000;
pub const PARTNERS: usize = 500;

/// Countries of the customers, with a time zone each: EU consumers, so every sale is taxed.
const CUSTOMER_COUNTRIES: &[(&str, &str)] = &[
    ("DE", "Europe/Berlin"),
    ("FR", "Europe/Paris"),
    ("IT", "Europe/Rome"),
    ("ES", "Europe/Madrid"),
    ("NL", "Europe/Amsterdam"),
    ("IE", "Europe/Dublin"),
    ("AT", "Europe/Vienna"),
    ("BE", "Europe/Brussels"),
    ("PL", "Europe/Warsaw"),
    ("SE", "Europe/Stockholm"),
];

/// One tenant's share of the marketplace, with the keys the load sends.
#[derive(Debug, Clone)]
pub struct Shop {
    pub tenant_id: Uuid,
    pub write_key: String,
    pub read_key: String,
    pub customers: Vec<Uuid>,
    pub partners: Vec<Uuid>,
    /// Ledger accounts a balance read may ask for: receivables, payables and the platform's.
    pub accounts: Vec<String>,
    /// The platform's commission revenue and Irish VAT payable accounts, touched by every
    /// invoice.
    pub commission_account: String,
    pub tax_account: String,
}

/// Layout of the marketplace over tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One tenant per partner (500 tenants of 20 customers): no account is shared by more
    /// than one partner's invoices, so postings spread over all balance rows.
    Uniform,
    /// One tenant with every partner and customer: every invoice also posts to the one
    /// platform commission revenue account and the one tax payable account.
    Hot,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Uniform => "uniform",
            Mode::Hot => "hot",
        }
    }
}

/// Creates the shops of `mode`: 1 tenant or 500. With `reuse`, a shop whose tenant exists
/// already (from an earlier run on the same database) is read back with new keys.
pub async fn create(pool: &Pool, mode: Mode, reuse: bool) -> anyhow::Result<Vec<Shop>> {
    let tenants = match mode {
        Mode::Uniform => PARTNERS,
        Mode::Hot => 1,
    };
    let mut shops = Vec::with_capacity(tenants);
    for index in 0..tenants {
        let name = format!("load {} {index}", mode.name());
        let existing = if reuse { read_shop(pool, &name).await? } else { None };
        let shop = match existing {
            Some(shop) => shop,
            None => create_shop(pool, &name, PARTNERS / tenants, CUSTOMERS / tenants).await?,
        };
        shops.push(shop);
    }
    Ok(shops)
}

/// Reads back the shop of tenant `name` and issues it new keys, or `None` if it does not exist.
async fn read_shop(pool: &Pool, name: &str) -> anyhow::Result<Option<Shop>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx.query_opt("SELECT id FROM tenants WHERE name = $1", &[&name]).await? else {
        return Ok(None);
    };
    let tenant_id: Uuid = row.get(0);
    let parties = tx
        .query(
            "SELECT party_id, purpose, account_code FROM contract_accounts \
             WHERE tenant_id = $1 AND currency = 'EUR' ORDER BY party_id",
            &[&tenant_id],
        )
        .await?;
    let eur = Currency::parse("EUR")?;
    let commission = PlatformAccount::CommissionRevenue;
    let tax = PlatformAccount::TaxPayable("IE".to_string());
    let mut shop = Shop {
        tenant_id,
        write_key: tenancy::issue_key(&tx, tenant_id, KeyKind::Write).await?.secret,
        read_key: tenancy::issue_key(&tx, tenant_id, KeyKind::Read).await?.secret,
        customers: Vec::new(),
        partners: Vec::new(),
        accounts: Vec::new(),
        commission_account: accounts::platform_account(&tx, tenant_id, &commission, eur).await?,
        tax_account: accounts::platform_account(&tx, tenant_id, &tax, eur).await?,
    };
    shop.accounts.push(shop.commission_account.clone());
    shop.accounts.push(shop.tax_account.clone());
    for row in parties {
        let purpose: &str = row.get(1);
        match purpose {
            "receivable" => shop.customers.push(row.get(0)),
            "payable" => shop.partners.push(row.get(0)),
            _ => continue,
        }
        shop.accounts.push(row.get(2));
    }
    tx.commit().await?;
    Ok(Some(shop))
}

async fn create_shop(
    pool: &Pool,
    name: &str,
    partner_count: usize,
    customer_count: usize,
) -> anyhow::Result<Shop> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let tenant_id = tenancy::insert_tenant(&tx, name).await?;
    let write_key = tenancy::issue_key(&tx, tenant_id, KeyKind::Write).await?.secret;
    let read_key = tenancy::issue_key(&tx, tenant_id, KeyKind::Read).await?.secret;
    subledger::ledger::seed_default_chart(&tx, tenant_id).await?;
    insert_party(&tx, tenant_id, platform()).await?;
    let eur = Currency::parse("EUR")?;
    let mut shop = Shop {
        tenant_id,
        write_key,
        read_key,
        customers: Vec::with_capacity(customer_count),
        partners: Vec::with_capacity(partner_count),
        accounts: Vec::new(),
        commission_account: accounts::platform_account(
            &tx,
            tenant_id,
            &PlatformAccount::CommissionRevenue,
            eur,
        )
        .await?,
        tax_account: accounts::platform_account(
            &tx,
            tenant_id,
            &PlatformAccount::TaxPayable("IE".to_string()),
            eur,
        )
        .await?,
    };
    shop.accounts.push(shop.commission_account.clone());
    shop.accounts.push(shop.tax_account.clone());
    for index in 0..partner_count {
        let id = insert_party(&tx, tenant_id, partner(index)).await?;
        let code = accounts::contract_account(&tx, tenant_id, id, eur, Purpose::Payable).await?;
        shop.accounts.push(code);
        shop.partners.push(id);
    }
    for index in 0..customer_count {
        let id = insert_party(&tx, tenant_id, customer(index)).await?;
        let code = accounts::contract_account(&tx, tenant_id, id, eur, Purpose::Receivable).await?;
        shop.accounts.push(code);
        shop.customers.push(id);
    }
    tx.commit().await?;
    Ok(shop)
}

async fn insert_party(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant_id: Uuid,
    body: serde_json::Value,
) -> anyhow::Result<Uuid> {
    let new: NewParty = serde_json::from_value(body).context("party request")?;
    let party =
        parties::create(tx, tenant_id, new).await.map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(party.id)
}

fn platform() -> serde_json::Value {
    json!({
        "role": "platform",
        "name": "Load Test Marketplace Ltd",
        "domicile": {"country": "IE", "city": "Dublin", "time_zone": "Europe/Dublin"},
        "business": true,
        "vat_id": "IE0000000W",
    })
}

/// Builds a partner established in the platform's country and sold for as agent. The partner
/// owes its sale's tax, and the commission it is charged carries Irish VAT that the platform
/// owes.
fn partner(index: usize) -> serde_json::Value {
    json!({
        "role": "partner",
        "name": format!("Partner {index}"),
        "domicile": {"country": "IE", "city": "Cork", "time_zone": "Europe/Dublin"},
        "business": true,
        "agreement": {
            "selling_role": "agent",
            "currencies": ["EUR"],
            "commission_tiers": [{"up_to": null, "rate": "0.15"}],
            "commission_on_refund": "kept",
            "minimum_payouts": {"EUR": "25.00"},
            "payout_delay_days": 0,
        },
    })
}

fn customer(index: usize) -> serde_json::Value {
    let (country, zone) =
        CUSTOMER_COUNTRIES[rand::thread_rng().gen_range(0..CUSTOMER_COUNTRIES.len())];
    json!({
        "role": "customer",
        "name": format!("Customer {index}"),
        "domicile": {"country": country, "time_zone": zone},
        "business": false,
    })
}
