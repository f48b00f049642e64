//! URLs the UI builds and reads: query values, and where to go after signing in.

/// `text` percent-encoded for a query value (everything but the unreserved characters).
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The sign-in page, asked to come back to `here` (a path of this site) afterwards.
pub fn login_url(here: &str) -> String {
    format!("/login?next={}", encode_component(safe_next(Some(here))))
}

/// Where to go after signing in: `next` if it is a path of this site, else the dashboard.
/// Anything a browser could read as another site is refused (no open redirect): a scheme
/// (`https://…`, `javascript:…`), a protocol-relative `//host`, a backslash (`/\host` is
/// `//host` to browsers), control characters and white space.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path
                    .chars()
                    .any(|c| c == '\\' || c.is_control() || c.is_whitespace()) =>
        {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/experiments/abc?action=declare")),
            "/experiments/abc?action=declare"
        );
        assert_eq!(safe_next(Some("/")), "/");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "/\tevil",
            "/ x",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_login_url_carries_the_page_encoded() {
        assert_eq!(login_url("/"), "/login?next=%2F");
        assert_eq!(
            login_url("/experiments/1?action=deploy&q=a%20b"),
            "/login?next=%2Fexperiments%2F1%3Faction%3Ddeploy%26q%3Da%2520b"
        );
        assert_eq!(login_url("//evil"), "/login?next=%2F");
        assert_eq!(encode_component("risk & co"), "risk%20%26%20co");
    }
}
