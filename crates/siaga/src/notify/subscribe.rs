//! The pages of the subscription flow (SPEC 9): the short bilingual answer to a form post,
//! a confirmation or an unsubscribe. Pure HTML; the handlers are in `http::subscribe`.

use maud::{html, PreEscaped};

use super::render::DOCTYPE;

/// The page's style sheet, inline (one request, no script); the Content-Security-Policy
/// allows it by its hash.
pub const CSS: &str =
    "body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5}";

/// A page with a title, one paragraph in Indonesian and one in English, and a link home.
pub fn page(title: &str, id: &str, en: &str) -> String {
    html! {
        (PreEscaped(DOCTYPE))
        html lang="id" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { (title) }
                    p { (id) }
                    p lang="en" { (en) }
                    p { a href="/" { "Status" } }
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_is_escaped() {
        let p = page("<t>", "a & \"b\"", "<script>x</script>");
        assert!(
            p.contains("<h1>&lt;t&gt;</h1><p>a &amp; &quot;b&quot;</p>"),
            "{p}"
        );
        assert!(
            p.contains("<p lang=\"en\">&lt;script&gt;x&lt;/script&gt;</p>"),
            "{p}"
        );
        assert!(!p.contains("<script>") && !p.contains("<t>"), "{p}");
    }
}
