//! `/history.atom`: one Atom entry per incident update, newest first.

use std::fmt::Write;

use super::html::esc;
use super::view::StatusSnapshot;
use crate::clock::rfc3339;

pub fn render(s: &StatusSnapshot) -> String {
    let base = esc(&s.public_url);
    let mut entries: Vec<((i64, i64), String)> = Vec::new();
    for i in &s.history {
        for u in &i.updates {
            let mut e = String::new();
            let _ = write!(
                e,
                "<entry><id>{base}/incidents/{iid}#update-{uid}</id><title>{title} — {status}</title><updated>{at}</updated>\
<link rel=\"alternate\" href=\"{base}/incidents/{iid}\"/><content type=\"text\">{bid}\n\n{ben}</content></entry>\n",
                iid = i.id,
                uid = u.id,
                title = esc(&i.title_id),
                status = esc(&u.status),
                at = rfc3339(u.at),
                bid = esc(&u.body_id),
                ben = esc(&u.body_en),
            );
            entries.push(((u.at, u.id), e));
        }
    }
    // newest first; updates within the same millisecond by id
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    let updated = entries.first().map(|e| e.0 .0).unwrap_or(s.generated_at);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><id>{base}/history.atom</id>\
<title>{name}</title><updated>{up}</updated><link rel=\"self\" href=\"{base}/history.atom\"/><link rel=\"alternate\" href=\"{base}/\"/><author><name>{name}</name></author>\n",
        name = esc(&s.page_name),
        up = rfc3339(updated),
    );
    for (_, e) in entries {
        out.push_str(&e);
    }
    out.push_str("</feed>\n");
    out
}
