//! Determination cases that must come out exactly, bad input, and credits, against the rates
//! fixtures.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::credit::{credit, CreditLine};
use super::determine::{determine, determine_fallback};
use super::fixtures;
use super::model::*;
use super::rates::RateBook;
use crate::error::ErrorCode;
use crate::money::Currency;

fn book() -> RateBook {
    fixtures::rate_book().expect("fixtures")
}

fn party(country: &str, subdivision: Option<&str>, kind: PartyKind, tax_id: Option<&str>) -> Party {
    Party {
        domicile: Domicile {
            country: country.to_string(),
            subdivision: subdivision.map(str::to_string),
            postal_code: None,
            city: None,
            street: None,
            time_zone: None,
        },
        kind,
        tax_id: tax_id.map(str::to_string),
        eu_below_distance_threshold: false,
    }
}

fn business(country: &str, tax_id: &str) -> Party {
    party(country, None, PartyKind::Business, Some(tax_id))
}

fn consumer(country: &str) -> Party {
    party(country, None, PartyKind::Consumer, None)
}

fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("unambiguous local time")
        .with_timezone(&Utc)
}

fn input(
    seller: Party,
    buyer: Party,
    product: ProductTaxCode,
    tax_point: DateTime<Utc>,
) -> TaxInput {
    TaxInput {
        seller,
        buyer,
        platform: None,
        platform_role: PlatformRole::None,
        product,
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![InputLine { amount: dec!(100.00), quantity: Decimal::ONE }],
        prices_include_tax: false,
        tax_point,
    }
}

struct Case {
    name: &'static str,
    input: TaxInput,
    rule: &'static str,
    /// (jurisdiction, rate, amount) per tax line, in order.
    taxes: Vec<(&'static str, Decimal, Decimal)>,
    tax_total: Decimal,
    liable: Liability,
    mention: bool,
}

fn cases() -> Vec<Case> {
    use chrono_tz::{America, Europe};
    use ProductTaxCode::*;
    let paris = |d| local(Europe::Paris, 2025, 3, d, 12, 0);
    let us = || party("US", Some("TX"), PartyKind::Business, None);
    let mut platform_sale =
        input(us(), consumer("HU"), InAppPurchase, local(Europe::Budapest, 2025, 7, 15, 12, 0));
    platform_sale.platform = Some(business("IE", "IE6433435F"));
    platform_sale.platform_role = PlatformRole::DeemedSupplier;
    let cad = |mut input: TaxInput| {
        input.currency = Currency::parse("CAD").unwrap();
        input
    };
    let chf = |mut input: TaxInput| {
        input.currency = Currency::parse("CHF").unwrap();
        input
    };
    let qc = party("CA", Some("QC"), PartyKind::Consumer, None);
    let ns = party("CA", Some("CA-NS"), PartyKind::Consumer, None);
    vec![
        Case {
            name: "DE seller above threshold to FR consumer",
            input: input(business("DE", "DE136695976"), consumer("FR"), Saas, paris(10)),
            rule: "eu.b2c.electronic_services.destination",
            taxes: vec![("FR", dec!(20), dec!(20.00))],
            tax_total: dec!(20.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US seller to FR consumer",
            input: input(us(), consumer("FR"), Saas, paris(10)),
            rule: "eu.b2c.electronic_services.destination",
            taxes: vec![("FR", dec!(20), dec!(20.00))],
            tax_total: dec!(20.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "NL to DE business with valid VAT id",
            input: input(
                business("NL", "NL004495445B01"),
                business("DE", "DE136695976"),
                Saas,
                local(Europe::Berlin, 2025, 6, 1, 12, 0),
            ),
            rule: "eu.b2b.reverse_charge",
            taxes: vec![("DE", dec!(0), dec!(0.00))],
            tax_total: dec!(0.00),
            liable: Liability::Buyer,
            mention: true,
        },
        Case {
            name: "NL to DE business with failing check digit",
            input: input(
                business("NL", "NL004495445B01"),
                business("DE", "DE136695986"),
                Saas,
                local(Europe::Berlin, 2025, 6, 1, 12, 0),
            ),
            rule: "eu.b2c.electronic_services.destination",
            taxes: vec![("DE", dec!(19), dec!(19.00))],
            tax_total: dec!(19.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "FR to FR business is domestic",
            input: input(
                business("FR", "FR61954506077"),
                business("FR", "FR61954506077"),
                Saas,
                local(Europe::Paris, 2025, 6, 1, 12, 0),
            ),
            rule: "eu.domestic",
            taxes: vec![("FR", dec!(20), dec!(20.00))],
            tax_total: dec!(20.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US partner via IE platform to HU consumer",
            input: platform_sale,
            rule: "eu.b2c.electronic_services.destination",
            taxes: vec![("HU", dec!(27), dec!(27.00))],
            tax_total: dec!(27.00),
            liable: Liability::Platform,
            mention: false,
        },
        Case {
            name: "DE domestic on 2020-12-31 23:30 Berlin",
            input: input(
                business("DE", "DE136695976"),
                consumer("DE"),
                ElectronicService,
                local(Europe::Berlin, 2020, 12, 31, 23, 30),
            ),
            rule: "eu.domestic",
            taxes: vec![("DE", dec!(16), dec!(16.00))],
            tax_total: dec!(16.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "DE domestic on 2021-01-01 00:00 Berlin",
            input: input(
                business("DE", "DE136695976"),
                consumer("DE"),
                ElectronicService,
                local(Europe::Berlin, 2021, 1, 1, 0, 0),
            ),
            rule: "eu.domestic",
            taxes: vec![("DE", dec!(19), dec!(19.00))],
            tax_total: dec!(19.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US seller to UK consumer",
            input: input(us(), consumer("GB"), Saas, local(Europe::London, 2025, 2, 1, 12, 0)),
            rule: "gb.b2c.digital_services.destination",
            taxes: vec![("GB", dec!(20), dec!(20.00))],
            tax_total: dec!(20.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US seller to CH consumer in 2023",
            input: chf(input(
                us(),
                consumer("CH"),
                Saas,
                local(Europe::Zurich, 2023, 12, 31, 12, 0),
            )),
            rule: "ch.b2c.digital_services.destination",
            taxes: vec![("CH", dec!(7.7), dec!(7.70))],
            tax_total: dec!(7.70),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US seller to CH consumer in 2024",
            input: chf(input(us(), consumer("CH"), Saas, local(Europe::Zurich, 2024, 1, 1, 12, 0))),
            rule: "ch.b2c.digital_services.destination",
            taxes: vec![("CH", dec!(8.1), dec!(8.10))],
            tax_total: dec!(8.10),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US seller to QC consumer",
            input: cad(input(us(), qc, Saas, local(America::Toronto, 2025, 6, 1, 12, 0))),
            rule: "ca.b2c.digital_services.destination",
            taxes: vec![("CA", dec!(5), dec!(5.00)), ("CA-QC", dec!(9.975), dec!(9.98))],
            tax_total: dec!(14.98),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US seller to NS consumer before the HST cut",
            input: cad(input(us(), ns.clone(), Saas, local(America::Halifax, 2025, 3, 31, 22, 0))),
            rule: "ca.b2c.digital_services.destination",
            taxes: vec![("CA-NS", dec!(15), dec!(15.00))],
            tax_total: dec!(15.00),
            liable: Liability::Seller,
            mention: false,
        },
        Case {
            name: "US seller to NS consumer after the HST cut",
            input: cad(input(us(), ns, Saas, local(America::Halifax, 2025, 4, 1, 0, 5))),
            rule: "ca.b2c.digital_services.destination",
            taxes: vec![("CA-NS", dec!(14), dec!(14.00))],
            tax_total: dec!(14.00),
            liable: Liability::Seller,
            mention: false,
        },
    ]
}

#[test]
fn table_cases_come_out_exactly() {
    let book = book();
    for case in cases() {
        let name = case.name;
        let result = determine(&book, &case.input).unwrap_or_else(|err| panic!("{name}: {err}"));
        let taxes: Vec<(&str, Decimal, Decimal)> = result
            .taxes
            .iter()
            .map(|tax| (tax.jurisdiction.as_str(), tax.rate, tax.amount))
            .collect();
        assert_eq!(taxes, case.taxes, "{name}: tax lines");
        assert_eq!(result.tax_total, case.tax_total, "{name}: tax total");
        assert_eq!(result.tax_total.to_string(), case.tax_total.to_string(), "{name}: scale");
        assert_eq!(result.rule, case.rule, "{name}: rule");
        assert!(result.taxes.iter().all(|tax| tax.liable == case.liable), "{name}: liable");
        assert_eq!(!result.legal_mentions.is_empty(), case.mention, "{name}: mention");
        assert_eq!(result.net_total, dec!(100.00), "{name}: net");
        assert_eq!(result.gross_total, dec!(100.00) + case.tax_total, "{name}: gross");
    }
}

#[test]
fn reverse_charge_names_article_196() {
    let case = cases().into_iter().find(|case| case.rule == "eu.b2b.reverse_charge").unwrap();
    let result = determine(&book(), &case.input).unwrap();
    assert!(result.legal_mentions[0].contains("Article 196"));
    assert_eq!(result.buyer_treated_as, PartyKind::Business);
    assert_eq!(result.buyer_tax_id.as_deref(), Some("DE136695976"));
}

#[test]
fn failing_check_digit_means_consumer() {
    let case = cases().into_iter().find(|case| case.name.contains("failing check digit")).unwrap();
    let result = determine(&book(), &case.input).unwrap();
    assert_eq!(result.buyer_treated_as, PartyKind::Consumer);
    assert_eq!(result.buyer_tax_id, None);
    let unused = result.buyer_tax_id_unused.expect("the failing id is recorded");
    assert_eq!(Some(unused.tax_id), case.input.buyer.tax_id);
    assert!(unused.reason.contains("fails its check digits"), "{}", unused.reason);
}

#[test]
fn deemed_supplier_names_the_platform() {
    let case = cases().into_iter().find(|case| case.name.contains("IE platform")).unwrap();
    let result = determine(&book(), &case.input).unwrap();
    assert_eq!(result.supplier, "platform");
    assert_eq!(result.supplier_rule.as_deref(), Some("eu.platform.deemed_supplier"));
}

#[test]
fn small_eu_seller_charges_its_own_rate() {
    use chrono_tz::Europe;
    let mut seller = business("AT", "ATU13585627");
    seller.eu_below_distance_threshold = true;
    let sale = input(
        seller,
        consumer("FR"),
        ProductTaxCode::Saas,
        local(Europe::Paris, 2025, 3, 10, 12, 0),
    );
    let result = determine(&book(), &sale).unwrap();
    assert_eq!(result.rule, "eu.b2c.electronic_services.origin_threshold");
    assert_eq!(result.taxes[0].jurisdiction, "AT");
    assert_eq!(result.tax_total, dec!(20.00));
}

#[test]
fn threshold_is_ignored_for_non_eu_sellers() {
    use chrono_tz::Europe;
    let mut seller = party("US", Some("TX"), PartyKind::Business, None);
    seller.eu_below_distance_threshold = true;
    let sale = input(
        seller,
        consumer("FR"),
        ProductTaxCode::Saas,
        local(Europe::Paris, 2025, 3, 10, 12, 0),
    );
    let result = determine(&book(), &sale).unwrap();
    assert_eq!(result.taxes[0].jurisdiction, "FR");
}

#[test]
fn exports_are_outside_the_scope() {
    use chrono_tz::Europe;
    let sale = input(
        business("DE", "DE136695976"),
        consumer("BR"),
        ProductTaxCode::Saas,
        local(Europe::Berlin, 2025, 3, 10, 12, 0),
    );
    let result = determine(&book(), &sale).unwrap();
    assert_eq!(result.rule, "export.services.outside_scope");
    assert_eq!(result.tax_total, dec!(0.00));
    assert_eq!(result.taxes[0].liable, Liability::Nobody);
}

#[test]
fn japanese_yen_rounds_to_whole_yen() {
    use chrono_tz::Asia;
    let mut sale = input(
        consumer("US"),
        consumer("JP"),
        ProductTaxCode::Saas,
        local(Asia::Tokyo, 2025, 3, 10, 12, 0),
    );
    sale.seller = party("US", Some("CA"), PartyKind::Business, None);
    sale.currency = Currency::parse("JPY").unwrap();
    sale.lines = vec![InputLine { amount: dec!(1005), quantity: Decimal::ONE }];
    let result = determine(&book(), &sale).unwrap();
    // 100.5 rounds half up to 101.
    assert_eq!(result.tax_total.to_string(), "101");
}

#[test]
fn document_rounding_through_determine() {
    use chrono_tz::America;
    let mut sale = input(
        party("US", Some("TX"), PartyKind::Business, None),
        party("CA", Some("NS"), PartyKind::Consumer, None),
        ProductTaxCode::Saas,
        local(America::Halifax, 2025, 3, 1, 12, 0),
    );
    sale.currency = Currency::parse("CAD").unwrap();
    sale.lines = vec![InputLine { amount: dec!(545.75), quantity: Decimal::ONE }; 2];
    let result = determine(&book(), &sale).unwrap();
    assert_eq!(result.tax_total, dec!(163.73));
    let line_sum: Decimal = result.lines.iter().map(|line| line.tax).sum();
    assert_eq!(line_sum, dec!(163.73));
}

#[test]
fn prices_including_tax_split_exactly() {
    use chrono_tz::America;
    let mut sale = input(
        party("US", Some("TX"), PartyKind::Business, None),
        party("CA", Some("QC"), PartyKind::Consumer, None),
        ProductTaxCode::Saas,
        local(America::Toronto, 2025, 6, 1, 12, 0),
    );
    sale.currency = Currency::parse("CAD").unwrap();
    sale.prices_include_tax = true;
    sale.lines = vec![InputLine { amount: dec!(114.98), quantity: Decimal::ONE }];
    let result = determine(&book(), &sale).unwrap();
    assert_eq!(result.net_total, dec!(100.00));
    assert_eq!(result.taxes[0].amount + result.taxes[1].amount, dec!(14.98));
    assert_eq!(result.gross_total, dec!(114.98));
}

fn error_of(sale: &TaxInput) -> (ErrorCode, Option<String>) {
    let err = determine(&book(), sale).expect_err("determination must fail");
    (err.code, err.field)
}

fn base_sale() -> TaxInput {
    use chrono_tz::Europe;
    input(
        business("DE", "DE136695976"),
        consumer("FR"),
        ProductTaxCode::Saas,
        local(Europe::Paris, 2025, 3, 10, 12, 0),
    )
}

#[test]
fn bad_input_names_the_field() {
    let field = |name: &str| Some(name.to_string());

    let mut sale = base_sale();
    sale.buyer.domicile.country = "XX".into();
    assert_eq!(error_of(&sale), (ErrorCode::UnknownJurisdiction, field("buyer.domicile.country")));

    let mut sale = base_sale();
    sale.seller.domicile.country = "fr".into();
    assert_eq!(error_of(&sale), (ErrorCode::UnknownJurisdiction, field("seller.domicile.country")));

    let mut sale = base_sale();
    sale.buyer = party("CA", Some("ZZ"), PartyKind::Consumer, None);
    assert_eq!(
        error_of(&sale),
        (ErrorCode::UnknownJurisdiction, field("buyer.domicile.subdivision"))
    );

    let mut sale = base_sale();
    sale.buyer = party("CA", None, PartyKind::Consumer, None);
    assert_eq!(error_of(&sale), (ErrorCode::InvalidField, field("buyer.domicile.subdivision")));

    let mut sale = base_sale();
    sale.tax_point = Utc.with_ymd_and_hms(2019, 6, 1, 12, 0, 0).unwrap();
    assert_eq!(error_of(&sale), (ErrorCode::TaxRateNotFound, field("tax_point")));

    let mut sale = base_sale();
    sale.buyer = business("FR", "FR123");
    assert_eq!(error_of(&sale), (ErrorCode::InvalidTaxId, field("buyer.tax_id")));

    let mut sale = base_sale();
    sale.seller = party("US", Some("TX"), PartyKind::Business, None);
    sale.buyer = consumer("GB");
    sale.product = ProductTaxCode::PhysicalGood;
    assert_eq!(error_of(&sale), (ErrorCode::TaxRuleMissing, field("product")));

    let mut sale = base_sale();
    sale.buyer = party("CA", Some("BC"), PartyKind::Consumer, None);
    assert_eq!(error_of(&sale).0, ErrorCode::TaxRuleMissing);

    let mut sale = base_sale();
    sale.lines.clear();
    assert_eq!(error_of(&sale), (ErrorCode::InvalidField, field("lines")));

    let mut sale = base_sale();
    sale.lines[0].amount = dec!(1.005);
    assert_eq!(error_of(&sale), (ErrorCode::CurrencyPrecisionExceeded, field("lines[0].amount")));

    let mut sale = base_sale();
    sale.lines[0].quantity = Decimal::ZERO;
    assert_eq!(error_of(&sale), (ErrorCode::InvalidField, field("lines[0].quantity")));

    let mut sale = base_sale();
    sale.platform_role = PlatformRole::DeemedSupplier;
    assert_eq!(error_of(&sale), (ErrorCode::InvalidField, field("platform")));

    let mut sale = base_sale();
    sale.buyer = party("US", Some("WA"), PartyKind::Consumer, None);
    assert_eq!(error_of(&sale), (ErrorCode::TaxProviderRequired, field("buyer.domicile.country")));
}

#[test]
fn fallback_estimates_with_the_state_rate() {
    let mut sale = base_sale();
    sale.currency = Currency::parse("USD").unwrap();
    sale.buyer = party("US", Some("WA"), PartyKind::Consumer, None);
    let result = determine_fallback(&book(), &sale).unwrap();
    assert!(result.tax_estimated);
    assert_eq!(result.source, DeterminationSource::Fallback);
    assert_eq!(result.taxes[0].jurisdiction, "US-WA");
    assert_eq!(result.tax_total, dec!(6.50));
}

fn three_line_invoice() -> Determination {
    let mut sale = base_sale();
    sale.lines = vec![
        InputLine { amount: dec!(33.33), quantity: Decimal::ONE },
        InputLine { amount: dec!(33.33), quantity: Decimal::ONE },
        InputLine { amount: dec!(10.01), quantity: Decimal::ONE },
    ];
    determine(&book(), &sale).unwrap()
}

#[test]
fn partial_credits_add_up_to_the_original() {
    let original = three_line_invoice();
    let first = credit(&original, &[], &[CreditLine { line: 0, amount: dec!(11.11) }]).unwrap();
    let second = credit(
        &original,
        std::slice::from_ref(&first),
        &[CreditLine { line: 0, amount: dec!(11.11) }],
    )
    .unwrap();
    let earlier = [first.clone(), second.clone()];
    let last = credit(
        &original,
        &earlier,
        &[
            CreditLine { line: 0, amount: dec!(11.11) },
            CreditLine { line: 1, amount: dec!(33.33) },
            CreditLine { line: 2, amount: dec!(10.01) },
        ],
    )
    .unwrap();
    for (i, line) in original.lines.iter().enumerate() {
        let credited = first.lines[i].tax + second.lines[i].tax + last.lines[i].tax;
        assert_eq!(credited, line.tax, "line {i}");
    }
    assert_eq!(first.tax_total + second.tax_total + last.tax_total, original.tax_total);
    assert_eq!(first.lines[0].tax, dec!(2.22));
    assert_eq!(first.taxes[0].rate, dec!(20));
}

#[test]
fn credit_beyond_the_original_is_rejected() {
    let original = three_line_invoice();
    let first = credit(&original, &[], &[CreditLine { line: 2, amount: dec!(10.00) }]).unwrap();
    let err =
        credit(&original, &[first], &[CreditLine { line: 2, amount: dec!(0.02) }]).unwrap_err();
    assert_eq!(err.code, ErrorCode::CreditExceedsOriginal);
    assert_eq!(err.field.as_deref(), Some("lines[2].amount"));
    let err = credit(&original, &[], &[CreditLine { line: 3, amount: dec!(1.00) }]).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("lines[0].line"));
}

#[test]
fn credit_keeps_the_original_rate_after_a_change() {
    // Invoiced at 16 % in 2020; a credit issued later still uses 16 %.
    let mut sale = base_sale();
    sale.buyer = consumer("DE");
    sale.tax_point = local(chrono_tz::Europe::Berlin, 2020, 12, 1, 12, 0);
    let original = determine(&book(), &sale).unwrap();
    let credited = credit(&original, &[], &[CreditLine { line: 0, amount: dec!(50.00) }]).unwrap();
    assert_eq!(credited.taxes[0].rate, dec!(16));
    assert_eq!(credited.tax_total, dec!(8.00));
}

#[test]
fn partner_leg_is_reverse_charged_to_the_platform() {
    let case = cases().into_iter().find(|case| case.name.contains("IE platform")).unwrap();
    let share = vec![InputLine { amount: dec!(70.00), quantity: Decimal::ONE }];
    let leg = case.input.partner_leg(share).expect("deemed supplier sale has a partner leg");
    let result = determine(&book(), &leg).unwrap();
    assert_eq!(result.rule, "eu.b2b.reverse_charge");
    assert_eq!(result.taxes[0].jurisdiction, "IE");
    assert_eq!(result.taxes[0].liable, Liability::Buyer);
    assert_eq!(result.tax_total, dec!(0.00));

    let mut irish_partner = case.input.clone();
    irish_partner.seller = business("IE", "IE6433435F");
    let leg =
        irish_partner.partner_leg(vec![InputLine { amount: dec!(70.00), quantity: Decimal::ONE }]);
    let result = determine(&book(), &leg.unwrap()).unwrap();
    assert_eq!(result.rule, "eu.domestic");
    assert_eq!(result.tax_total, dec!(16.10));

    assert!(base_sale().partner_leg(Vec::new()).is_none());
}
