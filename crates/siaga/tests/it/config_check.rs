//! `siaga config check` and `siaga supplier try`, the real binary (SPEC 6.1.1): a good
//! file is summarised per supplier and exits 0 without touching the database; a bad
//! regex, an unset variable or a bad `callback_allow_ips` entry exits 1 with one line
//! naming file, line and key. `supplier try` sends one top-up to a real `siaga sim
//! --dialect otomax` and shows it step by step, the PIN and the sign never printed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use siaga_suppliers::sign::{digest, encode, Algo, Encoding};

const PIN: &str = "8817";
const REPORT_SECRET: &str = "rep-secret-4471";

fn siaga(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siaga"));
    c.current_dir(dir)
        .args(args)
        .env_remove("SIAGA_CONFIG")
        .env_remove("KIOS_PIN")
        .env_remove("KIOS_REPORT")
        .env("SIAGA_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run siaga")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SECRETS: [(&str, &str); 2] = [("KIOS_PIN", PIN), ("KIOS_REPORT", REPORT_SECRET)];

/// A config with one OtomaX supplier at `base`; `extra` goes into its `[[suppliers]]` table.
fn config(base: &str, extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:8080"

[store]
url = "sqlite://siaga.db"

[[suppliers]]
id = "kios"
dialect = "http-template"
preset = "otomax"
base_url = "{base}"
username = "YUSUF"
key_env = "KIOS_PIN"
callback_secret_env = "KIOS_REPORT"
timeout_ms = 5000
{extra}

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = 10500
routes = [{{ supplier = "kios", sku = "tsel10", cost = 10250 }}]
"#
    )
}

/// The line (from 1) of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the config"))
}

#[test]
fn config_check_summarises_a_good_file_and_opens_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(
        "http://h2h.kios.example:6969",
        "callback_allow_ips = [\"203.0.113.7\", \"10.1.0.0/16\"]",
    );
    std::fs::write(d.join("kios.toml"), &cfg).unwrap();
    let out = siaga(d, &["config", "check", "--config", "kios.toml"], &SECRETS);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for want in [
        "supplier kios: dialect http-template, preset otomax, base_url http://h2h.kios.example:6969",
        "topup: GET /trx (query, signed sha1)",
        "report route: GET|POST /hooks/suppliers/kios/*** (the secret in the URL)",
        "reports only from: 203.0.113.7/32, 10.1.0.0/16",
        "routes: TSEL10 (sku tsel10, cost 10250)",
        "ok: kios.toml: 1 suppliers, 1 products, 1 routes",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    assert!(stdout.contains(" rules"), "{stdout}");
    assert!(
        !stdout.contains(PIN) && !stdout.contains(REPORT_SECRET),
        "{stdout}"
    );
    assert!(
        !d.join("siaga.db").exists(),
        "config check created the database"
    );
    // SIAGA_CONFIG names the file too.
    let out = Command::new(env!("CARGO_BIN_EXE_siaga"))
        .current_dir(d)
        .args(["config", "check"])
        .env("SIAGA_CONFIG", "kios.toml")
        .envs(SECRETS)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A usage error is 2.
    let out = siaga(d, &["config", "check", "--frobnicate"], &SECRETS);
    assert_eq!(out.status.code(), Some(2));
}

/// Exit 1 and one line on stderr: `siaga: FILE:LINE: KEY: message`.
fn refused(d: &Path, cfg: &str, env: &[(&str, &str)]) -> String {
    std::fs::write(d.join("siaga.toml"), cfg).unwrap();
    let out = siaga(d, &["config", "check"], env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert!(!d.join("siaga.db").exists());
    err
}

#[test]
fn config_check_names_file_line_and_key_of_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A bad regex in a rule: the line of that rule and the key path down to `regex`.
    let cfg = config(
        "http://h2h.example",
        "\n[suppliers.template.reply]\nrules = [\n  { regex = '(?i)sukses(', outcome = \"success\" },\n]",
    );
    let err = refused(d, &cfg, &SECRETS);
    let line = line_of(&cfg, "sukses(");
    let want = format!("siaga.toml:{line}: suppliers[0].template.reply.rules[0].regex: bad regex");
    assert!(err.contains(&want), "{want:?} in {err}");
    // `serve` gives the very same line.
    let out = siaga(d, &["serve"], &SECRETS);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim(), err.trim());

    // An unknown placeholder in a templated field.
    let cfg = config(
        "http://h2h.example",
        "\n[suppliers.template.topup.fields]\ndest = \"{destinasi}\"",
    );
    let err = refused(d, &cfg, &SECRETS);
    let line = line_of(&cfg, "{destinasi}");
    assert!(
        err.contains(&format!(
            "siaga.toml:{line}: suppliers[0].template.topup.fields.dest: unknown placeholder {{destinasi}}"
        )),
        "{err}"
    );

    // An env var that is not set: its key, and the variable's name.
    let cfg = config("http://h2h.example", "");
    let err = refused(d, &cfg, &[("KIOS_REPORT", REPORT_SECRET)]);
    let line = line_of(&cfg, "key_env");
    assert!(
        err.contains(&format!(
            "siaga.toml:{line}: suppliers[0].key_env: environment variable KIOS_PIN is not set"
        )),
        "{err}"
    );

    // A bad callback_allow_ips entry: the entry's index.
    let cfg = config(
        "http://h2h.example",
        "callback_allow_ips = [\"203.0.113.7\", \"10.1.0.0/33\"]",
    );
    let err = refused(d, &cfg, &SECRETS);
    let line = line_of(&cfg, "callback_allow_ips");
    assert!(
        err.contains(&format!(
            "siaga.toml:{line}: suppliers[0].callback_allow_ips[1]:"
        )),
        "{err}"
    );

    // A route to a supplier the file does not have.
    let cfg = config("http://h2h.example", "")
        .replace("supplier = \"kios\", sku", "supplier = \"kiosk\", sku");
    let err = refused(d, &cfg, &SECRETS);
    assert!(err.contains("products[0].routes[0].supplier"), "{err}");
}

/// A `siaga sim --dialect otomax` child, killed when dropped.
struct SimChild {
    child: Child,
    base: String,
}

impl Drop for SimChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn otomax_sim(mode: &str) -> SimChild {
    let mut child = Command::new(env!("CARGO_BIN_EXE_siaga"))
        .args(["sim", "--dialect", "otomax", "--listen", "127.0.0.1:0"])
        .args(["--control", "127.0.0.1:0", "--username", "YUSUF"])
        .args(["--key", PIN, "--mode", mode, "--latency-ms", "10"])
        .env("SIAGA_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("siaga sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the sim's first line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    SimChild { child, base }
}

fn try_cmd(d: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["supplier", "try"];
    all.extend_from_slice(args);
    let out = siaga(d, &all, &SECRETS);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn supplier_try_shows_one_real_top_up_step_by_step_with_secrets_masked() {
    let sim = otomax_sim("ok");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("siaga.toml"), config(&sim.base, "")).unwrap();
    let dest = "081234567801";
    let args = [
        "kios",
        "--sku",
        "tsel10",
        "--destination",
        dest,
        "--ref",
        "TRY-1",
    ];
    let (code, out, err) = try_cmd(d, &args);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let sign = encode(
        Encoding::Base64url,
        &digest(
            Algo::Sha1,
            "",
            &format!("OtomaX|YUSUF|tsel10|{dest}|TRY-1|{PIN}|"),
        ),
    );
    for secret in [PIN, sign.as_str(), REPORT_SECRET] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret} shown:\n{out}\n{err}"
        );
    }
    for want in [
        format!("GET {}/trx?", sim.base),
        format!("query dest = {dest}"),
        "query refID = TRY-1".to_owned(),
        "query sign = ***".to_owned(),
        "reply: HTTP 200".to_owned(),
        "R#TRY-1 tsel10.081234567801 SUKSES. SN/Ref: ".to_owned(),
        "rule 0 matched: regex".to_owned(),
        "outcome: success sn=".to_owned(),
    ] {
        assert!(out.contains(&want), "{want:?} in:\n{out}");
    }
    let sn = out
        .lines()
        .find_map(|l| l.strip_prefix("outcome: success sn="))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(
        out.contains(&format!("SN/Ref: {sn}")),
        "the SN is the reply's: {out}"
    );
    // The inquiry for the same reference reads the same top-up.
    let (code, out, err) = try_cmd(d, &[&args[..], &["--inquiry"]].concat());
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("check = 1") || out.contains("check=1"),
        "{out}"
    );
    assert!(out.contains(&format!("outcome: success sn={sn}")), "{out}");
    // Without --ref a fresh try-<time> reference is used.
    let (code, out, _) = try_cmd(d, &args[..5]);
    assert_eq!(code, Some(0));
    assert!(out.contains("query refID = try-"), "{out}");
    // --inquiry needs --ref: a usage error.
    assert_eq!(
        try_cmd(d, &[&args[..5], &["--inquiry"]].concat()).0,
        Some(2)
    );
    // Not a supplier of this file: 1.
    let (code, _, err) = try_cmd(d, &["nope", "--sku", "x", "--destination", dest]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no supplier \"nope\""), "{err}");
}

#[test]
fn supplier_try_says_unknown_for_a_garbled_reply_and_fails_when_nothing_answers() {
    let sim = otomax_sim("garbled");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("siaga.toml"), config(&sim.base, "")).unwrap();
    let args = ["kios", "--sku", "tsel10", "--destination", "081234567802"];
    let (code, out, err) = try_cmd(d, &args);
    assert_eq!(code, Some(0), "a reply was read: {out}\n{err}");
    assert!(out.contains("reply: HTTP 200"), "{out}");
    assert!(out.contains("→ unknown"), "{out}");
    assert!(out.contains("outcome: unknown"), "{out}");
    assert!(!out.contains(PIN), "{out}");
    // Nobody listening: the request could not be sent, exit 1 with one line.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(d.join("siaga.toml"), config(&format!("http://{addr}"), "")).unwrap();
    let (code, out, err) = try_cmd(d, &args);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains("reply: none"), "{out}");
    assert!(err.contains("no reply from kios"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
