//! The incidents page (SPEC 8, 13): the incidents of the last 90 days and the open ones,
//! each with its updates; forms to open one, post an update (`resolved` resolves it) and
//! add the postmortem, through the admin API's `ops` code, each writing an audit line.
//! A form's "Preview" button answers with the notice subscribers will get (subject and
//! text, as `notify::render` writes it) and the same form, filled, to publish.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use siaga_store::{Incident, IncidentUpdate, NoticeBody};

use super::actions::{audit, refused};
use super::layout::{page, state, when, with_lang, Lang};
use super::pages::{failed, frame};
use super::Signed;
use crate::app::App;
use crate::ops::{self, IncidentDraft};

const DAY_MS: i64 = 86_400_000;
const STATES: [(&str, &str, &str); 4] = [
    ("investigating", "Sedang diselidiki", "Investigating"),
    ("identified", "Penyebab ditemukan", "Identified"),
    ("monitoring", "Dipantau", "Monitoring"),
    ("resolved", "Selesai", "Resolved"),
];

#[derive(Deserialize, Default, Clone)]
pub struct OpenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    body_en: String,
    /// Component names, separated by commas.
    #[serde(default)]
    components: String,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    preview: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    body_en: String,
    #[serde(default)]
    preview: Option<String>,
}

fn given(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

fn components_of(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn status_select(l: Lang, name: &str, chosen: &str, with_resolved: bool) -> Markup {
    html! {
        label { "Status"
            select name=(name) {
                @for (v, id, en) in STATES {
                    @if with_resolved || v != "resolved" {
                        option value=(v) selected[v == chosen] { (l.pick(id, en)) }
                    }
                }
            }
        }
    }
}

fn open_form(who: &Signed, known: &[String], f: &OpenForm) -> Markup {
    let l = who.lang;
    html! {
        form method="post" action=(with_lang("/admin/incidents", l)) {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (l.pick("Judul", "Title")) input type="text" name="title" required maxlength="200" value=(f.title); }
            label { (l.pick("Isi", "Text")) textarea name="body" required rows="3" maxlength="5000" { (f.body) } }
            label { (l.pick("Judul (Inggris, boleh kosong)", "Title in English (optional)")) input type="text" name="title_en" maxlength="200" value=(f.title_en); }
            label { (l.pick("Isi (Inggris, boleh kosong)", "Text in English (optional)")) textarea name="body_en" rows="3" maxlength="5000" { (f.body_en) } }
            label { (l.pick("Komponen terdampak, dipisah koma: ", "Affected components, separated by commas: ")) (known.join(", "))
                input type="text" name="components" value=(f.components);
            }
            label { (l.pick("Dampak", "Impact"))
                select name="impact" { @for i in ["minor", "major", "critical", "none"] { option value=(i) selected[f.impact == i] { (i) } } }
            }
            (status_select(l, "status", &f.status, false))
            div.buttons {
                button type="submit" name="preview" value="1" { (l.pick("Pratinjau pemberitahuan", "Preview the notice")) }
                button type="submit" { (l.pick("Buka insiden", "Open the incident")) }
            }
        }
    }
}

fn update_form(who: &Signed, id: i64, f: &UpdateForm) -> Markup {
    let l = who.lang;
    html! {
        form method="post" action=(with_lang(&format!("/admin/incidents/{id}/updates"), l)) {
            input type="hidden" name="csrf" value=(who.csrf);
            (status_select(l, "status", &f.status, true))
            label { (l.pick("Isi kabar", "Update text")) textarea name="body" required rows="2" maxlength="5000" { (f.body) } }
            label { (l.pick("Isi (Inggris, boleh kosong)", "Text in English (optional)")) textarea name="body_en" rows="2" maxlength="5000" { (f.body_en) } }
            div.buttons {
                button type="submit" name="preview" value="1" { (l.pick("Pratinjau pemberitahuan", "Preview the notice")) }
                button type="submit" { (l.pick("Kirim kabar", "Post the update")) }
            }
        }
    }
}

fn postmortem_form(who: &Signed, id: i64) -> Markup {
    let l = who.lang;
    html! {
        form method="post" action=(with_lang(&format!("/admin/incidents/{id}/postmortem"), l)) {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (l.pick("Postmortem", "Postmortem")) textarea name="body" required rows="4" maxlength="20000" {} }
            label { (l.pick("Postmortem (Inggris, boleh kosong)", "Postmortem in English (optional)")) textarea name="body_en" rows="4" maxlength="20000" {} }
            button type="submit" { (l.pick("Terbitkan postmortem", "Publish the postmortem")) }
        }
    }
}

fn notice_preview(l: Lang, n: &NoticeBody) -> Markup {
    html! {
        section.preview aria-label=(l.pick("Pratinjau pemberitahuan", "Notice preview")) {
            h2 { (l.pick("Yang akan diterima pelanggan", "What subscribers will receive")) }
            p { strong { (l.pick("Subjek: ", "Subject: ")) } (n.subject) }
            pre.notice { (n.text) }
        }
    }
}

fn one_incident(who: &Signed, i: &Incident, now: i64) -> Markup {
    let l = who.lang;
    let open = i.resolved_at.is_none();
    html! {
        section.incident aria-labelledby=(format!("inc-{}", i.id)) {
            h2 id=(format!("inc-{}", i.id)) { "#" (i.id) " " (l.pick(&i.title_id, &i.title_en)) }
            p {
                @if open { (state("bad", l.pick("terbuka", "open"))) } @else { (state("ok", l.pick("selesai", "resolved"))) }
                " · " (i.impact) " · " (i.components.join(", ")) " · " (when(i.created_at, now, l))
                " · " a href=(format!("/incidents/{}", i.id)) { (l.pick("di status page", "on the status page")) }
            }
            ol { @for u in &i.updates {
                li { strong { (u.status) } " · " (when(u.at, now, l)) " · " (l.pick(&u.body_id, &u.body_en)) }
            } }
            @if open { (update_form(who, i.id, &UpdateForm::default())) }
            @else if i.postmortem_id.is_none() { (postmortem_form(who, i.id)) }
        }
    }
}

pub async fn incidents(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let now = app.now();
    let list = match app.store.incidents(now - 90 * DAY_MS).await {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    let known = crate::status::worker::component_names(&app.settings.get());
    let body = html! {
        h2 { (l.pick("Buka insiden", "Open an incident")) }
        (open_form(&who, &known, &OpenForm::default()))
        @if list.is_empty() {
            p.empty { (l.pick("Tidak ada insiden dalam 90 hari. Insiden otomatis muncul saat supplier terputus; buka satu di atas untuk mengabari pelanggan.",
                              "No incident in 90 days. Automatic ones appear when a supplier goes down; open one above to tell subscribers.")) }
        }
        @for i in &list { (one_incident(&who, i, now)) }
    };
    Html(page(
        &frame(&who, l.pick("Insiden", "Incidents"), Vec::new()),
        body,
    ))
    .into_response()
}

fn back(l: Lang) -> Response {
    Redirect::to(&with_lang("/admin/incidents", l)).into_response()
}

fn preview_page(who: &Signed, n: &NoticeBody, form: Markup) -> Response {
    let l = who.lang;
    let body = html! { (notice_preview(l, n)) h2 { (l.pick("Terbitkan", "Publish")) } (form) };
    Html(page(
        &frame(who, l.pick("Pratinjau", "Preview"), Vec::new()),
        body,
    ))
    .into_response()
}

pub async fn open(State(app): State<Arc<App>>, who: Signed, Form(f): Form<OpenForm>) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let settings = app.settings.get();
    let now = app.now();
    if f.preview.is_some() {
        let title_en = given(&f.title_en).unwrap_or(&f.title);
        let body_en = given(&f.body_en).unwrap_or(&f.body);
        let u = IncidentUpdate {
            id: 0,
            status: given(&f.status).unwrap_or("investigating").into(),
            body_id: f.body.trim().into(),
            body_en: body_en.trim().into(),
            at: now,
        };
        let i = Incident {
            id: 0,
            title_id: f.title.trim().into(),
            title_en: title_en.trim().into(),
            status: u.status.clone(),
            impact: given(&f.impact).unwrap_or("minor").into(),
            components: components_of(&f.components),
            auto_component: None,
            security: false,
            created_at: now,
            updated_at: now,
            resolved_at: None,
            postmortem_id: None,
            postmortem_en: None,
            updates: vec![u.clone()],
        };
        let n = crate::notify::render::incident(&i, &u, &settings.public_url);
        let known = crate::status::worker::component_names(&settings);
        return preview_page(&who, &n, open_form(&who, &known, &f));
    }
    let draft = IncidentDraft {
        title: &f.title,
        body: &f.body,
        title_en: given(&f.title_en),
        body_en: given(&f.body_en),
        components: components_of(&f.components),
        impact: given(&f.impact),
        status: given(&f.status),
        security: false,
    };
    match ops::open_incident(app.store.as_ref(), &settings, draft, now).await {
        Ok(v) => {
            let target = v["id"].to_string();
            audit(&app, &who, "incident.open", &target, v.to_string()).await;
            back(who.lang)
        }
        Err(e) => refused(&who, &e),
    }
}

pub async fn update(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<i64>,
    Form(f): Form<UpdateForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let now = app.now();
    if f.preview.is_some() {
        let inc = match app.store.incident(id).await {
            Ok(Some(i)) => i,
            Ok(None) => return refused(&who, &ops::OpError::NotFound(format!("incident {id}"))),
            Err(e) => return failed(e),
        };
        let u = IncidentUpdate {
            id: -1,
            status: f.status.trim().into(),
            body_id: f.body.trim().into(),
            body_en: given(&f.body_en).unwrap_or(&f.body).trim().into(),
            at: now,
        };
        let n = crate::notify::render::incident(&inc, &u, &app.settings.get().public_url);
        return preview_page(&who, &n, update_form(&who, id, &f));
    }
    let done = ops::incident_update(
        app.store.as_ref(),
        id,
        f.status.trim(),
        &f.body,
        given(&f.body_en),
        now,
    )
    .await;
    match done {
        Ok(v) => {
            audit(
                &app,
                &who,
                "incident.update",
                &id.to_string(),
                v.to_string(),
            )
            .await;
            back(who.lang)
        }
        Err(e) => refused(&who, &e),
    }
}

#[derive(Deserialize)]
pub struct PostmortemForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    body_en: String,
}

pub async fn postmortem(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<i64>,
    Form(f): Form<PostmortemForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let done = ops::incident_postmortem(
        app.store.as_ref(),
        id,
        &f.body,
        given(&f.body_en),
        app.now(),
    )
    .await;
    match done {
        Ok(v) => {
            let target = id.to_string();
            audit(&app, &who, "incident.postmortem", &target, v.to_string()).await;
            back(who.lang)
        }
        Err(e) => refused(&who, &e),
    }
}
