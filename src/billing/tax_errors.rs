//! Points errors of the tax engine at the request field that caused them. The engine names the
//! fields of its own input (`buyer.domicile.subdivision`, `product`, `tax_point`), which a
//! billing request does not have: an invoice names its parties by id and its product tax code
//! per line.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Error;

/// A party of the tax input as the request names it.
pub struct RequestParty<'a> {
    /// Request field that carries the party's id, such as `customer_id`; `None` for the
    /// platform, which no request names.
    pub field: Option<&'a str>,
    /// The party's role as a word: `customer`, `partner` or `platform`.
    pub role: &'a str,
    pub id: Uuid,
}

/// The request fields behind one tax input.
pub struct RequestFields<'a> {
    pub buyer: RequestParty<'a>,
    pub seller: RequestParty<'a>,
    pub platform: RequestParty<'a>,
    /// Request index of each input line; empty when the lines are not the request's (the
    /// commission's single line).
    pub lines: &'a [usize],
    /// Request field and value of the product tax code; `None` for the commission, whose
    /// product is fixed, so an untaxable commission names the partner instead.
    pub tax_code: Option<(String, &'a str)>,
    /// Request field that sets the tax point, with its value.
    pub tax_point: (&'a str, DateTime<Utc>),
}

impl RequestFields<'_> {
    /// Renames the field of an engine error to the request field, keeping the error's code.
    pub fn rename(&self, error: Error) -> Error {
        let Some(field) = error.field.clone() else {
            return error;
        };
        let (head, rest) = field.split_once('.').unwrap_or((field.as_str(), ""));
        match head {
            "buyer" => party_error(error, &self.buyer, rest),
            "seller" => party_error(error, &self.seller, rest),
            "platform" => party_error(error, &self.platform, rest),
            "product" => match &self.tax_code {
                Some((field, code)) => error.field(field.as_str()).value(*code),
                None => party_error(error, &self.buyer, "commission"),
            },
            "tax_point" => {
                let (field, instant) = self.tax_point;
                error.field(field).value(instant.to_rfc3339())
            }
            _ if head.starts_with("lines") => self.line_error(error, head, rest),
            _ => error,
        }
    }

    /// Renames `lines[j].amount` of the input to `lines[i].unit_price` of the request.
    fn line_error(&self, mut error: Error, head: &str, rest: &str) -> Error {
        if self.lines.is_empty() {
            error.field = None;
            return error;
        }
        let index = head.strip_prefix("lines[").and_then(|tail| tail.strip_suffix(']'));
        let Some(position) = index.and_then(|index| index.parse::<usize>().ok()) else {
            return error;
        };
        let Some(request_index) = self.lines.get(position) else {
            return error;
        };
        let name = if rest == "amount" { "unit_price" } else { rest };
        error.field(format!("lines[{request_index}].{name}"))
    }
}

/// Names the request field of `party` (its id), with the part of the party at fault in the
/// detail: "the customer's domicile subdivision is not usable for tax: ...".
fn party_error(mut error: Error, party: &RequestParty<'_>, part: &str) -> Error {
    let part_words = match part {
        "" => String::new(),
        "tax_id" => " VAT id".to_string(),
        "commission" => " commission".to_string(),
        _ => format!(" {}", part.replace('.', " ")),
    };
    let role = party.role;
    error.detail = format!("the {role}'s{part_words} is not usable for tax: {}", error.detail);
    match party.field {
        Some(field) => error.field(field).value(party.id.to_string()),
        None => {
            error.field = None;
            error.value = None;
            error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn fields(lines: &[usize]) -> RequestFields<'_> {
        let party = |field, role| RequestParty { field, role, id: Uuid::nil() };
        RequestFields {
            buyer: party(Some("customer_id"), "customer"),
            seller: party(Some("seller_id"), "partner"),
            platform: party(None, "platform"),
            lines,
            tax_code: Some(("lines[2].tax_code".to_string(), "saas")),
            tax_point: ("issued_at", DateTime::UNIX_EPOCH),
        }
    }

    fn engine_error(field: &str) -> Error {
        Error::new(ErrorCode::InvalidField, "detail").field(field).value("XX")
    }

    #[test]
    fn buyer_subdivision_names_customer() {
        let error = fields(&[2]).rename(engine_error("buyer.domicile.subdivision"));
        assert_eq!(error.field.as_deref(), Some("customer_id"));
        assert_eq!(error.value, Some(serde_json::json!(Uuid::nil().to_string())));
        assert_eq!(
            error.detail,
            "the customer's domicile subdivision is not usable for tax: detail"
        );
    }

    #[test]
    fn product_names_line_tax_code() {
        let error = fields(&[2]).rename(engine_error("product"));
        assert_eq!(error.field.as_deref(), Some("lines[2].tax_code"));
        assert_eq!(error.value, Some(serde_json::json!("saas")));
    }

    #[test]
    fn input_line_names_request_line() {
        let error = fields(&[1, 4]).rename(engine_error("lines[1].amount"));
        assert_eq!(error.field.as_deref(), Some("lines[4].unit_price"));
    }

    #[test]
    fn platform_error_names_no_field() {
        let error = fields(&[0]).rename(engine_error("platform.domicile.country"));
        assert_eq!(error.field, None);
        assert_eq!(error.value, None);
        assert!(error.detail.starts_with("the platform's domicile country"));
    }

    #[test]
    fn tax_point_names_issued_at() {
        let error = fields(&[0]).rename(engine_error("tax_point"));
        assert_eq!(error.field.as_deref(), Some("issued_at"));
        assert_eq!(error.value, Some(serde_json::json!("1970-01-01T00:00:00+00:00")));
    }
}
