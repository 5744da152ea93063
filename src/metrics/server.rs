//! `/metrics`, `/healthz` and `/readyz` over plain HTTP on a background thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::Metrics;

/// Answers `/readyz`: `Ok` when the pipeline is serving, `Err(reason)` while it is not.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Reloads the pipeline file for `POST /-/reload` (`lookout reload`): `Ok` with what changed, or
/// `Err` with why the file was refused.
pub type ReloadHook = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// A running metrics endpoint; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

/// Errors starting the endpoint (typically the port is taken).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr}: {message}")]
pub struct ServeError {
    pub addr: SocketAddr,
    pub message: String,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and serves until dropped.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        ready: ReadyCheck,
        reload: Option<ReloadHook>,
    ) -> Result<Self, ServeError> {
        let server = tiny_http::Server::http(addr).map_err(|e| ServeError {
            addr,
            message: e.to_string(),
        })?;
        let server = Arc::new(server);
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        let srv = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                for request in srv.incoming_requests() {
                    respond(request, &metrics, &ready, reload.as_ref());
                }
            })
            .map_err(|e| ServeError {
                addr,
                message: e.to_string(),
            })?;
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
        Ok(Self {
            addr,
            server,
            thread: Some(thread),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn respond(
    request: tiny_http::Request,
    metrics: &Metrics,
    ready: &ReadyCheck,
    reload: Option<&ReloadHook>,
) {
    let path = request.url().split('?').next().unwrap_or("");
    // Changing the pipeline is for this machine only, whatever address the listener is on.
    let local = request.remote_addr().is_some_and(|a| a.ip().is_loopback());
    let (status, body, content_type) = match (request.method(), path) {
        (tiny_http::Method::Post, "/-/reload") => match reload {
            _ if !local => (
                403,
                "reloads are accepted from this machine only\n".into(),
                "text/plain",
            ),
            None => (
                404,
                "this run does not reload (started without watching)\n".into(),
                "text/plain",
            ),
            Some(hook) => match hook() {
                Ok(what) => (200, format!("reloaded: {what}\n"), "text/plain"),
                Err(why) => (422, format!("{why}\n"), "text/plain"),
            },
        },
        (tiny_http::Method::Get, "/metrics") => (
            200,
            metrics.render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (tiny_http::Method::Get, "/healthz") => (200, "ok\n".to_string(), "text/plain"),
        (tiny_http::Method::Get, "/readyz") => match ready() {
            Ok(()) => (200, "ready\n".to_string(), "text/plain"),
            Err(why) => (503, format!("not ready: {why}\n"), "text/plain"),
        },
        (tiny_http::Method::Get, _) => (
            404,
            "not found: try /metrics, /healthz or /readyz\n".into(),
            "text/plain",
        ),
        _ => (405, "method not allowed\n".into(), "text/plain"),
    };
    let header = tiny_http::Header::from_bytes("Content-Type", content_type).ok();
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Some(h) = header {
        response = response.with_header(h);
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!(error = %e, "metrics client went away");
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
