//! Builders for billing tests: parties, agreements, documents and ledger balances.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{Response, TestApp};

/// A tenant with a platform, ready to sell.
pub struct Books {
    pub app: TestApp,
    pub platform: String,
}

impl Books {
    pub async fn open(platform_country: &str, platform_vat: Option<&str>) -> Books {
        Books::open_on(TestApp::spawn().await, platform_country, platform_vat).await
    }

    /// Opens books on a service already started.
    pub async fn open_on(
        app: TestApp,
        platform_country: &str,
        platform_vat: Option<&str>,
    ) -> Books {
        let body = party_body("platform", "Platform", platform_country, true, platform_vat);
        let platform = created(&app, "/v1/parties", &body).await;
        Books { app, platform }
    }

    /// Opens a tenant without its platform party.
    pub async fn open_without_platform() -> Books {
        Books { app: TestApp::spawn().await, platform: String::new() }
    }

    pub async fn partner(&self, country: &str, vat_id: Option<&str>, agreement: Value) -> String {
        let mut body = party_body("partner", "Partner", country, true, vat_id);
        body["agreement"] = agreement;
        created(&self.app, "/v1/parties", &body).await
    }

    pub async fn customer(&self, country: &str) -> String {
        let body = party_body("customer", "Customer", country, false, None);
        created(&self.app, "/v1/parties", &body).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        let key = Uuid::now_v7().to_string();
        self.app.post(path, &self.app.write_key, &key, body).await
    }

    /// Posts a document that must be created and returns its body. An invoice's or a
    /// payment's body must equal what `GET` returns for it right after, because the service
    /// builds it from the values written and does not read them back.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        let response = self.post(path, body).await;
        assert_eq!(response.status, 201, "{path}: {}", response.body);
        if ["/v1/invoices", "/v1/payments"].contains(&path) {
            let id = response.body["id"].as_str().expect("the created document has an id");
            let read = self.get(&format!("{path}/{id}")).await;
            assert_eq!(response.body, read, "{path}: POST and GET return different bodies");
        }
        response.body
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self.app.get(path, &self.app.read_key).await;
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        response.body
    }

    /// Balance of a ledger account (debit positive), zero when the account does not exist.
    pub async fn balance(&self, code: &str) -> Decimal {
        let client = self.app.sql().await;
        let row = client
            .query_opt(
                "SELECT balance FROM audit.account_balances \
                 WHERE tenant_id = $1 AND account_code = $2",
                &[&self.app.tenant_id, &code],
            )
            .await
            .unwrap();
        row.map(|row| row.get(0)).unwrap_or(Decimal::ZERO)
    }

    /// Rows of `audit.balance_check`, over every tenant: accounts whose stored balance differs
    /// from the sum of their lines.
    pub async fn balance_check_rows(&self) -> i64 {
        let client = self.app.sql().await;
        client.query_one("SELECT count(*) FROM audit.balance_check", &[]).await.unwrap().get(0)
    }

    /// Number of rows of `table` for the tenant.
    pub async fn count(&self, table: &str) -> i64 {
        let client = self.app.sql().await;
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
        client.query_one(&sql, &[&self.app.tenant_id]).await.unwrap().get(0)
    }
}

pub fn party_body(
    role: &str,
    name: &str,
    country: &str,
    business: bool,
    vat: Option<&str>,
) -> Value {
    json!({
        "role": role,
        "name": name,
        "domicile": { "country": country, "time_zone": "UTC" },
        "business": business,
        "vat_id": vat,
    })
}

/// Builds an agreement with one flat commission rate.
pub fn agreement(selling_role: &str, rate: &str, commission_on_refund: &str) -> Value {
    json!({
        "selling_role": selling_role,
        "currencies": ["EUR"],
        "commission_tiers": [{ "up_to": null, "rate": rate }],
        "commission_on_refund": commission_on_refund,
        "payout_delay_days": 0,
    })
}

async fn created(app: &TestApp, path: &str, body: &Value) -> String {
    let key = Uuid::now_v7().to_string();
    let response = app.post(path, &app.write_key, &key, body).await;
    assert_eq!(response.status, 201, "{path}: {}", response.body);
    response.body["id"].as_str().unwrap().to_string()
}

/// Builds an invoice body of net unit prices, one item per line.
pub fn invoice_body(customer: &str, seller: &str, issued_at: &str, prices: &[&str]) -> Value {
    let lines: Vec<Value> = prices
        .iter()
        .enumerate()
        .map(|(index, price)| {
            json!({
                "product": format!("app-{}", index + 1),
                "tax_code": "electronic_service",
                "quantity": "1",
                "unit_price": price,
            })
        })
        .collect();
    json!({
        "customer_id": customer,
        "seller_id": seller,
        "currency": "EUR",
        "issued_at": issued_at,
        "lines": lines,
    })
}

pub fn payment_body(customer: &str, amount: &str, received_on: &str) -> Value {
    json!({
        "customer_id": customer,
        "currency": "EUR",
        "amount": amount,
        "received_on": received_on,
    })
}

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub fn account(prefix: &str, party: &str) -> String {
    format!("{prefix}:{}.EUR", Uuid::parse_str(party).unwrap().simple())
}
