//! Tax determination speed: the pure local function over cached rates, and the provider path
//! through the HTTP client against the stub on 127.0.0.1.
//!
//! Run with `cargo bench --bench tax`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rust_decimal::Decimal;
use subledger::config::ProviderOutage;
use subledger::money::Currency;
use subledger::tax::provider::http::RetryPolicy;
use subledger::tax::provider::stub::RunningStub;
use subledger::tax::provider::{HttpProvider, TaxProvider};
use subledger::tax::{
    determine, fixtures, Domicile, Engine, InputLine, Party, PartyKind, PlatformRole,
    ProductTaxCode, TaxInput,
};

fn party(country: &str, subdivision: Option<&str>, postal_code: Option<&str>) -> Party {
    Party {
        domicile: Domicile {
            country: country.to_string(),
            subdivision: subdivision.map(str::to_string),
            postal_code: postal_code.map(str::to_string),
            city: None,
            street: None,
            time_zone: None,
        },
        kind: PartyKind::Consumer,
        tax_id: None,
        eu_below_distance_threshold: false,
    }
}

fn sale(seller: Party, buyer: Party, currency: &str, lines: usize) -> TaxInput {
    TaxInput {
        seller,
        buyer,
        platform: None,
        platform_role: PlatformRole::None,
        product: ProductTaxCode::Saas,
        currency: Currency::parse(currency).expect("currency"),
        lines: (0..lines)
            .map(|i| InputLine { amount: Decimal::new(1999 + i as i64, 2), quantity: Decimal::ONE })
            .collect(),
        prices_include_tax: false,
        tax_point: Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap(),
    }
}

fn local(c: &mut Criterion) {
    let book = fixtures::rate_book().expect("rates fixtures");
    let mut business = party("DE", None, None);
    business.kind = PartyKind::Business;
    business.tax_id = Some("DE136695976".to_string());
    let cases = [
        ("eu_b2c_1_line", sale(party("US", Some("TX"), None), party("FR", None, None), "EUR", 1)),
        ("eu_b2b_vat_id_1_line", sale(party("NL", None, None), business, "EUR", 1)),
        (
            "ca_qc_10_lines",
            sale(party("US", Some("TX"), None), party("CA", Some("QC"), None), "CAD", 10),
        ),
        (
            "eu_b2c_100_lines",
            sale(party("US", Some("TX"), None), party("FR", None, None), "EUR", 100),
        ),
    ];
    let mut group = c.benchmark_group("tax_local");
    for (name, input) in &cases {
        group.bench_function(*name, |b| b.iter(|| determine(&book, input).expect("determination")));
    }
    group.finish();
}

fn provider(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stub = runtime.block_on(async { RunningStub::start() }).expect("stub");
    let client = HttpProvider::new(
        &stub.url,
        Duration::from_millis(500),
        Duration::from_secs(2),
        RetryPolicy::default(),
    )
    .expect("client");
    let provider: Arc<dyn TaxProvider> = Arc::new(client);
    let book = fixtures::rate_book().expect("rates fixtures");
    let engine = Engine::with_rates(book, Some(provider), ProviderOutage::Reject);
    let input = sale(
        party("US", Some("NY"), Some("10001")),
        party("US", Some("WA"), Some("98101")),
        "USD",
        3,
    );
    let mut group = c.benchmark_group("tax_provider");
    group.bench_function("stub_seattle_3_lines", |b| {
        b.to_async(&runtime).iter_batched(
            || input.clone(),
            |input| {
                let engine = &engine;
                async move { engine.determine(&input).await.expect("determination") }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    runtime.block_on(async { drop(stub) });
}

criterion_group!(benches, local, provider);
criterion_main!(benches);
