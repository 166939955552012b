//! One real failing request per error code, each body snapshotted, and a check that the table
//! has no code without a case here.

use std::collections::BTreeMap;

use rust_decimal_macros::dec;
use serde_json::{json, Value};
use subledger::error::{Error, ErrorCode};
use subledger::http::problem::Problem;
use subledger::ledger::{self, NewEntry};

use crate::entries::entry_body;
use crate::helpers::{Response, TestApp};
use crate::ledger::transfer;

/// Collects the problem body of each code and checks its status, type and content type.
#[derive(Default)]
struct Cases(BTreeMap<&'static str, Value>);

impl Cases {
    fn add(&mut self, code: ErrorCode, response: Response) {
        assert_eq!(response.body["code"], code.code(), "{}", response.body);
        assert_eq!(response.status, code.status(), "{}", response.body);
        let content_type = response.headers["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type, "application/problem+json", "{}", code.code());
        self.add_body(code, response.body);
    }

    fn add_error(&mut self, code: ErrorCode, error: &Error) {
        assert_eq!(error.code, code);
        self.add_body(code, serde_json::to_value(Problem::from_error(error)).unwrap());
    }

    fn add_body(&mut self, code: ErrorCode, body: Value) {
        let expected_type = format!("urn:subledger:problem:{}", code.code());
        assert_eq!(body["type"], expected_type.as_str());
        self.0.insert(code.code(), body);
    }
}

fn line(account: &str, amount: &str, currency: &str) -> Value {
    json!({ "account": account, "amount": amount, "currency": currency })
}

fn entry(lines: Vec<Value>) -> Value {
    json!({ "effective_date": "2026-07-01", "lines": lines })
}

/// Replaces ids that change on every run inside a problem body.
fn redact(body: &Value, ids: &[String]) -> Value {
    let mut text = body.to_string();
    for id in ids {
        text = text.replace(id.as_str(), "[id]");
    }
    serde_json::from_str(&text).unwrap()
}

async fn request_cases(app: &TestApp, cases: &mut Cases, ids: &mut Vec<String>) {
    use ErrorCode::*;
    let post = |key: &'static str, body: Value| async move {
        app.post("/v1/entries", &app.write_key, key, &body).await
    };
    let cash = "cash_clearing.EUR";
    let revenue = "commission_revenue.EUR";

    cases.add(
        MalformedJson,
        app.post_raw("/v1/entries", &app.write_key, "k1", "{\"lines\": [").await,
    );
    let float = entry(vec![
        line(cash, "1.00", "EUR"),
        json!({ "account": revenue, "amount": -1.0, "currency": "EUR" }),
    ]);
    cases.add(InvalidField, post("k2", float).await);
    cases.add(InvalidParameter, app.get("/v1/entries/not-a-uuid", &app.read_key).await);
    let no_key = app
        .client
        .post(format!("{}/v1/entries", app.address))
        .bearer_auth(&app.write_key)
        .json(&entry_body("2026-07-01", "1.00"))
        .send()
        .await
        .unwrap();
    cases.add(IdempotencyKeyMissing, crate::helpers::read_response(no_key).await);
    assert_eq!(post("k3", entry_body("2026-07-01", "1.00")).await.status, 201);
    cases.add(IdempotencyKeyReused, post("k3", entry_body("2026-07-01", "2.00")).await);
    cases.add(Unauthorized, app.get("/v1/entries/not-a-uuid", "sl_w_not_a_key").await);
    let body = entry_body("2026-07-01", "1.00");
    cases.add(ReadOnlyKey, app.post("/v1/entries", &app.read_key, "k4", &body).await);
    let missing = uuid::Uuid::now_v7();
    ids.push(missing.to_string());
    cases.add(NotFound, app.get(&format!("/v1/entries/{missing}"), &app.read_key).await);
    let delete = app
        .client
        .delete(format!("{}/v1/entries/{missing}", app.address))
        .bearer_auth(&app.write_key)
        .send()
        .await
        .unwrap();
    let delete = crate::helpers::read_response(delete).await;
    assert_eq!(delete.headers["allow"], "GET");
    cases.add(MethodNotAllowed, delete);
    let huge =
        json!({ "effective_date": "2026-07-01", "description": "x".repeat(5 << 20), "lines": [] });
    cases.add(PayloadTooLarge, post("k5", huge).await);

    cases.add(
        UnknownCurrency,
        post("k6", entry(vec![line(cash, "1", "XXX"), line(revenue, "-1", "XXX")])).await,
    );
    let yen = entry(vec![
        line("cash_clearing.JPY", "1.5", "JPY"),
        line("commission_revenue.JPY", "-1.5", "JPY"),
    ]);
    cases.add(CurrencyPrecisionExceeded, post("k7", yen).await);
    let huge_amount = entry(vec![
        line(cash, "1000000000000000.00", "EUR"),
        line(revenue, "-1000000000000000.00", "EUR"),
    ]);
    cases.add(AmountOutOfRange, post("k8", huge_amount).await);
    cases.add(
        InvalidAccountCode,
        post("k9", entry(vec![line("cash clearing", "1", "EUR"), line(revenue, "-1", "EUR")]))
            .await,
    );
    let conflict = json!({ "code": cash, "name": "Cash", "kind": "asset", "currency": "USD" });
    cases.add(AccountConflict, app.post("/v1/accounts", &app.write_key, "k10", &conflict).await);
    cases.add(
        AccountNotFound,
        post("k11", entry(vec![line("no_such.EUR", "1", "EUR"), line(revenue, "-1", "EUR")])).await,
    );
    cases.add(
        AccountCurrencyMismatch,
        post(
            "k12",
            entry(vec![line(cash, "1", "USD"), line("commission_revenue.USD", "-1", "USD")]),
        )
        .await,
    );
    cases.add(EntryTooFewLines, post("k13", entry(vec![line(cash, "0", "EUR")])).await);
    let many = (0..1001).map(|_| line(cash, "0", "EUR")).collect();
    cases.add(EntryTooManyLines, post("k14", entry(many)).await);
    cases.add(
        EntryNotBalanced,
        post("k15", entry(vec![line(cash, "10.00", "EUR"), line(revenue, "-9.99", "EUR")])).await,
    );

    let closed = app.post("/v1/periods/2026-05/close", &app.write_key, "k16", &json!({})).await;
    assert_eq!(closed.status, 200);
    cases.add(PeriodClosed, post("k17", entry_body("2026-05-31", "1.00")).await);

    let created = post("k18", entry_body("2026-07-01", "5.00")).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    ids.push(id.clone());
    let path = format!("/v1/entries/{id}/reversal");
    let reversal = app.post(&path, &app.write_key, "k19", &json!({})).await;
    assert_eq!(reversal.status, 201);
    ids.push(reversal.body["id"].as_str().unwrap().to_string());
    cases.add(EntryAlreadyReversed, app.post(&path, &app.write_key, "k20", &json!({})).await);
}

/// Codes no HTTP request of the ledger can produce: taken from the Rust API or built directly.
async fn api_cases(app: &TestApp, cases: &mut Cases, ids: &mut Vec<String>) {
    let missing = uuid::Uuid::now_v7();
    ids.push(missing.to_string());
    let reversal = NewEntry {
        reverses: Some(missing),
        ..transfer("2026-07-01", "cash_clearing.EUR", "commission_revenue.EUR", dec!(1))
    };
    let mut client = app.sql().await;
    let tx = client.transaction().await.unwrap();
    let error = ledger::post_entry(&tx, app.tenant_id, reversal).await.unwrap_err();
    cases.add_error(ErrorCode::ReversedEntryNotFound, &error);

    let internal = Error::internal(anyhow::anyhow!("connection reset by peer at 10.0.0.5"));
    let body = serde_json::to_value(Problem::from_error(&internal)).unwrap();
    assert!(!body.to_string().contains("10.0.0.5"), "internal details leak: {body}");
    cases.add_error(ErrorCode::Internal, &internal);
}

#[tokio::test]
async fn every_error_code_has_a_snapshot() {
    let app = TestApp::spawn().await;
    let mut cases = Cases::default();
    let mut ids = Vec::new();
    request_cases(&app, &mut cases, &mut ids).await;
    api_cases(&app, &mut cases, &mut ids).await;

    tax_cases(&app, &mut cases).await;
    let (billing, billing_ids) = crate::billing_errors::error_cases().await;
    for (code, response) in billing {
        cases.add(code, response);
    }
    ids.extend(billing_ids);
    let (too_early, too_early_ids) = crate::agreements::too_early_case().await;
    cases.add(ErrorCode::EffectiveFromTooEarly, too_early);
    ids.extend(too_early_ids);

    let unavailable = TestApp::spawn().await;
    unavailable.state.close_pools();
    cases.add(
        ErrorCode::Unavailable,
        unavailable.get("/v1/accounts/bank.EUR", &unavailable.read_key).await,
    );

    for (code, body) in &cases.0 {
        insta::assert_json_snapshot!(format!("error_{code}"), redact(body, &ids));
    }
    let missing: Vec<&str> = ErrorCode::ALL
        .iter()
        .map(|code| code.code())
        .filter(|code| !cases.0.contains_key(code))
        .collect();
    assert!(missing.is_empty(), "error codes without a case in this test: {missing:?}");
}

fn quote(seller_country: &str, buyer: Value) -> Value {
    json!({
        "seller": { "domicile": { "country": seller_country }, "kind": "business" },
        "buyer": buyer,
        "platform_role": "none",
        "product": "saas",
        "currency": "EUR",
        "lines": [{ "amount": "100.00" }],
        "tax_point": "2025-03-10T12:00:00Z"
    })
}

fn us_buyer(postal_code: &str, state: &str) -> Value {
    let domicile = json!({ "country": "US", "subdivision": state, "postal_code": postal_code });
    json!({ "domicile": domicile, "kind": "consumer" })
}

/// One failing quote per tax code, and the codes only the Rust API of the tax engine returns.
async fn tax_cases(app: &TestApp, cases: &mut Cases) {
    use ErrorCode::*;
    let post = |body: Value| async move {
        let key = uuid::Uuid::now_v7().to_string();
        app.post("/v1/tax/quotes", &app.write_key, &key, &body).await
    };
    let consumer =
        |country: &str| json!({ "domicile": { "country": country }, "kind": "consumer" });
    cases.add(UnknownJurisdiction, post(quote("DE", consumer("XX"))).await);
    let business = json!({ "domicile": { "country": "FR" }, "kind": "business", "tax_id": "FR12" });
    cases.add(InvalidTaxId, post(quote("DE", business)).await);
    let mut old = quote("DE", consumer("FR"));
    old["tax_point"] = json!("2019-06-01T12:00:00Z");
    cases.add(TaxRateNotFound, post(old).await);
    cases.add(TaxRuleMissing, post(quote("BR", consumer("BR"))).await);
    cases.add(TaxProviderUnavailable, post(quote("DE", us_buyer("78701", "TX"))).await);

    let stub = subledger::tax::provider::stub::RunningStub::start().unwrap();
    let url = stub.url.clone();
    let with_stub = TestApp::spawn_with(move |config| config.tax_provider_url = Some(url)).await;
    let key = uuid::Uuid::now_v7().to_string();
    let body = quote("DE", us_buyer("99999", "TX"));
    let rejected = with_stub.post("/v1/tax/quotes", &with_stub.write_key, &key, &body).await;
    cases.add(TaxProviderRejected, rejected);

    let rates = subledger::tax::load_rate_book(&app.sql().await).await.unwrap();
    let input: subledger::tax::TaxInput =
        serde_json::from_value(quote("DE", us_buyer("78701", "TX"))).unwrap();
    let error = subledger::tax::determine(&rates, &input).unwrap_err();
    cases.add_error(TaxProviderRequired, &error);
    let input: subledger::tax::TaxInput =
        serde_json::from_value(quote("DE", consumer("FR"))).unwrap();
    let original = subledger::tax::determine(&rates, &input).unwrap();
    let too_much = [subledger::tax::CreditLine { line: 0, amount: dec!(100.01) }];
    let error = subledger::tax::credit(&original, &[], &too_much).unwrap_err();
    cases.add_error(CreditExceedsOriginal, &error);
}
