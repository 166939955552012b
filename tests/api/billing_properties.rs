//! Property: any sequence of invoices, payments, credits and payout runs keeps the books
//! balanced, the receivables equal to the open items, and pays each partner at most once per
//! month and never more than was releasable when it was paid.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use serde_json::json;

use crate::billing_support::{account, agreement, dec, invoice_body, payment_body, Books};

#[derive(Debug, Clone)]
enum Op {
    Invoice {
        customer: usize,
        partner: usize,
        cents: i64,
    },
    Payment {
        customer: usize,
        cents: i64,
    },
    /// Credits `percent` of what is left of an invoice's line; 100 credits the whole rest.
    Credit {
        invoice: usize,
        percent: u32,
    },
    Payout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..2usize, 1..50_000i64)
            .prop_map(|(customer, partner, cents)| Op::Invoice { customer, partner, cents }),
        3 => (0..2usize, 1..40_000i64).prop_map(|(customer, cents)| Op::Payment { customer, cents }),
        2 => (0..8usize, 1..=100u32).prop_map(|(invoice, percent)| Op::Credit { invoice, percent }),
        1 => Just(Op::Payout),
    ]
}

fn cents(amount: i64) -> String {
    Decimal::new(amount, 2).to_string()
}

struct World {
    books: Books,
    customers: Vec<String>,
    partners: Vec<String>,
    invoices: Vec<String>,
    day: NaiveDate,
}

impl World {
    async fn open() -> World {
        let books = Books::open("FR", Some("FR40303265045")).await;
        let agent =
            books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "refunded")).await;
        let supplier = books.partner("US", None, agreement("supplier", "0.30", "kept")).await;
        let customers = vec![books.customer("IT").await, books.customer("BR").await];
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        World { books, customers, partners: vec![agent, supplier], invoices: Vec::new(), day }
    }

    async fn apply(&mut self, op: &Op) {
        self.day = self.day + Days::new(2);
        let day = self.day.to_string();
        match op {
            Op::Invoice { customer, partner, cents: amount } => {
                let at = format!("{day}T10:00:00Z");
                let price = cents(*amount);
                let body = invoice_body(
                    &self.customers[*customer],
                    &self.partners[*partner],
                    &at,
                    &[&price],
                );
                let invoice = self.books.create("/v1/invoices", &body).await;
                self.invoices.push(invoice["id"].as_str().unwrap().to_string());
            }
            Op::Payment { customer, cents: amount } => {
                let body = payment_body(&self.customers[*customer], &cents(*amount), &day);
                self.books.create("/v1/payments", &body).await;
            }
            Op::Credit { invoice, percent } => self.credit(*invoice, *percent, &day).await,
            Op::Payout => {
                for _ in 0..2 {
                    self.books.create("/v1/payout-runs", &json!({ "as_of": day })).await;
                }
            }
        }
    }

    async fn credit(&mut self, index: usize, percent: u32, day: &str) {
        if self.invoices.is_empty() {
            return;
        }
        let id = self.invoices[index % self.invoices.len()].clone();
        let invoice = self.books.get(&format!("/v1/invoices/{id}")).await;
        let line = &invoice["lines"][0];
        let rest = dec(line["net"].as_str().unwrap()) - dec(line["credited_net"].as_str().unwrap());
        let amount = (rest * Decimal::from(percent) / Decimal::from(100)).round_dp(2);
        if rest.is_zero() || amount.is_zero() {
            return;
        }
        let lines = if percent == 100 {
            json!([{ "line_no": 1 }])
        } else {
            json!([{ "line_no": 1, "amount": amount.to_string() }])
        };
        let body =
            json!({ "invoice_id": id, "issued_at": format!("{day}T11:00:00Z"), "lines": lines });
        self.books.create("/v1/credit-notes", &body).await;
    }

    async fn check(&self) {
        let client = self.books.app.sql().await;
        let tenant = self.books.app.tenant_id;
        let totals = client
            .query(
                "SELECT total_debit, total_credit FROM audit.trial_balance_totals \
                 WHERE tenant_id = $1",
                &[&tenant],
            )
            .await
            .unwrap();
        for row in totals {
            assert_eq!(row.get::<_, Decimal>(0), row.get::<_, Decimal>(1), "trial balance");
        }
        let receivables: Decimal = client
            .query_one(
                "SELECT coalesce(sum(balance), 0) FROM audit.account_balances \
                 WHERE tenant_id = $1 AND account_code LIKE 'receivable:%'",
                &[&tenant],
            )
            .await
            .unwrap()
            .get(0);
        let open: Decimal = client
            .query_one(
                "SELECT coalesce(sum(open_amount), 0) FROM audit.open_items WHERE tenant_id = $1",
                &[&tenant],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(receivables, open, "receivables against open items");
        let twice: i64 = client
            .query_one(
                "SELECT count(*) FROM (SELECT 1 FROM payouts WHERE tenant_id = $1 \
                 GROUP BY partner_id, currency, period HAVING count(*) > 1) t",
                &[&tenant],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(twice, 0, "a partner paid twice in one month");
        for partner in &self.partners {
            let earned: Decimal = client
                .query_one(
                    "SELECT coalesce(sum(partner_share), 0) - coalesce(sum(credited_partner_cost), 0) \
                     FROM invoices WHERE tenant_id = $1 AND seller_id = $2::text::uuid",
                    &[&tenant, partner],
                )
                .await
                .unwrap()
                .get(0);
            let paid: Decimal = client
                .query_one(
                    "SELECT coalesce(sum(amount), 0) FROM payouts \
                     WHERE tenant_id = $1 AND partner_id = $2::text::uuid",
                    &[&tenant, partner],
                )
                .await
                .unwrap()
                .get(0);
            let code = account("partner_payable", partner);
            assert_eq!(self.books.balance(&code).await, paid - earned, "partner payable");
            // Every payout brings the total paid up to what was releasable at that run, so
            // the total paid equals the largest releasable amount any paying run saw.
            let releasable: Decimal = client
                .query_one(
                    "SELECT coalesce(max(paid_before + balance), 0) FROM payout_run_lines \
                     WHERE tenant_id = $1 AND partner_id = $2::text::uuid AND outcome = 'paid'",
                    &[&tenant, partner],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(paid, releasable, "partner paid more than was releasable");
        }
    }
}

#[test]
fn random_documents_keep_books_consistent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = Config { cases: 10, max_shrink_iters: 20, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(op(), 1..24);
    let result = runner.run(&strategy, |ops| {
        runtime.block_on(async {
            let mut world = World::open().await;
            for op in &ops {
                world.apply(op).await;
            }
            world.check().await;
        });
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
