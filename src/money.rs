//! Currencies, exact money amounts and the named rounding rules.
//!
//! Minor units come from the ISO 4217 list published by the SIX maintenance agency
//! (list one, "Minor unit" column).

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// ISO 4217 codes this service accepts, with their minor units.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PLN", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("TND", 3),
    ("TRY", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// An ISO 4217 currency known to this service.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u32,
}

/// Reasons a currency code or an amount is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency '{0}': expected an ISO 4217 code such as EUR")]
    UnknownCurrency(String),
    #[error("invalid amount '{0}': expected a decimal string such as \"12.50\"")]
    InvalidAmount(String),
    #[error("amount {amount} has more decimals than {currency} allows ({minor_units})")]
    PrecisionExceeded { amount: Decimal, currency: Currency, minor_units: u32 },
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
}

impl Currency {
    /// Looks up an ISO 4217 code (upper case, three letters).
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(known, minor_units)| {
                let bytes = known.as_bytes();
                Currency { code: [bytes[0], bytes[1], bytes[2]], minor_units: *minor_units }
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    pub fn code(&self) -> &str {
        // The code is built only from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Number of decimals of the currency's minor unit (JPY 0, EUR 2, BHD 3).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    /// Checks that `amount` is exact in this currency and returns it at the minor-unit scale.
    pub fn exact(&self, amount: Decimal) -> Result<Decimal, MoneyError> {
        let normalized = amount.normalize();
        if normalized.scale() > self.minor_units {
            return Err(MoneyError::PrecisionExceeded {
                amount,
                currency: *self,
                minor_units: self.minor_units,
            });
        }
        let mut exact = normalized;
        exact.rescale(self.minor_units);
        Ok(exact)
    }

    /// Rounds `amount` to the currency's minor unit with `rule`.
    pub fn round(&self, amount: Decimal, rule: Rounding) -> Decimal {
        rule.round(amount, self.minor_units)
    }

    /// Returns every currency this service accepts.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES.iter().filter_map(|(code, _)| Currency::parse(code).ok())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// A named rounding rule. Rust's `Decimal::round_dp` is half-even, so callers name the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Half away from zero: 0.125 → 0.13, −0.125 → −0.13. The default for tax.
    HalfUp,
    /// Half to even (banker's rounding): 0.125 → 0.12, 0.135 → 0.14.
    HalfEven,
    /// Toward zero: 0.129 → 0.12.
    Down,
}

impl Rounding {
    pub fn round(self, amount: Decimal, decimals: u32) -> Decimal {
        let strategy = match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Down => RoundingStrategy::ToZero,
        };
        let mut rounded = amount.round_dp_with_strategy(decimals, strategy);
        rounded.rescale(decimals);
        rounded
    }
}

/// An exact amount in one currency, at the currency's minor-unit scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Builds an amount, rejecting one with more decimals than the currency allows.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        Ok(Money { amount: currency.exact(amount)?, currency })
    }

    pub fn zero(currency: Currency) -> Money {
        let mut amount = Decimal::ZERO;
        amount.rescale(currency.minor_units());
        Money { amount, currency }
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    pub fn checked_add(&self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        Ok(Money { amount: self.amount + other.amount, currency: self.currency })
    }

    pub fn negate(&self) -> Money {
        Money { amount: -self.amount, currency: self.currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Parses a JSON amount: a decimal string such as "12.50". Numbers are rejected because a JSON
/// float cannot carry an exact amount.
pub fn parse_amount(text: &str) -> Result<Decimal, MoneyError> {
    let trimmed = text.trim();
    let plain = !trimmed.is_empty()
        && trimmed.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+');
    if !plain {
        return Err(MoneyError::InvalidAmount(text.to_string()));
    }
    Decimal::from_str_exact(trimmed).map_err(|_| MoneyError::InvalidAmount(text.to_string()))
}

/// The expected value that the amount deserializers name when a JSON value is not a string.
const AMOUNT_EXPECTED: &str = "a decimal string such as \"12.50\"";

/// Serde adapter for amounts as JSON strings: `#[serde(with = "crate::money::amount_str")]`.
pub mod amount_str {
    use super::*;

    pub fn serialize<S: Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&amount.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        struct AmountVisitor;

        impl serde::de::Visitor<'_> for AmountVisitor {
            type Value = Decimal;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(AMOUNT_EXPECTED)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
                parse_amount(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(AmountVisitor)
    }
}

/// Deserializes an amount that is parsed later, with its currency, keeping its JSON string.
/// A JSON number gets the same message as from [`amount_str`].
pub fn amount_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct TextVisitor;

    impl serde::de::Visitor<'_> for TextVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(AMOUNT_EXPECTED)
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
    }

    deserializer.deserialize_str(TextVisitor)
}

/// Serde adapter for optional amounts as JSON strings.
pub mod option_amount_str {
    use super::*;

    pub fn serialize<S: Serializer>(
        amount: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match amount {
            Some(amount) => serializer.serialize_str(&amount.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapper(#[serde(with = "super::amount_str")] Decimal);

        let wrapped = Option::<Wrapper>::deserialize(deserializer)?;
        Ok(wrapped.map(|Wrapper(amount)| amount))
    }
}

/// Serde adapter for maps of amounts by currency code, such as `{"EUR": "0.10"}`. Each amount
/// is a JSON string, and a rejected amount's path names its key (`fixed_fees.EUR`).
pub mod amount_map_str {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Amount(#[serde(with = "super::amount_str")] Decimal);

    pub fn serialize<S: Serializer>(
        amounts: &BTreeMap<String, Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(amounts.iter().map(|(code, amount)| (code, Amount(*amount))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Decimal>, D::Error> {
        let amounts = BTreeMap::<String, Amount>::deserialize(deserializer)?;
        Ok(amounts.into_iter().map(|(code, Amount(amount))| (code, amount)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn currency_minor_units() {
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("BHD").unwrap().minor_units(), 3);
        assert!(Currency::parse("XXX").is_err());
        assert!(Currency::parse("eur").is_err());
    }

    #[test]
    fn exact_rejects_extra_decimals() {
        let jpy = Currency::parse("JPY").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert!(jpy.exact(dec!(1.5)).is_err());
        assert_eq!(jpy.exact(dec!(100.00)).unwrap().to_string(), "100");
        assert!(eur.exact(dec!(0.001)).is_err());
        assert_eq!(eur.exact(dec!(12.5)).unwrap().to_string(), "12.50");
    }

    #[test]
    fn rounding_rules_differ_at_midpoint() {
        assert_eq!(Rounding::HalfUp.round(dec!(0.125), 2), dec!(0.13));
        assert_eq!(Rounding::HalfUp.round(dec!(-0.125), 2), dec!(-0.13));
        assert_eq!(Rounding::HalfEven.round(dec!(0.125), 2), dec!(0.12));
        assert_eq!(Rounding::Down.round(dec!(0.129), 2), dec!(0.12));
        assert_eq!(Rounding::HalfUp.round(dec!(7), 2).to_string(), "7.00");
    }

    #[test]
    fn amount_str_rejects_numbers() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(with = "amount_str")]
            amount: Decimal,
        }
        let parsed: Body = serde_json::from_str(r#"{"amount":"12.50"}"#).unwrap();
        assert_eq!(parsed.amount, dec!(12.50));
        assert!(serde_json::from_str::<Body>(r#"{"amount":12.5}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"amount":"1e3"}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"amount":""}"#).is_err());
    }

    #[test]
    fn amount_map_str_rejects_numbers() {
        #[derive(Deserialize, Serialize)]
        struct Body {
            #[serde(with = "amount_map_str")]
            fees: std::collections::BTreeMap<String, Decimal>,
        }
        let parsed: Body = serde_json::from_str(r#"{"fees":{"EUR":"0.10"}}"#).unwrap();
        assert_eq!(parsed.fees["EUR"], dec!(0.10));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#"{"fees":{"EUR":"0.10"}}"#);
        assert!(serde_json::from_str::<Body>(r#"{"fees":{"EUR":0.1}}"#).is_err());
    }
}
