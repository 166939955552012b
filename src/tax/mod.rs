//! Tax determination: jurisdictions, place-of-supply rules, effective-dated rates, the audit
//! trail and the external provider client.
//!
//! `determine` is a pure function of a `TaxInput` and a `RateBook`. `Engine` wraps it for the
//! service: it caches the rates loaded from PostgreSQL and sends sales to the United States to
//! the external provider. `store_determination` writes the audit trail of a document, and
//! `credit` recomputes the tax of a credit note at the original rates.

pub mod credit;
pub mod determine;
pub mod engine;
pub mod fixtures;
pub mod model;
pub mod outbox;
pub mod provider;
pub mod rates;
pub mod rounding;
pub mod rules;
pub mod store;
pub mod vat_id;

pub use credit::{credit, CreditLine};
pub use determine::{determine, determine_fallback};
pub use engine::Engine;
pub use model::{
    Determination, DeterminationSource, Domicile, InputLine, Liability, LineShare, LineTax, Party,
    PartyKind, PlatformRole, ProductTaxCode, RoundingScope, TaxInput, TaxLine, UnusedTaxId,
};
pub use rates::RateBook;
pub use store::{
    load_determination, load_fixtures, load_rate_book, store_determination, store_determinations,
};

#[cfg(test)]
mod tests;
