//! Structured logging with tracing.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Default filter: `info`, except refinery's own lines, because the service logs each applied
/// migration itself.
const DEFAULT_FILTER: &str = "info,refinery_core=warn";

/// Installs the global subscriber: JSON lines when `SUBLEDGER_LOG_FORMAT=json`, readable text
/// otherwise, coloured only on a terminal. The level comes from `RUST_LOG`, else `info` with
/// refinery's lines at `warn`.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = if std::env::var("SUBLEDGER_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // A second call (tests) keeps the first subscriber.
    drop(result);
}

/// Installs a subscriber for tests: warnings and errors only, through the test harness's
/// captured output.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let result = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    drop(result);
}
