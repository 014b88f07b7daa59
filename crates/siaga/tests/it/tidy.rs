//! The tidy test: the top-level modules of `crates/siaga/src` form a layered graph (no import
//! cycles). It reads the source, finds each file's edges (`crate::x`, also inside
//! `use crate::{a, b::c}` groups, and `super::` paths that leave the module) and fails on
//! any cycle, naming the modules on it and the line behind each edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import of a top-level module: where it is written.
#[derive(Clone, Debug)]
struct Edge {
    to: String,
    file: String,
    line: usize,
}

/// The source with comments, strings and char literals blanked (newlines kept, so line
/// numbers still hold): a path inside a doc comment or a string is not an import.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or('\0');
        if c == '/' && next == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                    out.push_str("  ");
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    out.push_str("  ");
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && (next == '"' || next == '#') && !ident_before(&b, i) {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match b.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(_) => j += 1,
                }
            }
            b[i..j.min(b.len())]
                .iter()
                .for_each(|c| blank(&mut out, *c));
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            b[i..(j + 1).min(b.len())]
                .iter()
                .for_each(|c| blank(&mut out, *c));
            i = j + 1;
        } else if c == '\'' && (next == '\\' || b.get(i + 2) == Some(&'\'')) {
            // A char literal ('x' or '\n'); a lifetime ('a) is left alone.
            let mut j = i + 1;
            while j < b.len() && b[j] != '\'' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Path, // ::
    Open,
    Close,
    Comma,
    Other(char),
}

/// Tokens with their line numbers.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let (mut out, mut line, mut i) = (Vec::new(), 1, 0);
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(b[start..i].iter().collect()), line));
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            let t = match c {
                '{' => Tok::Open,
                '}' => Tok::Close,
                ',' => Tok::Comma,
                _ => Tok::Other(c),
            };
            out.push((t, line));
            i += 1;
        }
    }
    out
}

/// The first path segment of each item of the group that opens at `toks[i]` (`{a, b::c}`).
fn group_heads(toks: &[(Tok, usize)], mut i: usize) -> Vec<String> {
    let (mut depth, mut heads, mut at_item) = (0, Vec::new(), true);
    while let Some((t, _)) = toks.get(i) {
        match t {
            Tok::Open => {
                depth += 1;
                at_item = depth == 1;
            }
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Comma if depth == 1 => at_item = true,
            Tok::Ident(s) if at_item && depth == 1 => {
                heads.push(s.clone());
                at_item = false;
            }
            _ => at_item = false,
        }
        i += 1;
    }
    heads
}

/// The modules a path starting at `toks[i]` (just after `crate::` or the last `super::`)
/// names first: one, or several for a group.
fn heads_at(toks: &[(Tok, usize)], i: usize) -> Vec<String> {
    match toks.get(i) {
        Some((Tok::Ident(s), _)) => vec![s.clone()],
        Some((Tok::Open, _)) => group_heads(toks, i),
        _ => Vec::new(),
    }
}

/// The top-level modules `src` (a file of module `path`, e.g. `["notify", "watch"]`) imports.
fn edges_of(src: &str, path: &[String]) -> Vec<(String, usize)> {
    let toks = tokens(&strip(src));
    let mut out = Vec::new();
    // Inline modules (`mod tests { .. }`) open at a brace depth; `super::` inside them
    // climbs from there.
    let (mut depth, mut inline): (usize, Vec<usize>) = (0, Vec::new());
    let mut i = 0;
    while i < toks.len() {
        let (t, line) = (&toks[i].0, toks[i].1);
        let is = |k: usize, want: &Tok| toks.get(k).map(|t| &t.0) == Some(want);
        let ident = |k: usize, s: &str| matches!(toks.get(k), Some((Tok::Ident(x), _)) if x == s);
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            Tok::Ident(s) if s == "mod" && is(i + 2, &Tok::Open) => inline.push(depth),
            Tok::Ident(s) if s == "crate" && is(i + 1, &Tok::Path) => {
                let macro_crate = i > 0 && toks[i - 1].0 == Tok::Other('$');
                if !macro_crate {
                    out.extend(heads_at(&toks, i + 2).into_iter().map(|h| (h, line)));
                }
            }
            Tok::Ident(s) if s == "super" && is(i + 1, &Tok::Path) => {
                let mut ups = 0;
                let mut k = i;
                while ident(k, "super") && is(k + 1, &Tok::Path) {
                    ups += 1;
                    k += 2;
                }
                // Inline modules first, then the file's own path.
                let here = path.len() + inline.len();
                let left = here.saturating_sub(ups);
                if left == 0 {
                    out.extend(heads_at(&toks, k).into_iter().map(|h| (h, line)));
                } else if left <= path.len() {
                    out.push((path[0].clone(), line));
                }
                i = k;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read src dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A file's module path under `src/` (`notify/mod.rs` → `["notify"]`); None for the crate
/// root files.
fn module_path(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?.to_owned();
    if parts.is_empty() && (stem == "lib" || stem == "main") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem);
    }
    Some(parts)
}

type Graph = BTreeMap<String, BTreeMap<String, Edge>>;

/// The module graph of the crate at `src`.
fn graph(src: &Path) -> Graph {
    let files: Vec<(PathBuf, Vec<String>)> = rust_files(src)
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(src).ok()?.to_path_buf();
            Some((rel.clone(), module_path(&rel)?))
        })
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(_, m)| m[0].clone()).collect();
    let mut g: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (rel, path) in &files {
        let text = std::fs::read_to_string(src.join(rel)).expect("read a source file");
        let file = rel.to_string_lossy().replace('\\', "/");
        for (to, line) in edges_of(&text, path) {
            if to == path[0] || !modules.contains(&to) {
                continue;
            }
            let edge = Edge {
                to: to.clone(),
                file: file.clone(),
                line,
            };
            g.entry(path[0].clone())
                .or_default()
                .entry(to)
                .or_insert(edge);
        }
    }
    g
}

/// The strongly connected groups of more than one module (Tarjan), each sorted.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flat_map(|e| e.keys()) {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out.sort();
    t.out
}

/// One concrete loop through `group`, as `a -> b (file:line) -> ... -> a`.
fn describe(g: &Graph, group: &[String]) -> String {
    let start = &group[0];
    // Breadth-first from `start` inside the group, back to `start`.
    let mut prev: BTreeMap<&str, &Edge> = BTreeMap::new();
    let mut from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.as_str()]);
    let mut closing: Option<(&str, &Edge)> = None;
    while let Some(v) = queue.pop_front() {
        for (w, e) in g.get(v).into_iter().flatten() {
            if !group.contains(w) {
                continue;
            }
            if w == start {
                closing = Some((v, e));
                queue.clear();
                break;
            }
            if !prev.contains_key(w.as_str()) {
                prev.insert(w, e);
                from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let Some((last, back)) = closing else {
        return group.join(", ");
    };
    let mut hops = vec![back];
    let mut v = last;
    while v != start {
        hops.push(prev[v]);
        v = from[v];
    }
    hops.reverse();
    let mut s = start.clone();
    for e in hops {
        s.push_str(&format!(" -> {} ({}:{})", e.to, e.file, e.line));
    }
    s
}

#[test]
fn tidy_no_module_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    assert!(
        g.len() > 10,
        "the tidy test found too few modules in {src:?}"
    );
    let found = cycles(&g);
    let text: Vec<String> = found
        .iter()
        .map(|c| format!("  {{{}}}: {}", c.join(", "), describe(&g, c)))
        .collect();
    assert!(
        found.is_empty(),
        "the modules of crates/siaga/src import each other in a cycle:\n{}",
        text.join("\n")
    );
}

fn synthetic(edges: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in edges {
        g.entry(b.to_string()).or_default();
        g.entry(a.to_string()).or_default().insert(
            b.to_string(),
            Edge {
                to: b.to_string(),
                file: format!("{a}.rs"),
                line: 1,
            },
        );
    }
    g
}

#[test]
fn tidy_cycle_finder_on_small_graphs() {
    // Layered: no cycle.
    let ok = synthetic(&[
        ("server", "http"),
        ("http", "app"),
        ("app", "engine"),
        ("engine", "config"),
        ("app", "config"),
    ]);
    assert!(cycles(&ok).is_empty());
    // One loop through three modules, a fourth module outside it.
    let bad = synthetic(&[
        ("app", "engine"),
        ("engine", "health"),
        ("health", "app"),
        ("health", "config"),
    ]);
    let found = cycles(&bad);
    assert_eq!(found, vec![vec!["app", "engine", "health"]]);
    assert_eq!(
        describe(&bad, &found[0]),
        "app -> engine (app.rs:1) -> health (engine.rs:1) -> app (health.rs:1)"
    );
}

#[test]
fn tidy_edges_are_read_from_source() {
    let src = r#"
//! Talks about crate::app in a comment.
use crate::{clock::Clock, config::{self, Settings}, keys};
use super::view::Lang;
use super::super::metrics::Metrics;
const S: &str = "crate::http is in a string";
fn f() { crate::notify::alert(); let c = '{'; }
macro_rules! m { () => { $crate::http::x() }; }
#[cfg(test)]
mod tests {
    use super::*;
    use super::super::health;
}
"#;
    let path = vec!["status".to_string(), "worker".to_string()];
    let got: Vec<(String, usize)> = edges_of(src, &path);
    let names: Vec<&str> = got.iter().map(|(m, _)| m.as_str()).collect();
    // super::view stays in `status`; super::super::metrics leaves it; in `mod tests`
    // super is the file itself and super::super its parent, `status`.
    assert_eq!(
        names,
        vec!["clock", "config", "keys", "status", "metrics", "notify", "status", "status"]
    );
    assert_eq!(got[4], ("metrics".to_string(), 5));
}
