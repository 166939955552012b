//! Measured rows, their summary, and how both are printed: a table and a JSON document.

use serde::Serialize;

use crate::cpu::PerDocument;

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `service`, `floor`, `checked_floor`, `single`, `batch` or `growth`.
    pub kind: &'static str,
    pub mode: &'static str,
    pub round: usize,
    pub concurrency: usize,
    /// Documents per request (1 except for batches).
    pub batch_size: usize,
    pub documents_per_second: f64,
    pub entries_per_second: f64,
    pub lines_per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Sequential scans of the service's tables of more than 1,000 rows during the run.
    pub seq_scans: i64,
    /// Journal lines already posted when the run started.
    pub journal_lines_before: i64,
    /// CPU time per document in the measured window.
    pub cpu: PerDocument,
}

/// Balance read latencies at one journal size.
#[derive(Debug, Clone, Serialize)]
pub struct BalanceReads {
    pub journal_lines: i64,
    pub reads: usize,
    pub http_p50_ms: f64,
    pub http_p99_ms: f64,
    pub sql_p50_ms: f64,
    pub sql_p99_ms: f64,
}

/// Everything one invocation measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    pub machine: Machine,
    pub settings: serde_json::Value,
    pub rows: Vec<Row>,
    pub balance_reads: Vec<BalanceReads>,
    pub peak_rss_mib: Option<f64>,
    /// Service peak RSS read at the end of the batch runs, in MiB.
    pub batch_peak_rss_mib: Option<f64>,
    pub balance_check_differences: Option<i64>,
    pub summary: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub postgres: String,
    pub postgres_settings: Vec<(String, String)>,
    pub load_average_at_start: String,
}

/// Header and alignment cells that both tables start with.
const LEADING_HEADER: &str = "| kind | mode | round | clients | docs/req | docs/s |";
const LEADING_RULE: &str = "| --- | --- | ---: | ---: | ---: | ---: |";

/// Formats the cells that name a row's run and its rate, which both tables start with.
fn leading_cells(row: &Row) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {:.0} |",
        row.kind, row.mode, row.round, row.concurrency, row.batch_size, row.documents_per_second
    )
}

/// Prints the rows as a Markdown table.
pub fn print_table(rows: &[Row]) {
    println!(
        "{LEADING_HEADER} entries/s | lines/s | p50 ms | p95 ms | p99 ms | errors | seq scans | \
         lines before |"
    );
    println!("{LEADING_RULE} ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!(
            "{} {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
            leading_cells(row),
            row.entries_per_second,
            row.lines_per_second,
            row.p50_ms,
            row.p95_ms,
            row.p99_ms,
            row.errors,
            row.seq_scans,
            row.journal_lines_before,
        );
    }
}

/// Prints the CPU microseconds per document of each row: the machine's, the service's, the
/// client's (the driver or pgbench) and the rest, mostly PostgreSQL. A missing figure is a dash.
pub fn print_cpu_table(rows: &[Row]) {
    println!("{LEADING_HEADER} machine µs | service µs | client µs | rest µs |");
    println!("{LEADING_RULE} ---: | ---: | ---: | ---: |");
    let figure = |value: Option<f64>| value.map_or("-".to_string(), |us| format!("{us:.0}"));
    for row in rows {
        println!(
            "{} {} | {} | {} | {} |",
            leading_cells(row),
            figure(row.cpu.machine_us),
            figure(row.cpu.service_us),
            figure(row.cpu.client_us),
            figure(row.cpu.rest_us()),
        );
    }
}

/// Median documents per second of the rows that match.
pub fn median_rate(rows: &[Row], matches: impl Fn(&Row) -> bool) -> Option<f64> {
    let mut rates: Vec<f64> =
        rows.iter().filter(|row| matches(row)).map(|row| row.documents_per_second).collect();
    if rates.is_empty() {
        return None;
    }
    rates.sort_by(f64::total_cmp);
    let middle = rates.len() / 2;
    Some(if rates.len() % 2 == 0 {
        (rates[middle - 1] + rates[middle]) / 2.0
    } else {
        rates[middle]
    })
}

/// Ratios the targets are judged by, one sentence each.
pub fn summarize(rows: &[Row], modes: &[&'static str], concurrencies: &[usize]) -> Vec<String> {
    let mut lines = Vec::new();
    for mode in modes {
        for &clients in concurrencies {
            let rate = |kind: &str| {
                median_rate(rows, |row| {
                    row.kind == kind && row.mode == *mode && row.concurrency == clients
                })
            };
            if let (Some(service), Some(floor)) = (rate("service"), rate("floor")) {
                lines.push(format!(
                    "{mode}, {}: service {service:.0} docs/s, floor {floor:.0} docs/s, ratio {:.2}",
                    clients_label(clients),
                    service / floor
                ));
            }
            if let (Some(service), Some(checked)) = (rate("service"), rate("checked_floor")) {
                lines.push(format!(
                    "{mode}, {}: checked floor {checked:.0} docs/s, service / checked floor {:.2}",
                    clients_label(clients),
                    service / checked
                ));
            }
        }
    }
    for &clients in concurrencies {
        let rate = |mode: &str| {
            median_rate(rows, |row| {
                row.kind == "service" && row.mode == mode && row.concurrency == clients
            })
        };
        if let (Some(hot), Some(uniform)) = (rate("hot"), rate("uniform")) {
            lines.push(format!("{}: hot/uniform {:.2}", clients_label(clients), hot / uniform));
        }
    }
    lines
}

/// Formats a client count for the summary lines: "1 client", "8 clients".
pub fn clients_label(count: usize) -> String {
    if count == 1 {
        "1 client".to_string()
    } else {
        format!("{count} clients")
    }
}
