//! The provider's request and response bodies, modelled on the Vertex O Series REST
//! calculation API (v2 `supplies`). The request carries `saleMessageType`,
//! `seller.physicalOrigin`, `customer.destination` and `lineItems` with `extendedPrice`,
//! `quantity` and `product`. The response lists `data.lineItems[].taxes[]`, each with
//! `jurisdiction { jurisdictionType, jurisdictionId, value }`, `effectiveRate`,
//! `calculatedTax`, `taxResult` and `situs`.
//!
//! One deliberate difference: amounts and rates travel as decimal strings, not JSON numbers,
//! so no amount passes through a binary float.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Whether the call only quotes or records an invoice at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SaleMessageType {
    Quotation,
    Invoice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province code, such as `TX`.
    #[serde(default)]
    pub main_division: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seller {
    pub physical_origin: Address,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerCode {
    /// `BUSINESS` or `CONSUMER`.
    pub class_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub customer_code: CustomerCode,
    pub destination: Address,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// The product tax code, such as `saas`.
    pub product_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLine {
    pub line_item_number: u32,
    pub quantity: Quantity,
    #[serde(with = "rust_decimal::serde::str")]
    pub extended_price: Decimal,
    pub product: Product,
}

/// A calculation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalculationRequest {
    pub sale_message_type: SaleMessageType,
    /// Always `SALE`.
    pub transaction_type: String,
    /// The invoice number, on `INVOICE` calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
    /// The tax point's date in the customer's time zone.
    pub document_date: chrono::NaiveDate,
    pub currency: String,
    pub seller: Seller,
    pub customer: Customer,
    pub line_items: Vec<RequestLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Jurisdiction {
    /// `STATE`, `COUNTY`, `CITY` or `DISTRICT`.
    pub jurisdiction_type: String,
    pub jurisdiction_id: String,
    /// The jurisdiction's name, such as `TEXAS`.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tax {
    pub jurisdiction: Jurisdiction,
    /// `TAXABLE`, `NONTAXABLE` or `EXEMPT`.
    pub tax_result: String,
    /// `DESTINATION` or `ORIGIN`.
    pub situs: String,
    /// Rate as a fraction: 0.0625 is 6.25 %.
    #[serde(with = "rust_decimal::serde::str")]
    pub effective_rate: Decimal,
    /// The part of the line's price this jurisdiction taxes.
    #[serde(with = "rust_decimal::serde::str")]
    pub taxable: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub calculated_tax: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseLine {
    pub line_item_number: u32,
    #[serde(with = "rust_decimal::serde::str")]
    pub extended_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total_tax: Decimal,
    pub taxes: Vec<Tax>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseData {
    pub sale_message_type: SaleMessageType,
    #[serde(with = "rust_decimal::serde::str")]
    pub sub_total: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total_tax: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    pub line_items: Vec<ResponseLine>,
}

/// A calculation response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalculationResponse {
    pub data: ResponseData,
}
