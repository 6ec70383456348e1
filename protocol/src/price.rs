//! Prices: integer minor units with a currency code, and the period rentals and services charge by.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A currency code: 3 to 5 ASCII uppercase letters or digits, starting with a letter
/// (ISO 4217 codes such as `EUR`, and common ones outside it such as `BTC` or `USDT`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Currency(String);

/// Why a string is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// Not shaped as a code.
    #[error("`{0}` is not a currency code: use 3 to 5 capital letters or digits, such as EUR or BTC")]
    NotACode(String),
    /// A currency's name where its code belongs (`euro`): shaped like a code, but a listing
    /// priced in it is found by no search for the code.
    #[error("`{name}` is a currency's name or sign: write its code, {code}")]
    Name {
        /// What was written.
        name: String,
        /// The code (or codes) it names.
        code: &'static str,
    },
}

/// Currency names and signs people write where the code belongs, with the code, as they read
/// after ASCII upper-casing (`zł` as `Zł`). An international trial's `won`, `rmb`, `₩`, `円` and
/// `zł` were refused as no code, or taken for a near one (`RON`, `RUB`).
const NAMES: [(&str, &str); 76] = [
    ("EURO", "EUR"),
    ("EUROS", "EUR"),
    ("€", "EUR"),
    ("DOLLAR", "USD, CAD, AUD, NZD, ..."),
    ("DOLLARS", "USD, CAD, AUD, NZD, ..."),
    ("$", "USD, CAD, AUD, NZD, ..."),
    ("BITCOIN", "BTC"),
    ("£", "GBP"),
    ("POUNDS", "GBP"),
    ("¥", "JPY or CNY"),
    ("POUND", "GBP"),
    ("YEN", "JPY"),
    ("円", "JPY"),
    ("YUAN", "CNY"),
    ("RMB", "CNY"),
    ("RENMINBI", "CNY"),
    ("元", "CNY"),
    ("WON", "KRW"),
    ("₩", "KRW"),
    ("원", "KRW"),
    ("RUPEE", "INR"),
    ("RUPEES", "INR"),
    ("₹", "INR"),
    ("FRANC", "CHF"),
    ("FRANCS", "CHF"),
    ("RAND", "ZAR"),
    ("REAL", "BRL"),
    ("R$", "BRL"),
    ("PESO", "MXN, ARS, COP, CLP, ..."),
    ("PESOS", "MXN, ARS, COP, CLP, ..."),
    ("KRONA", "SEK or ISK"),
    ("KRONOR", "SEK"),
    ("KRONE", "DKK or NOK"),
    ("KRONER", "DKK or NOK"),
    ("Kč", "CZK"),
    ("ZLOTY", "PLN"),
    ("Zł", "PLN"),
    ("FORINT", "HUF"),
    ("RUBLE", "RUB"),
    ("ROUBLE", "RUB"),
    ("₽", "RUB"),
    ("LIRA", "TRY"),
    ("₺", "TRY"),
    ("SHEKEL", "ILS"),
    ("₪", "ILS"),
    ("DIRHAM", "AED or MAD"),
    ("DH", "MAD"),
    ("د.م.", "MAD"),
    ("DINAR", "KWD, BHD, JOD, DZD, ..."),
    ("RIYAL", "SAR or QAR"),
    ("NAIRA", "NGN"),
    ("₦", "NGN"),
    ("HRYVNIA", "UAH"),
    ("₴", "UAH"),
    ("BAHT", "THB"),
    ("฿", "THB or BTC"),
    ("руб", "RUB"),
    ("грн", "UAH"),
    ("лв", "BGN"),
    ("ريال", "SAR or QAR"),
    ("درهم", "AED or MAD"),
    ("人民币", "CNY"),
    ("ドル", "USD"),
    ("ユーロ", "EUR"),
    ("KR", "SEK, NOK, DKK or ISK"),
    ("FT", "HUF"),
    ("TL", "TRY"),
    ("RM", "MYR"),
    ("RP", "IDR"),
    ("ZłOTY", "PLN"),
    ("LEI", "RON"),
    ("LEU", "RON"),
    ("RUBEL", "RUB"),
    ("TOMAN", "IRR (a toman is 10 rials: write the price in rials, 10 times the tomans)"),
    ("RIAL", "IRR, OMR or YER"),
    ("RUPIAH", "IDR"),
];

/// Currency codes a node signs a price in without being told the code is meant: the active ISO
/// 4217 codes (funds and metals among them, not `XTS` and `XXX`, which name no currency), and
/// common ones outside it (cryptocurrencies and stablecoins). Sorted, for a binary search.
const KNOWN: [&str; 202] = [
    "ADA", "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BCH", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BNB", "BND", "BOB", "BOV", "BRL", "BSD", "BTC", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK",
    "DAI", "DASH", "DJF", "DKK", "DOGE", "DOP", "DOT", "DZD", "EGP", "ERN", "ETB", "ETH", "EUR", "EURC",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR",
    "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LTC", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
    "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD",
    "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SAT",
    "SATS", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOL", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRX", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD",
    "USDC", "USDS", "USDT", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
    "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XBT", "XCD", "XCG", "XDR", "XMR", "XOF", "XPD", "XPF", "XPT",
    "XRP", "XSU", "XUA", "YER", "ZAR", "ZEC", "ZMW", "ZWG", "ZWL",
];

/// Known codes that are accounting units or funds (ISO 4217's bond units, special drawing
/// rights, and the funds codes beside a currency): taken when given, never suggested.
const UNITS: [&str; 15] =
    ["BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU"];

/// The currencies most prices are in, most used first: suggested before others.
const MOST_USED: [&str; 16] = [
    "USD", "EUR", "GBP", "JPY", "CNY", "INR", "CAD", "AUD", "CHF", "BRL", "MXN", "SEK", "NOK", "PLN", "BTC",
    "USDT",
];

impl Currency {
    /// Whether the code is a currency's this node knows (ISO 4217, or a common one outside
    /// it such as BTC): a code of the right shape may still be a slip (`EUT`), and a price in
    /// it is found by no search for the code meant.
    pub fn is_known(&self) -> bool {
        KNOWN.binary_search(&self.0.as_str()).is_ok()
    }

    /// Known codes one letter away from this one (`EUT`: `EUR`), at most three: what a slip
    /// may have meant. Accounting units and funds nobody prices a sale in (`XBC`, `USN`) are
    /// not suggested, and the most used currencies come first.
    pub fn near_known(&self) -> Vec<&'static str> {
        let code = self.0.as_bytes();
        let mut near: Vec<&'static str> = KNOWN
            .iter()
            .filter(|k| !UNITS.contains(k))
            .filter(|k| k.len() == code.len() && k.bytes().zip(code).filter(|(a, b)| a != *b).count() == 1)
            .copied()
            .collect();
        near.sort_by_key(|k| MOST_USED.iter().position(|m| m == k).unwrap_or(MOST_USED.len()));
        near.truncate(3);
        near
    }

    /// Checks that `code` is a currency code; it must already be uppercase.
    pub fn new(code: &str) -> Result<Self, CurrencyError> {
        let ok = (3..=5).contains(&code.len())
            && code.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok { Ok(Currency(code.to_owned())) } else { Err(CurrencyError::NotACode(code.to_owned())) }
    }

    /// The code, e.g. `EUR`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_valid(&self) -> bool {
        Currency::new(&self.0).is_ok()
    }

    /// Minor units per major unit, as ISO 4217 gives them: 100 for most, 1 for currencies
    /// without a minor unit (and HUF and satoshis, whose fractions nobody prices in), 1,000 for
    /// the dinars, rials and the like that count thousandths, 10,000 for Chile's and Uruguay's
    /// indexed units, 10^8 for bitcoin-like codes. (From an international trial: a price of
    /// 12.345 KWD was refused, with a hint to write 12345.)
    pub fn minor_per_major(&self) -> u64 {
        match self.0.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "HUF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "SAT"
            | "SATS" | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 1,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 1_000,
            "CLF" | "UYW" => 10_000,
            "BTC" | "LTC" => 100_000_000,
            _ => 100,
        }
    }

    /// The decimal places of an amount in this currency: 2 for most, 0 for currencies without
    /// a minor unit, 3 for those counting thousandths, 8 for bitcoin-like codes (the power of
    /// ten of [`Currency::minor_per_major`]).
    pub fn decimals(&self) -> u32 {
        self.minor_per_major().ilog10()
    }
}

/// Parses what people write: a code in any case, surrounding spaces ignored; a currency's name
/// (`euro`) is refused naming its code. (On the wire any code-shaped string is taken: see
/// [`Currency::new`].)
impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        if let Some((_, code)) = NAMES.iter().find(|(name, _)| *name == upper) {
            return Err(CurrencyError::Name { name: s.trim().to_owned(), code });
        }
        // Refused as written, not as upper-cased.
        Currency::new(&upper).map_err(|_| CurrencyError::NotACode(s.trim().to_owned()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.0)
    }
}

/// What a rental or service price is charged per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Period {
    /// Per hour.
    Hour,
    /// Per day.
    Day,
    /// Per week.
    Week,
    /// Per month.
    Month,
}

impl Period {
    /// Every period, shortest first.
    pub const ALL: [Period; 4] = [Period::Hour, Period::Day, Period::Week, Period::Month];

    /// The lowercase name, as shown and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

impl FromStr for Period {
    type Err = crate::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| crate::UnknownName::new("period", s, &Period::ALL.map(Period::as_str)))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest amount accepted: 10^15 minor units is far beyond any real trade and keeps sums of a
/// few amounts far from overflow.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;

/// Why a decimal amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The text is not digits with an optional decimal point.
    #[error("`{0}` is not an amount: write digits with an optional decimal point, e.g. 120 or 12.50")]
    NotANumber(String),
    /// The amount has more decimal places than the currency's minor unit allows.
    #[error("`{given}` has more decimals than {currency} has (at most {max}){}", thousands_hint(given, *max))]
    TooPrecise {
        /// The text given.
        given: String,
        /// The currency's code.
        currency: String,
        /// Most decimal places the currency allows.
        max: usize,
    },
    /// The amount is over [`MAX_AMOUNT`] minor units.
    #[error("`{0}` is too large an amount: at most {1}")]
    TooLarge(String, String),
}

/// `1.200` is more likely a thousand two hundred with a dot between the thousands than an
/// amount in thousandths, in a currency with fewer decimals than three: said so, with the number
/// written plainly. Not for `1250.505`: a dot between thousands has at most three digits before
/// it (from an international trial, told to write 1250505).
fn thousands_hint(given: &str, max: usize) -> String {
    match given.split_once('.') {
        Some((whole, frac))
            if (1..=3).contains(&whole.len())
                && max < 3
                && !whole.starts_with('0')
                && frac.len() == 3
                && frac.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("; if the dot separates thousands, write {whole}{frac}")
        }
        // The nearest amount the currency takes, cut (from an international trial: `1500.5` in
        // JPY was refused with no word of what to write).
        Some((whole, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => {
            let whole = if whole.is_empty() { "0" } else { whole };
            match frac.get(..max) {
                Some("") | None => format!(", e.g. {whole}"),
                Some(kept) => format!(", e.g. {whole}.{kept}"),
            }
        }
        _ => String::new(),
    }
}

/// `text` with the decimal digits of other scripts (full-width, as a Japanese keyboard types
/// them; Arabic-Indic and Persian; the scripts of India and South-East Asia) and their decimal
/// and thousands separators written in ASCII: an amount typed that way is the same amount (an
/// international trial's `１５０００` and `١٢٠٠` were "not an amount"). Mixed scripts are
/// taken too: each digit is a digit.
pub fn ascii_digits(text: &str) -> std::borrow::Cow<'_, str> {
    /// The zeros of the decimal digit blocks taken: each block is ten code points from it.
    const ZEROS: [char; 18] =
        ['０', '٠', '۰', '०', '০', '੦', '૦', '୦', '௦', '౦', '೦', '൦', '๐', '໐', '༠', '၀', '០', '᠐'];
    let ascii = |c: char| match c {
        '．' | '٫' => Some('.'),
        '，' | '٬' => Some(','),
        c if c.is_ascii() => None,
        c => ZEROS.iter().find_map(|&zero| {
            let n = u32::from(c).checked_sub(u32::from(zero)).filter(|n| *n < 10)?;
            char::from_digit(n, 10)
        }),
    };
    if text.is_ascii() || text.chars().all(|c| ascii(c).is_none()) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.chars().map(|c| ascii(c).unwrap_or(c)).collect())
}

impl Currency {
    /// Reads a decimal amount as people write it (`120`, `12.5`, `0.0015`, or in the digits of
    /// another script, [`ascii_digits`]) into minor units.
    pub fn parse_amount(&self, text: &str) -> Result<u64, AmountError> {
        let digits_written = ascii_digits(text);
        let text = digits_written.trim();
        let digits = self.minor_per_major().ilog10() as usize;
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(AmountError::NotANumber(text.to_owned()));
        }
        // `12000.00` in JPY is twelve thousand all the same (from an international trial: it
        // was refused for its decimals). Not three digits, though: `1.500` may be a thousand
        // and a half with a dot between the thousands, and is asked about, unless more than three
        // digits stand before the dot (`12000.000`: no thousands separator there).
        let grouping = frac.len() == 3 && whole.len() <= 3;
        let frac = match frac.get(digits..) {
            Some(past) if !grouping && past.bytes().all(|b| b == b'0') => &frac[..digits],
            _ => frac,
        };
        if frac.len() > digits {
            return Err(AmountError::TooPrecise {
                given: text.to_owned(),
                currency: self.0.clone(),
                max: digits,
            });
        }
        let most = MAX_AMOUNT / self.minor_per_major();
        let too_large = || AmountError::TooLarge(text.to_owned(), format!("{most} {}", self.0));
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
        let frac: u64 =
            if frac.is_empty() { 0 } else { format!("{frac:0<digits$}").parse().map_err(|_| too_large())? };
        let amount = whole
            .checked_mul(self.minor_per_major())
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(too_large)?;
        if amount > MAX_AMOUNT {
            return Err(too_large());
        }
        Ok(amount)
    }
}

/// An amount in minor units (cents) of a currency, optionally per period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Price {
    /// The amount in the currency's minor units, e.g. cents.
    pub amount: u64,
    /// The currency the amount is in.
    pub currency: Currency,
    /// The period the price is charged per, for rentals and services; `None` for a one-off price.
    pub per: Option<Period>,
}

impl Price {
    /// A one-off price of `amount` minor units of `currency`.
    pub fn new(amount: u64, currency: Currency) -> Self {
        Price { amount, currency, per: None }
    }

    /// The same price, charged per `period`.
    pub fn per(mut self, period: Period) -> Self {
        self.per = Some(period);
        self
    }
}

impl Price {
    /// The amount as a decimal in major units, as people write it: `120.00`, `3000`.
    pub fn decimal(&self) -> String {
        let unit = self.currency.minor_per_major();
        let digits = unit.ilog10() as usize;
        if digits == 0 {
            self.amount.to_string()
        } else {
            format!("{}.{:0digits$}", self.amount / unit, self.amount % unit)
        }
    }
}

impl fmt::Display for Price {
    /// `120.00 EUR`, `15.00 EUR/day`, `3000 JPY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)?;
        if let Some(per) = self.per {
            write!(f, "/{}", per.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::new("EUR").expect("valid")
    }

    #[test]
    fn prices_format_with_their_minor_units() {
        assert_eq!(Price::new(12_050, eur()).to_string(), "120.50 EUR");
        assert_eq!(Price::new(1_500, eur()).per(Period::Day).to_string(), "15.00 EUR/day");
        let jpy = Currency::new("JPY").expect("valid");
        assert_eq!(Price::new(3000, jpy).to_string(), "3000 JPY");
        let btc = Currency::new("BTC").expect("valid");
        assert_eq!(Price::new(150_000, btc).to_string(), "0.00150000 BTC");
        let places = ["EUR", "JPY", "BTC", "KWD", "ABCD", "UGX", "SATS", "CLF"]
            .map(|c| Currency::new(c).expect("valid").decimals());
        assert_eq!(places, [2, 0, 8, 3, 2, 0, 0, 4], "what clients are told to parse and show by");
        let kwd = Currency::new("KWD").expect("valid");
        assert_eq!(Price::new(12_345, kwd).to_string(), "12.345 KWD");
    }

    #[test]
    fn amounts_are_read_in_minor_units() {
        assert_eq!(eur().parse_amount("120"), Ok(12_000));
        assert_eq!(eur().parse_amount("12.5"), Ok(1_250));
        assert_eq!(eur().parse_amount(".5"), Ok(50));
        assert_eq!(Currency::new("JPY").expect("valid").parse_amount("3000"), Ok(3_000));
        assert_eq!(Currency::new("BTC").expect("valid").parse_amount("0.0015"), Ok(150_000));
        assert!(matches!(eur().parse_amount("1.234"), Err(AmountError::TooPrecise { max: 2, .. })));
        let thousands = eur().parse_amount("1.200").expect_err("three decimals").to_string();
        assert!(thousands.ends_with("if the dot separates thousands, write 1200"), "{thousands}");
        for tiny in ["0.0015", "0.015"] {
            let said = eur().parse_amount(tiny).expect_err("too precise").to_string();
            assert!(!said.contains("thousands"), "{said}");
        }
        assert!(matches!(
            Currency::new("JPY").expect("valid").parse_amount("1.5"),
            Err(AmountError::TooPrecise { .. })
        ));
        // Zeros past the currency's decimals change nothing (from an international trial).
        assert_eq!(Currency::new("JPY").expect("valid").parse_amount("12000.00"), Ok(12_000));
        let jpy = Currency::new("JPY").expect("valid");
        assert_eq!(jpy.parse_amount("12000.000"), Ok(12_000), "no thousands separator there");
        assert_eq!(eur().parse_amount("12.5000"), Ok(1_250));
        assert!(eur().parse_amount("1.500").is_err(), "a thousand and a half, or one and a half?");
        let kwd = Currency::new("KWD").expect("valid");
        assert_eq!(kwd.parse_amount("12.345"), Ok(12_345));
        let said = kwd.parse_amount("1.2345").expect_err("four decimals").to_string();
        assert!(
            said.ends_with("(at most 3), e.g. 1.234"),
            "no thousands hint where thousandths are counted: {said}"
        );
        let said = eur().parse_amount("1250.505").expect_err("three decimals").to_string();
        assert!(!said.contains("thousands"), "four digits before the dot: {said}");
        assert!(said.ends_with("(at most 2), e.g. 1250.50"), "{said}");
        let said = Currency::new("JPY").expect("valid").parse_amount("1500.5").expect_err("a decimal");
        assert!(said.to_string().ends_with("(at most 0), e.g. 1500"), "{said}");
        for bad in ["", ".", "12a", "-3", "1,5", "1.2.3"] {
            assert!(matches!(eur().parse_amount(bad), Err(AmountError::NotANumber(_))), "{bad}");
        }
        // Digits of other scripts are the same digits (from an international trial).
        let jpy = Currency::new("JPY").expect("code");
        for typed in ["１５０００", "١٥٠٠٠", "۱۵۰۰۰", "१५०००", "১৫০০০", "๑๕๐๐๐", "༡༥༠༠༠", "᠑᠕᠐᠐᠐"]
        {
            assert_eq!(jpy.parse_amount(typed), Ok(15_000), "{typed}");
        }
        assert_eq!(eur().parse_amount("١٢٫٥"), Ok(1_250));
        let err = eur().parse_amount("99999999999999999999").expect_err("too large");
        assert_eq!(
            err.to_string(),
            "`99999999999999999999` is too large an amount: at most 10000000000000 EUR"
        );
    }

    #[test]
    fn currency_codes_are_checked() {
        assert!(Currency::new("USDT").is_ok());
        assert!("eur".parse::<Currency>().is_ok());
        for bad in ["", "EU", "EURO12", "1EU", "E-R", "eur"] {
            assert!(Currency::new(bad).is_err(), "{bad}");
        }
        assert_eq!(" usd ".parse::<Currency>().map(|c| c.to_string()), Ok("USD".to_owned()));
        // A name where the code belongs is refused as people write it; on the wire, any
        // code-shaped string stays valid.
        let named = "Euro".parse::<Currency>().expect_err("a name");
        assert_eq!(named.to_string(), "`Euro` is a currency's name or sign: write its code, EUR");
        for (typed, code) in [
            ("won", "KRW"),
            ("rmb", "CNY"),
            ("₩", "KRW"),
            ("円", "JPY"),
            ("zł", "PLN"),
            ("Kč", "CZK"),
            ("руб", "RUB"),
            ("złoty", "PLN"),
            ("lei", "RON"),
            ("kr", "SEK, NOK, DKK or ISK"),
        ] {
            let said = typed.parse::<Currency>().expect_err("a name").to_string();
            assert!(said.ends_with(&format!("write its code, {code}")), "{typed}: {said}");
        }
        assert!(Currency::new("EURO").is_ok());
        assert!("dollar".parse::<Currency>().expect_err("a name").to_string().contains("USD"));
        assert!("€".parse::<Currency>().expect_err("a sign").to_string().contains("EUR"));
        assert_eq!(
            "euro-x".parse::<Currency>().expect_err("no code").to_string(),
            "`euro-x` is not a currency code: use 3 to 5 capital letters or digits, such as EUR or BTC"
        );
    }

    /// A code of the right shape may still be a slip: the known ones, and what a slip meant.
    #[test]
    fn known_codes_and_near_misses() {
        assert!(KNOWN.is_sorted(), "binary search needs the list sorted");
        let code = |c: &str| Currency::new(c).expect("a code");
        for known in ["EUR", "USD", "JPY", "CHF", "BTC", "USDT", "XAU", "SATS"] {
            assert!(code(known).is_known(), "{known}");
        }
        for unknown in ["XYZ", "EUT", "XXX", "XTS", "EURO"] {
            assert!(!code(unknown).is_known(), "{unknown}");
        }
        assert_eq!(code("EUT").near_known(), vec!["EUR"]);
        assert_eq!(code("USF").near_known(), vec!["USD"], "USN is a fund");
        assert!(code("QQQ").near_known().is_empty());
        // Found in a trial: `ABC` suggested the bond unit XBC.
        assert!(code("ABC").near_known().is_empty());
        assert_eq!(code("CAF").near_known(), vec!["CAD", "CHF", "CDF"], "the most used first");
        assert!(UNITS.iter().all(|u| code(u).is_known()), "units are taken when given");
        assert!(MOST_USED.iter().all(|m| code(m).is_known()));
    }
}
