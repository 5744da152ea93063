//! The page's HTTP server: the embedded page, JSON endpoints and one server-sent-events stream,
//! on a background thread. Every answer is HTML, CSS, JavaScript, JSON or an event stream of
//! JSON, made of metadata; the one exception is `/api/still/<camera>`, a redacted JPEG, served
//! only with `ui.stills: true`, only to this machine, and only after redaction succeeded.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::assets;
use super::edit::{self, Edit};
use super::feed::{Cursor, Feed};
use crate::metrics::Metrics;
use crate::privacy::media::still::{StillError, Stills};

/// How long a still request waits for the camera's next analysed frame and its redaction.
const STILL_WAIT: Duration = Duration::from_secs(10);

/// Checks a pipeline file's text with the same code as `lookout validate`: `Err` is the message.
pub type Validate = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Applies the pipeline file now (a live reload): `Ok` with what changed, `Err` with why not.
pub type ReloadNow = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Event streams open at once; more are refused (each holds a thread).
const MAX_STREAMS: usize = 16;
/// Largest request body accepted (an edit is a few hundred bytes).
const MAX_BODY: u64 = 64 * 1024;

/// What the page reads and changes.
pub struct UiContext {
    pub metrics: Arc<Metrics>,
    pub feed: Feed,
    /// The pipeline file drawn shapes are written into.
    pub file: PathBuf,
    pub validate: Validate,
    /// `None` when the run does not reload: shapes are shown as YAML, not saved.
    pub reload: Option<ReloadNow>,
    /// Redacted stills (`ui.stills`); `None`: the page serves no picture at all.
    pub stills: Option<Stills>,
}

/// Errors starting the page (typically the port is taken).
#[derive(Debug, thiserror::Error)]
#[error("cannot serve the page on {addr}: {message}")]
pub struct UiError {
    pub addr: SocketAddr,
    pub message: String,
}

/// The running page; stops when dropped.
pub struct UiServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for UiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiServer")
            .field("addr", &self.addr)
            .finish()
    }
}

struct Shared {
    ctx: UiContext,
    stop: Arc<AtomicBool>,
    streams: AtomicUsize,
}

impl UiServer {
    /// Binds `addr` (port 0 picks a free port) and serves until dropped.
    pub fn start(addr: SocketAddr, ctx: UiContext) -> Result<Self, UiError> {
        let server = tiny_http::Server::http(addr).map_err(|e| UiError {
            addr,
            message: e.to_string(),
        })?;
        let server = Arc::new(server);
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            ctx,
            stop: Arc::clone(&stop),
            streams: AtomicUsize::new(0),
        });
        let srv = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("ui-http".into())
            .spawn(move || {
                for request in srv.incoming_requests() {
                    respond(request, &shared);
                }
            })
            .map_err(|e| UiError {
                addr,
                message: e.to_string(),
            })?;
        if addr.ip().is_loopback() {
            tracing::info!(url = %format!("http://{addr}/"), "serving the page (this machine only)");
        } else {
            tracing::warn!(url = %format!("http://{addr}/"), "serving the page to other machines");
        }
        Ok(Self {
            addr,
            server,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A complete answer.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, value: &impl Serialize) -> Self {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()),
        }
    }

    fn text(status: u16, text: &str) -> Self {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: text.as_bytes().to_vec(),
        }
    }
}

/// The page may load only from this server: no other origin, no inline code.
const CSP: &str = "default-src 'self'; img-src 'self'; connect-src 'self'; \
                   style-src 'self'; script-src 'self'; frame-ancestors 'none'";

fn respond(mut request: tiny_http::Request, shared: &Arc<Shared>) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    // Changing the pipeline file is for this machine only, whatever address the page is on.
    let local = this_machine(request.remote_addr());
    let method = request.method().clone();
    let (host, origin, content_type) = (
        header(&request, "Host"),
        header(&request, "Origin"),
        header(&request, "Content-Type"),
    );
    // Pictures and changes only for a page this server served itself, addressed by IP or as
    // localhost: another site in the same browser (a form posting plain text, a DNS name
    // rebound to 127.0.0.1) gets neither.
    let guarded = method == tiny_http::Method::Post || path.starts_with("/api/still/");
    if guarded && let Err(why) = trusted(host.as_deref(), origin.as_deref()) {
        return finish(request, Answer::text(403, &format!("{why}\n")));
    }
    let json_body = content_type.is_some_and(|t| t.starts_with("application/json"));
    if method == tiny_http::Method::Post && !json_body {
        return finish(
            request,
            Answer::text(415, "edits are sent as application/json\n"),
        );
    }
    let answer = match (&method, path.as_str()) {
        (tiny_http::Method::Get, "/api/stream") => return stream(request, shared),
        (tiny_http::Method::Get, "/" | "/index.html") => asset(assets::INDEX_HTML, "text/html"),
        (tiny_http::Method::Get, "/app.js") => asset(assets::APP_JS, "text/javascript"),
        (tiny_http::Method::Get, "/style.css") => asset(assets::STYLE_CSS, "text/css"),
        (tiny_http::Method::Get, "/api/overview") => Answer::json(
            200,
            &super::overview::overview(&shared.ctx.metrics, &shared.ctx.feed),
        ),
        (tiny_http::Method::Get, "/api/layout") => Answer::json(200, &*shared.ctx.feed.layouts()),
        (tiny_http::Method::Post, "/api/check") => match read_edit(&mut request) {
            Ok(e) => check(&shared.ctx, &e, false),
            Err(a) => a,
        },
        (tiny_http::Method::Post, "/api/save") => match read_edit(&mut request) {
            Ok(_) if !local => {
                Answer::text(403, "the pipeline file is changed from this machine only\n")
            }
            Ok(e) => check(&shared.ctx, &e, true),
            Err(a) => a,
        },
        (tiny_http::Method::Get, p) if p.starts_with("/api/still/") => {
            still(shared.ctx.stills.as_ref(), &p["/api/still/".len()..], local)
        }
        (tiny_http::Method::Get, _) => Answer::text(404, "not found\n"),
        _ => Answer::text(405, "method not allowed\n"),
    };
    finish(request, answer);
}

/// The value of the request's header `name`.
fn header(request: &tiny_http::Request, name: &'static str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

/// Whether a request for a picture or a change comes from a page of this server: its `Host` is
/// an IP address or `localhost` (not a name that could be rebound to this machine), and its
/// `Origin`, when the browser sends one, is that same host.
fn trusted(host: Option<&str>, origin: Option<&str>) -> Result<(), &'static str> {
    let host = host.ok_or("no Host header")?;
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    if name != "localhost" && name.parse::<std::net::IpAddr>().is_err() {
        return Err("open the page by its address (e.g. http://127.0.0.1:9465/), not by a name");
    }
    match origin {
        Some(o) if o.strip_prefix("http://") != Some(host) => {
            Err("requests from another site's pages are refused")
        }
        _ => Ok(()),
    }
}

/// Sends `answer` with the page's security headers.
fn finish(request: tiny_http::Request, answer: Answer) {
    let mut response = tiny_http::Response::from_data(answer.body).with_status_code(answer.status);
    for (k, v) in [
        ("Content-Type", answer.content_type),
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
    ] {
        if let Ok(h) = tiny_http::Header::from_bytes(k, v) {
            response.add_header(h);
        }
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!(error = %e, "page client went away");
    }
}

/// Whether a client is this machine: only it may see pictures or change the file. A client
/// whose address is unknown is not.
fn this_machine(remote: Option<&SocketAddr>) -> bool {
    remote.is_some_and(|a| match a.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        ip => ip.is_loopback(),
    })
}

/// A redacted still of `camera`, or why not: stills off, another machine, no face model,
/// redaction failed (fail closed: an error, never the unredacted frame).
fn still(stills: Option<&Stills>, camera: &str, local: bool) -> Answer {
    let Some(stills) = stills else {
        return Answer::text(404, "stills are off (`ui.stills: true` turns them on)\n");
    };
    if !local {
        return Answer::text(403, "stills are shown to this machine only\n");
    }
    match stills.request(camera, STILL_WAIT) {
        Ok(still) => Answer {
            status: 200,
            content_type: "image/jpeg",
            body: still.jpeg().to_vec(),
        },
        Err(e @ StillError::NotRedacted(_)) => Answer::text(404, &format!("{e}\n")),
        Err(e) => Answer::text(503, &format!("{e}\n")),
    }
}

fn asset(text: &'static str, content_type: &'static str) -> Answer {
    Answer {
        status: 200,
        content_type: match content_type {
            "text/html" => "text/html; charset=utf-8",
            "text/css" => "text/css; charset=utf-8",
            _ => "text/javascript; charset=utf-8",
        },
        body: text.as_bytes().to_vec(),
    }
}

fn read_edit(request: &mut tiny_http::Request) -> Result<Edit, Answer> {
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY)
        .read_to_end(&mut body)
        .map_err(|e| Answer::text(400, &format!("cannot read the request: {e}\n")))?;
    serde_json::from_slice(&body).map_err(|e| Answer::text(400, &format!("not an edit: {e}\n")))
}

/// What `/api/check` and `/api/save` answer.
#[derive(Debug, Serialize)]
struct Checked {
    /// The item as it is written into the file.
    snippet: Option<String>,
    /// Why the edit or the file with it is refused (the validator's message, with its position).
    error: Option<String>,
    /// Whether saving is possible (the run reloads).
    can_save: bool,
    /// After a save: what the reload changed.
    saved: Option<String>,
}

/// Applies `e` to the pipeline file's text and validates the result like `lookout validate`;
/// with `save`, writes the file and reloads it.
fn check(ctx: &UiContext, e: &Edit, save: bool) -> Answer {
    let can_save = ctx.reload.is_some();
    let fail = |status: u16, snippet: Option<String>, error: String| {
        Answer::json(
            status,
            &Checked {
                snippet,
                error: Some(error),
                can_save,
                saved: None,
            },
        )
    };
    let pixels = ctx
        .feed
        .layouts()
        .iter()
        .find(|l| l.camera == e.camera)
        .is_some_and(|l| l.units == "pixels");
    let snippet = if e.remove {
        String::new()
    } else {
        match edit::snippet(e, pixels) {
            Ok(s) => s,
            Err(err) => return fail(422, None, err.to_string()),
        }
    };
    let shown = (!e.remove).then(|| snippet.clone());
    let text = match std::fs::read_to_string(&ctx.file) {
        Ok(t) => t,
        Err(err) => {
            return fail(
                500,
                shown,
                format!("cannot read {}: {err}", ctx.file.display()),
            );
        }
    };
    let new = match edit::apply(&text, e, &snippet) {
        Ok(n) => n,
        Err(err) => return fail(422, shown, err.to_string()),
    };
    if let Err(err) = (ctx.validate)(&new) {
        return fail(422, shown, err);
    }
    if !save {
        return Answer::json(
            200,
            &Checked {
                snippet: shown,
                error: None,
                can_save,
                saved: None,
            },
        );
    }
    let Some(reload) = &ctx.reload else {
        return fail(
            409,
            shown,
            "this run does not reload its file (--no-reload): copy the snippet into it".into(),
        );
    };
    if let Err(err) = write_file(&ctx.file, &new) {
        return fail(
            500,
            shown,
            format!("cannot write {}: {err}", ctx.file.display()),
        );
    }
    tracing::info!(camera = %e.camera, file = %ctx.file.display(), "shape saved from the page");
    match reload() {
        Ok(what) => Answer::json(
            200,
            &Checked {
                snippet: shown,
                error: None,
                can_save,
                saved: Some(what),
            },
        ),
        Err(err) => fail(422, shown, err),
    }
}

/// Replaces the file in one step (a reader never sees half of it), keeping its permissions.
fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.lookout-ui.tmp"));
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path)
}

/// The event stream: the layouts first, then every frame view, heat map and event as the feed
/// changes; a comment every second keeps the connection open. One thread per client.
fn stream(request: tiny_http::Request, shared: &Arc<Shared>) {
    if shared.streams.fetch_add(1, Ordering::AcqRel) >= MAX_STREAMS {
        shared.streams.fetch_sub(1, Ordering::AcqRel);
        let _ = request.respond(
            tiny_http::Response::from_string("too many open pages\n").with_status_code(503),
        );
        return;
    }
    let counter = Arc::clone(shared);
    let shared = Arc::clone(shared);
    let spawned = std::thread::Builder::new()
        .name("ui-stream".into())
        .spawn(move || {
            let mut w = request.into_writer();
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
                        Connection: close\r\n\r\n";
            let mut ok = w
                .write_all(head.as_bytes())
                .and_then(|()| w.flush())
                .is_ok();
            let mut cursor = Cursor::default();
            while ok && !shared.stop.load(Ordering::Acquire) {
                let u = shared.ctx.feed.next(&mut cursor, Duration::from_secs(1));
                let mut out = String::new();
                if let Some(l) = &u.layouts {
                    push(&mut out, "layout", &**l);
                }
                for f in &u.frames {
                    push(&mut out, "frame", &**f);
                }
                for h in &u.heat {
                    push(&mut out, "heat", &**h);
                }
                for e in &u.events {
                    push(&mut out, "event", &**e);
                }
                if out.is_empty() {
                    out.push_str(": idle\n\n");
                }
                ok = w.write_all(out.as_bytes()).and_then(|()| w.flush()).is_ok();
            }
            shared.streams.fetch_sub(1, Ordering::AcqRel);
        });
    if let Err(e) = spawned {
        counter.streams.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(error = %e, "cannot start an event stream");
    }
}

/// One server-sent event: its name and its JSON (one line: JSON has no raw line breaks).
fn push(out: &mut String, name: &str, value: &impl Serialize) {
    if let Ok(json) = serde_json::to_string(value) {
        out.push_str("event: ");
        out.push_str(name);
        out.push_str("\ndata: ");
        out.push_str(&json);
        out.push_str("\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_clients_are_this_machine() {
        for local in [
            "127.0.0.1:5000",
            "127.9.9.9:1",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:80",
        ] {
            let a: SocketAddr = local.parse().unwrap();
            assert!(this_machine(Some(&a)), "{local}");
        }
        for other in [
            "192.168.1.20:5000",
            "10.0.0.1:80",
            "0.0.0.0:80",
            "[::ffff:192.168.1.20]:80",
            "[fe80::1]:80",
            "[2001:db8::1]:80",
        ] {
            let a: SocketAddr = other.parse().unwrap();
            assert!(!this_machine(Some(&a)), "{other}");
        }
        assert!(!this_machine(None));
    }

    #[test]
    fn no_still_without_stills_on_nor_to_another_machine() {
        let off = still(None, "door", true);
        assert_eq!(off.status, 404);
        assert!(off.content_type.starts_with("text/plain"));
        let stills =
            Stills::start(Vec::new(), &Default::default(), Arc::new(Metrics::new())).unwrap();
        let remote = still(Some(&stills), "door", false);
        assert_eq!(remote.status, 403);
        assert!(remote.content_type.starts_with("text/plain"));
        // A camera without a face model has no stills at all.
        let unredacted = still(Some(&stills), "door", true);
        assert_eq!(unredacted.status, 404);
        assert!(unredacted.content_type.starts_with("text/plain"));
    }
}

#[cfg(test)]
mod trust_tests {
    use super::trusted;

    #[test]
    fn pictures_and_changes_only_for_the_pages_own_origin() {
        assert!(trusted(Some("127.0.0.1:9465"), None).is_ok());
        assert!(trusted(Some("127.0.0.1:9465"), Some("http://127.0.0.1:9465")).is_ok());
        assert!(trusted(Some("localhost:9465"), Some("http://localhost:9465")).is_ok());
        assert!(trusted(Some("[::1]:9465"), Some("http://[::1]:9465")).is_ok());
        assert!(trusted(Some("192.168.1.5:9465"), None).is_ok());
        // Another site posting to the page, or a name rebound to this machine.
        assert!(trusted(Some("127.0.0.1:9465"), Some("https://evil.example")).is_err());
        assert!(trusted(Some("127.0.0.1:9465"), Some("http://127.0.0.1:8000")).is_err());
        assert!(trusted(Some("127.0.0.1:9465"), Some("null")).is_err());
        assert!(trusted(Some("evil.example:9465"), None).is_err());
        assert!(trusted(None, None).is_err());
    }
}
