//! `/history.atom`: one Atom entry per incident update, newest first. Built with maud, which
//! escapes `&`, `<`, `>` and `"` in every value, as XML needs too.

use maud::{html, PreEscaped};

use super::view::{IncidentView, StatusSnapshot, UpdateView};
use crate::clock::rfc3339;

/// The XML declaration: a constant of ours, so it goes in as it is.
const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

pub fn render(s: &StatusSnapshot) -> String {
    let base = &s.public_url;
    let mut entries: Vec<(&IncidentView, &UpdateView)> = s
        .history
        .iter()
        .flat_map(|i| i.updates.iter().map(move |u| (i, u)))
        .collect();
    // newest first; updates within the same millisecond by id
    entries.sort_by_key(|(_, u)| std::cmp::Reverse((u.at, u.id)));
    let updated = entries.first().map(|(_, u)| u.at).unwrap_or(s.generated_at);
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
