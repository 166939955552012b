//! The input and output of a tax determination.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::money::Currency;

/// The place where a party is established or, for a consumer, usually lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Domicile {
    /// ISO 3166-1 alpha-2 country code, such as `FR`.
    pub country: String,
    /// ISO 3166-2 subdivision, with or without the country prefix (`QC` or `CA-QC`). Required
    /// where the subdivision changes the tax: Canada and the United States.
    #[serde(default)]
    pub subdivision: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub street: Option<String>,
    /// IANA time zone of the address, such as `America/Halifax`. Rates are always looked up in
    /// the taxing jurisdiction's own zone; this one is passed on to the external provider.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Tz>,
}

/// Whether a party buys as a business (a taxable person) or as a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    Business,
    Consumer,
}

/// A seller, buyer or platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub domicile: Domicile,
    pub kind: PartyKind,
    /// VAT, GST or other tax identification number as the party gave it. A buyer is taxed as a
    /// business only with a number that passes `vat_id::validate`.
    #[serde(default)]
    pub tax_id: Option<String>,
    /// Whether the party is established in one EU member state only and its cross-border
    /// B2C supplies of electronic services and distance sales of goods stayed at or under
    /// EUR 10,000 in this and the previous calendar year (Art. 59c of Council Directive
    /// 2006/112/EC). Such a seller may charge its own country's VAT.
    #[serde(default)]
    pub eu_below_distance_threshold: bool,
}

/// The product tax code of a sale: it selects the place-of-supply rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductTaxCode {
    /// An electronically supplied service (Annex II of Council Directive 2006/112/EC).
    ElectronicService,
    /// Software as a service: an electronically supplied service.
    Saas,
    /// A downloaded digital good (software, e-book, media): an electronically supplied service.
    DigitalGood,
    /// A purchase inside an app sold through an app store: an electronically supplied service.
    InAppPurchase,
    /// Training or teaching delivered live over the internet.
    OnlineTraining,
    /// Use or hire of a machine (movable tangible property).
    MachineUse,
    /// A physical good shipped to the buyer.
    PhysicalGood,
}

impl ProductTaxCode {
    /// Tells whether the code is a telecommunication, broadcasting or electronically supplied
    /// service, which Art. 58 of Council Directive 2006/112/EC taxes where the consumer is.
    pub fn is_electronic(self) -> bool {
        matches!(
            self,
            ProductTaxCode::ElectronicService
                | ProductTaxCode::Saas
                | ProductTaxCode::DigitalGood
                | ProductTaxCode::InAppPurchase
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProductTaxCode::ElectronicService => "electronic_service",
            ProductTaxCode::Saas => "saas",
            ProductTaxCode::DigitalGood => "digital_good",
            ProductTaxCode::InAppPurchase => "in_app_purchase",
            ProductTaxCode::OnlineTraining => "online_training",
            ProductTaxCode::MachineUse => "machine_use",
            ProductTaxCode::PhysicalGood => "physical_good",
        }
    }
}

/// The platform's part in a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    /// No platform takes part, or the platform is the supplier in its own name (a platform
    /// invoicing its commission to a partner is such a seller).
    None,
    /// The platform sells in the seller's name; the seller is the supplier and owes the tax.
    Agent,
    /// The platform is the deemed supplier for tax (EU Art. 9a of Implementing Regulation
    /// 282/2011 for electronic services, marketplace rules elsewhere) and owes the tax.
    DeemedSupplier,
}

/// One line of a document: its extended amount (quantity times unit price, after discounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputLine {
    /// Net amount, or gross when `prices_include_tax` is set; exact to the currency's minor unit.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "100.00")]
    pub amount: Decimal,
    /// Quantity, passed on to the external provider; defaults to 1.
    #[serde(default = "one", with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "1")]
    pub quantity: Decimal,
}

fn one() -> Decimal {
    Decimal::ONE
}

/// Everything a determination depends on besides the rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxInput {
    pub seller: Party,
    pub buyer: Party,
    /// The platform selling for the seller; required when `platform_role` is not `none`.
    #[serde(default)]
    pub platform: Option<Party>,
    pub platform_role: PlatformRole,
    pub product: ProductTaxCode,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub lines: Vec<InputLine>,
    #[serde(default)]
    pub prices_include_tax: bool,
    /// The moment the tax becomes chargeable. Rates are chosen by this instant's date in the
    /// taxing jurisdiction's time zone.
    pub tax_point: DateTime<Utc>,
}

impl TaxInput {
    /// Builds the underlying supply of a deemed-supplier sale: the seller supplies the
    /// platform, a business, for `lines` (the seller's share, net). Under Art. 9a of
    /// Implementing Regulation 282/2011 this is a supply of its own, usually B2B. Returns
    /// `None` unless the platform is the deemed supplier.
    pub fn partner_leg(&self, lines: Vec<InputLine>) -> Option<TaxInput> {
        let platform = self.platform.clone()?;
        if self.platform_role != PlatformRole::DeemedSupplier {
            return None;
        }
        Some(TaxInput {
            seller: self.seller.clone(),
            buyer: Party { kind: PartyKind::Business, ..platform },
            platform: None,
            platform_role: PlatformRole::None,
            product: self.product,
            currency: self.currency,
            lines,
            prices_include_tax: false,
            tax_point: self.tax_point,
        })
    }
}

/// The party that owes a tax amount to the authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Liability {
    /// The seller charges and remits the tax.
    Seller,
    /// The platform, as deemed supplier, charges and remits the tax.
    Platform,
    /// The buyer accounts for the tax itself (reverse charge, self-assessment).
    Buyer,
    /// No party, because the supply is exempt or outside the scope of the tax.
    Nobody,
}

/// The origin of a determination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeterminationSource {
    /// Local rules and rates.
    Local,
    /// The external tax provider.
    Provider,
    /// Local fallback rates, used because the provider failed. The result is an estimate.
    Fallback,
}

/// Whether a jurisdiction rounds tax once per line or once per document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoundingScope {
    Line,
    Document,
}

/// The tax of one jurisdiction over the whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxLine {
    /// Jurisdiction code: ISO 3166 (`FR`, `CA-QC`) or the provider's id for US jurisdictions.
    pub jurisdiction: String,
    pub jurisdiction_name: String,
    /// `country`, `state`, `county`, `city` or `special_district`.
    pub level: String,
    /// Name of the tax: VAT, GST, HST, QST, consumption tax, sales tax.
    pub tax_name: String,
    /// Stable id of the rule applied, such as `eu.b2c.electronic_services.destination`.
    pub rule: String,
    /// Rate in percent; 0 for a reverse charge, an exemption or a supply outside the scope.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "20")]
    pub rate: Decimal,
    /// Taxable base in the document currency.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "100.00")]
    pub taxable: Decimal,
    /// Tax amount in the document currency, exact to its minor unit.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "20.00")]
    pub amount: Decimal,
    pub liable: Liability,
    /// Text the invoice must carry, such as the reverse-charge mention.
    pub legal_mention: Option<String>,
    /// Source of the rate: the rate row's source and read date, or the provider.
    pub rate_source: String,
    pub rounding: RoundingScope,
}

/// The tax of one input line, in the order of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineTax {
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub net: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub tax: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub gross: Decimal,
    /// The line's share of each entry of `Determination::taxes`, in the same order.
    pub taxes: Vec<LineShare>,
}

/// One line's share of one jurisdiction's tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineShare {
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub taxable: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// A buyer's tax id that the determination did not use, kept for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnusedTaxId {
    /// The id as the buyer gave it.
    pub tax_id: String,
    /// Reason the id was not used, such as a failed check-digit test.
    pub reason: String,
}

/// The result of a determination: taxes per jurisdiction and per line, with the rules applied.
///
/// For every jurisdiction, `taxes[j].amount` equals the sum of `lines[i].taxes[j].amount`, and
/// `tax_total` equals the sum of `taxes[j].amount`, so no rounding residue is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Determination {
    /// The place-of-supply rule, as in every tax line.
    pub rule: String,
    /// The supplier for tax purposes: `seller` or `platform`.
    pub supplier: String,
    /// Rule that makes the platform the supplier, such as `eu.platform.deemed_supplier`
    /// (Art. 9a of Implementing Regulation 282/2011). `None` when the seller supplies.
    pub supplier_rule: Option<String>,
    /// Whether the buyer was taxed as a business (a valid tax id) or as a consumer.
    pub buyer_treated_as: PartyKind,
    /// The buyer's tax id as validated, such as `DE136695976`.
    pub buyer_tax_id: Option<String>,
    /// A tax id the buyer gave that the determination did not use, with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_tax_id_unused: Option<UnusedTaxId>,
    pub source: DeterminationSource,
    /// Set when the provider failed and local fallback rates were used.
    pub tax_estimated: bool,
    #[schema(value_type = String)]
    pub currency: Currency,
    pub prices_include_tax: bool,
    pub tax_point: DateTime<Utc>,
    /// The tax point's date in the taxing jurisdiction's time zone, used to pick the rates.
    pub tax_date: chrono::NaiveDate,
    pub taxes: Vec<TaxLine>,
    pub lines: Vec<LineTax>,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub net_total: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub tax_total: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub gross_total: Decimal,
    /// Mentions the invoice must carry, one per distinct text.
    pub legal_mentions: Vec<String>,
    /// The provider's response as received, kept for the audit trail.
    #[schema(value_type = Option<Object>)]
    pub provider_response: Option<serde_json::Value>,
}
