//! SQLite only: what the database file holds at rest. With a key no secret siaga reads
//! back is in the file or its WAL in clear; keys rotate (read with any key of the ring,
//! re-sealed with the current one when the store opens); a database from before is sealed
//! when a key comes; the files are owner-only from creation and after a restore.

use std::path::Path;

use super::*;
use crate::secrets::{Column, Keyring};
use crate::Subscriber;

const SECRET: &str = "whsec_PlainSecretMarker0123456789";
const TOKEN: &str = "UnsubTokenMarker0123456789";
const DIGI: &str = "DigiflazzKeyMarker0123456789";
const KEY_B: &str = "0202020202020202020202020202020202020202020202020202020202020202";

fn keys(current: Option<&str>, old: &[&str]) -> Keyring {
    Keyring::new(current, old).expect("keys")
}

/// Writes a reseller with [`SECRET`], a subscriber with [`TOKEN`] and a pending mail
/// carrying it.
async fn write_secrets(store: &dyn Store) {
    store
        .create_reseller(NewReseller {
            id: "r1".into(),
            name: "R1".into(),
            email: None,
            callback_url: None,
            key_hash: "kh-r1".into(),
            webhook_secret: SECRET.into(),
            digiflazz_key: DIGI.into(),
            callback_format: crate::CallbackFormat::Digiflazz,
            now: T0,
        })
        .await
        .unwrap();
    store
        .save_subscriber(Subscriber {
            id: "01S".into(),
            email: "s@x.example".into(),
            components: Vec::new(),
            status: "confirmed".into(),
            confirm_hash: None,
            unsub_token: TOKEN.into(),
            created_at: T0,
            confirm_sent_at: T0,
            confirmed_at: Some(T0),
            unsubscribed_at: None,
        })
        .await
        .unwrap();
    store
        .enqueue_notices(crate::Fanout {
            body: crate::NoticeBody {
                kind: "incident.created".into(),
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
                payload: "{}".into(),
            },
            notices: vec![crate::NewNotice {
                msg_id: "m1".into(),
                channel: "email".into(),
                target: "s@x.example".into(),
                topic: "t".into(),
                unsub: Some(TOKEN.into()),
            }],
            marks: Vec::new(),
            coalesce_ms: 0,
            now: T0,
        })
        .await
        .unwrap();
}

/// The secrets as they read back through the store.
async fn read_back(store: &dyn Store) -> (String, Option<String>) {
    let r = store.reseller("r1").await.unwrap().expect("r1");
    let s = store.subscriber_by("unsub_token", TOKEN).await.unwrap();
    (r.webhook_secret, s.map(|s| s.id))
}

/// The four secret columns, raw.
fn raw(path: &Path) -> Vec<String> {
    let c = raw_conn(path);
    let one = |sql: &str| -> String { c.query_row(sql, [], |r| r.get(0)).expect(sql) };
    vec![
        one("SELECT webhook_secret FROM resellers WHERE id = 'r1'"),
        one("SELECT unsub_token FROM subscribers WHERE id = '01S'"),
        one("SELECT unsub FROM notices WHERE msg_id = 'm1'"),
        one("SELECT digiflazz_key FROM resellers WHERE id = 'r1'"),
    ]
}

fn file_bytes(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for f in crate::sqlite::files::with_sidecars(path) {
        all.extend(std::fs::read(&f).unwrap_or_default());
    }
    all
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_key_the_database_and_its_wal_hold_no_secret_in_clear() {
    let (_dir, path) = temp_db();
    let store = crate::open_with(path.as_path(), &test_keys()).unwrap();
    write_secrets(&*store).await;
    assert_eq!(
        read_back(&*store).await,
        (SECRET.to_owned(), Some("01S".to_owned()))
    );
    let bytes = file_bytes(&path);
    assert!(holds(&bytes, "kh-r1"), "the rows are there");
    assert!(!holds(&bytes, SECRET), "a webhook secret in clear");
    assert!(!holds(&bytes, TOKEN), "an unsubscribe token in clear");
    assert!(!holds(&bytes, DIGI), "a Digiflazz drop-in key in clear");
    let r = store.reseller("r1").await.unwrap().expect("r1");
    assert_eq!(r.digiflazz_key.as_deref(), Some(DIGI));
    assert_eq!(r.callback_format, crate::CallbackFormat::Digiflazz);
    let id = test_keys().current_id().unwrap_or_default().to_owned();
    for v in raw(&path) {
        assert!(v.starts_with(&format!("enc:v1:{id}:")), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_rotate_and_an_old_database_is_sealed_when_a_key_comes() {
    let (_dir, path) = temp_db();
    // A database from before: secrets in clear.
    let store = crate::open(path.as_path()).unwrap();
    write_secrets(&*store).await;
    drop(store);
    assert_eq!(raw(&path), [SECRET, TOKEN, TOKEN, DIGI]);

    // A key comes: everything is sealed with it when the store opens.
    let a = test_keys();
    let a_id = a.current_id().unwrap_or_default().to_owned();
    let store = crate::open_with(path.as_path(), &a).unwrap();
    assert_eq!(read_back(&*store).await.0, SECRET);
    drop(store);
    assert!(raw(&path).iter().all(|v| v.contains(&a_id)));

    // The new key alone cannot read what the old one sealed, and says which key is missing.
    let b = keys(Some(KEY_B), &[]);
    let e = crate::open_with(path.as_path(), &b).err().expect("refused");
    let e = e.to_string();
    assert!(e.contains(&a_id) && e.contains(crate::KEY_ENV), "{e}");
    assert!(!e.contains(TEST_KEY) && !e.contains(SECRET), "{e}");
    let e = crate::open(path.as_path()).err().expect("no key: refused");
    assert!(e.to_string().contains(&a_id), "{e}");
    assert_eq!(raw(&path).len(), 4);
    assert!(
        raw(&path).iter().all(|v| v.contains(&a_id)),
        "nothing changed"
    );

    // Rotation: the new key current, the old one beside it; opening re-seals everything.
    let b_id = b.current_id().unwrap_or_default().to_owned();
    let store = crate::open_with(path.as_path(), &keys(Some(KEY_B), &[TEST_KEY])).unwrap();
    assert_eq!(
        read_back(&*store).await,
        (SECRET.to_owned(), Some("01S".to_owned()))
    );
    drop(store);
    assert!(
        raw(&path).iter().all(|v| v.contains(&b_id)),
        "{:?}",
        raw(&path)
    );

    // The old key can go now.
    let store = crate::open_with(path.as_path(), &b).unwrap();
    assert_eq!(
        read_back(&*store).await,
        (SECRET.to_owned(), Some("01S".to_owned()))
    );
    let claimed = store
        .claim_notices("email", T0 + 1, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(claimed[0].unsub.as_deref(), Some(TOKEN));
    drop(store);

    // Taking encryption away: no current key, the last one as old: back in clear.
    let store = crate::open_with(path.as_path(), &keys(None, &[KEY_B])).unwrap();
    drop(store);
    assert_eq!(raw(&path), [SECRET, TOKEN, TOKEN, DIGI]);
}

#[test]
fn a_sealed_value_does_not_open_in_another_column() {
    let k = test_keys();
    let s = k.seal(Column::WebhookSecret, SECRET).unwrap();
    assert!(k.open(Column::NoticeUnsub, &s).is_err());
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_database_files_are_owner_only_from_creation_and_after_a_restore() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, path) = temp_db();
    let store = crate::open(path.as_path()).unwrap();
    write_secrets(&*store).await;
    for f in crate::sqlite::files::with_sidecars(&path) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert!(crate::readable_by_others(path.as_path())
        .unwrap()
        .is_empty());
    let copy = dir.path().join("copy.db");
    store.backup_to(&copy).await.unwrap();
    assert_eq!(mode(&copy), 0o600);
    drop(store);

    // A database others can read is named, with its mode.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let seen = crate::readable_by_others(path.as_path()).unwrap();
    assert_eq!(seen, vec![(path.clone(), 0o644)]);

    // A restore over it (and onto a new file) leaves the live database owner-only.
    crate::restore_from(&copy, path.as_path(), &mut |_, _| {}).unwrap();
    assert!(crate::readable_by_others(path.as_path())
        .unwrap()
        .is_empty());
    assert_eq!(mode(&path), 0o600);
    let fresh = dir.path().join("fresh.db");
    crate::restore_from(&copy, fresh.as_path(), &mut |_, _| {}).unwrap();
    assert_eq!(mode(&fresh), 0o600);
    let kept = dir.path().join("kept.db");
    crate::keep_as_is(path.as_path(), &kept).unwrap();
    assert_eq!(mode(&kept), 0o600);
}
