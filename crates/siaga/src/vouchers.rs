//! Compensation vouchers (SPEC 10): codes like `SIAGA-7K2MX-9QXDX` (nine random Crockford
//! base32 characters, 45 bits, then a Luhn mod 32 check character), issued once per
//! affected reseller per incident and emailed to them; redeemed by their owner through the
//! ledger.

use serde_json::{json, Value};
use siaga_store::{NewVoucher, Store, StoreError};

use crate::config::Settings;
use crate::ops::OpError;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_CHARS: usize = 9;

fn value(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|a| *a == c)
}

/// Luhn mod 32 over the characters: catches every single wrong character and every swap
/// of two neighbours but `0`↔`Z` (Luhn's one blind pair).
fn check_char(chars: &[u8]) -> Option<u8> {
    let mut sum = 0usize;
    for (i, c) in chars.iter().rev().enumerate() {
        let mut v = value(*c)?;
        if i % 2 == 0 {
            v *= 2;
            v = v / 32 + v % 32;
        }
        sum += v;
    }
    Some(ALPHABET[(32 - sum % 32) % 32])
}

/// A new code: `SIAGA-XXXXX-XXXXC`.
pub fn new_code() -> String {
    let mut chars: Vec<u8> = (0..RANDOM_CHARS)
        .map(|_| ALPHABET[rand::random::<u8>() as usize % 32])
        .collect();
    if let Some(c) = check_char(&chars) {
        chars.push(c);
    }
    let s = String::from_utf8_lossy(&chars).into_owned();
    format!("SIAGA-{}-{}", &s[..5], &s[5..])
}

/// The code as typed by a person, normalised (case, spaces, dashes, O→0, I/L→1), or `None`
/// when it cannot be one of ours (wrong length, a stray character, a wrong check).
pub fn normalise(typed: &str) -> Option<String> {
    let compact: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let s: String = compact
        .strip_prefix("SIAGA")
        .unwrap_or(&compact)
        .chars()
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    let b = s.as_bytes();
    if b.len() != RANDOM_CHARS + 1 || b.iter().any(|c| value(*c).is_none()) {
        return None;
    }
    if check_char(&b[..RANDOM_CHARS]) != Some(b[RANDOM_CHARS]) {
        return None;
    }
    Some(format!("SIAGA-{}-{}", &s[..5], &s[5..]))
}

/// Issues one voucher to every reseller an incident affected (orders in its components
/// during it that failed or took longer than `affected_after_s`), emails each its code, and
/// returns what was issued now (issuing again for the same incident issues nothing new).
pub async fn issue(
    settings: &Settings,
    store: &dyn Store,
    now: i64,
    incident_id: i64,
    amount: i64,
    expires_in_days: u32,
    affected_after_s: u64,
) -> Result<Value, OpError> {
    siaga_domain::Rupiah::positive(amount).map_err(|e| OpError::Invalid(format!("amount: {e}")))?;
    if expires_in_days == 0 || expires_in_days > 3_650 {
        return Err(OpError::Invalid("expires-in-days must be 1 to 3650".into()));
    }
    let inc = store
        .incident(incident_id)
        .await?
        .ok_or_else(|| OpError::NotFound(format!("incident {incident_id}")))?;
    let products = products_of(settings, &inc.components);
    let to = inc.resolved_at.unwrap_or(now);
    let slow_ms = i64::try_from(affected_after_s)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    // Issuing twice for one incident issues nothing new (SPEC 10), even while it is open.
    let already = store.incident_vouchers(incident_id).await?;
    let resellers = if already.is_empty() {
        store
            .affected_resellers(&products, inc.created_at, to, slow_ms)
            .await?
    } else {
        Vec::new()
    };
    let expires_at = now + i64::from(expires_in_days) * 86_400_000;
    let new: Vec<NewVoucher> = resellers
        .iter()
        .map(|r| NewVoucher {
            code: new_code(),
            reseller_id: r.clone(),
            incident_id,
            amount,
            issued_at: now,
            expires_at,
        })
        .collect();
    let issued = store.issue_vouchers(new).await?;
    // Every voucher of the incident not emailed yet (a run cut short by an error or a
    // crash is completed by running it again); each email is marked sent with its queueing.
    let (mut emailed, mut email_failed) = (0, 0);
    for v in store.incident_vouchers(incident_id).await? {
        if v.redeemed_at.is_some() || store.notify_mark(&mail_mark(&v.code)).await?.is_some() {
            continue;
        }
        match email(store, now, &inc, &v).await {
            Ok(true) => emailed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(code = %v.code, error = %e, "cannot queue a voucher email");
                email_failed += 1;
            }
        }
    }
    Ok(json!({
        "incident": incident_id,
        "affected_resellers": resellers.len(),
        "already_issued": already.len(),
        "email_failed": email_failed,
        "issued": issued.iter().map(|v| json!({
            "code": v.code, "reseller_id": v.reseller_id, "amount": v.amount,
            "expires_at": crate::clock::rfc3339(v.expires_at),
        })).collect::<Vec<_>>(),
        "emailed": emailed,
    }))
}

fn mail_mark(code: &str) -> String {
    format!("voucher_mailed:{code}")
}

/// The products behind status components: a product group's products; "API": all.
fn products_of(settings: &Settings, components: &[String]) -> Vec<String> {
    settings
        .products
        .iter()
        .filter(|p| {
            components
                .iter()
                .any(|c| c == crate::status::worker::API || *c == p.group)
        })
        .map(|p| p.code.as_str().to_owned())
        .collect()
}

/// Queues the voucher email to its reseller, when it has an address; true if queued.
async fn email(
    store: &dyn Store,
    now: i64,
    inc: &siaga_store::Incident,
    v: &siaga_store::Voucher,
) -> Result<bool, StoreError> {
    let Some(to) = store
        .reseller(&v.reseller_id)
        .await?
        .and_then(|r| r.email)
        .filter(|e| e.parse::<lettre::Address>().is_ok())
    else {
        return Ok(false);
    };
    let body = crate::notify::render::voucher(inc, v);
    let notice = crate::notify::notice("email", &to, &format!("voucher:{}", v.code), None);
    store
        .enqueue_notices(siaga_store::Fanout {
            body,
            notices: vec![notice],
            marks: vec![(mail_mark(&v.code), "queued".into())],
            coalesce_ms: 0,
            now,
        })
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_check_themselves_and_forgive_typing() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), "SIAGA-XXXXX-XXXXX".len(), "{c}");
            assert_eq!(normalise(&c).as_deref(), Some(c.as_str()));
            assert_eq!(
                normalise(&c.to_lowercase().replace('-', " ")).as_deref(),
                Some(c.as_str())
            );
            let bare: Vec<u8> = c.replace("SIAGA-", "").replace('-', "").into_bytes();
            // Every single wrong character is caught...
            for i in 0..bare.len() {
                for &other in ALPHABET.iter().filter(|a| **a != bare[i]) {
                    let mut b = bare.clone();
                    b[i] = other;
                    assert!(normalise(&String::from_utf8_lossy(&b)).is_none());
                }
            }
            // ...and every swap of two different neighbours but Luhn's blind pair 0 and Z.
            for i in 0..bare.len() - 1 {
                let pair = [bare[i], bare[i + 1]];
                if bare[i] != bare[i + 1] && pair != *b"0Z" && pair != *b"Z0" {
                    let mut b = bare.clone();
                    b.swap(i, i + 1);
                    assert!(
                        normalise(&String::from_utf8_lossy(&b)).is_none(),
                        "{c} swap {i}"
                    );
                }
            }
        }
        assert!(normalise("SIAGA-1234").is_none());
        assert!(normalise("").is_none());
        assert!(normalise("SIAGA-UUUUU-UUUUU").is_none());
    }
}
