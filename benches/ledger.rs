//! Criterion benches of the ledger's pure work: validating an entry before it touches the
//! database, and rounding money to a currency's minor unit.

use chrono::NaiveDate;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use subledger::ledger::posting::validate;
use subledger::ledger::{AccountCode, NewEntry, NewLine};
use subledger::money::{Currency, Money, Rounding};

/// Builds an invoice-shaped entry of `lines` lines (at least 2) that balances in EUR.
fn entry(lines: usize) -> NewEntry {
    let eur = Currency::parse("EUR").unwrap();
    let mut new_lines: Vec<NewLine> = (1..lines)
        .map(|index| NewLine {
            account: AccountCode::parse(&format!("partner_payable:p{index}.EUR")).unwrap(),
            amount: Money::new(-Decimal::new(1999 + index as i64, 2), eur).unwrap(),
            memo: Some("sale, net, owed to the partner".to_string()),
        })
        .collect();
    let total: Decimal = new_lines.iter().map(|line| line.amount.amount()).sum();
    new_lines.push(NewLine {
        account: AccountCode::parse("receivable:c1.EUR").unwrap(),
        amount: Money::new(-total, eur).unwrap(),
        memo: Some("sale, gross".to_string()),
    });
    NewEntry {
        effective_date: NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
        description: "Invoice INV-2026-000001".to_string(),
        idempotency_key: Some("invoice:0193a1b2-0000-7000-8000-000000000001".to_string()),
        reverses: None,
        lines: new_lines,
    }
}

fn entry_validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("entry validation");
    for lines in [6, 100, 1000] {
        let entry = entry(lines);
        assert!(validate(&entry).is_ok(), "the benched entry must be valid");
        group.bench_with_input(BenchmarkId::new("valid", lines), &entry, |b, entry| {
            b.iter(|| validate(black_box(entry)))
        });
    }
    let mut unbalanced = entry(6);
    let eur = Currency::parse("EUR").unwrap();
    unbalanced.lines[0].amount = Money::new(dec!(-0.01), eur).unwrap();
    assert!(validate(&unbalanced).is_err(), "the benched entry must be unbalanced");
    group.bench_function("unbalanced/6", |b| b.iter(|| validate(black_box(&unbalanced))));
    group.finish();
}

fn money_rounding(c: &mut Criterion) {
    let mut group = c.benchmark_group("money rounding");
    let amounts: Vec<Decimal> =
        (0..1000).map(|n| Decimal::new(123_456_789 + n * 7919, 6)).collect();
    for code in ["EUR", "JPY", "BHD"] {
        let currency = Currency::parse(code).unwrap();
        for (name, rule) in [
            ("half_up", Rounding::HalfUp),
            ("half_even", Rounding::HalfEven),
            ("down", Rounding::Down),
        ] {
            group.bench_function(BenchmarkId::new(name, format!("{code}/1000 amounts")), |b| {
                b.iter(|| {
                    for amount in &amounts {
                        black_box(currency.round(black_box(*amount), rule));
                    }
                })
            });
        }
    }
    group.bench_function("tax 19% then round EUR/1000 amounts", |b| {
        let eur = Currency::parse("EUR").unwrap();
        b.iter(|| {
            for amount in &amounts {
                black_box(eur.round(black_box(*amount) * dec!(0.19), Rounding::HalfUp));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, entry_validation, money_rounding);
criterion_main!(benches);
