//! The wire shapes of the reseller API: the order JSON (the same everywhere — responses,
//! lists, callbacks) and friends.

use serde_json::{json, Value};
use siaga_domain::order::message_id;
use siaga_store::{Attempt, Order};

use crate::clock::rfc3339;

pub fn order_json(o: &Order) -> Value {
    json!({
        "order_id": o.id,
        "ref_id": o.ref_id,
        "product": o.product,
        "destination": o.destination,
        "price": o.price,
        "status": o.status.as_str(),
        "stage": if o.status.is_final() { None } else { o.stage.map(|s| s.as_str()) },
        "serial_number": o.serial_number,
        "failure_code": o.failure_code.map(|f| f.as_str()),
        "message": message_id(o.status, o.failure_code, o.stage),
        "created_at": rfc3339(o.created_at),
        "updated_at": rfc3339(o.updated_at),
    })
}

/// An attempt as the owner sees it (admin API only: it names suppliers and costs).
pub fn attempt_json(a: &Attempt) -> Value {
    json!({
        "attempt_id": a.id,
        "seq": a.seq,
        "supplier": a.supplier_id,
        "sku": a.sku,
        "cost": a.cost,
        "supplier_ref": a.supplier_ref,
        "state": a.state.as_str(),
        "reason": a.reason,
        "rc": a.rc,
        "http_status": a.http_status,
        "message": a.message,
        "serial_number": a.sn,
        "inquiries": a.inquiries,
        "next_inquiry_at": a.next_inquiry_at.map(rfc3339),
        "started_at": rfc3339(a.started_at),
        "finished_at": a.finished_at.map(rfc3339),
    })
}

/// An order in Digiflazz's words (SPEC 5.1): `(status, rc)`. Pending is rc `03`; a
/// failure's rc says why, from the table in README ("The Digiflazz drop-in").
pub fn digiflazz_status(o: &Order) -> (&'static str, &'static str) {
    use siaga_domain::{FailureCode as F, OrderStatus as S};
    match (o.status, o.failure_code) {
        (S::Success, _) => ("Sukses", "00"),
        (S::Pending, _) => ("Pending", "03"),
        (S::Failed, Some(F::InvalidDestination | F::DestinationRejected)) => ("Gagal", "54"),
        (S::Failed, Some(F::ProductUnavailable)) => ("Gagal", "55"),
        (S::Failed, _) => ("Gagal", "02"),
    }
}

/// The `data` object Digiflazz answers a transaction (and sends in its callbacks) with, for
/// an order of siaga's: `buyer_sku_code` is the product code, `price` the reseller's price,
/// `buyer_last_saldo` the reseller's available balance.
pub fn digiflazz_data(o: &Order, buyer_last_saldo: i64) -> Value {
    let (status, rc) = digiflazz_status(o);
    json!({
        "ref_id": o.ref_id,
        "customer_no": o.destination,
        "buyer_sku_code": o.product,
        "message": message_id(o.status, o.failure_code, o.stage),
        "status": status,
        "rc": rc,
        "sn": o.serial_number.clone().unwrap_or_default(),
        "buyer_last_saldo": buyer_last_saldo,
        "price": o.price,
        "tele": "",
        "wa": "",
    })
}
