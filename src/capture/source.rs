//! The kinds of source lookout can read, parsed and checked from a camera's `source:` string.

use std::path::{Path, PathBuf};

use crate::config::redact_userinfo;

/// Where a camera's frames come from, after the source string has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local video file (absolute path).
    File(PathBuf),
    /// Any other URI that `uridecodebin3` can open (`file://`, `http://`, `https://`).
    Uri(String),
    /// An RTSP camera.
    Rtsp(String),
    /// A V4L2 (USB) camera.
    V4l2(PathBuf),
    /// GStreamer's `videotestsrc`.
    Test {
        pattern: String,
        /// Stop after this many frames; runs forever when unset.
        frames: Option<u64>,
        /// Paced at the frame rate like a camera (default) or as fast as possible.
        live: bool,
    },
}

/// `videotestsrc` pattern names.
pub const TEST_PATTERNS: &[&str] = &[
    "smpte",
    "snow",
    "black",
    "white",
    "red",
    "green",
    "blue",
    "checkers-1",
    "checkers-2",
    "checkers-4",
    "checkers-8",
    "circular",
    "blink",
    "smpte75",
    "zone-plate",
    "gamut",
    "chroma-zone-plate",
    "solid-color",
    "ball",
    "smpte100",
    "bar",
    "pinwheel",
    "spokes",
    "gradient",
    "colors",
];

impl Source {
    /// Live sources reconnect on failure and default to the `latest` queue policy.
    pub fn is_live(&self) -> bool {
        match self {
            Source::File(_) => false,
            Source::Uri(u) => !u.starts_with("file:"),
            Source::Rtsp(_) | Source::V4l2(_) => true,
            Source::Test { live, .. } => *live,
        }
    }

    /// Whether a failure should be retried (network and device sources) or end the camera.
    pub fn reconnects(&self) -> bool {
        matches!(self, Source::Rtsp(_) | Source::V4l2(_))
            || matches!(self, Source::Uri(u) if !u.starts_with("file:"))
    }

    /// The source without credentials, safe for logs and metrics.
    pub fn redacted(&self) -> String {
        match self {
            Source::File(p) | Source::V4l2(p) => p.display().to_string(),
            Source::Uri(u) | Source::Rtsp(u) => redact_userinfo(u),
            Source::Test { pattern, .. } => format!("test:{pattern}"),
        }
    }

    /// Parses a source string; relative file paths are taken from `base` (the pipeline file's folder).
    pub fn parse(text: &str, base: &Path) -> Result<Source, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("source is empty: give a file path, an rtsp:// URL, a /dev/video device or test:<pattern>".into());
        }
        if let Some(rest) = text.strip_prefix("test:") {
            return parse_test(rest.trim_start_matches("//"));
        }
        if text.starts_with("/dev/video") {
            return Ok(Source::V4l2(PathBuf::from(text)));
        }
        let Some((scheme, rest)) = split_scheme(text) else {
            let path = base.join(text);
            if !path.exists() {
                return Err(format!(
                    "video file `{}` not found (relative paths are taken from the pipeline file's folder)",
                    path.display()
                ));
            }
            check_video_file(&path)?;
            let path = path.canonicalize().unwrap_or(path);
            return Ok(Source::File(path));
        };
        let authority = rest
            .strip_prefix("//")
            .ok_or_else(|| format!("`{text}` is not a valid URI: expected `{scheme}://...`"))?;
        if text.chars().any(char::is_whitespace) {
            return Err(format!(
                "`{}` is not a valid URI: it contains whitespace",
                redact_userinfo(text)
            ));
        }
        match scheme.as_str() {
            "rtsp" | "rtsps" | "rtspt" => {
                let host = authority.split(['/', '?']).next().unwrap_or("");
                let host = host.rsplit('@').next().unwrap_or("");
                if host.is_empty() || host.starts_with(':') {
                    return Err(format!(
                        "`{}` is not a valid RTSP URL: it has no host",
                        redact_userinfo(text)
                    ));
                }
                Ok(Source::Rtsp(text.to_string()))
            }
            "v4l2" => {
                let dev = authority;
                if !dev.starts_with("/dev/") {
                    return Err(format!("`{text}`: expected v4l2:///dev/videoN"));
                }
                Ok(Source::V4l2(PathBuf::from(dev)))
            }
            "file" => {
                let path = Path::new(authority.trim_start_matches("localhost"));
                if !path.exists() {
                    return Err(format!("video file `{}` not found", path.display()));
                }
                check_video_file(path)?;
                Ok(Source::Uri(text.to_string()))
            }
            "http" | "https" => {
                if authority.split(['/', '?']).next().unwrap_or("").is_empty() {
                    return Err(format!(
                        "`{}` is not a valid URL: it has no host",
                        redact_userinfo(text)
                    ));
                }
                Ok(Source::Uri(text.to_string()))
            }
            other => Err(format!(
                "unsupported source scheme `{other}`: expected a file path, file://, http(s)://, rtsp://, v4l2:// or test:"
            )),
        }
    }
}

/// A camera's file must be a video: a directory or a picture is refused here, at validation,
/// instead of leaving a video decoder to fail (or spin) on it at run time.
fn check_video_file(path: &Path) -> Result<(), String> {
    use super::input::{Kind, sniff};
    let format = match sniff(path) {
        Ok(Kind::Video) => return Ok(()),
        Ok(Kind::Picture(f)) => f.to_string(),
        Ok(Kind::OtherPicture(f)) => f,
        Err(e) => return Err(e.to_string()),
    };
    Err(format!(
        "`{}` is a {format} picture, not a video: a camera source is a video file, a stream or a \
         device (`lookout detect` reads pictures)",
        path.display()
    ))
}

/// `scheme` and the rest when `text` starts with `scheme:` (RFC 3986 scheme characters).
fn split_scheme(text: &str) -> Option<(String, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let ok = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then(|| (scheme.to_ascii_lowercase(), rest))
}

fn parse_test(spec: &str) -> Result<Source, String> {
    let (pattern, query) = spec.split_once('?').unwrap_or((spec, ""));
    let pattern = if pattern.is_empty() { "smpte" } else { pattern };
    if !TEST_PATTERNS.contains(&pattern) {
        return Err(format!(
            "unknown test pattern `{pattern}`; expected one of {}",
            TEST_PATTERNS.join(", ")
        ));
    }
    let (mut frames, mut live) = (None, true);
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        match kv.split_once('=') {
            Some(("frames", v)) => {
                frames = Some(
                    v.parse()
                        .map_err(|_| format!("test source: `frames={v}` is not a whole number"))?,
                )
            }
            Some(("live", v)) => {
                live = v
                    .parse()
                    .map_err(|_| format!("test source: `live={v}` must be true or false"))?
            }
            _ => {
                return Err(format!(
                    "test source: unknown option `{kv}` (expected frames=N or live=true|false)"
                ));
            }
        }
    }
    Ok(Source::Test {
        pattern: pattern.to_string(),
        frames,
        live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines")
    }

    #[test]
    fn relative_file_is_resolved_against_pipeline_folder() {
        let s = Source::parse("footage/vtest.avi", &base()).unwrap();
        assert!(matches!(&s, Source::File(p) if p.ends_with("pipelines/footage/vtest.avi")));
        assert!(!s.is_live());
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = Source::parse("footage/nope.avi", &base()).unwrap_err();
        assert!(e.contains("not found"), "{e}");
    }

    #[test]
    fn rtsp_needs_a_host_and_is_live() {
        assert!(Source::parse("rtsp:///stream", &base()).is_err());
        assert!(Source::parse("rtsp://user:pw@:554/x", &base()).is_err());
        let s = Source::parse("rtsp://u:p@10.0.0.2:554/h264", &base()).unwrap();
        assert!(s.is_live() && s.reconnects());
        assert_eq!(s.redacted(), "rtsp://***@10.0.0.2:554/h264");
    }

    #[test]
    fn unknown_scheme_and_bad_uri() {
        assert!(
            Source::parse("htp://x/y", &base())
                .unwrap_err()
                .contains("unsupported source scheme")
        );
        assert!(
            Source::parse("rtsp:cam", &base())
                .unwrap_err()
                .contains("not a valid URI")
        );
        assert!(
            Source::parse("rtsp://cam /x", &base())
                .unwrap_err()
                .contains("whitespace")
        );
    }

    #[test]
    fn v4l2_forms() {
        assert_eq!(
            Source::parse("/dev/video0", &base()).unwrap(),
            Source::V4l2("/dev/video0".into())
        );
        assert_eq!(
            Source::parse("v4l2:///dev/video2", &base()).unwrap(),
            Source::V4l2("/dev/video2".into())
        );
    }

    #[test]
    fn test_patterns_with_options() {
        assert_eq!(
            Source::parse("test:ball?frames=30&live=false", &base()).unwrap(),
            Source::Test {
                pattern: "ball".into(),
                frames: Some(30),
                live: false
            }
        );
        assert!(Source::parse("test:bogus", &base()).is_err());
        assert!(Source::parse("test:ball?frames=x", &base()).is_err());
    }
}
