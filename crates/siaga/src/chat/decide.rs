//! The bot's decisions and words that need no IO (SPEC 5.2): an order's `ref_id` from its
//! chat and message, the business day a same-day repeat counts in, the lock after wrong
//! PINs, a destination checked against its product, and the short replies. Pure.

use siaga_domain::{Msisdn, MsisdnError};

use super::reply::{masked, rupiah, stamp};
use crate::config::{DestinationRule, Product};

/// Wrong PINs in a row that lock a chat.
pub const MAX_WRONG_PINS: i64 = 5;
/// How long the lock lasts.
pub const LOCK_MS: i64 = 15 * 60_000;
/// WIB is UTC+7 all year.
const WIB_MS: i64 = 7 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The order's `ref_id`: the same chat and message give the same one, so a redelivered
/// update is a replay at intake, never a second order.
pub fn ref_id(chat_id: i64, message_id: i64) -> String {
    format!("tg-{chat_id}-{message_id}")
}

/// The start (ms) of the WIB day `now` is in: same-day repeats count from here.
pub fn day_start(now: i64) -> i64 {
    (now + WIB_MS).div_euclid(DAY_MS) * DAY_MS - WIB_MS
}

/// Until when a chat is locked, if it is at `now`.
pub fn locked(locked_until: Option<i64>, now: i64) -> Option<i64> {
    locked_until.filter(|&u| u > now)
}

/// Checks a destination against the product's rule; the normalised number, or why not
/// (in the reseller's words).
pub fn destination(p: &Product, raw: &str) -> Result<String, String> {
    match &p.rule {
        DestinationRule::Mobile(op) => {
            let m = Msisdn::parse(raw).map_err(|e| {
                let why = match e {
                    MsisdnError::NotDigits => "hanya boleh berisi angka",
                    MsisdnError::Length => "harus 10 sampai 13 digit",
                    MsisdnError::NotMobile => "bukan nomor seluler Indonesia",
                    MsisdnError::UnknownPrefix => "awalan nomor tidak dikenal",
                };
                format!("Nomor tujuan {raw} tidak valid: {why}.")
            })?;
            if m.operator() != *op {
                return Err(format!(
                    "Nomor tujuan {raw} milik {}, bukan {}.",
                    m.operator().name(),
                    op.name()
                ));
            }
            Ok(m.as_str().to_owned())
        }
        DestinationRule::Digits { min, max, .. } => {
            let d = raw.trim();
            let n = d.len() as u32;
            if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) || n < *min || n > *max {
                return Err(format!("Nomor tujuan harus {min}-{max} digit angka."));
            }
            Ok(d.to_owned())
        }
    }
}

/// The refusal of a same-day repeat without the right counter, naming the one to send.
pub fn ask_counter(product: &str, destination: &str, next: u32) -> String {
    format!(
        "TRX {product}.{} sudah ada hari ini. Bila memang ingin mengulang, kirim \
         {product}.{destination}.{next}.PIN",
        masked(destination)
    )
}

/// What a wrong PIN is told: how many are left, or the lock.
pub fn wrong_pin(count: i64) -> String {
    format!(
        "PIN salah ({count}/{MAX_WRONG_PINS}). Setelah {MAX_WRONG_PINS} kali salah, chat ini \
         dikunci 15 menit."
    )
}

/// What a locked chat is told.
pub fn locked_reply(until: i64) -> String {
    format!(
        "Chat ini dikunci sampai {} WIB karena PIN salah {MAX_WRONG_PINS} kali. Hubungi \
         pemilik server bila bukan Anda.",
        stamp(until)
    )
}

/// The `SAL` reply.
pub fn balance(available: i64, held: i64, now: i64) -> String {
    if held > 0 {
        format!(
            "Saldo {} (tertahan {} untuk transaksi berjalan) @{}",
            rupiah(available),
            rupiah(held),
            stamp(now)
        )
    } else {
        format!("Saldo {} @{}", rupiah(available), stamp(now))
    }
}

/// One line of the `HARGA` reply.
pub fn price_line(code: &str, name: &str, price: i64, available: bool) -> String {
    let state = if available { "OK" } else { "GANGGUAN" };
    format!("{code} {name} {} {state}", rupiah(price))
}

#[cfg(test)]
mod tests {
    use super::*;
    use siaga_domain::{Operator, ProductCode, Rupiah};

    fn tsel() -> Product {
        Product {
            code: ProductCode::parse("TSEL10").unwrap(),
            name: "Telkomsel 10.000".into(),
            group: "Telkomsel Pulsa".into(),
            price: Rupiah::positive(10_500).unwrap(),
            rule: DestinationRule::Mobile(Operator::Telkomsel),
            routes: Vec::new(),
        }
    }

    #[test]
    fn one_message_one_ref_and_days_in_wib() {
        assert_eq!(ref_id(-1_005, 42), "tg--1005-42");
        assert_eq!(ref_id(7, 42), ref_id(7, 42));
        // 2026-12-07 00:30 WIB is 2026-12-06 17:30 UTC: the day began 17:00 UTC.
        let t = 1_796_578_200_000;
        assert_eq!(day_start(t), 1_796_576_400_000);
        assert_eq!(day_start(day_start(t)), day_start(t));
        assert_eq!(day_start(day_start(t) - 1), day_start(t) - DAY_MS);
    }

    #[test]
    fn a_lock_holds_until_its_time() {
        assert_eq!(locked(None, 5), None);
        assert_eq!(locked(Some(5), 5), None);
        assert_eq!(locked(Some(6), 5), Some(6));
        assert!(wrong_pin(2).contains("2/5"));
    }

    #[test]
    fn a_destination_must_fit_its_product() {
        assert_eq!(
            destination(&tsel(), "081234567890"),
            Ok("081234567890".into())
        );
        assert!(destination(&tsel(), "081712345678")
            .unwrap_err()
            .contains("bukan"));
        assert!(destination(&tsel(), "0812").is_err());
        let hint = ask_counter("TSEL10", "081234567890", 2);
        assert!(hint.ends_with("TSEL10.081234567890.2.PIN"), "{hint}");
        assert_eq!(
            balance(1_234_500, 0, 1_796_626_980_000),
            "Saldo 1.234.500 @07/12 14:03"
        );
    }
}
