//! What a reload takes from a new config file (SPEC 6.1.3): suppliers (with their
//! templates and limits), products and routes, the routing strategy and the order
//! timings. The rest (listeners, store, admin token, notices, status page, health
//! thresholds, rate limits, backups) needs a restart; a reload keeps those as they run and
//! names what it left for the restart. A supplier dropped from the file stays, retired, so
//! its open attempts are still inquired and its reports still taken.

use serde::Serialize;

use super::Settings;

/// What a reload changed, told back to whoever asked for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub suppliers_added: Vec<String>,
    /// No longer configured: retired, kept only for their open attempts.
    pub suppliers_removed: Vec<String>,
    pub suppliers_changed: Vec<String>,
    pub products_added: Vec<String>,
    pub products_removed: Vec<String>,
    pub products_changed: Vec<String>,
    /// `[routing]` or `[orders]` changed.
    pub routing_changed: bool,
    /// Sections that differ in the file but take effect only at the next start.
    pub restart_needed: Vec<&'static str>,
}

/// The settings to run with after a reload: the reloadable parts of `new` over `old`.
/// Refused (the reason) when a supplier keeps its id but changes dialect: its open
/// attempts (a desk order an operator may be doing by hand, a reference only the old API
/// knows) would be inquired in another language.
pub fn merge(old: &Settings, new: Settings) -> Result<(Settings, Changes), String> {
    for s in &new.suppliers {
        if let Some(o) = old.supplier(&s.id) {
            if o.dialect != s.dialect {
                return Err(format!(
                    "supplier {:?} changes dialect ({:?} to {:?}); its open attempts belong to the old one: give the new one another id",
                    s.id, o.dialect, s.dialect
                ));
            }
        }
    }
    let mut ch = Changes::default();
    let same =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    let fixed: [(&'static str, bool); 8] = [
        (
            "server",
            old.listen == new.listen
                && old.public_url == new.public_url
                && old.admin_token == new.admin_token
                && old.body_limit_bytes == new.body_limit_bytes
                && same(&old.metrics, &new.metrics),
        ),
        ("store", old.store_path == new.store_path),
        ("callbacks", same(&old.callbacks, &new.callbacks)),
        ("health", same(&old.health, &new.health)),
        ("status", same(&old.status, &new.status)),
        (
            "notify (smtp, telegram, webhooks)",
            same(&old.notify, &new.notify),
        ),
        ("limits", same(&old.limits, &new.limits)),
        ("backup", same(&old.backup, &new.backup)),
    ];
    ch.restart_needed = fixed.iter().filter(|(_, s)| !s).map(|(n, _)| *n).collect();

    for s in &new.suppliers {
        match old.supplier(&s.id) {
            None => ch.suppliers_added.push(s.id.clone()),
            Some(o) if o.retired => ch.suppliers_added.push(s.id.clone()),
            Some(o) if !same(o, s) => ch.suppliers_changed.push(s.id.clone()),
            Some(_) => {}
        }
    }
    let mut suppliers = new.suppliers.clone();
    for o in &old.suppliers {
        if new.supplier(&o.id).is_none() {
            if !o.retired {
                ch.suppliers_removed.push(o.id.clone());
            }
            let mut kept = o.clone();
            kept.retired = true;
            suppliers.push(kept);
        }
    }
    for p in &new.products {
        match old.product(p.code.as_str()) {
            None => ch.products_added.push(p.code.to_string()),
            Some(o) if !same(o, p) => ch.products_changed.push(p.code.to_string()),
            Some(_) => {}
        }
    }
    for o in &old.products {
        if new.product(o.code.as_str()).is_none() {
            ch.products_removed.push(o.code.to_string());
        }
    }
    ch.routing_changed = old.strategy != new.strategy
        || old.explore_share != new.explore_share
        || !same(&old.orders, &new.orders);

    let merged = Settings {
        suppliers,
        products: new.products,
        strategy: new.strategy,
        explore_share: new.explore_share,
        orders: new.orders,
        ..old.clone()
    };
    Ok((merged, ch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate;

    fn settings(text: &str) -> Settings {
        let cfg = crate::config::parse(text, "siaga.toml", &[]).expect("parse");
        validate(&cfg, text, "siaga.toml", std::path::Path::new("."), &|_| {
            Some("k".into())
        })
        .expect("valid")
    }

    const BASE: &str = r#"
[server]
listen = "127.0.0.1:8080"

[[suppliers]]
id = "a"
base_url = "http://127.0.0.1:1/v1"
username = "u"
key_env = "K"

[[suppliers]]
id = "b"
base_url = "http://127.0.0.1:2/v1"
username = "u"
key_env = "K"

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = 10500
routes = [{ supplier = "a", sku = "t10", cost = 10100, priority = 1 },
          { supplier = "b", sku = "t10", cost = 10200, priority = 2 }]
"#;

    #[test]
    fn a_removed_supplier_is_kept_retired_and_a_new_one_added() {
        let old = settings(BASE);
        let text = BASE
            .replace("id = \"a\"", "id = \"c\"")
            .replace("supplier = \"a\"", "supplier = \"c\"");
        let (merged, ch) = merge(&old, settings(&text)).expect("merged");
        assert_eq!(ch.suppliers_added, ["c"]);
        assert_eq!(ch.suppliers_removed, ["a"]);
        assert_eq!(ch.products_changed, ["TSEL10"]);
        assert!(ch.restart_needed.is_empty());
        let a = merged.supplier("a").expect("kept");
        assert!(a.retired);
        assert!(!merged.supplier("c").expect("added").retired);
        // Re-adding a retired supplier brings it back into service.
        let (again, ch) = merge(&merged, settings(BASE)).expect("merged");
        assert_eq!(ch.suppliers_added, ["a"]);
        assert!(!again.supplier("a").expect("back").retired);
        assert_eq!(again.suppliers.iter().filter(|s| s.id == "a").count(), 1);
    }

    #[test]
    fn sections_that_need_a_restart_are_kept_and_named() {
        let old = settings(BASE);
        let text = BASE.replace("127.0.0.1:8080", "127.0.0.1:9090");
        let (merged, ch) = merge(&old, settings(&text)).expect("merged");
        assert_eq!(ch.restart_needed, ["server"]);
        assert_eq!(merged.listen, "127.0.0.1:8080");
        assert_eq!(
            ch,
            Changes {
                restart_needed: vec!["server"],
                ..Changes::default()
            }
        );
    }

    #[test]
    fn a_supplier_that_changes_dialect_is_refused() {
        let old = settings(BASE);
        let text = BASE.replacen(
            "id = \"a\"\nbase_url = \"http://127.0.0.1:1/v1\"\nusername = \"u\"\nkey_env = \"K\"",
            "id = \"a\"\ndialect = \"manual\"",
            1,
        );
        let why = merge(&old, settings(&text)).expect_err("refused");
        assert!(why.contains("\"a\" changes dialect"), "{why}");
    }

    #[test]
    fn new_route_priorities_are_taken() {
        let old = settings(BASE);
        let text = BASE.replace("priority = 1 }", "priority = 3 }");
        let (merged, ch) = merge(&old, settings(&text)).expect("merged");
        assert_eq!(ch.products_changed, ["TSEL10"]);
        let routes = &merged.product("TSEL10").expect("product").routes;
        assert_eq!(routes[0].supplier, "b", "routes are kept in priority order");
    }
}
