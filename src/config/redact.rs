//! Credentials never reach logs, metrics, errors or reports: URLs are shown with `***` in place of
//! their user information.

/// Replaces `user:pass@` in a URL with `***@`.
pub fn redact_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            return format!("{scheme}://***@{}", &rest[at + 1..]);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_hidden() {
        assert_eq!(
            redact_userinfo("rtsp://u:p@10.0.0.2:554/h264"),
            "rtsp://***@10.0.0.2:554/h264"
        );
        assert_eq!(
            redact_userinfo("http://host/path?a=b@c"),
            "http://host/path?a=b@c"
        );
        assert_eq!(redact_userinfo("plain"), "plain");
    }
}
