//! Scheduled backups (SPEC 12): while siaga serves, checked copies appear in the backup
//! folder and only the newest `keep` stay; a backup that fails alerts the owner. (The
//! by-hand `siaga backup` / `siaga restore` round trip is in `cli`.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use siaga::backups::BackupSettings;
use siaga::notify::config::{Format, NotifySettings, Webhook};

use crate::harness::{receiver, Opts, TestApp};

const T: Duration = Duration::from_secs(30);

fn copies(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "db"));
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_checked_copies_and_only_the_newest_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(Opts {
        backup: Some(BackupSettings {
            dir: dir.path().join("cadangan"),
            every: Duration::from_millis(300),
            keep: 2,
        }),
        ..Opts::default()
    })
    .await;
    let (s, o) = app.order("BK-1", "TSEL10", "081234567901").await;
    assert_eq!(s, 201, "{o}");
    app.wait_final("BK-1", T).await;
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + T;
    loop {
        let now = copies(&dir.path().join("cadangan"));
        seen.extend(now.iter().cloned());
        if seen.len() >= 4 && now.len() == 2 {
            for c in &now {
                let report = siaga_store::check_backup(c).unwrap();
                assert!(report.ok(), "{:?}", report.problems);
                assert!(report.orders >= 1);
            }
            break;
        }
        assert!(now.len() <= 2 + 1, "old copies are not removed: {now:?}");
        assert!(Instant::now() < deadline, "copies so far: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backup_alerts_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    // The backup folder is a file: every backup fails.
    let blocked = dir.path().join("not-a-folder");
    std::fs::write(&blocked, b"x").unwrap();
    let (at, got) = receiver().await;
    let app = TestApp::start(Opts {
        backup: Some(BackupSettings {
            dir: blocked,
            every: Duration::from_millis(200),
            keep: 2,
        }),
        notify: NotifySettings {
            retry_base_ms: 100,
            retry_max_ms: 400,
            webhooks: vec![Webhook {
                name: "owner".into(),
                url: format!("http://{at}/cb"),
                secret: None,
                format: Format::Chat,
                components: Vec::new(),
                status: false,
                alerts: true,
            }],
            ..NotifySettings::default()
        },
        ..Opts::default()
    })
    .await;
    let deadline = Instant::now() + T;
    loop {
        let bodies: Vec<Value> = got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect();
        if let Some(b) = bodies
            .iter()
            .find(|b| b.to_string().contains("backup failed"))
        {
            assert!(b.to_string().contains("not-a-folder"), "{b}");
            break;
        }
        assert!(Instant::now() < deadline, "no backup alert: {bodies:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(app);
}
