//! Indonesian mobile numbers: parse, normalise (`+62…`/`62…` → `0…`) and read the
//! operator from the prefix, so an order for the wrong operator is refused at the edge.

use std::fmt;

/// A mobile operator, as read from a number's prefix or named by a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Telkomsel,
    Indosat,
    Xl,
    Axis,
    Tri,
    Smartfren,
}

/// 4-digit prefixes (after normalisation to `0…`) and their operator.
const PREFIXES: &[(&str, Operator)] = &[
    ("0811", Operator::Telkomsel),
    ("0812", Operator::Telkomsel),
    ("0813", Operator::Telkomsel),
    ("0821", Operator::Telkomsel),
    ("0822", Operator::Telkomsel),
    ("0823", Operator::Telkomsel),
    ("0851", Operator::Telkomsel),
    ("0852", Operator::Telkomsel),
    ("0853", Operator::Telkomsel),
    ("0814", Operator::Indosat),
    ("0815", Operator::Indosat),
    ("0816", Operator::Indosat),
    ("0855", Operator::Indosat),
    ("0856", Operator::Indosat),
    ("0857", Operator::Indosat),
    ("0858", Operator::Indosat),
    ("0817", Operator::Xl),
    ("0818", Operator::Xl),
    ("0819", Operator::Xl),
    ("0859", Operator::Xl),
    ("0877", Operator::Xl),
    ("0878", Operator::Xl),
    ("0831", Operator::Axis),
    ("0832", Operator::Axis),
    ("0833", Operator::Axis),
    ("0838", Operator::Axis),
    ("0895", Operator::Tri),
    ("0896", Operator::Tri),
    ("0897", Operator::Tri),
    ("0898", Operator::Tri),
    ("0899", Operator::Tri),
    ("0881", Operator::Smartfren),
    ("0882", Operator::Smartfren),
    ("0883", Operator::Smartfren),
    ("0884", Operator::Smartfren),
    ("0885", Operator::Smartfren),
    ("0886", Operator::Smartfren),
    ("0887", Operator::Smartfren),
    ("0888", Operator::Smartfren),
    ("0889", Operator::Smartfren),
];

impl Operator {
    pub const ALL: [Operator; 6] = [
        Operator::Telkomsel,
        Operator::Indosat,
        Operator::Xl,
        Operator::Axis,
        Operator::Tri,
        Operator::Smartfren,
    ];

    /// The lower-case name used in config (`operator = "telkomsel"`).
    pub fn name(self) -> &'static str {
        match self {
            Operator::Telkomsel => "telkomsel",
            Operator::Indosat => "indosat",
            Operator::Xl => "xl",
            Operator::Axis => "axis",
            Operator::Tri => "tri",
            Operator::Smartfren => "smartfren",
        }
    }

    pub fn from_name(s: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.name() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsisdnError {
    #[error("may contain only digits, with an optional leading +")]
    NotDigits,
    #[error("must have 10 to 13 digits")]
    Length,
    #[error("is not an Indonesian mobile number")]
    NotMobile,
    #[error("has a prefix no operator uses")]
    UnknownPrefix,
}

/// A normalised Indonesian mobile number (`08…`, 10–13 digits) with a known operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Msisdn {
    digits: String,
    operator: Operator,
}

impl Msisdn {
    /// Accepts `0812…`, `62812…` and `+62812…`, ignoring spaces and dashes between digits.
    pub fn parse(raw: &str) -> Result<Msisdn, MsisdnError> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(MsisdnError::NotDigits),
            }
        }
        let local = if let Some(r) = digits.strip_prefix("62") {
            format!("0{r}")
        } else if plus {
            return Err(MsisdnError::NotMobile);
        } else {
            digits
        };
        if !(10..=13).contains(&local.len()) {
            return Err(MsisdnError::Length);
        }
        if !local.starts_with("08") {
            return Err(MsisdnError::NotMobile);
        }
        let operator = PREFIXES
            .iter()
            .find(|(p, _)| local.starts_with(p))
            .map(|(_, o)| *o)
            .ok_or(MsisdnError::UnknownPrefix)?;
        Ok(Msisdn {
            digits: local,
            operator,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.digits
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// For logs: `0812****7890`.
    pub fn masked(&self) -> String {
        mask_digits(&self.digits)
    }
}

/// Masks the middle of a destination for logs: keeps the first 4 and last 4 characters.
pub fn mask_digits(s: &str) -> String {
    let n = s.chars().count();
    if n <= 8 {
        return "*".repeat(n);
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i >= n - 4 { c } else { '*' })
        .collect()
}

/// Whether two spellings name the same destination: equal as normalised mobile numbers
/// (`0812…`, `62812…`, `+62812…`, with spaces or dashes) when both are mobile numbers,
/// otherwise equal once spaces and dashes are left out (meter and account numbers are
/// compared as written, never re-prefixed).
pub fn same_destination(a: &str, b: &str) -> bool {
    match (Msisdn::parse(a), Msisdn::parse(b)) {
        (Ok(x), Ok(y)) => x.as_str() == y.as_str(),
        _ => {
            let plain = |s: &str| -> String {
                s.trim()
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-'))
                    .collect()
            };
            plain(a) == plain(b)
        }
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_same_destination_in_any_spelling() {
        for other in [
            "081234567890",
            "6281234567890",
            "+62 812-3456-7890",
            " 081234567890 ",
        ] {
            assert!(same_destination("081234567890", other), "{other}");
        }
        for other in ["089999999999", "08123456789", "0812345678901", "", "abc"] {
            assert!(!same_destination("081234567890", other), "{other}");
        }
        // Not mobile numbers (a PLN meter): compared as written, never re-prefixed.
        assert!(same_destination("62123456789012", "6212-3456-7890-12"));
        assert!(!same_destination("62123456789012", "0123456789012"));
    }

    #[test]
    fn normalises_country_code() {
        for raw in [
            "081234567890",
            "6281234567890",
            "+6281234567890",
            "0812-3456-7890",
        ] {
            let m = Msisdn::parse(raw).unwrap();
            assert_eq!(m.as_str(), "081234567890", "{raw}");
            assert_eq!(m.operator(), Operator::Telkomsel);
        }
    }

    #[test]
    fn reads_operators() {
        assert_eq!(
            Msisdn::parse("087800001230").unwrap().operator(),
            Operator::Xl
        );
        assert_eq!(
            Msisdn::parse("08561234567").unwrap().operator(),
            Operator::Indosat
        );
        assert_eq!(
            Msisdn::parse("08381234567").unwrap().operator(),
            Operator::Axis
        );
        assert_eq!(
            Msisdn::parse("08961234567").unwrap().operator(),
            Operator::Tri
        );
        assert_eq!(
            Msisdn::parse("08811234567").unwrap().operator(),
            Operator::Smartfren
        );
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(Msisdn::parse("0812abc"), Err(MsisdnError::NotDigits));
        assert_eq!(Msisdn::parse("08123"), Err(MsisdnError::Length));
        assert_eq!(Msisdn::parse("02112345678"), Err(MsisdnError::NotMobile));
        assert_eq!(Msisdn::parse("+12025550123"), Err(MsisdnError::NotMobile));
        assert_eq!(
            Msisdn::parse("08001234567"),
            Err(MsisdnError::UnknownPrefix)
        );
        assert_eq!(Msisdn::parse("08123456789012"), Err(MsisdnError::Length));
    }

    #[test]
    fn masks() {
        assert_eq!(mask_digits("081234567890"), "0812****7890");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Msisdn::parse(&s);
        }

        #[test]
        fn forms_agree(rest in "[0-9]{7,9}", p in 0usize..PREFIXES.len()) {
            let local = format!("{}{}", PREFIXES[p].0, rest);
            let a = Msisdn::parse(&local).unwrap();
            let b = Msisdn::parse(&format!("62{}", &local[1..])).unwrap();
            let c = Msisdn::parse(&format!("+62{}", &local[1..])).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(&a, &c);
            prop_assert_eq!(a.operator(), PREFIXES[p].1);
            prop_assert!(a.as_str().len() >= 10 && a.as_str().len() <= 13);
        }
    }
}
