//! The environment overlay: `SIAGA_<SECTION>__<KEY>=value` sets `key` in `[section]` over
//! what the file says, and is remembered so an error about that key names the variable.

/// One key set from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// `section.key`, as an error's key starts.
    pub key: String,
    /// The variable that set it, e.g. `SIAGA_LIMITS__MAX_INFLIGHT_ORDERS`.
    pub var: String,
}

/// The override that set `key` (or a key under it), if any.
pub fn setting<'a>(overrides: &'a [Override], key: &str) -> Option<&'a Override> {
    overrides.iter().find(|o| {
        key.strip_prefix(o.key.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

/// Applies the overrides in `env` to the document and returns those applied.
pub fn apply(doc: &mut toml_edit::DocumentMut, env: &[(String, String)]) -> Vec<Override> {
    let mut applied = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("SIAGA_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        if section.is_empty() || key.is_empty() {
            continue;
        }
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        // A bare word is a string; anything that reads as a TOML value (a number, a bool,
        // a list, a quoted string) is that value.
        let value: toml_edit::Value = raw
            .parse::<toml_edit::Value>()
            .ok()
            .filter(|v| !v.is_str() || raw.trim_start().starts_with(['"', '\'']))
            .unwrap_or_else(|| toml_edit::Value::from(raw.as_str()));
        if !doc.contains_key(&section) {
            doc[&section] = toml_edit::table();
        }
        if let Some(t) = doc[&section].as_table_like_mut() {
            t.insert(&key, toml_edit::Item::Value(value));
            applied.push(Override {
                key: format!("{section}.{key}"),
                var: name.clone(),
            });
        }
    }
    applied
}
