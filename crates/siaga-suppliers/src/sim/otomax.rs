//! The simulator's OtomaX "transaksi IP" face (`siaga sim --dialect otomax`): `GET /trx`
//! (`&check=1` for a status check) and `GET /balance` with the base64url SHA-1 sign, free-text
//! replies, and `GET` reports. Same engine, modes and at-most-once ledger as `/v1`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::engine::{Action, TxReply, TxRequest};
use super::server::{garbled, hang, mode_gate, server_error};
use super::{catalog, Inner};
use crate::sign;

/// The OtomaX sign of these fields (no password: the simulator has none).
fn otomax_sign(parts: [&str; 4], key: &str) -> String {
    let input = format!(
        "OtomaX|{}|{}|{}|{}|{key}|",
        parts[0], parts[1], parts[2], parts[3]
    );
    sign::encode(
        sign::Encoding::Base64url,
        &sign::digest(sign::Algo::Sha1, "", &input),
    )
}

/// `1.234.567`
fn dotted(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// The free text an OtomaX server would answer for this transaction state.
pub(super) fn text(r: &TxReply) -> String {
    let head = format!("R#{} {}.{}", r.ref_id, r.buyer_sku_code, r.customer_no);
    let saldo = dotted(r.buyer_last_saldo);
    match r.status.as_str() {
        "Sukses" => format!(
            "T#{} {head} SUKSES. SN/Ref: {}. Harga {}. Sisa saldo {saldo}",
            r.ref_id.len() * 7919,
            r.sn,
            dotted(r.price)
        ),
        "Pending" => format!("{head}, Mohon tunggu transaksi sedang diproses. Saldo {saldo}"),
        _ => {
            let why = match r.rc.as_str() {
                "54" => "Nomor tujuan salah",
                "62" => "Stok tidak cukup. Sisa stok 0",
                "44" => "Saldo tidak cukup",
                "58" => "Sedang cut off",
                "43" => "Produk tidak ditemukan",
                "41" => "Sign salah",
                _ => "Transaksi dibatalkan",
            };
            format!("{head} GAGAL. {why}. Saldo {saldo}")
        }
    }
}

fn plain(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

fn field<'a>(q: &'a HashMap<String, String>, k: &str) -> &'a str {
    q.get(k).map(String::as_str).unwrap_or("")
}

/// `GET /trx?memberID&product&dest&refID&sign[&check=1]`
pub(super) async fn trx(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    inner.state().count_request();
    if let Some(resp) = mode_gate(&inner).await {
        return resp;
    }
    let (member, product, dest, ref_id) = (
        field(&q, "memberID"),
        field(&q, "product"),
        field(&q, "dest"),
        field(&q, "refID"),
    );
    if member.is_empty() || product.is_empty() || dest.is_empty() || ref_id.is_empty() {
        return plain(StatusCode::OK, "GAGAL. Format salah".into());
    }
    let want = otomax_sign([member, product, dest, ref_id], &inner.key);
    if member != inner.username || field(&q, "sign") != want {
        return plain(StatusCode::OK, format!("R#{ref_id} GAGAL. Sign salah"));
    }
    let req = TxRequest {
        username: member.to_owned(),
        buyer_sku_code: product.to_owned(),
        customer_no: dest.to_owned(),
        ref_id: ref_id.to_owned(),
        sign: String::new(),
        testing: false,
        cb_url: None,
        max_price: None,
    };
    let action = inner.state().transact(&req, catalog::wib_minute_now());
    match action {
        Action::Reply(r) => plain(StatusCode::OK, text(&r)),
        Action::Schedule(r, job) => {
            inner.spawn_completion(job);
            plain(StatusCode::OK, text(&r))
        }
        Action::Hang => hang().await,
        Action::ServerError => server_error(),
        Action::Garbled => garbled(),
    }
}

/// `GET /balance?memberID&sign`
pub(super) async fn balance(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(resp) = mode_gate(&inner).await {
        return resp;
    }
    let member = field(&q, "memberID");
    let want = otomax_sign([member, "", "", ""], &inner.key);
    if member != inner.username || field(&q, "sign") != want {
        return plain(StatusCode::OK, "GAGAL. Sign salah".into());
    }
    let deposit = inner.state().deposit;
    plain(
        StatusCode::OK,
        format!("Saldo anda: Rp {}", dotted(deposit)),
    )
}

/// `GET {url}?t&refid&status&price&message`: an OtomaX report (20 = success, 40 = failed).
pub(super) async fn send_report(client: &reqwest::Client, url: &str, r: &TxReply) {
    let status = match r.status.as_str() {
        "Sukses" => "20",
        "Pending" => "10",
        _ => "40",
    };
    let price = r.price.to_string();
    let message = text(r);
    let params = [
        ("t", r.ref_id.as_str()),
        ("refid", r.ref_id.as_str()),
        ("status", status),
        ("price", price.as_str()),
        ("message", message.as_str()),
    ];
    for attempt in 1..=3u32 {
        match client.get(url).query(&params).send().await {
            Ok(resp) if resp.status().is_success() => return,
            Ok(resp) => tracing::warn!(ref_id = %r.ref_id, attempt,
                status = resp.status().as_u16(), "sim: otomax report rejected"),
            Err(e) => tracing::warn!(ref_id = %r.ref_id, attempt, error = %e,
                "sim: otomax report failed"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_numbers() {
        assert_eq!(dotted(100_962_173), "100.962.173");
        assert_eq!(dotted(950), "950");
        assert_eq!(dotted(1_000), "1.000");
    }
}
