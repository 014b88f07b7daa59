//! Unit tests of the whole config path: text and environment in, settings or an error
//! naming file, line and key out.

use std::path::{Path, PathBuf};

use super::*;

fn check(text: &str) -> Result<Settings, ConfigError> {
    let cfg = parse(text, "t.toml", &[])?;
    validate(&cfg, text, "t.toml", Path::new("/tmp"), &|k| {
        (k == "DIGI_KEY").then(|| "k".to_string())
    })
}

#[test]
fn starter_config_is_valid() {
    let cfg = parse(STARTER, "siaga.toml", &[]).unwrap();
    let s = validate(&cfg, STARTER, "siaga.toml", Path::new("/srv"), &|_| {
        Some("x".into())
    })
    .unwrap();
    assert_eq!(s.store_path, PathBuf::from("/srv/siaga.db"));
    assert!(!s.products.is_empty());
    assert_eq!(s.limits.per_key_per_s, LimitsCfg::default().per_key_per_s);
}

#[test]
fn limits_have_defaults_env_overrides_and_checks() {
    let s = check("").unwrap();
    assert_eq!(s.limits.max_inflight_orders, 512);
    let env = vec![("SIAGA_LIMITS__PER_KEY_PER_S".to_string(), "7".to_string())];
    let cfg = parse("[limits]\nper_key_burst = 9\n", "t.toml", &env).unwrap();
    assert_eq!((cfg.limits.per_key_per_s, cfg.limits.per_key_burst), (7, 9));
    let e = check("[limits]\nmax_inflight_orders = 0\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("limits.max_inflight_orders", Some(2))
    );
    let e = check("[limits]\nper_key = 1\n").unwrap_err();
    assert_eq!(e.key, "limits.per_key");
    let s = check("[limits]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n").unwrap();
    assert_eq!(s.limits.trusted_proxies.len(), 2);
    let e = check("[limits]\n\ntrusted_proxies = [\"nginx\"]\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("limits.trusted_proxies", Some(3))
    );
    assert!(e.message.contains("nginx"), "{e}");
    let s = check("[backup]\ndir = \"b\"\n").unwrap();
    let b = s.backup.unwrap();
    assert_eq!((b.every.as_secs(), b.keep), (3_600, 48));
    let e = check("[backup]\ndir = \"b\"\nevery = \"10s\"\n").unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("backup.every", Some(3)));
    let e = check("[backup]\nevery = \"1h\"\n").unwrap_err();
    assert!(e.key.starts_with("backup"), "{e}");
}

#[test]
fn errors_name_file_line_and_key() {
    let text = "[server]\nlisten = \"127.0.0.1:1\"\n\n[orders]\ndefault_max_wait_s = \"soon\"\n";
    let e = check(text).unwrap_err();
    assert_eq!(e.file, "t.toml");
    assert_eq!(e.line, Some(5));
    assert_eq!(e.key, "orders.default_max_wait_s");
    let e = check("[server]\nlisen = \"x\"\n").unwrap_err();
    assert_eq!(e.key, "server.lisen");
    assert!(e.message.contains("lisen"), "{e}");
    assert_eq!(e.line, Some(2));
    let text = "[[suppliers]]\nid = \"digi\"\nbase_url = \"http://x/v1\"\n\n[[products]]\ncode = \"T1\"\nname = \"n\"\noperator = \"telkomsel\"\ngroup = \"g\"\nprice = 100\nroutes = [{ supplier = \"nope\", sku = \"a\", cost = 90 }]\n";
    let e = check(text).unwrap_err();
    assert_eq!(e.key, "products[0].routes[0].supplier");
    assert_eq!(e.line, Some(11));
    let text = "[[suppliers]]\nid = \"digi\"\nbase_url = \"http://x/v1\"\nkey_env = \"MISSING\"\n";
    let e = check(text).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("suppliers[0].key_env", Some(4)));
    assert!(
        e.to_string().starts_with("t.toml:4: suppliers[0].key_env:"),
        "{e}"
    );
}

#[test]
fn notification_sections_parse_and_errors_name_their_key() {
    let text = "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\nfrom = \"Status <s@example.com>\"\n\n[telegram]\nbot_token_env = \"DIGI_KEY\"\nchat_id = \"@status\"\n\n[notify]\nowner_emails = [\"owner@example.com\"]\ncoalesce_s = 60\n\n[[webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"chat\"\n";
    let s = check(text).unwrap();
    let smtp = s.notify.smtp.as_ref().unwrap();
    assert_eq!((smtp.port, smtp.tls), (2525, notify::Tls::None));
    assert_eq!(s.notify.telegram.as_ref().unwrap().token, "k");
    assert_eq!(s.notify.coalesce_ms, 60_000);
    assert_eq!(s.notify.webhooks[0].format, notify::Format::Chat);
    let e = check("[smtp]\nhost = \"h\"\nfrom = \"nobody\"\n").unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("smtp.from", Some(3)));
    let e = check("[notify]\nowner_emails = [\"x\"]\n").unwrap_err();
    assert_eq!(e.key, "notify.owner_emails[0]");
    let e = check("[telegram]\nbot_token_env = \"MISSING\"\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("telegram.bot_token_env", Some(2))
    );
    let e = check("[[webhooks]]\nname = \"x\"\nurl = \"ftp://x\"\n").unwrap_err();
    assert_eq!(e.key, "webhooks[0].url");
}

#[test]
fn env_overrides_win() {
    let env = vec![
        (
            "SIAGA_SERVER__LISTEN".to_string(),
            "127.0.0.1:9999".to_string(),
        ),
        (
            "SIAGA_ORDERS__DEFAULT_MAX_WAIT_S".to_string(),
            "0".to_string(),
        ),
    ];
    let cfg = parse("[server]\nlisten = \"127.0.0.1:1\"\n", "t.toml", &env).unwrap();
    assert_eq!(cfg.server.listen, "127.0.0.1:9999");
    assert_eq!(cfg.orders.default_max_wait_s, 0);
    let bad = vec![(
        "SIAGA_ORDERS__DEFAULT_MAX_WAIT_S".to_string(),
        "soon".to_string(),
    )];
    let e = parse("", "t.toml", &bad).unwrap_err();
    assert!(e.message.contains("environment override"), "{e}");
}

/// The old text search took the first `listen` or `url` after the section's name; a comment
/// or another section's key with the same name came first and got the blame.
#[test]
fn the_line_is_the_keys_own_not_a_comment_or_another_sections() {
    let text = "# [server] listen = \"here in a comment\"\n[status]\npage_name = \"listen\"\n\n[server]\n# listen on every address:\nlisten = \"everywhere\"\n";
    let e = check(text).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("server.listen", Some(7)), "{e}");
    let text = "[[suppliers]]\nid = \"a\"\nbase_url = \"http://a\"\ncontact_email = \"a@example.com\"\n\n[[suppliers]]\nid = \"b\"\n# contact_email = \"b@example.com\"\nbase_url = \"http://b\"\ncontact_email = \"nobody\"\n";
    let e = check(text).unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("suppliers[1].contact_email", Some(10)),
        "{e}"
    );
    let text = "[backup]\ndir = \"b\"\n\n[limits]\n# every = \"1s\"\nrequest_timeout_ms = 0\n";
    let e = check(text).unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("limits.request_timeout_ms", Some(6)),
        "{e}"
    );
}

#[test]
fn a_bad_value_from_the_environment_names_its_variable() {
    let env = vec![("SIAGA_LIMITS__MAX_CONNECTIONS".to_string(), "0".to_string())];
    let text = "[limits]\nmax_connections = 10\n";
    let cfg = parse(text, "t.toml", &env).unwrap();
    let e = validate(&cfg, text, "t.toml", Path::new("/tmp"), &|_| None).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("limits.max_connections", None));
    assert!(e.message.contains("SIAGA_LIMITS__MAX_CONNECTIONS"), "{e}");
    let env = vec![("SIAGA_SERVER__LISTEN".to_string(), "[1]".to_string())];
    let e = parse("", "t.toml", &env).unwrap_err();
    assert_eq!(e.key, "server.listen");
    assert!(e.message.contains("SIAGA_SERVER__LISTEN"), "{e}");
}

#[test]
fn a_template_error_points_at_the_line_of_its_key() {
    let head = "[[suppliers]]\nid = \"kios\"\ndialect = \"http-template\"\npreset = \"otomax\"\nbase_url = \"http://k\"\n";
    // A rule's regex, in a multi-line list: the line of that rule.
    let text = format!(
        "{head}\n[suppliers.template.reply]\nrules = [\n  {{ regex = 'ok', outcome = \"success\" }},\n  {{ regex = '(?i)sukses(', outcome = \"success\" }},\n]\n"
    );
    let e = check(&text).unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("suppliers[0].template.reply.rules[1].regex", Some(10))
    );
    assert!(e.message.contains("bad regex"), "{e}");
    // An unknown key inside the template.
    let text = format!("{head}\n[suppliers.template.topup]\npath = \"/trx\"\nmethd = \"GET\"\n");
    let e = check(&text).unwrap_err();
    assert!(e.key.starts_with("suppliers[0].template.topup"), "{e}");
    assert_eq!(e.line, Some(9), "{e}");
    // An unknown preset: its own line.
    let e = check(&head.replace("otomax", "otomaks")).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("suppliers[0].preset", Some(4)));
    // callback_allow_ips: the entry in error.
    let e = check(&format!(
        "{head}callback_allow_ips = [\"10.0.0.1\", \"ten\"]\n"
    ))
    .unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("suppliers[0].callback_allow_ips[1]", Some(6))
    );
    let s = check(&format!(
        "{head}callback_allow_ips = [\"10.0.0.1\", \"10.1.0.0/16\"]\n"
    ))
    .unwrap();
    assert_eq!(s.suppliers[0].callback_allow_ips.len(), 2);
}
