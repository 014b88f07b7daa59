//! The replies resellers know from OtomaX-style servers (SPEC 5.2): `TRX TSEL10.0812...7890
//! SUKSES. SN: .... Harga 10.500. Saldo 1.234.500 @07/12 14:03`. Rupiah are written the
//! Indonesian way (dots between thousands), times in WIB. Pure.

use siaga_domain::order::message_id;
use siaga_domain::{FailureCode, OrderStatus, Stage};
use siaga_store::Order;

/// `1234500` → `1.234.500`; `-10500` → `-10.500`.
pub fn rupiah(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A destination with its middle left out: `081234567890` → `0812...7890`.
pub fn masked(destination: &str) -> String {
    if destination.len() <= 8 || !destination.is_ascii() {
        return destination.to_owned();
    }
    let n = destination.len();
    format!("{}...{}", &destination[..4], &destination[n - 4..])
}

/// `dd/mm HH:MM` in WIB.
pub fn stamp(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
            .strftime("%d/%m %H:%M")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// The reply about an order: its state, price and the balance after, stamped `now`.
/// A queued order says until when it may wait (`wait_until`), as the status page would
/// say a product is down; a failed one that its balance came back.
pub fn order(o: &Order, available: i64, now: i64) -> String {
    let what = format!("TRX {}.{}", o.product, masked(&o.destination));
    let tail = format!(
        "Harga {}. Saldo {} @{}",
        rupiah(o.price),
        rupiah(available),
        stamp(now)
    );
    match o.status {
        OrderStatus::Success => format!(
            "{what} SUKSES. SN: {}. {tail}",
            o.serial_number.as_deref().unwrap_or("-")
        ),
        OrderStatus::Failed => {
            let why = match o.failure_code {
                Some(FailureCode::ProductUnavailable) => {
                    "produk sedang gangguan, saldo dikembalikan"
                }
                Some(FailureCode::DestinationRejected | FailureCode::InvalidDestination) => {
                    "nomor tujuan ditolak, saldo dikembalikan"
                }
                _ => "saldo dikembalikan",
            };
            format!("{what} GAGAL: {why}. {tail}")
        }
        OrderStatus::Pending => match o.stage {
            Some(Stage::Queued) => format!(
                "{what} menunggu: produk sedang gangguan, dicoba sampai {} WIB; bila tidak \
                 terkirim saldo dikembalikan. {tail}",
                stamp(o.wait_until).split(' ').nth(1).unwrap_or_default()
            ),
            _ => format!(
                "{what} {}. {tail}",
                message_id(o.status, o.failure_code, o.stage).to_lowercase()
            ),
        },
    }
}

/// The short help text: what unlinked chats and bad commands get, nothing more.
pub const HELP: &str = "Format: PRODUK.TUJUAN.PIN (contoh TSEL10.081234567890.1234); \
    transaksi ulang hari yang sama: PRODUK.TUJUAN.2.PIN. SAL.PIN = saldo, CEK.TUJUAN.PIN = \
    status, HARGA = daftar harga. Belum terdaftar? Kirim /start KODE dari pemilik server.";

#[cfg(test)]
mod tests {
    use super::*;

    fn o(status: OrderStatus, stage: Option<Stage>, fc: Option<FailureCode>) -> Order {
        Order {
            id: "ord_1".into(),
            reseller_id: "rsl_1".into(),
            ref_id: "tg-1-2".into(),
            product: "TSEL10".into(),
            destination: "081234567890".into(),
            price: 10_500,
            max_wait_s: 900,
            status,
            stage,
            serial_number: (status == OrderStatus::Success).then(|| "SN123".into()),
            failure_code: fc,
            next_action_at: None,
            // 2026-12-07 14:15 WIB
            wait_until: 1_796_627_700_000,
            round: 0,
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn rupiah_the_indonesian_way() {
        assert_eq!(rupiah(0), "0");
        assert_eq!(rupiah(500), "500");
        assert_eq!(rupiah(10_500), "10.500");
        assert_eq!(rupiah(1_234_500), "1.234.500");
        assert_eq!(rupiah(-10_500), "-10.500");
        assert_eq!(masked("081234567890"), "0812...7890");
        assert_eq!(masked("0812"), "0812");
    }

    #[test]
    fn replies_in_the_format_resellers_know() {
        // 2026-12-07 14:03 WIB
        let now = 1_796_626_980_000;
        assert_eq!(
            order(&o(OrderStatus::Success, None, None), 1_234_500, now),
            "TRX TSEL10.0812...7890 SUKSES. SN: SN123. Harga 10.500. Saldo 1.234.500 @07/12 14:03"
        );
        let pending = order(
            &o(OrderStatus::Pending, Some(Stage::Dispatching), None),
            1_000,
            now,
        );
        assert!(pending.contains("sedang diproses"), "{pending}");
        let queued = order(
            &o(OrderStatus::Pending, Some(Stage::Queued), None),
            1_000,
            now,
        );
        assert!(queued.contains("sampai 14:15 WIB"), "{queued}");
        let failed = order(
            &o(
                OrderStatus::Failed,
                None,
                Some(FailureCode::ProductUnavailable),
            ),
            1_000,
            now,
        );
        assert!(
            failed.starts_with("TRX TSEL10.0812...7890 GAGAL: produk sedang gangguan"),
            "{failed}"
        );
    }
}
