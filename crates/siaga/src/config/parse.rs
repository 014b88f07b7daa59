//! From text to the raw [`Config`]: TOML syntax, the environment overlay, then serde with
//! the path of the key in error.

use super::env;
use super::locate::{line_of, ConfigError, Place};
use super::raw::Config;

/// Parses config text (with env overrides) into [`Config`].
pub fn parse(text: &str, file: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError {
                file: file.into(),
                line: e.span().map(|s| line_of(text, s.start)),
                key: "(syntax)".into(),
                message: e.message().trim().to_string(),
            })?;
    let overrides = env::apply(&mut doc, env);
    // Without overrides the file is read as it is, so serde's own span (the fallback when
    // the key's path is not in the file) is a position in it.
    let merged = if overrides.is_empty() {
        text.to_owned()
    } else {
        doc.to_string()
    };
    let de = toml::Deserializer::new(&merged);
    match serde_path_to_error::deserialize::<_, Config>(de) {
        Ok(mut cfg) => {
            cfg.overrides = overrides;
            Ok(cfg)
        }
        Err(e) => {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let place = Place::new(file, text, &overrides);
            let mut err = place.error((key, inner.message().trim().to_string()));
            if err.line.is_none() && overrides.is_empty() {
                err.line = inner.span().map(|s| line_of(text, s.start));
            }
            Err(err)
        }
    }
}
