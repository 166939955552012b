//! The deterministic scenario generator behind `subledger fixtures generate`.
//!
//! Everything comes from one seeded `Dice` in a fixed order over slices (never over hash
//! maps), so one seed and scale always give the same files.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use super::dice::Dice;
use super::places::{self, Place, PLACES};
use super::scenario::*;
use super::vat_ids;
use crate::money::{Currency, Rounding};

/// The demo month.
const YEAR: i32 = 2026;
const MONTH: u32 = 11;
const LAST_DAY: u32 = 30;

/// The currencies every partner accepts, and the demo's price conversion from EUR in
/// thousandths (invented round figures, not market rates).
const CURRENCIES: &[(&str, i64)] = &[
    ("EUR", 1000),
    ("USD", 1080),
    ("GBP", 850),
    ("JPY", 160_000),
    ("CAD", 1500),
    ("AUD", 1650),
    ("CHF", 940),
];

/// A partner's trade, which decides its catalog.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    AppStudio,
    SaasVendor,
    MachineOperator,
    TrainingAcademy,
}

use Category::*;

/// Partners' domiciles and trades. The first twelve make the small scale, so they cover
/// every trade and the places tax treats differently.
const PARTNER_SPECS: &[(&str, Option<&str>, Category)] = &[
    ("DE", None, AppStudio),
    ("US", Some("CA"), SaasVendor),
    ("GB", None, TrainingAcademy),
    ("JP", None, AppStudio),
    ("CA", Some("QC"), SaasVendor),
    ("AU", Some("NSW"), MachineOperator),
    ("FR", None, SaasVendor),
    ("US", Some("TX"), MachineOperator),
    ("CA", Some("ON"), AppStudio),
    ("NL", None, TrainingAcademy),
    ("US", Some("WA"), AppStudio),
    ("IE", None, SaasVendor),
    ("US", Some("NY"), SaasVendor),
    ("DE", None, MachineOperator),
    ("GB", None, AppStudio),
    ("SE", None, AppStudio),
    ("IT", None, TrainingAcademy),
    ("ES", None, AppStudio),
    ("PL", None, SaasVendor),
    ("CH", None, MachineOperator),
    ("AT", None, TrainingAcademy),
    ("US", Some("OR"), AppStudio),
    ("JP", None, SaasVendor),
    ("AU", Some("VIC"), AppStudio),
    ("CA", Some("ON"), TrainingAcademy),
    ("FR", None, AppStudio),
    ("US", Some("CA"), AppStudio),
    ("DE", None, SaasVendor),
    ("NL", None, AppStudio),
    ("GB", None, SaasVendor),
    ("US", Some("TX"), AppStudio),
    ("US", Some("WA"), SaasVendor),
    ("JP", None, MachineOperator),
    ("DE", None, TrainingAcademy),
    ("FR", None, MachineOperator),
    ("IE", None, AppStudio),
    ("SE", None, SaasVendor),
    ("IT", None, AppStudio),
    ("ES", None, SaasVendor),
    ("PL", None, AppStudio),
    ("CA", Some("QC"), AppStudio),
    ("AU", Some("NSW"), SaasVendor),
    ("US", Some("NY"), AppStudio),
    ("GB", None, MachineOperator),
    ("US", Some("CA"), TrainingAcademy),
    ("DE", None, AppStudio),
    ("NL", None, SaasVendor),
    ("US", Some("TX"), SaasVendor),
    ("CA", Some("ON"), SaasVendor),
    ("JP", None, TrainingAcademy),
    ("AT", None, AppStudio),
    ("US", Some("WA"), MachineOperator),
    ("FR", None, TrainingAcademy),
    ("GB", None, AppStudio),
];

/// Sizes of one scale.
struct Size {
    partners: usize,
    customers: usize,
    one_off_invoices: usize,
    /// Share of invoices refunded, in thousandths. The small scale refunds more, so that its
    /// test covers every kind of credit note.
    refunds_per_mille: u64,
}

fn size(scale: Scale) -> Size {
    match scale {
        Scale::Small => {
            Size { partners: 12, customers: 90, one_off_invoices: 260, refunds_per_mille: 80 }
        }
        Scale::Full => Size {
            partners: PARTNER_SPECS.len(),
            customers: 2_400,
            one_off_invoices: 19_000,
            refunds_per_mille: 24,
        },
    }
}

/// Generates the scenario of `seed` at `scale`.
pub fn generate(seed: u64, scale: Scale) -> Scenario {
    let size = size(scale);
    let mut dice = Dice::new(seed);
    let platform = platform(&mut dice);
    let partners: Vec<Partner> = PARTNER_SPECS[..size.partners]
        .iter()
        .enumerate()
        .map(|(i, spec)| partner(&mut dice, i, *spec))
        .collect();
    let customers: Vec<Customer> = (0..size.customers).map(|i| customer(&mut dice, i)).collect();
    let invoices = invoices(&mut dice, &partners, &customers, &size);
    Scenario {
        header: Header {
            seed,
            scale,
            first_day: date(1),
            last_day: date(LAST_DAY),
            payout_as_of: date(LAST_DAY),
            platform,
            partners,
        },
        customers,
        invoices,
    }
}

fn date(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(YEAR, MONTH, day).expect("a day of the demo month")
}

fn instant(day: u32, second_of_day: u64) -> DateTime<Utc> {
    let midnight = Utc.from_utc_datetime(&date(day).and_hms_opt(0, 0, 0).expect("midnight"));
    midnight + Duration::seconds(second_of_day as i64)
}

/// Returns the last instant documents may carry: noon UTC on the last day. That is still the
/// last day in every time zone of the catalog, so no document falls into December anywhere.
fn cutoff() -> DateTime<Utc> {
    instant(LAST_DAY, 12 * 3600)
}

fn platform(dice: &mut Dice) -> Platform {
    let place = places::find("IE", None).expect("Dublin is in the catalog");
    Platform {
        name: "Harbourline Marketplace Ltd".to_string(),
        domicile: domicile(dice, place),
        vat_id: vat_ids::valid(dice, "IE").expect("the tax engine checks Irish VAT numbers"),
    }
}

fn domicile(dice: &mut Dice, place: &Place) -> Domicile {
    let street = dice.pick(places::street_names(place.country));
    let number = dice.between(1, 180);
    let street = match place.country {
        "DE" | "AT" | "CH" | "NL" | "IT" | "ES" | "PT" | "SE" | "DK" | "NO" | "FI" | "PL"
        | "CZ" | "SK" | "SI" | "HR" | "HU" | "EE" | "LV" | "LT" | "BG" | "RO" | "GR" | "BE" => {
            format!("{street} {number}")
        }
        "FR" | "LU" => format!("{number} {street}"),
        _ => format!("{number} {street}"),
    };
    Domicile {
        country: place.country.to_string(),
        subdivision: place.subdivision.map(str::to_string),
        postal_code: place.postal_code.to_string(),
        city: place.city.to_string(),
        street,
        time_zone: place.time_zone.to_string(),
    }
}

fn partner_place(dice: &mut Dice, country: &str, subdivision: Option<&str>) -> &'static Place {
    let matching: Vec<&Place> = PLACES
        .iter()
        .filter(|place| {
            place.country == country && (subdivision.is_none() || place.subdivision == subdivision)
        })
        .collect();
    let place: &&Place = dice.pick(&matching);
    place
}

fn partner(dice: &mut Dice, index: usize, spec: (&str, Option<&str>, Category)) -> Partner {
    let (country, subdivision, category) = spec;
    let key = format!("P{:02}", index + 1);
    let place = partner_place(dice, country, subdivision);
    let name = company_name(dice, country, category);
    let vat_id = vat_ids::valid(dice, country);
    let products = catalog(dice, &key, category);
    Partner {
        key,
        name,
        domicile: domicile(dice, place),
        vat_id,
        agreement: agreement(dice, index, category),
        products,
    }
}

fn agreement(dice: &mut Dice, index: usize, category: Category) -> Agreement {
    // Digital goods sold to consumers are where the platform is most often the deemed
    // supplier; other trades mostly sell through the platform as agent.
    let supplier_share = if category == AppStudio { 600 } else { 200 };
    let platform_role =
        if dice.chance(supplier_share) { PlatformRole::Supplier } else { PlatformRole::Agent };
    let commission = match index % 4 {
        0 => Commission { rate: Some(Decimal::new(15, 2)), ..no_commission() },
        1 => Commission {
            tiers: vec![
                Tier { up_to: Some(Decimal::from(1_000_000)), rate: Decimal::new(15, 2) },
                Tier { up_to: None, rate: Decimal::new(30, 2) },
            ],
            ..no_commission()
        },
        2 => Commission {
            rate: Some(Decimal::new(5, 2)),
            fixed_fee: fixed_fees(50),
            ..no_commission()
        },
        _ => Commission { rate: Some(Decimal::new(20, 2)), ..no_commission() },
    };
    let minimum = if dice.chance(250) { 10_000 } else { 2_500 };
    Agreement {
        platform_role,
        commission,
        refund_commission: if index % 3 == 0 {
            RefundCommission::PlatformKeeps
        } else {
            RefundCommission::Reversed
        },
        minimum_payout: fixed_fees(minimum),
        payout_delay_days: *dice.pick(&[0, 7, 14]),
        currencies: CURRENCIES.iter().map(|(code, _)| code.to_string()).collect(),
    }
}

fn no_commission() -> Commission {
    Commission { rate: None, fixed_fee: BTreeMap::new(), tiers: Vec::new() }
}

/// Converts an amount given in EUR cents into every currency.
fn fixed_fees(eur_cents: i64) -> BTreeMap<String, Decimal> {
    CURRENCIES.iter().map(|(code, _)| (code.to_string(), convert(eur_cents, code, false))).collect()
}

/// Converts an amount in EUR cents to `currency` at the demo's factor, rounded to a price
/// point: whole tens of yen, tens of cents elsewhere, ending in 9 when `charm` is set.
fn convert(eur_cents: i64, currency: &str, charm: bool) -> Decimal {
    let factor =
        CURRENCIES.iter().find(|(code, _)| *code == currency).map(|(_, f)| *f).unwrap_or(1000);
    if currency == "JPY" {
        let yen = (eur_cents * factor / 100_000 + 5) / 10 * 10;
        let yen = if charm { yen.max(100) - 2 } else { yen.max(10) };
        return Decimal::from(yen);
    }
    let cents = (eur_cents * factor / 1000 + 5) / 10 * 10;
    let cents = if charm { cents.max(100) - 1 } else { cents.max(10) };
    Decimal::new(cents, 2)
}

const APP_WORDS: &[&str] = &[
    "Pixel", "Garden", "Orbit", "Lantern", "Puzzle", "Harbor", "Comet", "Maple", "Quill", "Tundra",
    "Velvet", "Cobalt", "Meadow", "Signal", "Ember", "Atlas",
];

fn catalog(dice: &mut Dice, key: &str, category: Category) -> Vec<Product> {
    let names: Vec<(String, ProductKind)> = match category {
        AppStudio => vec![
            (format!("{} {}", dice.pick(APP_WORDS), dice.pick(APP_WORDS)), ProductKind::App),
            (format!("{} {} Pro", dice.pick(APP_WORDS), dice.pick(APP_WORDS)), ProductKind::App),
            ("Coin pack".to_string(), ProductKind::InApp),
            ("Season pass".to_string(), ProductKind::InApp),
        ],
        SaasVendor => vec![
            (format!("{} Team plan", dice.pick(APP_WORDS)), ProductKind::Subscription),
            (format!("{} Business plan", dice.pick(APP_WORDS)), ProductKind::Subscription),
        ],
        MachineOperator => vec![
            ("CNC milling, machine hour".to_string(), ProductKind::MachineHours),
            ("Industrial 3D printing, machine hour".to_string(), ProductKind::MachineHours),
        ],
        TrainingAcademy => vec![
            ("Onboarding workshop, per participant".to_string(), ProductKind::Training),
            ("Advanced course, per participant".to_string(), ProductKind::Training),
        ],
    };
    names
        .into_iter()
        .enumerate()
        .map(|(i, (name, kind))| Product { sku: format!("{key}-{}", i + 1), name, kind })
        .collect()
}

const FIRST_NAMES: &[&str] = &[
    "Anna", "Lukas", "Chloé", "Mateo", "Sofia", "Jonas", "Emma", "Noah", "Yuki", "Liam", "Olivia",
    "Elias", "Mia", "Hugo", "Aiko", "Leon", "Clara", "Marta", "Oskar", "Nora", "Ravi", "Ines",
    "Tomás", "Freya", "Kenji", "Alma", "Felix", "Zoë", "Mila", "Arjun",
];
const LAST_NAMES: &[&str] = &[
    "Brandt",
    "Moreau",
    "Rossi",
    "García",
    "Jansen",
    "Novak",
    "Lindqvist",
    "Tanaka",
    "Walsh",
    "Kowalski",
    "Dubois",
    "Fischer",
    "Costa",
    "Horvat",
    "Petrov",
    "Sato",
    "Murphy",
    "Schmidt",
    "Bianchi",
    "Nielsen",
    "Okafor",
    "Campbell",
    "Tremblay",
    "Nguyen",
    "Keller",
    "Varga",
];
const COMPANY_WORDS: &[&str] = &[
    "Nordlicht",
    "Bluefin",
    "Kestrel",
    "Alder",
    "Brightwater",
    "Copperleaf",
    "Driftwood",
    "Fernhill",
    "Granite",
    "Hollow",
    "Ironbark",
    "Juniper",
    "Larkspur",
    "Millbrook",
    "Northgate",
    "Oakridge",
    "Pinecrest",
    "Redwater",
    "Silverline",
    "Thornbury",
    "Upland",
    "Westmark",
];

fn company_suffix(country: &str) -> &'static str {
    match country {
        "DE" | "AT" => "GmbH",
        "CH" => "AG",
        "FR" | "BE" | "LU" => "SAS",
        "IT" => "S.r.l.",
        "ES" => "S.L.",
        "PT" => "Lda.",
        "NL" => "B.V.",
        "SE" => "AB",
        "DK" | "NO" => "AS",
        "FI" => "Oy",
        "PL" => "Sp. z o.o.",
        "CZ" | "SK" => "s.r.o.",
        "JP" => "K.K.",
        "AU" => "Pty Ltd",
        "US" => "Inc.",
        "CA" => "Inc.",
        _ => "Ltd",
    }
}

fn company_name(dice: &mut Dice, country: &str, category: Category) -> String {
    let trade = match category {
        AppStudio => "Games",
        SaasVendor => "Software",
        MachineOperator => "Fabrication",
        TrainingAcademy => "Academy",
    };
    format!("{} {trade} {}", dice.pick(COMPANY_WORDS), company_suffix(country))
}

fn customer(dice: &mut Dice, index: usize) -> Customer {
    // The first customers take every place in turn, so each place has at least one.
    let place = if index < PLACES.len() {
        &PLACES[index]
    } else {
        let weights: Vec<u32> = PLACES.iter().map(|place| place.weight).collect();
        &PLACES[dice.weighted(&weights)]
    };
    let business = dice.chance(300);
    let name = if business {
        format!("{} {}", dice.pick(COMPANY_WORDS), company_suffix(place.country))
    } else {
        format!("{} {}", dice.pick(FIRST_NAMES), dice.pick(LAST_NAMES))
    };
    let (vat_id, vat_id_valid) =
        if business { business_vat_id(dice, place.country) } else { (None, None) };
    Customer {
        key: format!("C{:04}", index + 1),
        name,
        business,
        domicile: domicile(dice, place),
        vat_id,
        vat_id_valid,
        currency: place.currency.to_string(),
    }
}

/// Gives most businesses in VAT countries an id that passes its check digits, and about one
/// in thirty an id that fails them.
fn business_vat_id(dice: &mut Dice, country: &str) -> (Option<String>, Option<bool>) {
    if dice.chance(35) {
        if let Some(id) = vat_ids::invalid(dice, country) {
            return (Some(id), Some(false));
        }
    }
    match vat_ids::valid(dice, country) {
        Some(id) => (Some(id), Some(true)),
        None => (None, None),
    }
}

/// Invoices of the month in issue order: one subscription invoice per subscription, then
/// the scale's one-off app purchases, in-app purchases, machine hours and training sessions.
fn invoices(
    dice: &mut Dice,
    partners: &[Partner],
    customers: &[Customer],
    size: &Size,
) -> Vec<Invoice> {
    let consumers: Vec<&Customer> = customers.iter().filter(|c| !c.business).collect();
    let businesses: Vec<&Customer> = customers.iter().filter(|c| c.business).collect();
    // The tax engine counts a business without a valid VAT id as a consumer, and machine time
    // and training are sold to businesses only.
    let renters: Vec<&Customer> =
        businesses.iter().copied().filter(|c| c.vat_id_valid == Some(true)).collect();
    let mut drafts = subscriptions(dice, partners, &consumers, &businesses);
    let kinds =
        [ProductKind::App, ProductKind::InApp, ProductKind::MachineHours, ProductKind::Training];
    let weights = [46, 40, 8, 6];
    for _ in 0..size.one_off_invoices {
        let kind = kinds[dice.weighted(&weights)];
        let buyer_is_business = match kind {
            ProductKind::App | ProductKind::InApp => dice.chance(80),
            _ => true,
        };
        let customer = match (kind, buyer_is_business) {
            (ProductKind::MachineHours | ProductKind::Training, _) => *dice.pick(&renters),
            (_, true) => *dice.pick(&businesses),
            (_, false) => *dice.pick(&consumers),
        };
        let (partner, product) = offering(dice, partners, kind);
        let day = dice.between(1, LAST_DAY as u64) as u32;
        drafts.push(draft(dice, customer, partner, product, day));
    }
    drafts.sort_by(|a, b| a.issued_at.cmp(&b.issued_at).then_with(|| a.customer.cmp(&b.customer)));
    for (index, invoice) in drafts.iter_mut().enumerate() {
        invoice.key = format!("I{:06}", index + 1);
    }
    let businesses: BTreeMap<&str, bool> =
        customers.iter().map(|c| (c.key.as_str(), c.business)).collect();
    for invoice in &mut drafts {
        let business = businesses.get(invoice.customer.as_str()).copied().unwrap_or(false);
        settle(dice, invoice, business);
        invoice.credit = credit(dice, invoice, size.refunds_per_mille);
    }
    drafts
}

/// Drafts one monthly invoice per subscription. Most businesses and some consumers subscribe
/// to one or two SaaS plans, billed on the day of the month they signed up.
fn subscriptions(
    dice: &mut Dice,
    partners: &[Partner],
    consumers: &[&Customer],
    businesses: &[&Customer],
) -> Vec<Invoice> {
    let mut drafts = Vec::new();
    let subscribers = businesses.iter().map(|c| (c, 850)).chain(consumers.iter().map(|c| (c, 120)));
    for (customer, per_mille) in subscribers {
        if !dice.chance(per_mille) {
            continue;
        }
        let plans = if customer.business { dice.between(1, 2) } else { 1 };
        for _ in 0..plans {
            let (partner, product) = offering(dice, partners, ProductKind::Subscription);
            let day = dice.between(1, 28) as u32;
            drafts.push(draft(dice, customer, partner, product, day));
        }
    }
    drafts
}

fn offering<'a>(
    dice: &mut Dice,
    partners: &'a [Partner],
    kind: ProductKind,
) -> (&'a Partner, &'a Product) {
    let offers: Vec<(&Partner, &Product)> = partners
        .iter()
        .flat_map(|partner| partner.products.iter().map(move |product| (partner, product)))
        .filter(|(_, product)| product.kind == kind)
        .collect();
    *dice.pick(&offers)
}

/// Drafts an invoice without its key, payments or credit.
fn draft(
    dice: &mut Dice,
    customer: &Customer,
    partner: &Partner,
    product: &Product,
    day: u32,
) -> Invoice {
    // Daytime in Europe; the last day stops at noon UTC (see `cutoff`).
    let last_hour = if day == LAST_DAY { 11 } else { 20 };
    let second = dice.between(8 * 3600, last_hour * 3600 + 3599);
    let currency = customer.currency.as_str();
    let line = line(dice, product, currency, customer.business);
    // Consumer prices include tax, except in the United States and Canada where sales tax is
    // added at the till.
    let tax_included =
        !customer.business && !matches!(customer.domicile.country.as_str(), "US" | "CA");
    let due_days = match (customer.business, product.kind) {
        (false, _) => 0,
        (true, ProductKind::Subscription) => 7,
        (true, _) => 14,
    };
    Invoice {
        key: String::new(),
        customer: customer.key.clone(),
        partner: partner.key.clone(),
        issued_at: instant(day, second),
        due_days,
        currency: currency.to_string(),
        tax_included,
        lines: vec![line],
        payments: Vec::new(),
        credit: None,
    }
}

fn line(dice: &mut Dice, product: &Product, currency: &str, business: bool) -> Line {
    let sku = product.sku.clone();
    match product.kind {
        ProductKind::App => {
            let eur_cents = *dice.pick(&[99, 199, 299, 499, 799, 999, 1499]);
            Line {
                sku,
                quantity: Decimal::ONE,
                unit_price: convert(eur_cents, currency, true),
                discount: None,
                meter: None,
            }
        }
        ProductKind::InApp => {
            let eur_cents = *dice.pick(&[99, 199, 499, 999, 1999, 4999]);
            let quantity = if dice.chance(150) { 2 } else { 1 };
            Line {
                sku,
                quantity: Decimal::from(quantity),
                unit_price: convert(eur_cents, currency, true),
                discount: None,
                meter: None,
            }
        }
        ProductKind::Subscription => {
            let seats = Decimal::from(if business { dice.between(2, 40) } else { 1 });
            let eur_cents = *dice.pick(&[800, 1200, 1900, 2900, 4500]);
            let unit_price = convert(eur_cents, currency, false);
            // Annual-commitment customers get 10% off their monthly invoice.
            let discount =
                (business && dice.chance(250)).then(|| ten_percent(seats * unit_price, currency));
            Line { sku, quantity: seats, unit_price, discount, meter: None }
        }
        ProductKind::MachineHours => {
            // An hour meter read at the start and end of the job, in quarter hours.
            let start = Decimal::new(dice.between(100_000, 4_000_000) as i64 * 25, 2);
            let hours = Decimal::new(dice.between(4, 320) as i64 * 25, 2);
            let eur_cents = *dice.pick(&[2500, 4200, 6800, 11_000]);
            Line {
                sku,
                quantity: hours,
                unit_price: convert(eur_cents, currency, false),
                discount: None,
                meter: Some([start, start + hours]),
            }
        }
        ProductKind::Training => {
            let participants = dice.between(1, 12);
            let eur_cents = *dice.pick(&[9000, 18_000, 32_000, 45_000]);
            Line {
                sku,
                quantity: Decimal::from(participants),
                unit_price: convert(eur_cents, currency, false),
                discount: None,
                meter: None,
            }
        }
    }
}

/// Returns 10% of `amount`, rounded half-up to the currency's minor unit.
fn ten_percent(amount: Decimal, currency: &str) -> Decimal {
    let currency = Currency::parse(currency).expect("the demo's currencies are ISO 4217 codes");
    currency.round(amount / Decimal::TEN, Rounding::HalfUp)
}

/// Decides how the invoice is paid. Payments that would fall after the cutoff are dropped,
/// because they have not happened by the month's end.
fn settle(dice: &mut Dice, invoice: &mut Invoice, business: bool) {
    let issued = invoice.issued_at;
    let due = issued + Duration::days(i64::from(invoice.due_days));
    let roll = dice.below(1000);
    let mut payments = Vec::new();
    if !business {
        // Card payments at checkout; a few fail and stay open, a few pay too much by transfer.
        let at = issued + Duration::seconds(dice.between(5, 600) as i64);
        match roll {
            0..=959 => payments.push(Payment { at, amount: PaymentAmount::Rest }),
            960..=974 => {
                payments.push(Payment { at, amount: PaymentAmount::RestPlus(tip(invoice)) })
            }
            _ => {}
        }
    } else {
        let days = |dice: &mut Dice, low: u64, high: u64| {
            Duration::seconds(dice.between(low * 86_400, high * 86_400) as i64)
        };
        let on_time = |dice: &mut Dice| issued + days(dice, 0, u64::from(invoice.due_days));
        let late = |dice: &mut Dice| due + days(dice, 1, 12);
        match roll {
            0..=679 => payments.push(Payment { at: on_time(dice), amount: PaymentAmount::Rest }),
            680..=779 => payments.push(Payment { at: late(dice), amount: PaymentAmount::Rest }),
            780..=839 => payments
                .push(Payment { at: on_time(dice), amount: PaymentAmount::Share(share(dice)) }),
            840..=879 => {
                let first = on_time(dice);
                payments.push(Payment { at: first, amount: PaymentAmount::Share(share(dice)) });
                payments
                    .push(Payment { at: first + days(dice, 1, 10), amount: PaymentAmount::Rest });
            }
            880..=909 => payments
                .push(Payment { at: on_time(dice), amount: PaymentAmount::RestPlus(tip(invoice)) }),
            _ => {}
        }
    }
    payments.retain(|payment| payment.at <= cutoff());
    invoice.payments = payments;
}

fn share(dice: &mut Dice) -> Decimal {
    Decimal::new(dice.between(20, 80) as i64 * 5, 3)
}

/// Returns a small overpayment in the invoice's currency.
fn tip(invoice: &Invoice) -> Decimal {
    convert(500, &invoice.currency, false)
}

/// Refunds `per_mille` thousandths of invoices, fully or in part, a few days after issue.
fn credit(dice: &mut Dice, invoice: &Invoice, per_mille: u64) -> Option<Credit> {
    if !dice.chance(per_mille) {
        return None;
    }
    let at = invoice.issued_at + Duration::seconds(dice.between(3_600, 10 * 86_400) as i64);
    let line = &invoice.lines[0];
    let scope = match dice.below(3) {
        0 => CreditScope::Full,
        1 if line.quantity > Decimal::ONE && line.meter.is_none() => {
            CreditScope::Line { line: 0, quantity: Decimal::ONE }
        }
        _ => CreditScope::Share(Decimal::new(dice.between(2, 8) as i64, 1)),
    };
    (at <= cutoff()).then_some(Credit { at, scope })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn full() -> &'static Scenario {
        static FULL: std::sync::OnceLock<Scenario> = std::sync::OnceLock::new();
        FULL.get_or_init(|| generate(2026, Scale::Full))
    }

    #[test]
    fn same_seed_same_scenario() {
        assert_eq!(generate(11, Scale::Small), generate(11, Scale::Small));
        assert_ne!(generate(11, Scale::Small), generate(12, Scale::Small));
    }

    #[test]
    fn partners_cover_required_places() {
        let partners = &full().header.partners;
        assert!(partners.len() >= 50, "{} partners", partners.len());
        let countries: BTreeSet<&str> =
            partners.iter().map(|p| p.domicile.country.as_str()).collect();
        assert!(countries.len() >= 12, "{countries:?}");
        let places: BTreeSet<(&str, Option<&str>)> = partners
            .iter()
            .map(|p| (p.domicile.country.as_str(), p.domicile.subdivision.as_deref()))
            .collect();
        let us_states = places.iter().filter(|(country, _)| *country == "US").count();
        assert!(us_states >= 4, "{us_states} US states");
        for required in [("GB", None), ("CA", Some("QC")), ("CA", Some("ON")), ("JP", None)] {
            assert!(places.contains(&required), "no partner in {required:?}");
        }
        assert!(countries.contains("AU"));
    }

    #[test]
    fn agreements_are_mixed() {
        let agreements: Vec<&Agreement> =
            full().header.partners.iter().map(|p| &p.agreement).collect();
        assert!(agreements.iter().any(|a| a.platform_role == PlatformRole::Agent));
        assert!(agreements.iter().any(|a| a.platform_role == PlatformRole::Supplier));
        assert!(agreements.iter().any(|a| a.commission.tiers.len() > 1));
        assert!(agreements.iter().any(|a| !a.commission.fixed_fee.is_empty()));
        assert!(agreements
            .iter()
            .any(|a| a.commission.rate.is_some() && a.commission.fixed_fee.is_empty()));
    }

    #[test]
    fn customers_span_thirty_jurisdictions() {
        let customers = &full().customers;
        assert!(customers.len() >= 2_000);
        let jurisdictions: BTreeSet<(&str, Option<&str>)> = customers
            .iter()
            .map(|c| (c.domicile.country.as_str(), c.domicile.subdivision.as_deref()))
            .collect();
        assert!(jurisdictions.len() >= 30, "{} jurisdictions", jurisdictions.len());
        assert!(customers.iter().any(|c| c.business));
        assert!(customers.iter().any(|c| !c.business));
    }

    #[test]
    fn invoices_cover_kinds_and_currencies() {
        let scenario = full();
        assert!(scenario.invoices.len() >= 20_000, "{} invoices", scenario.invoices.len());
        let currencies: BTreeSet<&str> =
            scenario.invoices.iter().map(|i| i.currency.as_str()).collect();
        assert_eq!(currencies, BTreeSet::from(["AUD", "CAD", "CHF", "EUR", "GBP", "JPY", "USD"]));
        let kinds: BTreeSet<ProductKind> = scenario
            .invoices
            .iter()
            .flat_map(|i| {
                let partner = scenario.partner(&i.partner).expect("known partner");
                i.lines.iter().map(move |line| {
                    partner.products.iter().find(|p| p.sku == line.sku).expect("known product").kind
                })
            })
            .collect();
        assert_eq!(kinds.len(), 5, "{kinds:?}");
    }

    #[test]
    fn vat_ids_pass_or_fail_as_marked() {
        let customers = &full().customers;
        let marked: Vec<&Customer> = customers.iter().filter(|c| c.vat_id.is_some()).collect();
        let failing = marked.iter().filter(|c| c.vat_id_valid == Some(false)).count();
        assert!(marked.len() > 300, "{} customers with a VAT id", marked.len());
        assert!((5..=60).contains(&failing), "{failing} failing VAT ids");
        for customer in marked {
            let id = customer.vat_id.as_deref().expect("filtered on vat_id");
            let checked = crate::tax::vat_id::validate(&customer.domicile.country, id);
            assert_eq!(checked.is_ok(), customer.vat_id_valid == Some(true), "{id}");
        }
    }

    #[test]
    fn metered_quantity_equals_meter_difference() {
        let metered: Vec<&Line> =
            full().invoices.iter().flat_map(|i| &i.lines).filter(|l| l.meter.is_some()).collect();
        assert!(!metered.is_empty());
        for line in metered {
            let [start, end] = line.meter.expect("filtered on meter");
            assert_eq!(end - start, line.quantity);
        }
    }

    #[test]
    fn payments_are_full_partial_over_late_and_missing() {
        let invoices = &full().invoices;
        let amounts: Vec<&PaymentAmount> =
            invoices.iter().flat_map(|i| &i.payments).map(|p| &p.amount).collect();
        assert!(amounts.iter().any(|a| matches!(a, PaymentAmount::Rest)));
        assert!(amounts.iter().any(|a| matches!(a, PaymentAmount::Share(_))));
        assert!(amounts.iter().any(|a| matches!(a, PaymentAmount::RestPlus(_))));
        let late = invoices.iter().filter(|i| {
            let due = i.issued_at + Duration::days(i64::from(i.due_days));
            i.payments.iter().any(|p| p.at > due + Duration::days(1))
        });
        assert!(late.count() > 100);
        let unpaid = invoices.iter().filter(|i| i.payments.is_empty()).count();
        assert!(unpaid > 100, "{unpaid} unpaid invoices");
    }

    #[test]
    fn about_two_percent_refunded() {
        let invoices = &full().invoices;
        let refunded = invoices.iter().filter(|i| i.credit.is_some()).count();
        let per_mille = refunded * 1000 / invoices.len();
        assert!((15..=25).contains(&per_mille), "{per_mille} per mille refunded");
        let scopes: Vec<&CreditScope> =
            invoices.iter().filter_map(|i| i.credit.as_ref()).map(|c| &c.scope).collect();
        assert!(scopes.iter().any(|s| matches!(s, CreditScope::Full)));
        assert!(scopes.iter().any(|s| matches!(s, CreditScope::Line { .. })));
        assert!(scopes.iter().any(|s| matches!(s, CreditScope::Share(_))));
    }

    #[test]
    fn events_fall_in_the_month() {
        let first = instant(1, 0);
        for invoice in &full().invoices {
            assert!(invoice.issued_at >= first, "{}", invoice.key);
            assert!(invoice.issued_at <= cutoff(), "{}", invoice.key);
            for payment in &invoice.payments {
                assert!(
                    payment.at >= invoice.issued_at && payment.at <= cutoff(),
                    "{}",
                    invoice.key
                );
            }
            if let Some(credit) = &invoice.credit {
                assert!(credit.at > invoice.issued_at, "{}", invoice.key);
                assert!(credit.at <= cutoff(), "{}", invoice.key);
            }
        }
    }

    #[test]
    fn committed_scenarios_match_generator() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for scale in [Scale::Small, Scale::Full] {
            let dir = root.join(crate::demo::default_scenario_dir(scale));
            let committed = Scenario::read(&dir).expect("committed scenario");
            let regenerated = generate(committed.header.seed, scale);
            assert!(committed == regenerated, "{} differs from its seed's output", dir.display());
        }
    }
}
