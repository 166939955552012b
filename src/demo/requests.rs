//! JSON bodies of the API requests the demo sends, built from scenario records.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::scenario::{Agreement, Customer, Domicile, Invoice, Partner, Platform, Scenario};

fn domicile(domicile: &Domicile) -> Value {
    json!({
        "country": domicile.country,
        "subdivision": domicile.subdivision.as_ref().map(|code| format!("{}-{code}", domicile.country)),
        "postal_code": domicile.postal_code,
        "city": domicile.city,
        "time_zone": domicile.time_zone,
    })
}

/// `POST /v1/parties` for the platform itself.
pub fn platform(platform: &Platform) -> Value {
    json!({
        "role": "platform",
        "name": platform.name,
        "domicile": domicile(&platform.domicile),
        "business": true,
        "vat_id": platform.vat_id,
    })
}

/// `POST /v1/parties` for a partner and its agreement.
pub fn partner(partner: &Partner) -> Value {
    json!({
        "role": "partner",
        "name": partner.name,
        "domicile": domicile(&partner.domicile),
        "business": true,
        "vat_id": partner.vat_id,
        "agreement": agreement(&partner.agreement),
    })
}

fn agreement(agreement: &Agreement) -> Value {
    let commission = &agreement.commission;
    // A plain percentage is one unbounded tier; a fixed fee alone is a tier at 0%.
    let tiers: Vec<Value> = if !commission.tiers.is_empty() {
        commission
            .tiers
            .iter()
            .map(|tier| json!({"up_to": tier.up_to, "rate": tier.rate}))
            .collect()
    } else {
        vec![json!({"up_to": null, "rate": commission.rate.unwrap_or(Decimal::ZERO)})]
    };
    json!({
        "selling_role": agreement.platform_role,
        "currencies": agreement.currencies,
        "commission_tiers": tiers,
        "fixed_fees": commission.fixed_fee,
        "commission_on_refund": match agreement.refund_commission {
            super::scenario::RefundCommission::Reversed => "refunded",
            super::scenario::RefundCommission::PlatformKeeps => "kept",
        },
        "minimum_payouts": agreement.minimum_payout,
        "payout_delay_days": agreement.payout_delay_days,
    })
}

/// `POST /v1/parties` for a customer.
pub fn customer(customer: &Customer) -> Value {
    json!({
        "role": "customer",
        "name": customer.name,
        "domicile": domicile(&customer.domicile),
        "business": customer.business,
        "vat_id": customer.vat_id,
    })
}

/// `POST /v1/invoices`.
pub fn invoice(
    scenario: &Scenario,
    invoice: &Invoice,
    customer_id: &str,
    partner_id: &str,
) -> Value {
    let partner = scenario.partner(&invoice.partner);
    let lines: Vec<Value> = invoice
        .lines
        .iter()
        .map(|line| {
            let product =
                partner.and_then(|p| p.products.iter().find(|product| product.sku == line.sku));
            json!({
                "product": line.sku,
                "tax_code": product.map_or("", |product| product.kind.tax_code()),
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount.unwrap_or(Decimal::ZERO),
            })
        })
        .collect();
    let due_on = invoice.issued_at.date_naive() + chrono::Days::new(u64::from(invoice.due_days));
    json!({
        "customer_id": customer_id,
        "seller_id": partner_id,
        "currency": invoice.currency,
        "prices_include_tax": invoice.tax_included,
        "issued_at": invoice.issued_at,
        "due_on": due_on,
        "series": series(&invoice.partner),
        "lines": lines,
    })
}

/// The invoice series of a partner's sales, such as `P07` for partner `P07`: the platform
/// issues a series per partner when it sells as supplier, so that no single series orders
/// every sale of the month.
fn series(partner_key: &str) -> String {
    partner_key.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_uppercase()
}

/// `POST /v1/payments` paying `amount`, of which `allocated` clears the invoice; the rest
/// becomes the customer's credit.
pub fn payment(
    customer_id: &str,
    currency: &str,
    received_at: chrono::DateTime<chrono::Utc>,
    amount: Decimal,
    invoice_id: &str,
    allocated: Decimal,
    reference: &str,
) -> Value {
    json!({
        "customer_id": customer_id,
        "currency": currency,
        "amount": amount,
        "received_on": received_at.date_naive(),
        "reference": reference,
        "allocations": [{"invoice_id": invoice_id, "amount": allocated}],
    })
}

/// The part of an invoice a credit note refunds, resolved against the stored invoice.
pub enum CreditRequest {
    /// All that is left of the invoice.
    Full,
    /// A quantity of one line, counted from 0.
    Quantity { line: usize, quantity: Decimal },
    /// A net amount of one line, counted from 0.
    Amount { line: usize, net: Decimal },
}

/// `POST /v1/credit-notes`.
pub fn credit_note(
    invoice_id: &str,
    issued_at: chrono::DateTime<chrono::Utc>,
    request: &CreditRequest,
) -> Value {
    let mut body = json!({"invoice_id": invoice_id, "issued_at": issued_at, "reason": "refund"});
    match request {
        CreditRequest::Full => {}
        CreditRequest::Quantity { line, quantity } => {
            body["lines"] = json!([{"line_no": line + 1, "quantity": quantity}]);
        }
        CreditRequest::Amount { line, net } => {
            body["lines"] = json!([{"line_no": line + 1, "amount": net}]);
        }
    }
    body
}

/// `POST /v1/commission-statements`.
pub fn commission_statement(
    partner_id: &str,
    currency: &str,
    period: &str,
    issued_at: chrono::DateTime<chrono::Utc>,
) -> Value {
    json!({"partner_id": partner_id, "currency": currency, "period": period, "issued_at": issued_at})
}

/// `POST /v1/payout-runs`.
pub fn payout_run(as_of: chrono::NaiveDate) -> Value {
    json!({"as_of": as_of})
}
