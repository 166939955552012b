//! Places the demo's parties live in: real cities with one of their real postal codes, the
//! subdivision where tax depends on it, the IANA time zone and the currency the platform
//! invoices there in. Street names are invented. United States places are those of the tax
//! provider stub's address fixture (`fixtures/tax/us_addresses.json`), so that every US sale
//! gets its state, county, city and district lines.

/// One city of the catalog.
pub struct Place {
    pub country: &'static str,
    pub subdivision: Option<&'static str>,
    pub postal_code: &'static str,
    pub city: &'static str,
    pub time_zone: &'static str,
    pub currency: &'static str,
    /// Relative share of customers living here.
    pub weight: u32,
}

const fn place(
    country: &'static str,
    subdivision: Option<&'static str>,
    postal_code: &'static str,
    city: &'static str,
    time_zone: &'static str,
    currency: &'static str,
    weight: u32,
) -> Place {
    Place { country, subdivision, postal_code, city, time_zone, currency, weight }
}

/// Every place a customer or partner may live in.
pub const PLACES: &[Place] = &[
    place("AT", None, "1010", "Wien", "Europe/Vienna", "EUR", 30),
    place("BE", None, "1000", "Bruxelles", "Europe/Brussels", "EUR", 30),
    place("BG", None, "1000", "Sofia", "Europe/Sofia", "EUR", 8),
    place("HR", None, "10000", "Zagreb", "Europe/Zagreb", "EUR", 8),
    place("CY", None, "1010", "Nicosia", "Asia/Nicosia", "EUR", 4),
    place("CZ", None, "110 00", "Praha", "Europe/Prague", "EUR", 16),
    place("DK", None, "1050", "København", "Europe/Copenhagen", "EUR", 16),
    place("EE", None, "10111", "Tallinn", "Europe/Tallinn", "EUR", 6),
    place("FI", None, "00100", "Helsinki", "Europe/Helsinki", "EUR", 14),
    place("FR", None, "75001", "Paris", "Europe/Paris", "EUR", 60),
    place("FR", None, "69002", "Lyon", "Europe/Paris", "EUR", 25),
    place("DE", None, "10115", "Berlin", "Europe/Berlin", "EUR", 60),
    place("DE", None, "80331", "München", "Europe/Berlin", "EUR", 40),
    place("DE", None, "20095", "Hamburg", "Europe/Berlin", "EUR", 30),
    place("GR", None, "105 57", "Athina", "Europe/Athens", "EUR", 10),
    place("HU", None, "1051", "Budapest", "Europe/Budapest", "EUR", 12),
    place("IE", None, "D02 Y006", "Dublin", "Europe/Dublin", "EUR", 16),
    place("IT", None, "00184", "Roma", "Europe/Rome", "EUR", 30),
    place("IT", None, "20121", "Milano", "Europe/Rome", "EUR", 30),
    place("LV", None, "LV-1050", "Rīga", "Europe/Riga", "EUR", 5),
    place("LT", None, "LT-01103", "Vilnius", "Europe/Vilnius", "EUR", 6),
    place("LU", None, "L-1111", "Luxembourg", "Europe/Luxembourg", "EUR", 5),
    place("MT", None, "VLT 1117", "Valletta", "Europe/Malta", "EUR", 3),
    place("NL", None, "1012 JS", "Amsterdam", "Europe/Amsterdam", "EUR", 40),
    place("PL", None, "00-001", "Warszawa", "Europe/Warsaw", "EUR", 25),
    place("PT", None, "1100-148", "Lisboa", "Europe/Lisbon", "EUR", 14),
    place("RO", None, "010011", "București", "Europe/Bucharest", "EUR", 12),
    place("SK", None, "811 01", "Bratislava", "Europe/Bratislava", "EUR", 6),
    place("SI", None, "1000", "Ljubljana", "Europe/Ljubljana", "EUR", 5),
    place("ES", None, "28013", "Madrid", "Europe/Madrid", "EUR", 35),
    place("ES", None, "08002", "Barcelona", "Europe/Madrid", "EUR", 25),
    place("SE", None, "111 20", "Stockholm", "Europe/Stockholm", "EUR", 20),
    place("GB", None, "SW1A 2AA", "London", "Europe/London", "GBP", 60),
    place("GB", None, "M1 1AE", "Manchester", "Europe/London", "GBP", 25),
    place("CH", None, "8001", "Zürich", "Europe/Zurich", "CHF", 25),
    place("NO", None, "0150", "Oslo", "Europe/Oslo", "EUR", 12),
    place("AU", Some("NSW"), "2000", "Sydney", "Australia/Sydney", "AUD", 25),
    place("AU", Some("VIC"), "3000", "Melbourne", "Australia/Melbourne", "AUD", 20),
    place("JP", None, "100-0005", "Tokyo", "Asia/Tokyo", "JPY", 40),
    place("JP", None, "530-0001", "Osaka", "Asia/Tokyo", "JPY", 20),
    place("CA", Some("QC"), "H2Y 1C6", "Montréal", "America/Toronto", "CAD", 20),
    place("CA", Some("ON"), "M5H 2N2", "Toronto", "America/Toronto", "CAD", 25),
    place("CA", Some("NB"), "E1C 4M3", "Moncton", "America/Moncton", "CAD", 8),
    place("CA", Some("NS"), "B3J 1S9", "Halifax", "America/Halifax", "CAD", 6),
    place("CA", Some("PE"), "C1A 4P3", "Charlottetown", "America/Halifax", "CAD", 6),
    place("US", Some("CA"), "94103", "San Francisco", "America/Los_Angeles", "USD", 40),
    place("US", Some("TX"), "78701", "Austin", "America/Chicago", "USD", 35),
    place("US", Some("NY"), "10001", "New York", "America/New_York", "USD", 40),
    place("US", Some("WA"), "98101", "Seattle", "America/Los_Angeles", "USD", 25),
    place("US", Some("OR"), "97204", "Portland", "America/Los_Angeles", "USD", 12),
    place("US", Some("PA"), "19103", "Philadelphia", "America/New_York", "USD", 20),
    place("US", Some("TX"), "77002", "Houston", "America/Chicago", "USD", 15),
    place("US", Some("CA"), "90012", "Los Angeles", "America/Los_Angeles", "USD", 20),
];

/// Finds the first place in `country` (and `subdivision`, when given).
pub fn find(country: &str, subdivision: Option<&str>) -> Option<&'static Place> {
    PLACES.iter().find(|place| {
        place.country == country && (subdivision.is_none() || place.subdivision == subdivision)
    })
}

/// Invented street names, by country, for addresses that look local.
pub fn street_names(country: &str) -> &'static [&'static str] {
    match country {
        "DE" | "AT" | "CH" => &["Lindenstraße", "Am Mühlbach", "Gartenweg", "Bergstraße"],
        "FR" | "BE" | "LU" => &["rue des Tilleuls", "avenue du Parc", "rue du Moulin"],
        "IT" => &["Via dei Mille", "Via del Lago", "Corso Garibaldi"],
        "ES" => &["Calle del Olmo", "Avenida del Mar", "Calle Mayor"],
        "PT" => &["Rua das Flores", "Avenida da Liberdade"],
        "NL" => &["Lindengracht", "Molenweg", "Kerkstraat"],
        "SE" | "DK" | "NO" | "FI" => &["Björkvägen", "Skolgatan", "Strandvejen"],
        "JP" => &["Chiyoda 1-chome", "Umeda 2-chome", "Marunouchi 3-chome"],
        "US" | "CA" | "AU" | "GB" | "IE" | "MT" | "CY" => {
            &["Maple Street", "Harbour Road", "Elm Avenue", "Mill Lane"]
        }
        _ => &["Central Street", "Park Avenue", "Station Road"],
    }
}
