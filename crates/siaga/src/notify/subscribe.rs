//! The pages of the subscription flow (SPEC 9): the short bilingual answer to a form post,
//! a confirmation or an unsubscribe. Pure HTML; the handlers are in `http::subscribe`.

use maud::{html, PreEscaped};

use super::render::DOCTYPE;

/// The page's style sheet, inline (one request, no script); the Content-Security-Policy
/// allows it by its hash.
pub const CSS: &str = "body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1a1a1a;max-width:40em;margin:2em auto;padding:0 1em}a{color:#0b4f9c}h1{font-size:1.4rem}";

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

/// A page in one language (the visitor's, known from the form they posted): a title, one
/// paragraph, and a link back to where they came from.
pub fn page_in(english: bool, title: &str, text: &str, back: &str) -> String {
    let (lang, back_words) = if english {
        ("en", "Back to the status page")
    } else {
        ("id", "Kembali ke halaman status")
    };
    html! {
        (PreEscaped(DOCTYPE))
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="icon" type="image/svg+xml" href="/favicon.svg";
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { (title) }
                    p { (text) }
                    p { a href=(back) { (back_words) } }
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

    #[test]
    fn a_page_in_one_language_escapes_too() {
        let p = page_in(true, "<t>", "field `email` is <b>", "/?lang=en#subscribe");
        assert!(
            p.contains("lang=\"en\"") && p.contains("Back to the status page"),
            "{p}"
        );
        assert!(p.contains("is &lt;b&gt;") && !p.contains("<t>"), "{p}");
        let p = page_in(false, "x", "y", "/");
        assert!(p.contains("lang=\"id\"") && p.contains("Kembali"), "{p}");
    }
}
