//! Plain-text tables for the demo's reports.

use std::fmt::Write;

/// A titled table of text cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Renders the table with a title line, aligned columns (numbers to the right) and, for
    /// an empty table, the words "no rows".
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.title);
        if self.rows.is_empty() {
            out.push_str("  (no rows)\n");
            return out;
        }
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                let cells = self.rows.iter().map(|row| row.get(i).map_or(0, |c| c.chars().count()));
                cells.chain([self.columns[i].chars().count()]).max().unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| self.rows.iter().all(|row| row.get(i).is_none_or(|c| looks_numeric(c))))
            .collect();
        write_row(&mut out, &self.columns, &widths, &vec![false; widths.len()]);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        write_row(&mut out, &rule, &widths, &numeric);
        for row in &self.rows {
            write_row(&mut out, row, &widths, &numeric);
        }
        out
    }
}

fn write_row(out: &mut String, cells: &[String], widths: &[usize], right: &[bool]) {
    out.push(' ');
    for (i, width) in widths.iter().enumerate() {
        let cell = cells.get(i).map(String::as_str).unwrap_or("");
        let pad = width.saturating_sub(cell.chars().count());
        out.push(' ');
        if right[i] {
            let _ = write!(out, "{}{cell}", " ".repeat(pad));
        } else {
            let _ = write!(out, "{cell}{}", " ".repeat(pad));
        }
        out.push(' ');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
}

fn looks_numeric(cell: &str) -> bool {
    !cell.is_empty() && cell.parse::<rust_decimal::Decimal>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn table_aligns_numbers_right() {
        let table = Table {
            title: "Balances".into(),
            columns: vec!["currency".into(), "balance".into()],
            rows: vec![vec!["EUR".into(), "12.50".into()], vec!["JPY".into(), "-300".into()]],
        };
        let expected = "Balances\n  currency  balance\n  --------  -------\n  EUR         12.50\n  JPY          -300\n";
        assert_eq!(table.render(), expected);
    }

    #[test]
    fn empty_table_says_no_rows() {
        let table =
            Table { title: "audit.balance_check".into(), columns: vec!["x".into()], rows: vec![] };
        assert_eq!(table.render(), "audit.balance_check\n  (no rows)\n");
    }
}
