//! Clearing of open items by a payment: explicit allocations, or oldest due first.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{Error, ErrorCode};

/// An open invoice of the paying customer, as locked for clearing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub invoice_id: Uuid,
    pub open_amount: Decimal,
}

/// An allocation the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub invoice_id: Uuid,
    pub amount: Decimal,
}

/// How a payment clears open items; `unapplied` goes to the customer's credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearing {
    pub allocations: Vec<(Uuid, Decimal)>,
    pub unapplied: Decimal,
}

/// Clears `items` (ordered oldest due first) with `amount`, each item up to its open amount;
/// what is left over is unapplied.
pub fn oldest_due_first(items: &[OpenItem], amount: Decimal) -> Clearing {
    let mut left = amount;
    let mut allocations = Vec::new();
    for item in items {
        if left.is_zero() {
            break;
        }
        let applied = left.min(item.open_amount);
        if applied > Decimal::ZERO {
            allocations.push((item.invoice_id, applied));
            left -= applied;
        }
    }
    Clearing { allocations, unapplied: left }
}

/// Checks explicit allocations against the customer's open items and the payment amount.
/// `items` holds only the customer's own invoices in the payment's currency, so an invoice
/// missing from it belongs to someone else, is in another currency or is already cleared.
pub fn explicit(
    items: &[OpenItem],
    requested: &[Requested],
    amount: Decimal,
) -> Result<Clearing, Error> {
    let mut allocations: Vec<(Uuid, Decimal)> = Vec::new();
    let mut total = Decimal::ZERO;
    for (index, request) in requested.iter().enumerate() {
        let field = format!("allocations[{index}]");
        if request.amount <= Decimal::ZERO {
            return Err(Error::new(ErrorCode::InvalidField, "an allocation must be positive")
                .field(format!("{field}.amount"))
                .value(request.amount.to_string()));
        }
        let Some(item) = items.iter().find(|item| item.invoice_id == request.invoice_id) else {
            return Err(Error::new(
                ErrorCode::AllocationNotOpen,
                "the invoice is not an open item of this customer in the payment's currency",
            )
            .field(format!("{field}.invoice_id"))
            .value(request.invoice_id.to_string()));
        };
        let already: Decimal = allocations
            .iter()
            .filter(|(id, _)| *id == request.invoice_id)
            .map(|(_, applied)| *applied)
            .sum();
        if already + request.amount > item.open_amount {
            return Err(Error::new(
                ErrorCode::AllocationAboveOpenAmount,
                format!(
                    "allocation {} is above the invoice's open amount {}",
                    request.amount,
                    item.open_amount - already
                ),
            )
            .field(format!("{field}.amount"))
            .value(request.amount.to_string()));
        }
        allocations.push((request.invoice_id, request.amount));
        total += request.amount;
    }
    if total > amount {
        return Err(Error::new(
            ErrorCode::AllocationAboveOpenAmount,
            format!("allocations total {total}, more than the payment amount {amount}"),
        )
        .field("allocations")
        .value(total.to_string()));
    }
    Ok(Clearing { allocations, unapplied: amount - total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn items() -> (Uuid, Uuid, Vec<OpenItem>) {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let items = vec![
            OpenItem { invoice_id: a, open_amount: dec!(30.00) },
            OpenItem { invoice_id: b, open_amount: dec!(50.00) },
        ];
        (a, b, items)
    }

    #[test]
    fn oldest_first_fills_in_order() {
        let (a, b, items) = items();
        let clearing = oldest_due_first(&items, dec!(40.00));
        assert_eq!(clearing.allocations, vec![(a, dec!(30.00)), (b, dec!(10.00))]);
        assert_eq!(clearing.unapplied, dec!(0.00));
    }

    #[test]
    fn overpayment_is_unapplied() {
        let (_, _, items) = items();
        let clearing = oldest_due_first(&items, dec!(100.00));
        assert_eq!(clearing.unapplied, dec!(20.00));
        assert_eq!(clearing.allocations.len(), 2);
    }

    #[test]
    fn explicit_rejects_amount_above_open() {
        let (a, _, items) = items();
        let requested = vec![Requested { invoice_id: a, amount: dec!(30.01) }];
        let err = explicit(&items, &requested, dec!(100)).unwrap_err();
        assert_eq!(err.code, ErrorCode::AllocationAboveOpenAmount);
        assert_eq!(err.field.as_deref(), Some("allocations[0].amount"));
    }

    #[test]
    fn explicit_rejects_repeated_invoice_above_open() {
        let (a, _, items) = items();
        let requested = vec![
            Requested { invoice_id: a, amount: dec!(20) },
            Requested { invoice_id: a, amount: dec!(20) },
        ];
        let err = explicit(&items, &requested, dec!(100)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("allocations[1].amount"));
    }

    #[test]
    fn explicit_rejects_unknown_invoice() {
        let (_, _, items) = items();
        let requested = vec![Requested { invoice_id: Uuid::from_u128(9), amount: dec!(1) }];
        let err = explicit(&items, &requested, dec!(1)).unwrap_err();
        assert_eq!(err.code, ErrorCode::AllocationNotOpen);
    }

    #[test]
    fn explicit_rejects_total_above_payment() {
        let (a, b, items) = items();
        let requested = vec![
            Requested { invoice_id: a, amount: dec!(30) },
            Requested { invoice_id: b, amount: dec!(30) },
        ];
        assert!(explicit(&items, &requested, dec!(50)).is_err());
        let clearing = explicit(&items, &requested, dec!(70)).unwrap();
        assert_eq!(clearing.unapplied, dec!(10));
    }
}
