//! The supplier contract (`[suppliers.contract]`: uptime target, whether announced
//! maintenance counts, the credit tiers) and the `[reports]` section (the business time
//! zone months are counted in, the opt-in monthly email): what the SLA report (SPEC 11)
//! reads from the config.

use jiff::tz::TimeZone;
use serde::Deserialize;

use super::locate::Problem;

/// One credit tier: availability below `below` percent earns `percent` of what was paid.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditTier {
    pub below: f64,
    /// Hundredths of a percent (10 % is 1000), so credits are integer arithmetic.
    pub basis_points: i64,
}

/// What the contract with one supplier promises.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// Availability promised, in percent (e.g. 99.5); `None` when the contract names none.
    pub uptime_target: Option<f64>,
    /// Announced maintenance is left out of availability (the time it took is not counted
    /// as down, nor as part of the window). `true` unless the contract says otherwise.
    pub exclude_announced_maintenance: bool,
    /// Ordered from the mildest (highest `below`) to the most severe.
    pub credits: Vec<CreditTier>,
}

impl Default for Contract {
    fn default() -> Self {
        Contract {
            uptime_target: None,
            exclude_announced_maintenance: true,
            credits: Vec::new(),
        }
    }
}

/// A percentage in `(0, 100]` from a TOML integer or float.
fn percent(v: &toml::Value) -> Result<f64, String> {
    let p = match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => return Err("must be a number of percent, e.g. 99.5".into()),
    };
    if !(p > 0.0 && p <= 100.0) {
        return Err(format!("{p} is not a percentage above 0 and at most 100"));
    }
    Ok(p)
}

/// Checks a `[suppliers.contract]` table; errors name the key under `key` (the path of
/// the contract table, e.g. `suppliers[0].contract`).
pub fn check(t: &toml::Table, key: &str) -> Result<Contract, Problem> {
    let at = |k: &str| format!("{key}.{k}");
    let mut c = Contract::default();
    for (k, v) in t {
        match k.as_str() {
            "uptime_target" => c.uptime_target = Some(percent(v).map_err(|m| (at(k), m))?),
            "exclude_announced_maintenance" => {
                c.exclude_announced_maintenance = v
                    .as_bool()
                    .ok_or_else(|| (at(k), "must be true or false".to_string()))?;
            }
            "credits" => c.credits = tiers(v, &at(k))?,
            _ => {
                return Err((
                    at(k),
                    "unknown key (uptime_target, exclude_announced_maintenance, credits)".into(),
                ))
            }
        }
    }
    Ok(c)
}

/// `credits = [{ below = 99.5, percent = 10 }, ...]`, sorted mildest first; two tiers
/// with the same `below` are refused.
fn tiers(v: &toml::Value, key: &str) -> Result<Vec<CreditTier>, Problem> {
    let list = v.as_array().ok_or_else(|| {
        (
            key.to_string(),
            "must be a list like [{ below = 99.5, percent = 10 }]".to_string(),
        )
    })?;
    let mut out: Vec<CreditTier> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let here = format!("{key}[{i}]");
        let t = item.as_table().ok_or_else(|| {
            (
                here.clone(),
                "must be a table like { below = 99.5, percent = 10 }".to_string(),
            )
        })?;
        if let Some(k) = t.keys().find(|k| *k != "below" && *k != "percent") {
            return Err((format!("{here}.{k}"), "unknown key (below, percent)".into()));
        }
        let field = |k: &str| -> Result<f64, Problem> {
            let v = t
                .get(k)
                .ok_or_else(|| (here.clone(), format!("missing `{k}`")))?;
            percent(v).map_err(|m| (format!("{here}.{k}"), m))
        };
        let below = field("below")?;
        let pct = field("percent")?;
        if out.iter().any(|c| c.below == below) {
            return Err((
                format!("{here}.below"),
                format!("two credit tiers start below {below}"),
            ));
        }
        out.push(CreditTier {
            below,
            basis_points: (pct * 100.0).round() as i64,
        });
    }
    out.sort_by(|a, b| b.below.total_cmp(&a.below));
    Ok(out)
}

/// `[reports]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsCfg {
    /// The business's time zone: a report month runs from its first midnight there.
    pub time_zone: String,
    /// Email last month's SLA report to `notify.owner_emails` on the 1st.
    pub monthly_email: bool,
}

impl Default for ReportsCfg {
    fn default() -> Self {
        ReportsCfg {
            time_zone: "Asia/Jakarta".into(),
            monthly_email: false,
        }
    }
}

/// `[reports]`, checked.
#[derive(Debug, Clone)]
pub struct ReportsSettings {
    pub time_zone: TimeZone,
    pub monthly_email: bool,
}

impl Default for ReportsSettings {
    fn default() -> Self {
        ReportsSettings {
            time_zone: TimeZone::get("Asia/Jakarta")
                .unwrap_or(TimeZone::fixed(jiff::tz::offset(7))),
            monthly_email: false,
        }
    }
}

/// Checks `[reports]`: the time zone must be a known IANA name.
pub fn reports(r: &ReportsCfg) -> Result<ReportsSettings, Problem> {
    let time_zone = TimeZone::get(&r.time_zone).map_err(|e| {
        (
            "reports.time_zone".to_string(),
            format!(
                "unknown time zone {:?} ({e}); e.g. Asia/Jakarta",
                r.time_zone
            ),
        )
    })?;
    Ok(ReportsSettings {
        time_zone,
        monthly_email: r.monthly_email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().expect("toml")
    }

    #[test]
    fn a_contract_is_read_with_its_tiers_mildest_first() {
        let c = check(
            &table("uptime_target = 99.5\nexclude_announced_maintenance = false\ncredits = [{ below = 99.0, percent = 25 }, { below = 99.5, percent = 10 }]"),
            "suppliers[0].contract",
        )
        .expect("valid");
        assert_eq!(c.uptime_target, Some(99.5));
        assert!(!c.exclude_announced_maintenance);
        assert_eq!(
            c.credits,
            vec![
                CreditTier {
                    below: 99.5,
                    basis_points: 1000
                },
                CreditTier {
                    below: 99.0,
                    basis_points: 2500
                }
            ]
        );
        assert!(
            check(&table(""), "k")
                .expect("empty")
                .exclude_announced_maintenance
        );
    }

    #[test]
    fn a_bad_contract_names_the_key() {
        for (text, key) in [
            ("uptime = 99", "c.uptime"),
            ("uptime_target = 150", "c.uptime_target"),
            ("uptime_target = \"high\"", "c.uptime_target"),
            (
                "exclude_announced_maintenance = 1",
                "c.exclude_announced_maintenance",
            ),
            ("credits = 5", "c.credits"),
            ("credits = [{ below = 99 }]", "c.credits[0]"),
            (
                "credits = [{ below = 99, percent = 0 }]",
                "c.credits[0].percent",
            ),
            (
                "credits = [{ below = 99, percent = 5, pct = 1 }]",
                "c.credits[0].pct",
            ),
            (
                "credits = [{ below = 99, percent = 5 }, { below = 99, percent = 9 }]",
                "c.credits[1].below",
            ),
        ] {
            let e = check(&table(text), "c").expect_err(text);
            assert_eq!(e.0, key, "{text}: {}", e.1);
        }
    }

    #[test]
    fn the_report_time_zone_must_exist() {
        let ok = reports(&ReportsCfg::default()).expect("default");
        assert_eq!(ok.time_zone.iana_name(), Some("Asia/Jakarta"));
        let bad = ReportsCfg {
            time_zone: "Asia/Atlantis".into(),
            monthly_email: true,
        };
        assert_eq!(reports(&bad).expect_err("bad").0, "reports.time_zone");
    }
}
