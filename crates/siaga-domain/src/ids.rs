//! Identifiers that come from outside: a reseller's `ref_id` and a product code.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("may contain only letters, digits and . _ - : /")]
    BadChar,
}

fn check(s: &str, max: usize, extra: &[char]) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > max {
        return Err(IdError::TooLong(max));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
    {
        return Err(IdError::BadChar);
    }
    Ok(())
}

/// The reseller's own reference for an order: (reseller, ref_id) names one order forever.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefId(String);

impl RefId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<RefId, IdError> {
        check(s, Self::MAX_LEN, &['.', '_', '-', ':', '/'])?;
        Ok(RefId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product code as configured by the owner, e.g. `TSEL10`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductCode(String);

impl ProductCode {
    pub const MAX_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<ProductCode, IdError> {
        check(s, Self::MAX_LEN, &['.', '_', '-'])?;
        Ok(ProductCode(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ref_id_rules() {
        assert!(RefId::parse("INV-1001").is_ok());
        assert_eq!(RefId::parse(""), Err(IdError::Empty));
        assert_eq!(RefId::parse("a b"), Err(IdError::BadChar));
        assert_eq!(RefId::parse(&"x".repeat(65)), Err(IdError::TooLong(64)));
    }

    proptest! {
        #[test]
        fn ref_id_parse_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(r) = RefId::parse(&s) {
                prop_assert_eq!(r.as_str(), s.as_str());
            }
        }
    }
}
