//! Place-of-supply rules: which jurisdiction taxes a sale, under which rule, and who owes it.
//!
//! EU rules follow Council Directive 2006/112/EC (the VAT Directive): Art. 44 (B2B services
//! where the customer is established), Art. 45 (B2C services where the supplier is), Art. 58
//! (telecommunication, broadcasting and electronic services to consumers where the consumer
//! is), Art. 59c (the EUR 10,000 threshold for suppliers established in one member state),
//! Art. 54(1) as amended by Directive (EU) 2022/542 (virtual events and training to consumers
//! where the consumer is, from 2025-01-01), Art. 33 (distance sales of goods), Art. 138
//! (exempt intra-Community supply of goods), Art. 146 (exempt export of goods) and Art. 196
//! (reverse charge). Outside the EU, electronic services sold to consumers by foreign
//! suppliers are taxed where the consumer is in the United Kingdom (VAT Act 1994, Sch. 4A
//! para. 15), Switzerland (MWSTG Art. 8), Norway (VOEC scheme), Australia (GST Act Div 84),
//! Japan (Consumption Tax Act, electronic services since 2015-10-01) and Canada (Excise Tax
//! Act, simplified regime since 2021-07-01; Quebec QST since 2019-01-01).

use chrono::NaiveDate;

use super::model::{
    Liability, Party, PartyKind, PlatformRole, ProductTaxCode, TaxInput, UnusedTaxId,
};
use super::rates::RateBook;
use super::vat_id::{self, TaxIdError};
use crate::error::{Error, ErrorCode};

/// EU member states by ISO 3166-1 code (Greece is `GR`, although its VAT prefix is `EL`).
pub const EU_MEMBER_STATES: &[&str] = &[
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// Non-EU countries whose tax this engine determines locally.
const OTHER_COVERED: &[&str] = &["AU", "CA", "CH", "GB", "JP", "NO"];

/// ISO 3166-1 alpha-2 officially assigned codes (249), for rejecting unknown countries.
const ISO_COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG \
    BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV \
    CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH \
    GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM \
    JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG \
    MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM \
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK \
    SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM \
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// US states and the District of Columbia (ISO 3166-2:US), all taxed through the provider.
const US_STATES: &str = "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI \
    MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY";

/// The date from which EU B2C online training is taxed where the consumer is.
const EU_VIRTUAL_EVENTS_FROM: (i32, u32, u32) = (2025, 1, 1);

const EU_REVERSE_CHARGE: &str =
    "Reverse charge: VAT to be accounted for by the customer (Article 196 of Council Directive \
     2006/112/EC)";
const EU_INTRA_COMMUNITY: &str =
    "Exempt intra-Community supply of goods (Article 138 of Council Directive 2006/112/EC)";
const EU_EXPORT: &str = "Exempt export of goods (Article 146 of Council Directive 2006/112/EC)";

/// Treatment of the supply by the taxing jurisdiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// The supplier charges the jurisdiction's rate.
    Charge,
    /// Nothing is charged: reverse charge, exemption or a supply outside the scope.
    Zero,
}

/// The outcome of the place-of-supply rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub rule: String,
    /// The most specific jurisdiction code where the supply is taxed or reported (`CA-QC`).
    pub place: String,
    pub treatment: Treatment,
    pub liable: Liability,
    pub mention: Option<String>,
}

/// The parties as the rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties {
    pub supplier_country: String,
    pub supplier_below_threshold: bool,
    /// The supplier's liability: the seller's or, as deemed supplier, the platform's.
    pub supplier_liability: Liability,
    pub supplier_rule: Option<String>,
    pub buyer_country: String,
    /// `CA-QC` style code of the buyer's subdivision, when the country has taxing subdivisions.
    pub buyer_subdivision: Option<String>,
    pub buyer_kind: PartyKind,
    pub buyer_tax_id: Option<String>,
    /// A tax id of a business buyer that failed its check digits, so the buyer is a consumer.
    pub buyer_tax_id_unused: Option<UnusedTaxId>,
}

pub fn is_eu(country: &str) -> bool {
    EU_MEMBER_STATES.contains(&country)
}

fn is_covered(country: &str) -> bool {
    is_eu(country) || OTHER_COVERED.contains(&country)
}

/// Returns whether `code` is one of the two-letter codes of `list`, which are separated by
/// single spaces. Every sale checks its parties' countries, so this compares bytes in place.
fn listed(list: &str, code: &str) -> bool {
    code.len() == 2 && list.as_bytes().chunks(3).any(|chunk| chunk[..2] == *code.as_bytes())
}

/// Checks that `country` is an ISO 3166-1 alpha-2 code, naming `field` when it is not.
pub fn check_country(country: &str, field: &str) -> Result<(), Error> {
    if listed(ISO_COUNTRIES, country) {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::UnknownJurisdiction,
        format!("unknown country '{country}': expected an ISO 3166-1 alpha-2 code such as FR"),
    )
    .field(field)
    .value(country))
}

/// Returns the `CA-QC` code of a party's subdivision where the country has taxing subdivisions.
fn subdivision(book: &RateBook, party: &Party, prefix: &str) -> Result<Option<String>, Error> {
    let country = &party.domicile.country;
    if !book.has_subdivisions(country) {
        return Ok(None);
    }
    let field = format!("{prefix}.domicile.subdivision");
    let Some(raw) = party.domicile.subdivision.as_deref() else {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("a subdivision is required for an address in {country}, such as {country}-QC"),
        )
        .field(field));
    };
    let code = if raw.contains('-') { raw.to_string() } else { format!("{country}-{raw}") };
    let us_state = country == "US" && code.get(3..).is_some_and(|state| listed(US_STATES, state));
    if code.starts_with(country.as_str()) && (us_state || book.jurisdiction(&code).is_some()) {
        return Ok(Some(code));
    }
    Err(Error::new(
        ErrorCode::UnknownJurisdiction,
        format!("unknown subdivision '{raw}' of {country}: expected an ISO 3166-2 code"),
    )
    .field(field)
    .value(raw))
}

/// The buyer as the rules treat it: its kind, the tax id used, and an id left unused.
struct BuyerStatus {
    kind: PartyKind,
    tax_id: Option<String>,
    unused: Option<UnusedTaxId>,
}

/// Decides how the buyer is taxed: as a business only with a tax id that passes its checks.
/// A malformed id is an error. An id that fails its check digits makes the buyer a consumer,
/// because the supplier cannot show that the buyer is registered for tax, and the status
/// records the id with the reason.
fn buyer_status(buyer: &Party) -> Result<BuyerStatus, Error> {
    let consumer = |unused| BuyerStatus { kind: PartyKind::Consumer, tax_id: None, unused };
    let Some(raw) = buyer.tax_id.as_deref().filter(|_| buyer.kind == PartyKind::Business) else {
        return Ok(consumer(None));
    };
    match vat_id::validate(&buyer.domicile.country, raw) {
        Ok(valid) => {
            Ok(BuyerStatus { kind: PartyKind::Business, tax_id: Some(valid.number), unused: None })
        }
        Err(err @ TaxIdError::CheckDigits { .. }) => Ok(consumer(Some(UnusedTaxId {
            tax_id: raw.to_string(),
            reason: format!("{err}, so the buyer is taxed as a consumer"),
        }))),
        Err(err) => Err(Error::new(ErrorCode::InvalidTaxId, err.to_string())
            .field("buyer.tax_id")
            .value(raw)),
    }
}

/// Validates the parties and settles who supplies and how the buyer is treated.
pub fn parties(book: &RateBook, input: &TaxInput) -> Result<Parties, Error> {
    check_country(&input.seller.domicile.country, "seller.domicile.country")?;
    check_country(&input.buyer.domicile.country, "buyer.domicile.country")?;
    let (supplier, supplier_liability) = match (input.platform_role, &input.platform) {
        (PlatformRole::DeemedSupplier, Some(platform)) => (platform, Liability::Platform),
        (PlatformRole::DeemedSupplier, None) => {
            return Err(Error::new(
                ErrorCode::InvalidField,
                "platform is required when platform_role is deemed_supplier",
            )
            .field("platform"));
        }
        _ => (&input.seller, Liability::Seller),
    };
    if let Some(platform) = &input.platform {
        check_country(&platform.domicile.country, "platform.domicile.country")?;
    }
    let buyer_country = input.buyer.domicile.country.clone();
    let supplier_rule = (supplier_liability == Liability::Platform).then(|| {
        if is_eu(&buyer_country) && input.product.is_electronic() {
            "eu.platform.deemed_supplier".to_string()
        } else {
            "platform.deemed_supplier".to_string()
        }
    });
    let buyer = buyer_status(&input.buyer)?;
    Ok(Parties {
        supplier_country: supplier.domicile.country.clone(),
        supplier_below_threshold: supplier.eu_below_distance_threshold,
        supplier_liability,
        supplier_rule,
        buyer_subdivision: subdivision(book, &input.buyer, "buyer")?,
        buyer_country,
        buyer_kind: buyer.kind,
        buyer_tax_id: buyer.tax_id,
        buyer_tax_id_unused: buyer.unused,
    })
}

fn missing_rule(parties: &Parties, product: ProductTaxCode) -> Error {
    Error::new(
        ErrorCode::TaxRuleMissing,
        format!(
            "no tax rule covers {} sold from {} to a {} in {}",
            product.as_str(),
            parties.supplier_country,
            match parties.buyer_kind {
                PartyKind::Business => "business",
                PartyKind::Consumer => "consumer",
            },
            parties.buyer_country
        ),
    )
    .field("product")
    .value(product.as_str())
}

/// Applies the place-of-supply rules. `buyer_date` is the tax point's date in the buyer's
/// country, which decides rules that changed over time.
pub fn place(
    parties: &Parties,
    product: ProductTaxCode,
    buyer_date: NaiveDate,
) -> Result<Placement, Error> {
    let from = &parties.supplier_country;
    let to = &parties.buyer_country;
    let buyer_place = parties.buyer_subdivision.clone().unwrap_or_else(|| to.clone());
    let charge = |rule: &str, place: &str| Placement {
        rule: rule.to_string(),
        place: place.to_string(),
        treatment: Treatment::Charge,
        liable: parties.supplier_liability,
        mention: None,
    };
    let zero = |rule: &str, place: &str, liable: Liability, mention: Option<&str>| Placement {
        rule: rule.to_string(),
        place: place.to_string(),
        treatment: Treatment::Zero,
        liable,
        mention: mention.map(str::to_string),
    };

    if to == "US" {
        return Err(Error::new(
            ErrorCode::TaxProviderRequired,
            "sales to the United States are taxed by the external tax provider",
        )
        .field("buyer.domicile.country")
        .value(to.as_str()));
    }
    if from == to && is_covered(to) {
        let prefix = if is_eu(to) { "eu".to_string() } else { to.to_lowercase() };
        return Ok(charge(&format!("{prefix}.domestic"), &buyer_place));
    }
    if is_eu(to) {
        return place_in_eu(parties, product, buyer_date, &charge, &zero);
    }
    if is_covered(to) {
        let prefix = to.to_lowercase();
        if product == ProductTaxCode::PhysicalGood {
            return Err(missing_rule(parties, product));
        }
        if parties.buyer_kind == PartyKind::Business {
            let mention = "Reverse charge: the customer accounts for the tax";
            let rule = format!("{prefix}.b2b.reverse_charge");
            return Ok(zero(&rule, &buyer_place, Liability::Buyer, Some(mention)));
        }
        if product.is_electronic() {
            return Ok(charge(&format!("{prefix}.b2c.digital_services.destination"), &buyer_place));
        }
        return Err(missing_rule(parties, product));
    }
    if is_covered(from) {
        if product == ProductTaxCode::PhysicalGood {
            let mention = is_eu(from).then_some(EU_EXPORT);
            return Ok(zero("export.goods.exempt", from, Liability::Nobody, mention));
        }
        return Ok(zero("export.services.outside_scope", from, Liability::Nobody, None));
    }
    Err(missing_rule(parties, product))
}

type Charge<'a> = dyn Fn(&str, &str) -> Placement + 'a;
type Zero<'a> = dyn Fn(&str, &str, Liability, Option<&str>) -> Placement + 'a;

/// Applies the EU rules to a buyer in a member state other than the supplier's.
fn place_in_eu(
    parties: &Parties,
    product: ProductTaxCode,
    buyer_date: NaiveDate,
    charge: &Charge<'_>,
    zero: &Zero<'_>,
) -> Result<Placement, Error> {
    let from = parties.supplier_country.as_str();
    let to = parties.buyer_country.as_str();
    let supplier_in_eu = is_eu(from);
    let origin_allowed = supplier_in_eu && parties.supplier_below_threshold;

    if parties.buyer_kind == PartyKind::Business {
        if product == ProductTaxCode::PhysicalGood {
            if !supplier_in_eu {
                return Err(missing_rule(parties, product));
            }
            let rule = "eu.b2b.intra_community_goods.exempt";
            return Ok(zero(rule, to, Liability::Nobody, Some(EU_INTRA_COMMUNITY)));
        }
        return Ok(zero("eu.b2b.reverse_charge", to, Liability::Buyer, Some(EU_REVERSE_CHARGE)));
    }

    match product {
        _ if product.is_electronic() => Ok(if origin_allowed {
            charge("eu.b2c.electronic_services.origin_threshold", from)
        } else {
            charge("eu.b2c.electronic_services.destination", to)
        }),
        ProductTaxCode::PhysicalGood if supplier_in_eu => Ok(if origin_allowed {
            charge("eu.b2c.distance_sales.origin_threshold", from)
        } else {
            charge("eu.b2c.distance_sales.destination", to)
        }),
        ProductTaxCode::OnlineTraining => {
            let (year, month, day) = EU_VIRTUAL_EVENTS_FROM;
            let virtual_events_from = NaiveDate::from_ymd_opt(year, month, day);
            if Some(buyer_date) >= virtual_events_from {
                Ok(charge("eu.b2c.online_training.destination", to))
            } else if supplier_in_eu {
                Ok(charge("eu.b2c.general.origin", from))
            } else {
                Ok(zero("eu.b2c.general.outside_union", to, Liability::Nobody, None))
            }
        }
        ProductTaxCode::MachineUse if supplier_in_eu => Ok(charge("eu.b2c.general.origin", from)),
        _ => Err(missing_rule(parties, product)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lists_are_well_formed() {
        for (list, count) in [(ISO_COUNTRIES, 249), (US_STATES, 51)] {
            let codes: Vec<&str> = list.split(' ').collect();
            assert_eq!(codes.len(), count);
            for code in codes {
                assert!(
                    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                    "{code:?}"
                );
                assert!(listed(list, code), "{code}");
            }
        }
        assert!(listed(ISO_COUNTRIES, "ZW"));
        assert!(listed(US_STATES, "WY"));
        for absent in ["XX", "fr", "F", "FRA", "", "W ", " Z", "D\u{e9}"] {
            assert!(!listed(ISO_COUNTRIES, absent), "{absent:?}");
        }
    }
}
