//! The one error table. Every rejection the service returns has a code listed here, with one
//! HTTP status and one RFC 9457 problem `type`. Codes are never reused or renamed.

use std::fmt;

use serde_json::Value;

/// Prefix of every problem `type` URI; the code follows it.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:subledger:problem:";

macro_rules! error_table {
    ($($variant:ident => ($status:literal, $code:literal, $title:literal),)*) => {
        /// A stable error code with its HTTP status and title.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// The stable snake_case code, also the last part of the problem `type`.
            pub fn code(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            pub fn title(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $title,)*
                }
            }
        }
    };
}

error_table! {
    // Requests and authentication.
    MalformedJson => (400, "malformed_json", "Request body is not valid JSON"),
    InvalidField => (422, "invalid_field", "A field has an invalid value"),
    InvalidParameter => (400, "invalid_parameter", "A path or query parameter is invalid"),
    IdempotencyKeyMissing => (400, "idempotency_key_missing", "Idempotency-Key header is missing"),
    IdempotencyKeyReused =>
        (409, "idempotency_key_reused", "Idempotency-Key was used with another request"),
    Unauthorized => (401, "unauthorized", "API key is missing or not valid"),
    ReadOnlyKey => (403, "read_only_key", "This API key may only read"),
    NotFound => (404, "not_found", "Resource not found"),
    MethodNotAllowed => (405, "method_not_allowed", "Method not allowed"),
    PayloadTooLarge => (413, "payload_too_large", "Request body is too large"),
    Internal => (500, "internal_error", "Internal error"),
    Unavailable => (503, "service_unavailable", "Service is temporarily unavailable"),

    // Money.
    UnknownCurrency => (422, "unknown_currency", "Currency is not a known ISO 4217 code"),
    CurrencyPrecisionExceeded =>
        (422, "currency_precision_exceeded", "Amount has more decimals than its currency allows"),
    AmountOutOfRange => (422, "amount_out_of_range", "Amount is too large"),

    // Ledger.
    InvalidAccountCode => (422, "invalid_account_code", "Account code is not valid"),
    AccountConflict =>
        (409, "account_conflict", "Account exists with another currency, kind or party"),
    AccountNotFound => (422, "account_not_found", "Account does not exist"),
    AccountCurrencyMismatch =>
        (422, "account_currency_mismatch", "Line currency differs from its account's currency"),
    EntryTooFewLines => (422, "entry_too_few_lines", "Entry needs at least two lines"),
    EntryTooManyLines => (422, "entry_too_many_lines", "Entry has too many lines"),
    EntryNotBalanced => (422, "entry_not_balanced", "Entry lines do not sum to zero"),
    PeriodClosed => (422, "period_closed", "Effective date is in a closed period"),
    ReversedEntryNotFound =>
        (422, "reversed_entry_not_found", "The entry to reverse does not exist"),
    EntryAlreadyReversed => (409, "entry_already_reversed", "Entry was already reversed"),

    // Billing.
    UnknownParty => (422, "unknown_party", "No party with this id and role exists"),
    PlatformNotConfigured =>
        (422, "platform_not_configured", "The tenant has no platform party yet"),
    InvalidVatId => (422, "invalid_vat_id", "VAT identification number is not valid"),
    CurrencyNotAllowed =>
        (422, "currency_not_allowed", "The partner's agreement does not allow this currency"),
    CurrencyMismatch => (422, "currency_mismatch", "Amounts in different currencies"),
    IssuedBeforeSeriesLast => (
        422,
        "issued_before_series_last",
        "Issue instant is earlier than the last document of its number series"
    ),
    UnknownInvoice => (422, "unknown_invoice", "No invoice with this id exists"),
    CreditAboveResidual =>
        (422, "credit_above_residual", "Credit is above what is left to credit on the invoice"),
    AllocationNotOpen =>
        (422, "allocation_not_open", "Invoice is not an open item of the paying customer"),
    AllocationAboveOpenAmount =>
        (422, "allocation_above_open_amount", "Allocation is above the open amount"),
    PayoutDateInFuture => (422, "payout_date_in_future", "Payout run date is in the future"),
    EffectiveFromTooEarly => (
        422,
        "effective_from_too_early",
        "Agreement change takes effect on or before an issued document or the current version"
    ),
    CommissionStatementExists => (
        409,
        "commission_statement_exists",
        "The partner already has a commission statement for this month and currency"
    ),

    // Tax.
    UnknownJurisdiction =>
        (422, "unknown_jurisdiction", "Country or subdivision is not a known jurisdiction"),
    TaxRateNotFound => (422, "tax_rate_not_found", "No tax rate is valid on the tax point date"),
    InvalidTaxId => (422, "invalid_tax_id", "Tax identification number is malformed"),
    TaxRuleMissing => (422, "tax_rule_missing", "No tax rule covers this sale"),
    TaxProviderRequired =>
        (422, "tax_provider_required", "This sale must be taxed by the external tax provider"),
    TaxProviderRejected =>
        (422, "tax_provider_rejected", "The external tax provider rejected the request"),
    TaxProviderUnavailable =>
        (503, "tax_provider_unavailable", "The external tax provider is unavailable"),
    CreditExceedsOriginal =>
        (422, "credit_exceeds_original", "Credit exceeds what remains of the original line"),
}

/// A rejected request or a failure, carrying everything a problem+json body needs.
#[derive(Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub detail: String,
    pub field: Option<String>,
    pub value: Option<Value>,
    /// The underlying failure of a 5xx error: logged, never sent to the client.
    pub source: Option<anyhow::Error>,
}

impl Error {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Error {
        Error { code, detail: detail.into(), field: None, value: None, source: None }
    }

    /// Names the request field (a JSON path such as `lines[1].amount`) that caused the error.
    pub fn field(mut self, field: impl Into<String>) -> Error {
        self.field = Some(field.into());
        self
    }

    /// Records the rejected value.
    pub fn value(mut self, value: impl Into<Value>) -> Error {
        self.value = Some(value.into());
        self
    }

    pub fn not_found(what: &str, id: impl fmt::Display) -> Error {
        Error::new(ErrorCode::NotFound, format!("{what} '{id}' not found")).value(id.to_string())
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Error {
        Error {
            code: ErrorCode::Internal,
            detail: "the request failed because of an internal error".to_string(),
            field: None,
            value: None,
            source: Some(source.into()),
        }
    }

    pub fn unavailable(detail: impl Into<String>, source: impl Into<anyhow::Error>) -> Error {
        Error { source: Some(source.into()), ..Error::new(ErrorCode::Unavailable, detail) }
    }

    /// Whether the error is the client's (4xx): such failures are stored for idempotent replay.
    pub fn is_rejection(&self) -> bool {
        self.code.status() < 500
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.code(), self.detail)?;
        if let Some(source) = &self.source {
            write!(f, " ({source:#})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// SQLSTATEs that mean "try again": serialization failure and deadlock.
const RETRYABLE_SQLSTATES: &[&str] = &["40001", "40P01"];

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Error {
        let retryable =
            err.code().map(|state| RETRYABLE_SQLSTATES.contains(&state.code())).unwrap_or(false);
        if retryable {
            return Error::unavailable("the database asked to retry the transaction", err);
        }
        Error::internal(err)
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(err: deadpool_postgres::PoolError) -> Error {
        Error::unavailable("no database connection is available", err)
    }
}

impl From<crate::money::MoneyError> for Error {
    fn from(err: crate::money::MoneyError) -> Error {
        use crate::money::MoneyError;
        match &err {
            MoneyError::UnknownCurrency(code) => {
                Error::new(ErrorCode::UnknownCurrency, err.to_string()).value(code.clone())
            }
            MoneyError::InvalidAmount(text) => {
                Error::new(ErrorCode::InvalidField, err.to_string()).value(text.clone())
            }
            MoneyError::PrecisionExceeded { amount, .. } => {
                Error::new(ErrorCode::CurrencyPrecisionExceeded, err.to_string())
                    .value(amount.to_string())
            }
            MoneyError::CurrencyMismatch(..) => {
                Error::new(ErrorCode::InvalidField, err.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique() {
        let codes: HashSet<_> = ErrorCode::ALL.iter().map(|code| code.code()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn statuses_are_errors() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code:?}");
        }
    }
}
