//! The admin dashboard's accounts and owner tools over real HTTP (SPEC 13): an operator
//! account signs in by name and password (a wrong one is 401 and sets no cookie), gets 403
//! on the config and key pages and forms, and its audit lines carry its name; removing the
//! account ends its session at the next page. An incident is previewed (the notice
//! subscribers will get, nothing opened), opened, updated, resolved and given its
//! postmortem through the forms; a maintenance window is announced on the suppliers page;
//! the owner adds a reseller and rotates its keys, the new key shown once and working.

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use siaga::http::dashboard::accounts;
use siaga_store::OperatorAccount;

use crate::harness::{Opts, TestApp, ADMIN};

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

async fn sign_in(app: &TestApp, c: &Client, form: &[(&str, &str)]) -> (StatusCode, Option<String>) {
    let r = c
        .post(format!("{}/admin/login", app.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (r.status(), cookie)
}

async fn get(app: &TestApp, c: &Client, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = c
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    c: &Client,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = c
        .post(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.text().await.unwrap())
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn add_account(app: &TestApp, name: &str, role: &str, pw: &str) {
    let added = app
        .app
        .store
        .add_operator(OperatorAccount {
            name: name.into(),
            role: role.into(),
            password_hash: accounts::hash(pw).unwrap(),
            created_at: 0,
        })
        .await
        .unwrap();
    assert!(added);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_account_signs_in_but_never_sees_keys_or_config() {
    let app = TestApp::start(Opts::default()).await;
    add_account(&app, "sari", "operator", "sari-password-1").await;
    add_account(&app, "budi", "owner", "budi-password-1").await;
    let c = browser();
    for form in [
        [("username", "sari"), ("password", "wrong-password")],
        [("username", "nobody"), ("password", "sari-password-1")],
    ] {
        let (s, cookie) = sign_in(&app, &c, &form).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(cookie, None);
    }
    let (s, cookie) = sign_in(
        &app,
        &c,
        &[("username", "sari"), ("password", "sari-password-1")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let op = cookie.unwrap();
    let rid = app.reseller_id.clone();
    for path in [
        "/admin".to_owned(),
        "/admin/resellers".to_owned(),
        format!("/admin/resellers/{rid}"),
        "/admin/incidents".to_owned(),
    ] {
        let (s, html) = get(&app, &c, &op, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(
            !html.contains("/keys\""),
            "{path}: no link to the keys page"
        );
    }
    for path in [
        "/admin/config".to_owned(),
        format!("/admin/resellers/{rid}/keys"),
    ] {
        assert_eq!(
            get(&app, &c, &op, &path).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let (_, html) = get(&app, &c, &op, &format!("/admin/resellers/{rid}")).await;
    let token = csrf(&html);
    let before = app.balance_unchecked().await;
    let rotate = format!("/admin/resellers/{rid}/rotate-keys");
    assert_eq!(
        post(&app, &c, &op, &rotate, &[("csrf", &token)]).await.0,
        StatusCode::FORBIDDEN
    );
    let add = [("csrf", token.as_str()), ("name", "Toko Baru")];
    assert_eq!(
        post(&app, &c, &op, "/admin/resellers", &add).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.app.store.list_resellers().await.unwrap().len(), 1);
    // Day-to-day work is allowed, and the audit line names who did it.
    let dep = [
        ("csrf", token.as_str()),
        ("amount", "5000"),
        ("note", "setoran tunai"),
    ];
    let path = format!("/admin/resellers/{rid}/deposits");
    assert_eq!(
        post(&app, &c, &op, &path, &dep).await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.balance_unchecked().await.0, before.0 + 5_000);
    let (_, audit) = get(&app, &c, &op, "/admin/audit").await;
    assert!(
        audit.contains("<strong>sari</strong> · reseller.deposit"),
        "{audit}"
    );

    // The owner account sees the keys page; the removed operator is signed out.
    let (_, owner) = sign_in(
        &app,
        &c,
        &[("username", "budi"), ("password", "budi-password-1")],
    )
    .await;
    let owner = owner.unwrap();
    let (s, _) = get(&app, &c, &owner, &format!("/admin/resellers/{rid}/keys")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(app.app.store.remove_operator("sari").await.unwrap());
    assert_eq!(get(&app, &c, &op, "/admin").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_previewed_opened_updated_resolved_and_explained_through_the_forms() {
    let app = TestApp::start(Opts::default()).await;
    let c = browser();
    let (_, cookie) = sign_in(&app, &c, &[("token", ADMIN)]).await;
    let cookie = cookie.unwrap();
    let (s, html) = get(&app, &c, &cookie, "/admin/incidents").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Tidak ada insiden"),
        "the empty state says what to do"
    );
    let token = csrf(&html);
    let open = [
        ("csrf", token.as_str()),
        ("title", "Pulsa Telkomsel lambat"),
        ("body", "Kami sedang memeriksa."),
        ("components", "telkomsel Pulsa"),
        ("impact", "minor"),
        ("status", "investigating"),
    ];
    let mut preview = open.to_vec();
    preview.push(("preview", "1"));
    let (s, html) = post(&app, &c, &cookie, "/admin/incidents", &preview).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("[Sedang diselidiki] Pulsa Telkomsel lambat")
            && html.contains("Layanan terdampak: telkomsel Pulsa"),
        "the notice preview: {html}"
    );
    assert!(
        app.app.store.incidents(0).await.unwrap().is_empty(),
        "a preview opens nothing"
    );
    assert_eq!(
        post(&app, &c, &cookie, "/admin/incidents", &open).await.0,
        StatusCode::SEE_OTHER
    );
    let id = app.app.store.incidents(0).await.unwrap()[0].id;
    let upd = format!("/admin/incidents/{id}/updates");
    let resolve = [
        ("csrf", token.as_str()),
        ("status", "resolved"),
        ("body", "Sudah normal."),
    ];
    let (s, html) = post(
        &app,
        &c,
        &cookie,
        &upd,
        &[resolve.as_slice(), &[("preview", "1")]].concat(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("[Selesai]"), "{html}");
    assert_eq!(
        post(&app, &c, &cookie, &upd, &resolve).await.0,
        StatusCode::SEE_OTHER
    );
    let pm = format!("/admin/incidents/{id}/postmortem");
    let body = [
        ("csrf", token.as_str()),
        ("body", "Penyebab: antrean supplier."),
    ];
    assert_eq!(
        post(&app, &c, &cookie, &pm, &body).await.0,
        StatusCode::SEE_OTHER
    );
    let i = app.app.store.incident(id).await.unwrap().unwrap();
    assert!(i.resolved_at.is_some());
    assert_eq!(
        i.postmortem_id.as_deref(),
        Some("Penyebab: antrean supplier.")
    );
    // Bad input changes nothing: a second resolve is a conflict.
    assert_eq!(
        post(&app, &c, &cookie, &upd, &resolve).await.0,
        StatusCode::CONFLICT
    );
    let (_, audit) = get(&app, &c, &cookie, "/admin/audit").await;
    for a in ["incident.open", "incident.update", "incident.postmortem"] {
        assert!(audit.contains(a), "{a}: {audit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_announces_maintenance_adds_a_reseller_and_rotates_its_keys() {
    let app = TestApp::start(Opts::default()).await;
    let c = browser();
    let (_, cookie) = sign_in(&app, &c, &[("token", ADMIN)]).await;
    let cookie = cookie.unwrap();
    let (_, html) = get(&app, &c, &cookie, "/admin/suppliers").await;
    let token = csrf(&html);
    let sup = app.settings.suppliers[0].id.clone();
    let mw = [
        ("csrf", token.as_str()),
        ("starts_at", "2099-01-01T01:00"),
        ("ends_at", "2099-01-01T03:00"),
        ("note", "upgrade server"),
    ];
    let path = format!("/admin/suppliers/{sup}/maintenance");
    assert_eq!(
        post(&app, &c, &cookie, &path, &mw).await.0,
        StatusCode::SEE_OTHER
    );
    let w = app.app.store.maintenance_windows(0).await.unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].starts_at,
        siaga::clock::parse_time("2099-01-01T01:00:00+07:00").unwrap()
    );
    let bad = [
        ("csrf", token.as_str()),
        ("starts_at", "soon"),
        ("ends_at", "later"),
    ];
    assert_eq!(
        post(&app, &c, &cookie, &path, &bad).await.0,
        StatusCode::BAD_REQUEST
    );

    add_and_rotate(&app, &c, &cookie, &token).await;
    let (_, audit) = get(&app, &c, &cookie, "/admin/audit").await;
    for a in [
        "supplier.maintenance",
        "reseller.add",
        "reseller.rotate_keys",
        "reseller.access",
    ] {
        assert!(audit.contains(a), "{a}: {audit}");
    }
}

/// The owner adds a reseller (its key shown once), rotates its keys (the old one stops
/// working, the new one works) and sets its access rules.
async fn add_and_rotate(app: &TestApp, c: &Client, cookie: &str, token: &str) {
    let add = [
        ("csrf", token),
        ("name", "Toko Baru"),
        ("callback_format", "standard"),
    ];
    let (s, html) = post(app, c, cookie, "/admin/resellers", &add).await;
    assert_eq!(s, StatusCode::OK);
    let key = |html: &str| {
        let at =
            html.find("id=\"api-key\">").expect("the key shown once") + "id=\"api-key\">".len();
        html[at..at + html[at..].find('<').unwrap()].to_owned()
    };
    let first = key(&html);
    let list = app.app.store.list_resellers().await.unwrap();
    let new = list
        .iter()
        .find(|r| r.name == "Toko Baru")
        .unwrap()
        .id
        .clone();
    let (_, page) = get(app, c, cookie, &format!("/admin/resellers/{new}")).await;
    assert!(!page.contains(&first), "the key is shown only once");
    let (s, html) = post(
        app,
        c,
        cookie,
        &format!("/admin/resellers/{new}/rotate-keys"),
        &[("csrf", token)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let second = key(&html);
    assert_ne!(first, second);
    let balance = |k: String| {
        let c = c.clone();
        let url = format!("{}/v1/balance", app.base);
        async move { c.get(url).bearer_auth(k).send().await.unwrap().status() }
    };
    assert_eq!(balance(first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(balance(second).await, StatusCode::OK);
    let access = [
        ("csrf", token),
        ("ip_allowlist", "10.0.0.0/8\n192.0.2.7"),
        ("require_signature", "true"),
    ];
    assert_eq!(
        post(
            app,
            c,
            cookie,
            &format!("/admin/resellers/{new}/access"),
            &access
        )
        .await
        .0,
        StatusCode::SEE_OTHER
    );
    let r = app.app.store.reseller(&new).await.unwrap().unwrap();
    assert_eq!(r.ip_allowlist, vec!["10.0.0.0/8", "192.0.2.7"]);
    assert!(r.require_signature);
}
