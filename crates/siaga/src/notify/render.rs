//! The words of every notice: subject, plain text and HTML (Indonesian first, then
//! English), and the JSON `data` of its webhook message. The HTML part is built with maud,
//! which escapes every value; the text part, the subject and the JSON are not HTML.

use maud::{html, Markup, PreEscaped};
use serde_json::{json, Value};
use siaga_store::{
    Attempt, Incident, IncidentUpdate, MaintenanceWindow, NoticeBody, SupplierEvent,
};

use crate::clock::wib;
use crate::status::html::incident_state;
use crate::status::view::Lang;

/// The lowercase doctype the emails have always had (maud's `DOCTYPE` is uppercase).
pub const DOCTYPE: &str = "<!doctype html>";

/// One paragraph; its line breaks become `<br>`.
fn paragraph(p: &str) -> Markup {
    html! {
        p {
            @for (n, line) in p.split('\n').enumerate() {
                @if n > 0 { br; }
                (line)
            }
        }
    }
}

/// The HTML part of a notice: both languages, then the link.
fn html_part(id: &[String], en: &[String], link: Option<&str>) -> String {
    html! {
        (PreEscaped(DOCTYPE))
        html {
            body style="font-family:sans-serif;line-height:1.5;max-width:40em" {
                div lang="id" { @for p in id { (paragraph(p)) } }
                hr;
                div lang="en" { @for p in en { (paragraph(p)) } }
                @if let Some(l) = link { p { a href=(l) { (l) } } }
            }
        }
    }
    .into_string()
}

/// A notice from paragraphs in both languages, plus an optional link.
pub fn body(
    kind: &str,
    subject: String,
    id: &[String],
    en: &[String],
    link: Option<String>,
    payload: Value,
) -> NoticeBody {
    let mut text = String::new();
    for p in id {
        text.push_str(p);
        text.push_str("\n\n");
    }
    text.push_str("— English —\n\n");
    for p in en {
        text.push_str(p);
        text.push_str("\n\n");
    }
    if let Some(l) = &link {
        text.push_str(&format!("{l}\n"));
    }
    NoticeBody {
        kind: kind.into(),
        subject,
        text,
        html: html_part(id, en, link.as_deref()),
        payload: payload.to_string(),
    }
}

fn incident_json(i: &Incident, public_url: &str) -> Value {
    json!({
        "id": i.id.to_string(),
        "name": i.title_en,
        "name_id": i.title_id,
        "status": i.status,
        "impact": i.impact,
        "components": i.components,
        "security": i.security,
        "shortlink": format!("{public_url}/incidents/{}", i.id),
        "created_at": crate::clock::rfc3339(i.created_at),
        "updated_at": crate::clock::rfc3339(i.updated_at),
        "resolved_at": i.resolved_at.map(crate::clock::rfc3339),
    })
}

/// The kind of notice an incident update is.
pub fn incident_kind(i: &Incident, u: &IncidentUpdate) -> &'static str {
    if i.updates.first().is_some_and(|f| f.id == u.id) {
        "incident.created"
    } else if u.status == "resolved" {
        "incident.resolved"
    } else if u.status == "postmortem" {
        "incident.postmortem"
    } else {
        "incident.updated"
    }
}

/// An incident update for subscribers, webhooks and the channel.
pub fn incident(i: &Incident, u: &IncidentUpdate, public_url: &str) -> NoticeBody {
    let kind = incident_kind(i, u);
    let comps = i.components.join(", ");
    let link = format!("{public_url}/incidents/{}", i.id);
    let id = vec![
        format!("{} — {}", i.title_id, incident_state(&u.status, Lang::Id)),
        u.body_id.clone(),
        format!("Layanan terdampak: {comps}\nWaktu: {}", wib(u.at)),
    ];
    let en = vec![
        format!("{} — {}", i.title_en, incident_state(&u.status, Lang::En)),
        u.body_en.clone(),
        format!("Affected: {comps}\nTime: {}", wib(u.at)),
    ];
    let subject = format!(
        "[{}] {} / {}",
        incident_state(&u.status, Lang::Id),
        i.title_id,
        i.title_en
    );
    let payload = json!({
        "incident": incident_json(i, public_url),
        "update": {
            "id": u.id.to_string(),
            "status": u.status,
            "body": u.body_en,
            "body_id": u.body_id,
            "created_at": crate::clock::rfc3339(u.at),
        },
    });
    body(kind, subject, &id, &en, Some(link), payload)
}

/// A security incident, to every reseller: what happened and what to do.
pub fn security(i: &Incident, u: &IncidentUpdate, public_url: &str) -> NoticeBody {
    let link = format!("{public_url}/incidents/{}", i.id);
    let id = vec![
        format!("PEMBERITAHUAN KEAMANAN: {}", i.title_id),
        u.body_id.clone(),
        "Data Anda mungkin berisiko. Kami akan mengganti semua API key dan webhook secret; \
         kunci lama berhenti bekerja saat itu juga. Minta kunci baru kepada kami dan perbarui \
         sistem Anda. Kami tidak akan pernah meminta kunci Anda lewat email."
            .to_string(),
    ];
    let en = vec![
        format!("SECURITY NOTICE: {}", i.title_en),
        u.body_en.clone(),
        "Your data may be at risk. We are rotating every API key and webhook secret; old \
         keys stop working at once. Ask us for your new keys and update your systems. We \
         will never ask you for your keys by email."
            .to_string(),
    ];
    let subject = format!("[Keamanan / Security] {} / {}", i.title_id, i.title_en);
    let payload = json!({"incident": incident_json(i, public_url)});
    body("incident.security", subject, &id, &en, Some(link), payload)
}

/// Announced maintenance: `phase` is `scheduled`, `started` or `completed`; `routed` are
/// the groups whose orders go to a backup supplier meanwhile, `held` the ones that wait.
pub fn maintenance(
    w: &MaintenanceWindow,
    phase: &str,
    routed: &[String],
    held: &[String],
    public_url: &str,
) -> NoticeBody {
    let components: Vec<String> = routed.iter().chain(held).cloned().collect();
    let comps = components.join(", ");
    let when = format!("{} – {}", wib(w.starts_at), wib(w.ends_at));
    let (head_id, head_en) = match phase {
        "scheduled" => ("Pemeliharaan terjadwal", "Scheduled maintenance"),
        "started" => ("Pemeliharaan dimulai", "Maintenance started"),
        _ => ("Pemeliharaan selesai", "Maintenance completed"),
    };
    let mut id = vec![format!("{head_id}: {comps}"), format!("Waktu: {when}")];
    let mut en = vec![format!("{head_en}: {comps}"), format!("When: {when}")];
    if let Some(note) = &w.note {
        // The owner's own words, as written, in both versions.
        id.insert(1, note.clone());
        en.insert(1, note.clone());
    }
    if phase == "completed" {
        id.push("Layanan kembali normal.".into());
        en.push("Service is back to normal.".into());
    } else {
        if !routed.is_empty() {
            id.push(format!(
                "{}: pesanan dialihkan ke pemasok cadangan selama pemeliharaan.",
                routed.join(", ")
            ));
            en.push(format!(
                "{}: orders are routed to a backup supplier during the maintenance.",
                routed.join(", ")
            ));
        }
        if !held.is_empty() {
            id.push(format!(
                "{}: pesanan yang masuk selama pemeliharaan ditahan dan diproses otomatis setelahnya, atau dikembalikan dananya jika waktu tunggunya habis.",
                held.join(", ")
            ));
            en.push(format!(
                "{}: orders placed during the maintenance are held and processed automatically afterwards, or refunded if their wait runs out.",
                held.join(", ")
            ));
        }
    }
    let payload = json!({
        "maintenance": {
            "id": w.id.to_string(),
            "components": components,
            "scheduled_for": crate::clock::rfc3339(w.starts_at),
            "scheduled_until": crate::clock::rfc3339(w.ends_at),
            "phase": phase,
            "note": w.note,
        }
    });
    body(
        &format!("maintenance.{phase}"),
        format!("[{head_id} / {head_en}] {comps}"),
        &id,
        &en,
        Some(public_url.to_owned()),
        payload,
    )
}

/// The double opt-in email.
pub fn confirm(link: &str, components: &[String]) -> NoticeBody {
    let what = if components.is_empty() {
        "semua layanan / all services".to_string()
    } else {
        components.join(", ")
    };
    let id = vec![
        "Seseorang (semoga Anda) meminta pemberitahuan status untuk alamat email ini.".into(),
        format!("Layanan: {what}"),
        "Klik tautan di bawah untuk mengonfirmasi. Jika bukan Anda, abaikan email ini; \
         Anda tidak akan menerima email lagi."
            .into(),
    ];
    let en = vec![
        "Someone (hopefully you) asked for status notifications at this address.".into(),
        format!("Services: {what}"),
        "Click the link below to confirm. If it was not you, ignore this email; you will \
         get nothing more."
            .into(),
    ];
    body(
        "subscriber.confirm",
        "Konfirmasi langganan status / Confirm your status subscription".into(),
        &id,
        &en,
        Some(link.to_owned()),
        json!({}),
    )
}

/// An owner alert (short, both languages).
pub fn alert(kind: &str, subject: String, id: String, en: String, detail: Value) -> NoticeBody {
    body(
        &format!("alert.{kind}"),
        subject,
        &[id],
        &[en],
        None,
        json!({"alert": kind, "detail": detail}),
    )
}

/// One line of evidence from a supplier event's samples.
fn evidence_lines(events: &[SupplierEvent]) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        let detail: Value = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
        if let Some(samples) = detail.get("evidence").and_then(Value::as_array) {
            for s in samples {
                let at = s
                    .get("at")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let mut parts = vec![at];
                for k in ["outcome", "reason", "rc", "http_status", "latency_ms"] {
                    if let Some(v) = s.get(k).filter(|v| !v.is_null()) {
                        let v = v
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string());
                        parts.push(format!("{k}={v}"));
                    }
                }
                out.push(parts.join(" "));
            }
        } else if e.kind == "config_error" {
            // Only what the supplier itself told us; never our prices, balances or ids.
            out.push(format!(
                "{} config_error rc={} message={}",
                crate::clock::rfc3339(e.at),
                detail.get("rc").and_then(Value::as_str).unwrap_or("-"),
                detail.get("message").and_then(Value::as_str).unwrap_or("-")
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The outage report to the supplier's contact (SPEC 9: "contact the provider").
pub fn outage_report(
    supplier: &str,
    since: i64,
    events: &[SupplierEvent],
    skus: &[String],
    awaiting: &[Attempt],
) -> NoticeBody {
    let evidence = evidence_lines(events);
    let refs: Vec<String> = awaiting
        .iter()
        .map(|a| {
            format!(
                "{} (sku {}, sejak/since {})",
                a.supplier_ref,
                a.sku,
                wib(a.started_at)
            )
        })
        .collect();
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.iter()
                .map(|l| format!("- {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let id = vec![
        format!(
            "Yth. tim {supplier}, layanan Anda tidak dapat kami gunakan sejak {} (di luar jadwal pemeliharaan yang diumumkan).",
            wib(since)
        ),
        format!("Bukti (waktu, hasil, kode rc, status HTTP):\n{}", list(&evidence)),
        format!("SKU terdampak:\n{}", list(skus)),
        format!(
            "Transaksi yang masih menunggu jawaban Anda (ref_id), mohon statusnya:\n{}",
            list(&refs)
        ),
        "Pesan ini dikirim otomatis satu kali per gangguan; kami akan mengabari saat layanan pulih.".into(),
    ];
    let en = vec![
        format!(
            "Dear {supplier} team, we have not been able to use your service since {} (outside any announced maintenance).",
            wib(since)
        ),
        "The evidence, the SKUs affected and the references still awaiting your answer are listed above.".into(),
        "This message is sent once per outage; we will tell you when it recovers.".into(),
    ];
    let payload = json!({
        "supplier": supplier,
        "since": crate::clock::rfc3339(since),
        "evidence": evidence,
        "skus": skus,
        "awaiting": awaiting.iter().map(|a| json!({"ref_id": a.supplier_ref, "sku": a.sku, "started_at": crate::clock::rfc3339(a.started_at)})).collect::<Vec<_>>(),
    });
    body(
        "supplier.outage_report",
        format!(
            "Laporan gangguan / Outage report: {supplier} sejak/since {}",
            wib(since)
        ),
        &id,
        &en,
        None,
        payload,
    )
}

/// The note that the outage is over.
pub fn recovery_note(supplier: &str, since: i64, until: i64) -> NoticeBody {
    let id = vec![format!(
        "Yth. tim {supplier}, layanan Anda kembali dapat kami gunakan sejak {} (gangguan mulai {}). Terima kasih.",
        wib(until),
        wib(since)
    )];
    let en = vec![format!(
        "Dear {supplier} team, your service has been usable again since {} (outage began {}). Thank you.",
        wib(until),
        wib(since)
    )];
    body(
        "supplier.recovered",
        format!("Pulih / Recovered: {supplier}"),
        &id,
        &en,
        None,
        json!({"supplier": supplier, "since": crate::clock::rfc3339(since), "until": crate::clock::rfc3339(until)}),
    )
}

/// The email that carries a reseller's compensation voucher.
pub fn voucher(inc: &Incident, v: &siaga_store::Voucher) -> NoticeBody {
    let until = crate::clock::wib(v.expires_at);
    body(
        "voucher",
        format!("Voucher kompensasi Rp{} / Compensation voucher", v.amount),
        &[
            format!(
                "Mohon maaf atas gangguan \"{}\". Sebagai kompensasi, kode voucher Anda:",
                inc.title_id
            ),
            v.code.clone(),
            format!(
                "Nilainya Rp{} ke saldo Anda. Tukarkan sebelum {until} lewat POST /v1/vouchers/redeem \
                 dengan {{\"code\": \"{}\"}}. Kode ini hanya untuk akun Anda dan hanya sekali pakai.",
                v.amount, v.code
            ),
        ],
        &[
            format!("We are sorry for \"{}\". As compensation, your voucher code:", inc.title_en),
            v.code.clone(),
            format!(
                "It adds Rp{} to your balance. Redeem it before {until} with POST /v1/vouchers/redeem \
                 and {{\"code\": \"{}\"}}. It works only for your account, once.",
                v.amount, v.code
            ),
        ],
        None,
        json!({"voucher": {"code": v.code, "amount": v.amount, "incident": inc.id}}),
    )
}
