//! `dialect = "manual"` in the config: accepted without an address or key, with its
//! `desk_alert_after_s`, and keys that make no sense for a desk refused by file:line:key.

use std::path::Path;

use crate::config::{parse, validate, ConfigError, Dialect, Settings};

fn check(text: &str) -> Result<Settings, ConfigError> {
    let cfg = parse(text, "t.toml", &[])?;
    validate(&cfg, text, "t.toml", Path::new("/tmp"), &|_| {
        Some("k".into())
    })
}

const DESK: &str = "[[suppliers]]\nid = \"digi\"\nbase_url = \"http://x/v1\"\n\n[[suppliers]]\nid = \"desk\"\ndialect = \"manual\"\n";

#[test]
fn a_manual_supplier_needs_no_address_or_key() {
    let s = check(DESK).unwrap();
    let desk = s.supplier("desk").unwrap();
    assert_eq!(desk.dialect, Dialect::Manual);
    assert!(desk.is_manual());
    assert_eq!(desk.desk_alert_after.as_secs(), 600);
    assert_eq!(s.supplier("digi").unwrap().dialect, Dialect::Digiflazz);
    assert_eq!(crate::config::manual_ids(&s.suppliers), ["desk"]);
    let s = check(&format!("{DESK}desk_alert_after_s = 90\n")).unwrap();
    assert_eq!(s.supplier("desk").unwrap().desk_alert_after.as_secs(), 90);
}

#[test]
fn keys_a_desk_cannot_use_are_refused_by_file_line_and_key() {
    for (extra, key) in [
        ("base_url = \"http://x\"", "suppliers[1].base_url"),
        ("key_env = \"K\"", "suppliers[1].key_env"),
        ("low_balance_rupiah = 5", "suppliers[1].low_balance_rupiah"),
        ("preset = \"otomax\"", "suppliers[1].dialect"),
        ("desk_alert_after_s = 0", "suppliers[1].desk_alert_after_s"),
    ] {
        let e = check(&format!("{DESK}{extra}\n")).unwrap_err();
        assert_eq!(e.key, key, "{extra}: {e}");
        assert_eq!(e.file, "t.toml");
        assert!(e.line.is_some(), "{extra}: {e}");
    }
    let e = check("[[suppliers]]\nid = \"d\"\ndialect = \"human\"\n").unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("suppliers[0].dialect", Some(3)));
    assert!(e.message.contains("manual"), "{e}");
    // A supplier reached over HTTP still needs its address.
    let e = check("[[suppliers]]\nid = \"d\"\n").unwrap_err();
    assert_eq!(e.key, "suppliers[0].base_url");
}
