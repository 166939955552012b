//! One real failing request or call per tax error code, for the error-table snapshot test.

use rust_decimal_macros::dec;
use serde_json::{json, Value};
use subledger::config::ProviderOutage;
use subledger::error::{Error, ErrorCode};
use subledger::tax::provider::stub::RunningStub;
use subledger::tax::{self, CreditLine, TaxInput};

use crate::helpers::{Response, TestApp};

fn quote(buyer: Value, seller_country: &str, currency: &str, tax_point: &str) -> Value {
    json!({
        "seller": { "domicile": { "country": seller_country }, "kind": "business" },
        "buyer": buyer,
        "platform_role": "none",
        "product": "saas",
        "currency": currency,
        "lines": [{ "amount": "100.00" }],
        "tax_point": tax_point
    })
}

fn consumer(country: &str, subdivision: Option<&str>) -> Value {
    json!({ "domicile": { "country": country, "subdivision": subdivision }, "kind": "consumer" })
}

fn us_sale(buyer_postal: &str) -> Value {
    json!({
        "seller": {
            "domicile": { "country": "US", "subdivision": "NY", "postal_code": "10001" },
            "kind": "business"
        },
        "buyer": {
            "domicile": { "country": "US", "subdivision": "TX", "postal_code": buyer_postal },
            "kind": "consumer"
        },
        "platform_role": "none",
        "product": "saas",
        "currency": "USD",
        "lines": [{ "amount": "100.00" }],
        "tax_point": "2025-06-01T12:00:00Z"
    })
}

/// Returns the failing responses of the quote route and the errors of the pure functions.
pub async fn error_cases() -> (Vec<(ErrorCode, Response)>, Vec<(ErrorCode, Error)>) {
    use ErrorCode::*;
    let app = TestApp::spawn().await;
    let quote_with = |key: &'static str, body: Value| {
        let app = &app;
        async move { app.post("/v1/tax/quotes", &app.write_key, key, &body).await }
    };
    let mut responses = vec![
        (
            UnknownJurisdiction,
            quote_with("t1", quote(consumer("XX", None), "DE", "EUR", "2025-06-01T12:00:00Z"))
                .await,
        ),
        (
            TaxRateNotFound,
            quote_with("t2", quote(consumer("FR", None), "DE", "EUR", "2019-06-01T12:00:00Z"))
                .await,
        ),
        (
            InvalidTaxId,
            quote_with(
                "t3",
                quote(
                    json!({ "domicile": { "country": "FR" }, "kind": "business", "tax_id": "FR12" }),
                    "DE",
                    "EUR",
                    "2025-06-01T12:00:00Z",
                ),
            )
            .await,
        ),
        (
            TaxRuleMissing,
            quote_with("t4", quote(consumer("CA", Some("BC")), "DE", "CAD", "2025-06-01T12:00:00Z"))
                .await,
        ),
        (TaxProviderUnavailable, quote_with("t5", us_sale("78701")).await),
    ];

    let stub = RunningStub::start().expect("provider stub");
    let url = stub.url.clone();
    let with_stub = TestApp::spawn_with(move |config| {
        config.tax_provider_url = Some(url);
        config.tax_provider_outage = ProviderOutage::Reject;
    })
    .await;
    let rejected =
        with_stub.post("/v1/tax/quotes", &with_stub.write_key, "t6", &us_sale("99999")).await;
    responses.push((TaxProviderRejected, rejected));

    let rates = tax::load_rate_book(&app.sql().await).await.expect("rate book");
    let us_input: TaxInput = serde_json::from_value(us_sale("78701")).expect("input");
    let provider_required = tax::determine(&rates, &us_input).expect_err("US sale needs provider");
    let eu_input: TaxInput =
        serde_json::from_value(quote(consumer("FR", None), "DE", "EUR", "2025-06-01T12:00:00Z"))
            .expect("input");
    let determination = tax::determine(&rates, &eu_input).expect("determination");
    let over_credit =
        tax::credit(&determination, &[], &[CreditLine { line: 0, amount: dec!(100.01) }])
            .expect_err("credit above the line");
    let errors =
        vec![(TaxProviderRequired, provider_required), (CreditExceedsOriginal, over_credit)];
    (responses, errors)
}
