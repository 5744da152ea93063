//! The page's files, compiled into the binary: nothing is fetched from anywhere else.

/// The page.
pub const INDEX_HTML: &str = include_str!("assets/index.html");
/// Its code: plain JavaScript, no build step.
pub const APP_JS: &str = include_str!("assets/app.js");
/// Its style.
pub const STYLE_CSS: &str = include_str!("assets/style.css");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_anywhere_else() {
        for text in [INDEX_HTML, APP_JS, STYLE_CSS] {
            for outside in ["http:", "https:", "//", "@import", "url("] {
                let code: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                assert!(!code.contains(outside), "`{outside}` in a page file");
            }
        }
        assert!(INDEX_HTML.contains(r#"<script src="/app.js""#));
        assert!(INDEX_HTML.contains(r#"href="/style.css""#));
    }
}
