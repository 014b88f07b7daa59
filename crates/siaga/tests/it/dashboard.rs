//! The admin dashboard (SPEC 13) over real HTTP: sign-in with the admin token sets a
//! signed, `HttpOnly`, `SameSite=Strict` cookie; without it every page redirects to the
//! sign-in (303); every page answers 200; an order is found by its reference; a deposit
//! made through the form moves the balance exactly and writes an audit line, and the same
//! form without its CSRF token is refused (403) and moves nothing; a desk order is taken and
//! resolved through the pages; sign-in attempts are rate limited.

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use siaga_domain::Operator;

use crate::harness::{Opts, TestApp, ADMIN, P};

/// A client that shows redirects instead of following them.
pub(crate) fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Signs in; the session cookie (`name=value`).
pub(crate) async fn sign_in(app: &TestApp, c: &Client) -> String {
    let r = c
        .post(format!("{}/admin/login", app.base))
        .form(&[("token", ADMIN), ("next", "/admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain http: no Secure flag ({set})"
    );
    set.split(';').next().unwrap().to_owned()
}

pub(crate) async fn page(
    app: &TestApp,
    c: &Client,
    cookie: &str,
    path: &str,
) -> (StatusCode, String) {
    let r = c
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.text().await.unwrap())
}

/// The CSRF token of the page's forms.
pub(crate) fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

pub(crate) async fn post_form(
    app: &TestApp,
    c: &Client,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> StatusCode {
    c.post(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_then_every_page_answers_and_a_deposit_form_moves_the_balance_exactly() {
    let app = TestApp::start(Opts::default()).await;
    let c = browser();
    // Without a session: every page redirects to the sign-in.
    for path in [
        "/admin",
        "/admin/orders",
        "/admin/resellers",
        "/admin/config",
    ] {
        let r = c.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(to.starts_with("/admin/login?next="), "{to}");
    }
    let wrong = c
        .post(format!("{}/admin/login", app.base))
        .form(&[("token", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    let cookie = sign_in(&app, &c).await;
    assert_eq!(
        page(&app, &c, "siaga_session=forged.value", "/admin")
            .await
            .0,
        StatusCode::SEE_OTHER,
        "a forged cookie is no session"
    );

    let (s, o) = app.order("DASH-1", "TSEL10", "081234560001").await;
    assert_eq!(s, 201, "{o}");
    app.wait_final("DASH-1", std::time::Duration::from_secs(20))
        .await;
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    let rid = app.reseller_id.clone();
    for path in [
        "/admin".to_owned(),
        "/admin?lang=en".to_owned(),
        "/admin/suppliers".to_owned(),
        "/admin/orders".to_owned(),
        format!("/admin/orders/{order_id}"),
        "/admin/desk".to_owned(),
        "/admin/resellers".to_owned(),
        format!("/admin/resellers/{rid}"),
        "/admin/audit".to_owned(),
        "/admin/config".to_owned(),
    ] {
        let (s, html) = page(&app, &c, &cookie, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
        assert!(html.contains("<h1>"), "{path}");
    }
    // Found by its reference and by its number written the international way.
    for q in ["DASH-1", "6281234560001"] {
        let (_, html) = page(&app, &c, &cookie, &format!("/admin/orders?q={q}")).await;
        assert!(html.contains(&format!("/admin/orders/{order_id}")), "{q}");
    }
    let (_, html) = page(&app, &c, &cookie, "/admin/config").await;
    assert!(!html.contains("sim0-key"), "secrets are masked");

    let token = deposit_by_form(&app, &c, &cookie).await;

    // Sign-out ends the session on this browser.
    let r = c
        .post(format!("{}/admin/logout", app.base))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

/// The deposit form: without its CSRF token refused, with it exact, with an audit line.
/// Returns the session's CSRF token.
async fn deposit_by_form(app: &TestApp, c: &Client, cookie: &str) -> String {
    let rid = app.reseller_id.clone();
    // The deposit form: without its CSRF token refused, with it exact.
    let before = app.balance_unchecked().await;
    let (_, html) = page(app, c, cookie, &format!("/admin/resellers/{rid}")).await;
    let token = csrf(&html);
    let path = format!("/admin/resellers/{rid}/deposits");
    let no_token = post_form(app, c, cookie, &path, &[("amount", "12345")]).await;
    assert_eq!(no_token, StatusCode::FORBIDDEN);
    let bad_token = post_form(app, c, cookie, &path, &[("amount", "12345"), ("csrf", "x")]).await;
    assert_eq!(bad_token, StatusCode::FORBIDDEN);
    assert_eq!(app.balance_unchecked().await, before, "nothing moved");
    let form = [
        ("amount", "12345"),
        ("note", "transfer BCA"),
        ("csrf", &token),
    ];
    assert_eq!(
        post_form(app, c, cookie, &path, &form).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.balance_unchecked().await, (before.0 + 12_345, before.1));
    let bad_amount = [("amount", "12.5"), ("csrf", token.as_str())];
    assert_eq!(
        post_form(app, c, cookie, &path, &bad_amount).await,
        StatusCode::BAD_REQUEST
    );
    let (_, html) = page(app, c, cookie, "/admin/audit").await;
    assert!(
        html.contains("reseller.deposit") && html.contains("transfer BCA"),
        "{html}"
    );
    app.verify_clean().await;

    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_order_is_taken_and_resolved_through_the_pages() {
    let app = TestApp::start(Opts {
        manual: vec![1],
        products: vec![P {
            code: "TSEL10",
            op: Operator::Telkomsel,
            price: 10_500,
            routes: vec![(1, 10_150)],
        }],
        ..Opts::default()
    })
    .await;
    let c = browser();
    let cookie = sign_in(&app, &c).await;
    let (s, o) = app.order("DESK-1", "TSEL10", "081234560002").await;
    assert_eq!(s, 201, "{o}");
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let html = loop {
        let (_, html) = page(&app, &c, &cookie, "/admin/desk").await;
        if html.contains(&format!("/admin/desk/{order_id}/take")) {
            break html;
        }
        assert!(
            std::time::Instant::now() < end,
            "never on the desk page: {html}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let token = csrf(&html);
    let take = format!("/admin/desk/{order_id}/take");
    assert_eq!(
        post_form(&app, &c, &cookie, &take, &[("csrf", &token)]).await,
        StatusCode::SEE_OTHER
    );
    let (_, html) = page(&app, &c, &cookie, "/admin").await;
    assert!(
        html.contains("meja manual"),
        "the overview's banner names the desk: {html}"
    );
    let resolve = format!("/admin/orders/{order_id}/resolve");
    let form = [
        ("csrf", token.as_str()),
        ("status", "success"),
        ("serial_number", "SN-DESK-9"),
    ];
    assert_eq!(
        post_form(&app, &c, &cookie, &resolve, &form).await,
        StatusCode::SEE_OTHER
    );
    let done = app
        .wait_final("DESK-1", std::time::Duration::from_secs(20))
        .await;
    assert_eq!(done["status"], "success");
    assert_eq!(done["serial_number"], "SN-DESK-9");
    let again = post_form(&app, &c, &cookie, &resolve, &form).await;
    assert_eq!(
        again,
        StatusCode::CONFLICT,
        "a final order is not resolved twice"
    );
    let (_, html) = page(&app, &c, &cookie, "/admin/audit").await;
    assert!(
        html.contains("desk.take") && html.contains(&order_id),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_rate_limited() {
    let app = TestApp::start(Opts::default()).await;
    let c = browser();
    let mut limited = false;
    for _ in 0..12 {
        let r = c
            .post(format!("{}/admin/login", app.base))
            .form(&[("token", "guess")])
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(limited, "ten wrong tokens a minute, then 429");
}
