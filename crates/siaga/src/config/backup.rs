//! The `[backup]` config section (SPEC 12) and its checked form: where the scheduled
//! online copies go, how often, how many are kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupCfg {
    /// Where the copies go (relative to the config file's folder).
    pub dir: String,
    /// How often, e.g. "1h", "30m", "1d" (at least a minute).
    #[serde(default = "default_every")]
    pub every: String,
    /// How many copies to keep (the newest).
    #[serde(default = "default_keep")]
    pub keep: u32,
}

fn default_every() -> String {
    "1h".into()
}

fn default_keep() -> u32 {
    48
}

#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

/// Checks `[backup]`; the error names the key.
pub fn settings(cfg: &BackupCfg, base: &Path) -> Result<BackupSettings, (String, String)> {
    if cfg.dir.trim().is_empty() {
        return Err(("dir".into(), "must name a folder".into()));
    }
    let every = parse_every(&cfg.every).map_err(|m| ("every".to_string(), m))?;
    if every < Duration::from_secs(60) {
        return Err(("every".into(), "must be at least 1m".into()));
    }
    if cfg.keep == 0 {
        return Err(("keep".into(), "must be at least 1".into()));
    }
    let dir = Path::new(cfg.dir.trim());
    Ok(BackupSettings {
        dir: if dir.is_absolute() {
            dir.to_owned()
        } else {
            base.join(dir)
        },
        every,
        keep: cfg.keep as usize,
    })
}

/// "90s", "30m", "1h", "2d".
fn parse_every(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30m, 1h or 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3_600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{s:?} is not a duration like 30m, 1h or 1d")),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_and_keep_are_checked() {
        let base = Path::new("/srv/siaga");
        let cfg = |every: &str, keep: u32| BackupCfg {
            dir: "backups".into(),
            every: every.into(),
            keep,
        };
        let s = settings(&cfg("1h", 48), base).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(s.dir, PathBuf::from("/srv/siaga/backups"));
        assert_eq!(s.every, Duration::from_secs(3_600));
        assert_eq!(
            settings(&cfg("1d", 7), base).map(|s| s.every).ok(),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            settings(&cfg("30s", 1), base).err().map(|e| e.0),
            Some("every".into())
        );
        assert_eq!(
            settings(&cfg("soon", 1), base).err().map(|e| e.0),
            Some("every".into())
        );
        assert_eq!(
            settings(&cfg("1h", 0), base).err().map(|e| e.0),
            Some("keep".into())
        );
    }
}
