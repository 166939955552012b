//! Maps the SQLSTATEs raised by the journal's triggers and constraints to error codes. The
//! Rust checks run first, so these surface only when a concurrent transaction got in between
//! (a second reversal, a period closed meanwhile) or when the two sets of checks disagree.
//! Any other failure, such as an append-only violation (SL005) or lines joining an entry of
//! another transaction (SL006), is a defect of the service and becomes an internal error.

use crate::error::{Error, ErrorCode};

/// Converts a database error of a journal write into the matching error code.
pub(crate) fn journal_error(err: tokio_postgres::Error) -> Error {
    let Some(db) = err.as_db_error() else {
        return Error::from(err);
    };
    let code = match db.code().code() {
        "SL001" => ErrorCode::EntryNotBalanced,
        "SL002" => ErrorCode::PeriodClosed,
        "SL003" => ErrorCode::AccountNotFound,
        "SL004" => ErrorCode::AccountCurrencyMismatch,
        "SL007" => ErrorCode::CurrencyPrecisionExceeded,
        "22003" => ErrorCode::AmountOutOfRange,
        "23505" if db.constraint() == Some("journal_entries_reversed_once") => {
            ErrorCode::EntryAlreadyReversed
        }
        _ => return Error::from(err),
    };
    Error::new(code, db.message().to_string())
}
