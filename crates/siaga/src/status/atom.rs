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
