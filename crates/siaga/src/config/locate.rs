//! Where a config error is: the file, the line of the key in error and the key. Lines come
//! from the spans `toml_edit` records while parsing the file, found by walking the key's
//! path (`products[0].routes[1].supplier`), so a comment or an earlier key with the same
//! name is never taken for it. A key set by an environment override names its variable.

use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike, Value};

use super::env::{self, Override};

/// A configuration error: where and what.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

/// A key and what is wrong with it; [`Place::error`] adds the file and the line.
pub type Problem = (String, String);

/// The line (from 1) holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The file being read: its name, its parsed form with spans, and the env overrides.
pub struct Place<'a> {
    file: &'a str,
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
    overrides: &'a [Override],
}

impl<'a> Place<'a> {
    pub fn new(file: &'a str, text: &'a str, overrides: &'a [Override]) -> Place<'a> {
        Place {
            file,
            text,
            doc: ImDocument::parse(text).ok(),
            overrides,
        }
    }

    /// The error for `key`: at its line in the file, or naming the variable that set it.
    pub fn error(&self, (key, mut message): Problem) -> ConfigError {
        let line = match env::setting(self.overrides, &key) {
            Some(o) => {
                message.push_str(&format!(
                    " (value set by the environment override {})",
                    o.var
                ));
                None
            }
            None => self.line(&key),
        };
        ConfigError {
            file: self.file.into(),
            line,
            key,
            message,
        }
    }

    /// The line of `path`'s key, or of the nearest enclosing table or element the file has.
    pub fn line(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut found: Option<Range<usize>> = None;
        for step in steps(path) {
            let Some((span, next)) = node.child(&step) else {
                break;
            };
            found = span.or(found);
            node = next;
        }
        found.map(|s| line_of(self.text, s.start))
    }
}

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[0].c` → `a`, `b`, `0`, `c` (the form of our keys and of serde's paths).
fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            out.push(Step::Key(name.to_owned()));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// A place in the parsed document a path can step into.
enum Node<'d> {
    Table(&'d dyn TableLike),
    Tables(&'d toml_edit::ArrayOfTables),
    Array(&'d toml_edit::Array),
    Leaf,
}

impl<'d> Node<'d> {
    fn of_item(item: &'d Item) -> Node<'d> {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => Node::of_value(v),
            Item::None => Node::Leaf,
        }
    }

    fn of_value(value: &'d Value) -> Node<'d> {
        match value {
            Value::InlineTable(t) => Node::Table(t),
            Value::Array(a) => Node::Array(a),
            _ => Node::Leaf,
        }
    }

    /// The span to point at for `step` (the key itself, or the element) and where it leads.
    fn child(&self, step: &Step) -> Option<(Option<Range<usize>>, Node<'d>)> {
        match (self, step) {
            (Node::Table(t), Step::Key(k)) => {
                let (key, item) = t.get_key_value(k)?;
                Some((key.span().or_else(|| item.span()), Node::of_item(item)))
            }
            (Node::Tables(a), Step::Index(i)) => {
                let t = a.get(*i)?;
                Some((t.span(), Node::Table(t)))
            }
            (Node::Array(a), Step::Index(i)) => {
                let v = a.get(*i)?;
                Some((v.span(), Node::of_value(v)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indexes() {
        assert_eq!(
            steps("products[0].routes[12].supplier"),
            vec![
                Step::Key("products".into()),
                Step::Index(0),
                Step::Key("routes".into()),
                Step::Index(12),
                Step::Key("supplier".into()),
            ]
        );
        assert_eq!(
            steps("a[1][2]"),
            vec![Step::Key("a".into()), Step::Index(1), Step::Index(2)]
        );
    }

    #[test]
    fn the_key_is_found_by_its_path_not_its_text() {
        let text = "# listen = \"in a comment\"\n[store]\nlisten = 1\n\n[server]\n# listen\nlisten = \"x\"\n\n[[suppliers]]\nid = \"a\"\n\n[[suppliers]]\nid = \"b\"\nmaintenance = [{ daily = \"x\" }, { daily = \"y\" }]\n";
        let place = Place::new("t.toml", text, &[]);
        assert_eq!(place.line("server.listen"), Some(7));
        assert_eq!(place.line("suppliers[1].id"), Some(13));
        assert_eq!(place.line("suppliers[1].maintenance[1]"), Some(14));
        // A key the file does not have: the nearest enclosing table.
        assert_eq!(place.line("suppliers[0].timeout_ms"), Some(9));
        assert_eq!(place.line("limits.max_connections"), None);
    }

    #[test]
    fn a_key_set_from_the_environment_names_its_variable() {
        let overrides = [Override {
            key: "limits.max_connections".into(),
            var: "SIAGA_LIMITS__MAX_CONNECTIONS".into(),
        }];
        let place = Place::new("t.toml", "[limits]\nmax_connections = 5\n", &overrides);
        let e = place.error(("limits.max_connections".into(), "must be above zero".into()));
        assert_eq!(e.line, None);
        assert!(e.message.contains("SIAGA_LIMITS__MAX_CONNECTIONS"), "{e}");
        let e = place.error(("limits.max_connections_per_ip".into(), "x".into()));
        assert_eq!(e.line, Some(1), "no such key: the line of its table");
        assert!(!e.message.contains("SIAGA_"), "{e}");
    }
}
