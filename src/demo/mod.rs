//! The demo: a month of a marketplace's billing, generated from a seed and posted through the
//! HTTP API, ending in the auditor's reports.

pub mod client;
mod dice;
pub mod drive;
pub mod generate;
pub mod places;
pub mod reports;
mod requests;
pub mod run;
pub mod scenario;
pub mod table;
mod vat_ids;

pub use generate::generate;
pub use run::{run, DemoOptions};
pub use scenario::{Scale, Scenario};

/// Returns the directory of the committed scenario of `scale`, relative to the repository
/// root.
pub fn default_scenario_dir(scale: Scale) -> std::path::PathBuf {
    let name = match scale {
        Scale::Small => "small",
        Scale::Full => "full",
    };
    std::path::Path::new("fixtures").join("demo").join(name)
}
