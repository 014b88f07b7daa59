//! Integer rupiah: the only money type. No floats, checked arithmetic, never negative
//! where a price or an amount is meant.

use std::fmt;

/// An amount of rupiah (IDR has no minor unit in practice). Always `>= 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rupiah(i64);

/// Upper bound for a single amount (one trillion rupiah): far above any top-up or deposit,
/// far below `i64::MAX`, so sums of many amounts cannot overflow in practice.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must be a positive whole number of rupiah")]
    NotPositive,
    #[error("amount is larger than {MAX_AMOUNT} rupiah")]
    TooLarge,
}

impl Rupiah {
    pub const ZERO: Rupiah = Rupiah(0);

    /// A strictly positive amount (a price, a deposit, a cost).
    pub fn positive(v: i64) -> Result<Rupiah, MoneyError> {
        if v <= 0 {
            Err(MoneyError::NotPositive)
        } else if v > MAX_AMOUNT {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Rupiah(v))
        }
    }

    /// A non-negative amount (a balance read back from the store).
    pub fn non_negative(v: i64) -> Option<Rupiah> {
        (0..=MAX_AMOUNT * 1_000).contains(&v).then_some(Rupiah(v))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, o: Rupiah) -> Option<Rupiah> {
        self.0.checked_add(o.0).map(Rupiah)
    }

    pub fn checked_sub(self, o: Rupiah) -> Option<Rupiah> {
        self.0.checked_sub(o.0).filter(|v| *v >= 0).map(Rupiah)
    }
}

impl fmt::Display for Rupiah {
    /// Indonesian grouping: `Rp10.500`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        let mut out = String::with_capacity(digits.len() + 6);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push('.');
            }
            out.push(c);
        }
        write!(f, "Rp{out}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_rejects_zero_negative_and_huge() {
        assert_eq!(Rupiah::positive(0), Err(MoneyError::NotPositive));
        assert_eq!(Rupiah::positive(-5), Err(MoneyError::NotPositive));
        assert_eq!(Rupiah::positive(MAX_AMOUNT + 1), Err(MoneyError::TooLarge));
        assert_eq!(Rupiah::positive(10_500).map(Rupiah::get), Ok(10_500));
    }

    #[test]
    fn sub_never_goes_negative() {
        let a = Rupiah(5);
        assert_eq!(a.checked_sub(Rupiah(6)), None);
        assert_eq!(a.checked_sub(Rupiah(5)), Some(Rupiah::ZERO));
    }

    #[test]
    fn displays_indonesian_grouping() {
        assert_eq!(Rupiah(10_500).to_string(), "Rp10.500");
        assert_eq!(Rupiah(1_000_000).to_string(), "Rp1.000.000");
        assert_eq!(Rupiah(999).to_string(), "Rp999");
    }
}
