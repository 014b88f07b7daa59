//! Secrets at rest (SPEC 15), through the real binary: the database and its WAL and SHM
//! are owner-only after `siaga init` and the first `serve`, after `backup` and after
//! `restore`; `serve` refuses a database others can read and says how to fix it; with
//! `SIAGA_SECRET_KEY` no webhook secret is in the database files in clear, a database from
//! before is sealed at the next start, and keys rotate through `SIAGA_SECRET_KEY_OLD`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const KEY_A: &str = "c2lhZ2EgdGVzdCBrZXksIGV4YWN0bHkgMzIgYnl0ZXM=";
const KEY_B: &str = "0202020202020202020202020202020202020202020202020202020202020202";

fn command(dir: &Path, args: &[&str], keys: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siaga"));
    c.current_dir(dir)
        .args(args)
        .env_remove("SIAGA_CONFIG")
        .env_remove("SIAGA_SECRET_KEY")
        .env_remove("SIAGA_SECRET_KEY_OLD")
        .env("SIAGA_LOG", "warn")
        .env("DIGI_KEY", "k")
        .env("DIGI_CB_SECRET", "s")
        .env("BACKUP_KEY", "k")
        .env("BACKUP_CB_SECRET", "s");
    for (k, v) in keys {
        c.env(k, v);
    }
    c
}

fn siaga(dir: &Path, args: &[&str], keys: &[(&str, &str)]) -> Output {
    command(dir, args, keys).output().expect("run siaga")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `siaga init`, with the starter config's listeners on free ports and its suppliers on a
/// closed local port (tests never touch the public network).
fn init(dir: &Path) {
    let out = siaga(dir, &["init"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg = dir.join("siaga.toml");
    let starter = std::fs::read_to_string(&cfg).expect("starter config");
    let local: Vec<String> = starter
        .lines()
        .map(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            if key == "base_url" {
                "base_url = \"http://127.0.0.1:9/v1\"".to_owned()
            } else if key.ends_with("listen") && !l.trim_start().starts_with('#') {
                format!("{key} = \"127.0.0.1:0\"")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&cfg, local.join("\n")).expect("write config");
}

/// A running `siaga serve`, stopped when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `siaga serve` and waits until it listens.
fn serve(dir: &Path, keys: &[(&str, &str)]) -> Serving {
    let mut child = command(dir, &["serve"], keys)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn siaga serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
        }
    });
    let serving = Serving(child);
    rx.recv_timeout(Duration::from_secs(30))
        .expect("siaga serve did not start listening");
    serving
}

/// Runs `c` to its end; one still running after `within` is stopped and fails the test.
fn exits_within(mut c: Command, within: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn siaga");
    let end = Instant::now() + within;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn side(db: &Path, ext: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}

/// The database and whichever of its WAL and SHM exist.
fn db_files(db: &Path) -> Vec<PathBuf> {
    [db.to_owned(), side(db, "-wal"), side(db, "-shm")]
        .into_iter()
        .filter(|f| f.exists())
        .collect()
}

#[cfg(unix)]
fn assert_owner_only(db: &Path, when: &str) {
    let files = db_files(db);
    assert!(!files.is_empty(), "{when}: no database at {}", db.display());
    for f in files {
        assert_eq!(mode(&f), 0o600, "{when}: {}", f.display());
    }
}

#[cfg(unix)]
#[test]
fn the_database_files_are_owner_only_after_init_serve_backup_and_restore() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("siaga.db");
    init(d);

    // The first start creates the database: it, its WAL and its SHM are the owner's.
    let server = serve(d, &[]);
    assert!(side(&db, "-wal").exists() && side(&db, "-shm").exists());
    assert_owner_only(&db, "first start");
    let out = siaga(d, &["reseller", "add", "--name", "Konter M"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_owner_only(&db, "serving, a reseller added");

    // A backup while serving is the owner's too.
    let out = siaga(d, &["backup", "--out", "b.db"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&d.join("b.db")), 0o600);
    drop(server);

    // A database opened up to others (as before this fix): a restore makes it the
    // owner's again, and keeps what it replaced as the owner's only.
    for f in db_files(&db) {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = siaga(d, &["restore", "b.db", "--force"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_owner_only(&db, "restored over a 0644 database");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept = v["kept"].as_str().expect("kept");
    let kept = if Path::new(kept).is_absolute() {
        PathBuf::from(kept)
    } else {
        d.join(kept)
    };
    assert_eq!(mode(&kept), 0o600, "{}", kept.display());

    // A restore where there was no database yet.
    std::fs::create_dir(d.join("new")).unwrap();
    std::fs::copy(d.join("siaga.toml"), d.join("new/siaga.toml")).unwrap();
    let out = siaga(&d.join("new"), &["restore", "../b.db"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_owner_only(&d.join("new/siaga.db"), "restored where there was none");

    // And the restored database serves.
    let server = serve(d, &[]);
    assert_owner_only(&db, "serving the restored database");
    drop(server);
}

#[cfg(unix)]
#[test]
fn serve_refuses_a_database_others_can_read_and_says_how_to_fix_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("siaga.db");
    init(d);
    let out = siaga(d, &["reseller", "add", "--name", "Konter W"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = exits_within(command(d, &["serve"], &[]), Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("readable by other users")
            && err.contains("mode 0644")
            && err.contains("chmod 600 ")
            && err.contains("siaga.db"),
        "{err}"
    );
    assert!(!err.trim().contains('\n'), "one line: {err}");
    assert_eq!(mode(&db), 0o644, "serve changes nothing itself");

    // As told: owner-only, and it serves (warning that secrets are kept in clear).
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = command(d, &["serve"], &[])
        .env("SIAGA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let serving = Serving(child);
    let warned = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .take(50)
        .any(|l| l.contains("SIAGA_SECRET_KEY is not set") && l.contains("in clear"));
    assert!(warned, "serve warns that secrets are kept in clear");
    drop(serving);
}

/// Every byte of the database and its WAL.
fn db_bytes(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for f in db_files(db) {
        all.extend(std::fs::read(&f).unwrap_or_default());
    }
    all
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The stored form of every reseller's webhook secret.
fn stored_secrets(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT webhook_secret FROM resellers").unwrap();
    let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn add_reseller(d: &Path, name: &str, keys: &[(&str, &str)]) -> String {
    let out = siaga(d, &["reseller", "add", "--name", name], keys);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    creds["webhook_secret"].as_str().expect("secret").to_owned()
}

#[test]
fn with_a_key_no_webhook_secret_is_in_the_database_in_clear_and_keys_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("siaga.db");
    init(d);
    let a = [("SIAGA_SECRET_KEY", KEY_A)];

    // A database from before encryption: the secret is there in clear...
    let old = add_reseller(d, "Konter Lama", &[]);
    assert!(holds(&db_bytes(&db), &old));

    // ...until the first start with a key seals it; new secrets are sealed from the start.
    let server = serve(d, &a);
    let new = add_reseller(d, "Konter Baru", &a);
    let out = siaga(d, &["reseller", "rotate-keys", "--all"], &a);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rotated: Vec<String> = rotated
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|c| c["webhook_secret"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    drop(server);
    let bytes = db_bytes(&db);
    for s in [&old, &new].into_iter().chain(&rotated) {
        let body = s.trim_start_matches("whsec_");
        assert!(
            !holds(&bytes, body),
            "a webhook secret in clear in the database files"
        );
    }
    let sealed = stored_secrets(&db);
    assert!(
        sealed.iter().all(|s| s.starts_with("enc:v1:")),
        "{sealed:?}"
    );
    let a_id = sealed[0].split(':').nth(2).unwrap_or_default().to_owned();
    let out = siaga(d, &["verify"], &a);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Without the key siaga refuses, naming the key it needs (and never a secret).
    for keys in [&[][..], &[("SIAGA_SECRET_KEY", KEY_B)][..]] {
        let out = siaga(d, &["reseller", "list"], keys);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(&a_id) && err.contains("SIAGA_SECRET_KEY"),
            "{err}"
        );
        assert!(
            !err.contains(KEY_A) && !rotated.iter().any(|s| err.contains(s)),
            "{err}"
        );
    }
    // A malformed key is named, not shown.
    let out = siaga(d, &["verify"], &[("SIAGA_SECRET_KEY", "not-a-key")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("SIAGA_SECRET_KEY must be 32 random bytes"));

    // Rotation: the new key current, the old one beside it; the next start re-seals all.
    let both = [("SIAGA_SECRET_KEY", KEY_B), ("SIAGA_SECRET_KEY_OLD", KEY_A)];
    let server = serve(d, &both);
    drop(server);
    let resealed = stored_secrets(&db);
    assert!(resealed.iter().all(|s| !s.contains(&a_id)), "{resealed:?}");
    // The old key can go: everything reads with the new one alone.
    let b = [("SIAGA_SECRET_KEY", KEY_B)];
    let out = siaga(d, &["reseller", "list"], &b);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = siaga(d, &["verify"], &b);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!holds(
        &db_bytes(&db),
        rotated[0].trim_start_matches("whsec_")
    ));
}
