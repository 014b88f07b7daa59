//! `/history.atom`: one Atom entry per incident update, newest first. Built with maud, which
//! escapes `&`, `<`, `>` and `"` in every value, as XML needs too.

use maud::{html, PreEscaped};

use super::json::{maintenance_body, maintenance_name};
use super::view::{IncidentView, Lang, MaintenanceView, StatusSnapshot, UpdateView};
use crate::clock::rfc3339;

/// The XML declaration: a constant of ours, so it goes in as it is.
const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// Each announced window's news so far: (window, phase, when), newest first.
fn maintenance_entries(s: &StatusSnapshot) -> Vec<(&MaintenanceView, &'static str, i64)> {
    let mut out = Vec::new();
    for m in s.maintenances.iter().chain(&s.past_maintenances) {
        out.push((m, "scheduled", m.created_at.min(m.starts_at)));
        if m.status != "scheduled" {
            out.push((m, "in_progress", m.starts_at));
        }
        if m.status == "completed" {
            out.push((m, "completed", m.ends_at));
        }
    }
    out.sort_by_key(|(m, _, at)| std::cmp::Reverse((*at, m.id)));
    out
}

pub fn render(s: &StatusSnapshot) -> String {
    let base = &s.public_url;
    let mut entries: Vec<(&IncidentView, &UpdateView)> = s
        .history
        .iter()
        .flat_map(|i| i.updates.iter().map(move |u| (i, u)))
        .collect();
    // newest first; updates within the same millisecond by id
    entries.sort_by_key(|(_, u)| std::cmp::Reverse((u.at, u.id)));
    let newest_maintenance = maintenance_entries(s).first().map(|(_, _, at)| *at);
    let updated = entries
        .first()
        .map(|(_, u)| u.at)
        .max(newest_maintenance)
        .unwrap_or(s.generated_at);
    // Elements that must stay empty are written `link ... {}`: maud renders `link;` as an
    // unclosed HTML void tag, which is not well-formed XML.
    html! {
        (PreEscaped(XML_DECL))
        feed xmlns="http://www.w3.org/2005/Atom" {
            id { (base) "/history.atom" }
            title { (s.page_name) }
            updated { (rfc3339(updated)) }
            link rel="self" href={ (base) "/history.atom" } {}
            link rel="alternate" href={ (base) "/" } {}
            author { name { (s.page_name) } }
            "\n"
            @for (i, u) in entries {
                entry {
                    id { (base) "/incidents/" (i.id) "#update-" (u.id) }
                    title { (i.title_id) " — " (u.status) }
                    updated { (rfc3339(u.at)) }
                    link rel="alternate" href={ (base) "/incidents/" (i.id) } {}
                    content type="text" { (u.body_id) "\n\n" (u.body_en) }
                }
                "\n"
            }
            @for (m, phase, at) in maintenance_entries(s) {
                entry {
                    id { (base) "/history#maintenance-" (m.id) "-" (phase) }
                    title { (maintenance_name(m, Lang::Id)) " — " (phase) }
                    updated { (rfc3339(at)) }
                    link rel="alternate" href={ (base) "/history" } {}
                    content type="text" {
                        (maintenance_body(m, Lang::Id)) "\n\n" (maintenance_body(m, Lang::En))
                    }
                }
                "\n"
            }
        }
        "\n"
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_empty_elements_closed() {
        let hostile = "<script>x</script> \"> & co";
        let s = StatusSnapshot {
            page_name: format!("Status {hostile}"),
            public_url: "http://s.test/?a=1&b=2".into(),
            history: vec![IncidentView {
                id: 3,
                title_id: format!("Judul {hostile}"),
                title_en: "t".into(),
                status: "investigating".into(),
                impact: "minor".into(),
                components: vec![],
                security: false,
                created_at: 0,
                updated_at: 0,
                resolved_at: None,
                updates: vec![UpdateView {
                    id: 9,
                    status: "investigating".into(),
                    body_id: format!("Isi {hostile}"),
                    body_en: "b".into(),
                    at: 1_000,
                    affected: Vec::new(),
                }],
                postmortem_id: None,
                postmortem_en: None,
            }],
            ..StatusSnapshot::default()
        };
        let feed = render(&s);
        let escaped = "&lt;script&gt;x&lt;/script&gt; &quot;&gt; &amp; co";
        assert!(!feed.contains("<script"), "{feed}");
        for text in [
            format!("<title>Status {escaped}</title>"),
            format!("<title>Judul {escaped} — investigating</title>"),
            format!("<content type=\"text\">Isi {escaped}\n\nb</content>"),
            "<link rel=\"alternate\" href=\"http://s.test/?a=1&amp;b=2/incidents/3\"></link>"
                .to_string(),
        ] {
            assert!(feed.contains(&text), "lacks {text}:\n{feed}");
        }
        assert!(feed.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed "));
        assert!(feed.ends_with("</feed>\n"));
    }
}
