//! The egress audit of a pipeline (`lookout audit FILE`): what leaves the device (each network
//! sink, its destination, which event fields), what stays on it (local sinks, outboxes, stored
//! media with its redaction and retention), and the statement that no pixel leaves.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Pipeline;
use crate::config::redact_userinfo;
use crate::privacy::media::config::Retention;
use crate::sinks::{SinkFilter, SinkKind};

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The pipeline file.
    pub pipeline: String,
    /// Always false: sinks take events only and the configuration guard refuses video and image
    /// outputs. Present so that scripts can check it.
    pub pixels_leave_device: bool,
    /// Everything sent to other machines (and to local sockets: loopback counts as network).
    pub egress: Vec<Egress>,
    /// Outputs that stay on this machine.
    pub local: Vec<LocalOutput>,
    /// Pictures stored on this machine.
    pub media: Vec<StoredMedia>,
    pub cameras: Vec<CameraAudit>,
    /// The fields an event can have: common ones and per kind.
    pub event_fields: EventFields,
    /// The conclusion, one sentence per line.
    pub statement: Vec<String>,
}

/// One destination off the device.
#[derive(Debug, Clone, Serialize)]
pub struct Egress {
    /// Sink name (the `sink` label of `lookout_egress_bytes_total`), or `metrics`.
    pub name: String,
    /// `webhook`, `mqtt`, `nats` or `metrics`.
    pub kind: String,
    /// Where it goes, without credentials.
    pub destination: String,
    /// The destination is this machine through a network socket.
    pub loopback: bool,
    /// Transport protection: TLS, signatures, or none.
    pub protection: String,
    /// Which events (empty lists mean all).
    pub filter: FilterAudit,
    /// What is sent: event JSON, and for MQTT the extra topics.
    pub sends: Vec<String>,
}

/// A sink filter, for people.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilterAudit {
    pub cameras: Vec<String>,
    pub kinds: Vec<String>,
    pub labels: Vec<String>,
}

impl FilterAudit {
    fn of(f: &SinkFilter) -> Self {
        FilterAudit {
            cameras: f.cameras.iter().map(|c| c.value.clone()).collect(),
            kinds: f.kinds.iter().map(|k| k.value.clone()).collect(),
            labels: f.labels.clone(),
        }
    }
}

impl fmt::Display for FilterAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String], all: &str| {
            if v.is_empty() {
                all.to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "kinds: {}; labels: {}; cameras: {}",
            list(&self.kinds, "all"),
            list(&self.labels, "all"),
            list(&self.cameras, "all")
        )
    }
}

/// An output that stays on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct LocalOutput {
    pub name: String,
    /// `stdout`, `file`, `outbox`.
    pub kind: String,
    pub place: String,
    pub holds: String,
}

/// Stored pictures.
#[derive(Debug, Clone, Serialize)]
pub struct StoredMedia {
    /// `snapshots` or `recording`.
    pub kind: String,
    /// File name pattern.
    pub path: String,
    pub cameras: Vec<String>,
    /// Always true: every stored picture is redacted first, or not stored.
    pub redacted: bool,
    pub retention: String,
}

/// A camera and what is hidden on its stored pictures.
#[derive(Debug, Clone, Serialize)]
pub struct CameraAudit {
    pub name: String,
    /// The source, without credentials (video comes in; it never goes out).
    pub source: String,
    /// Whether any picture of it is stored.
    pub stores_media: bool,
    /// `None` when the camera has no `privacy:` section.
    pub redaction: Option<Redaction>,
}

/// A camera's redaction.
#[derive(Debug, Clone, Serialize)]
pub struct Redaction {
    /// Face model (its name in `models:` and its manifest's name).
    pub faces: Option<String>,
    pub margin: f32,
    pub style: String,
    pub masks: usize,
    pub deadline_ms: u64,
}

/// Event fields, from the published event schema.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventFields {
    pub common: Vec<String>,
    pub by_kind: BTreeMap<String, Vec<String>>,
}

impl EventFields {
    /// Reads the fields of [`crate::events::json_schema`].
    pub fn from_schema() -> Self {
        let schema = crate::events::json_schema();
        let names = |v: &serde_json::Value| -> Vec<String> {
            v.get("properties")
                .and_then(|p| p.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut out = EventFields {
            common: names(&schema),
            by_kind: BTreeMap::new(),
        };
        for key in ["oneOf", "anyOf"] {
            for variant in schema
                .get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                let kind = variant
                    .pointer("/properties/kind/const")
                    .or_else(|| variant.pointer("/properties/kind/enum/0"))
                    .and_then(|k| k.as_str());
                if let Some(kind) = kind {
                    let fields = names(variant).into_iter().filter(|f| f != "kind").collect();
                    out.by_kind.insert(kind.to_string(), fields);
                }
            }
        }
        if !out.common.iter().any(|f| f == "kind") && !out.by_kind.is_empty() {
            out.common.push("kind".into());
        }
        out
    }
}

/// Whether `host` names this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host of a URL (`http(s)://`, `nats://`, ...).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    match host.strip_prefix('[').and_then(|h| h.find(']')) {
        Some(end) => &host[..end + 2],
        None => host.split(':').next().unwrap_or(host),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn seconds(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{s} s"),
    }
}

fn retention(r: &Retention) -> String {
    let age = match r.max_age {
        Some(a) => format!("deleted after {}", seconds(a.as_secs())),
        None => "kept regardless of age".into(),
    };
    format!("{age}; oldest deleted above {}", bytes(r.max_bytes))
}

/// Builds the audit of a validated pipeline.
pub fn audit(pipeline: &Pipeline) -> Audit {
    let mut egress = Vec::new();
    let mut local = Vec::new();
    for s in &pipeline.sinks {
        match &s.kind {
            SinkKind::Stdout { .. } => local.push(LocalOutput {
                name: s.name.clone(),
                kind: "stdout".into(),
                place: "standard output".into(),
                holds: "events (JSON or one line each)".into(),
            }),
            SinkKind::File { path, options } => local.push(LocalOutput {
                name: s.name.clone(),
                kind: "file".into(),
                place: path.display().to_string(),
                holds: format!(
                    "events as JSON lines, rotated at {}, {} old files kept",
                    bytes(options.max_bytes),
                    options.keep
                ),
            }),
            SinkKind::Webhook { url, secret, .. } => {
                let host = url_host(url);
                let mut protection = Vec::new();
                if url.starts_with("https://") {
                    protection.push("TLS");
                }
                if secret.is_some() {
                    protection.push("signed (Standard Webhooks)");
                }
                egress.push(Egress {
                    name: s.name.clone(),
                    kind: "webhook".into(),
                    destination: format!("POST {}", redact_userinfo(url)),
                    loopback: is_loopback(host),
                    protection: if protection.is_empty() {
                        "none (plain HTTP, unsigned)".into()
                    } else {
                        protection.join(", ")
                    },
                    filter: FilterAudit::of(&s.filter),
                    sends: vec!["each event as one JSON object".into()],
                });
            }
            SinkKind::Mqtt {
                settings, outbox, ..
            } => {
                let p = &format!("{}/{}", settings.topic_prefix, pipeline.device.name);
                let mut sends = vec![
                    format!("`object` events as JSON on {p}/events"),
                    format!("other events as JSON on {p}/<camera>/<kind>"),
                    format!(
                        "retained counts on {p}/<camera>/<label>, {p}/<camera>/<zone>/<label>, \
                         {p}/<camera>/<line>/<label>/<direction>"
                    ),
                    format!("online/offline on {p}/available"),
                ];
                if let Some(d) = &settings.discovery_prefix {
                    sends.push(format!(
                        "Home Assistant discovery (sensor names, topics) under {d}/"
                    ));
                }
                egress.push(Egress {
                    name: s.name.clone(),
                    kind: "mqtt".into(),
                    destination: format!("{}:{}", settings.host, settings.port),
                    loopback: is_loopback(&settings.host),
                    protection: match (&settings.tls, &settings.credentials) {
                        (Some(_), Some(_)) => "TLS, username and password".into(),
                        (Some(_), None) => "TLS".into(),
                        (None, Some(_)) => "username and password, no TLS".into(),
                        (None, None) => "none (plain MQTT)".into(),
                    },
                    filter: FilterAudit::of(&s.filter),
                    sends,
                });
                local.push(outbox_entry(pipeline, &s.name, outbox.max_bytes));
            }
            SinkKind::Nats {
                settings, outbox, ..
            } => {
                let d = &pipeline.device;
                let subject = crate::sinks::nats::subject(
                    &settings.subject_prefix,
                    &d.site,
                    &d.name,
                    "<camera>",
                    "<kind>",
                );
                let mut sends = vec![format!(
                    "each event as one JSON object on {subject}, its id as Nats-Msg-Id \
                     (JetStream acknowledges each)"
                )];
                if let Some(st) = &settings.stream {
                    sends.push(format!(
                        "creates stream {} (subjects {}.>, {} replica{}) when it is missing",
                        st.name,
                        settings.subject_prefix,
                        st.replicas,
                        if st.replicas == 1 { "" } else { "s" }
                    ));
                }
                let mut protection = Vec::new();
                if settings.tls.is_some() {
                    protection.push("TLS".to_string());
                }
                if !matches!(settings.auth, crate::sinks::nats::NatsAuth::None) {
                    protection.push(settings.auth.describe().to_string());
                } else if settings.urls.iter().any(|u| redact_userinfo(u) != *u) {
                    protection.push("user and password in the URL".to_string());
                }
                egress.push(Egress {
                    name: s.name.clone(),
                    kind: "nats".into(),
                    destination: settings
                        .urls
                        .iter()
                        .map(|u| redact_userinfo(u))
                        .collect::<Vec<_>>()
                        .join(","),
                    loopback: settings.urls.iter().all(|u| is_loopback(url_host(u))),
                    protection: if protection.is_empty() {
                        "none (plain NATS, no authentication)".into()
                    } else {
                        protection.join(", ")
                    },
                    filter: FilterAudit::of(&s.filter),
                    sends,
                });
                local.push(outbox_entry(pipeline, &s.name, outbox.max_bytes));
            }
        }
        if let SinkKind::Webhook { outbox, .. } = &s.kind {
            local.push(outbox_entry(pipeline, &s.name, outbox.max_bytes));
        }
    }
    if let Some(addr) = pipeline.metrics_listen {
        egress.push(Egress {
            name: "metrics".into(),
            kind: "metrics".into(),
            destination: format!("http://{addr}/metrics (served to whoever scrapes it)"),
            loopback: addr.ip().is_loopback(),
            protection: "none".into(),
            filter: FilterAudit::default(),
            sends: vec![
                "counters, gauges and histograms named by camera, sink, label, zone and line"
                    .into(),
                "/healthz and /readyz (camera states)".into(),
            ],
        });
    }
    if let Some(ui) = &pipeline.ui {
        egress.push(Egress {
            name: "ui".into(),
            kind: "page".into(),
            destination: format!(
                "http://{}/ (the local page, served to {})",
                ui.listen,
                if ui.listen.ip().is_loopback() {
                    "this machine only"
                } else {
                    "any machine that reaches this address"
                }
            ),
            loopback: ui.listen.ip().is_loopback(),
            protection: "none; the pipeline file is changed from this machine only".into(),
            filter: FilterAudit::default(),
            sends: vec![
                "camera states, counts, tracks' boxes, labels and trails, zones, lines, masks, \
                 motion boxes, a heat map of positions, events, model and sink status"
                    .into(),
                if ui.stills {
                    "redacted stills of cameras with a face model (faces and masks hidden, \
                     nothing when redaction fails), to browsers on this machine only"
                        .into()
                } else {
                    "no pictures".into()
                },
            ],
        });
    }
    let mut media = Vec::new();
    if let Some(m) = &pipeline.media {
        if let Some(s) = &m.snapshots {
            media.push(StoredMedia {
                kind: "snapshots".into(),
                path: format!("{}/<camera>/<event id>.jpg", s.dir.display()),
                cameras: s.cameras.clone(),
                redacted: true,
                retention: retention(&s.retention),
            });
        }
        if let Some(r) = &m.recording {
            media.push(StoredMedia {
                kind: "recording".into(),
                path: format!("{}/<camera>/<camera>-<UTC start>.mp4", r.dir.display()),
                cameras: r.cameras.clone(),
                redacted: true,
                retention: format!(
                    "{}-s segments; {}",
                    r.segment.as_secs(),
                    retention(&r.retention)
                ),
            });
        }
    }
    let cameras = pipeline
        .cameras
        .iter()
        .map(|c| CameraAudit {
            name: c.name().to_string(),
            source: c.capture.source.redacted(),
            stores_media: pipeline.media.as_ref().is_some_and(|m| m.stores(c.name())),
            redaction: c.privacy.as_ref().map(|p| Redaction {
                faces: p.faces.as_ref().map(|f| match pipeline.models.get(f) {
                    Some(spec) => format!("{f} ({})", spec.manifest.name),
                    None => f.clone(),
                }),
                margin: p.margin,
                style: p.style.name().into(),
                masks: p.masks.len(),
                deadline_ms: p.deadline.as_millis() as u64,
            }),
        })
        .collect();
    let mut statement = vec![
        "No pixel leaves the device: sinks accept events (metadata) only, by the type of \
         Sinks::publish, and validation refuses any video or image output."
            .to_string(),
    ];
    statement.push(if media.is_empty() {
        "Nothing is stored but events: the pipeline has no `media:` section.".to_string()
    } else {
        "Stored pictures stay in local folders, redacted on the GPU (faces and masks) before \
         encoding; when redaction fails or is late nothing is written \
         (lookout_media_withheld_total)."
            .to_string()
    });
    statement.push(format!(
        "Bytes and events sent per sink: lookout_egress_bytes_total and \
         lookout_egress_events_total ({} network sink{}).",
        pipeline
            .sinks
            .iter()
            .filter(|s| s.kind.is_network())
            .count(),
        if pipeline
            .sinks
            .iter()
            .filter(|s| s.kind.is_network())
            .count()
            == 1
        {
            ""
        } else {
            "s"
        }
    ));
    Audit {
        pipeline: pipeline.path.display().to_string(),
        pixels_leave_device: false,
        egress,
        local,
        media,
        cameras,
        event_fields: EventFields::from_schema(),
        statement,
    }
}

fn outbox_entry(pipeline: &Pipeline, sink: &str, max_bytes: u64) -> LocalOutput {
    LocalOutput {
        name: sink.to_string(),
        kind: "outbox".into(),
        place: pipeline
            .state_dir
            .join("outbox")
            .join(sink)
            .display()
            .to_string(),
        holds: format!("events waiting for delivery, at most {}", bytes(max_bytes)),
    }
}

impl fmt::Display for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Egress audit of {}", self.pipeline)?;
        writeln!(f)?;
        writeln!(
            f,
            "Leaves the device (events and counters only, never pixels):"
        )?;
        if self.egress.is_empty() {
            writeln!(f, "  nothing: no network sink, no metrics endpoint")?;
        }
        for e in &self.egress {
            let lo = if e.loopback {
                " [this machine, over a socket]"
            } else {
                ""
            };
            writeln!(f, "  {} ({}): {}{lo}", e.name, e.kind, e.destination)?;
            writeln!(f, "    protection: {}", e.protection)?;
            if e.kind != "metrics" {
                writeln!(f, "    events: {}", e.filter)?;
            }
            for s in &e.sends {
                writeln!(f, "    sends: {s}")?;
            }
        }
        if self.egress.iter().any(|e| e.kind != "metrics") {
            writeln!(f, "  event fields: {}", self.event_fields.common.join(", "))?;
            for (kind, fields) in &self.event_fields.by_kind {
                writeln!(f, "    {kind}: {}", fields.join(", "))?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Stays on this machine:")?;
        if self.local.is_empty() && self.media.is_empty() {
            writeln!(f, "  nothing")?;
        }
        for l in &self.local {
            writeln!(f, "  {} ({}): {}: {}", l.name, l.kind, l.place, l.holds)?;
        }
        for m in &self.media {
            writeln!(
                f,
                "  {}: {} (cameras: {}): redacted; {}",
                m.kind,
                m.path,
                m.cameras.join(", "),
                m.retention
            )?;
        }
        if self.media.is_empty() {
            writeln!(f, "  no snapshots or recordings are stored")?;
        }
        writeln!(f)?;
        writeln!(f, "Cameras (video comes in, never goes out):")?;
        for c in &self.cameras {
            write!(f, "  {}: {}", c.name, c.source)?;
            match &c.redaction {
                Some(r) => write!(
                    f,
                    "; redaction: face model {} (margin {}, {}), {} mask{}, deadline {} ms",
                    r.faces.as_deref().unwrap_or("none"),
                    r.margin,
                    r.style,
                    r.masks,
                    if r.masks == 1 { "" } else { "s" },
                    r.deadline_ms
                )?,
                None => write!(f, "; no privacy section")?,
            }
            writeln!(
                f,
                "{}",
                if c.stores_media {
                    "; media stored"
                } else {
                    "; no media stored"
                }
            )?;
        }
        writeln!(f)?;
        for s in &self.statement {
            writeln!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("192.168.1.5"));
        assert!(!is_loopback("broker.example.net"));
        assert_eq!(url_host("http://u:p@127.0.0.1:8080/hook"), "127.0.0.1");
        assert_eq!(url_host("https://[::1]:443/x"), "[::1]");
    }

    #[test]
    fn event_fields_come_from_the_schema() {
        let f = EventFields::from_schema();
        for common in ["id", "camera", "kind", "label", "box", "time"] {
            assert!(f.common.iter().any(|c| c == common), "{common}: {f:?}");
        }
        assert_eq!(f.by_kind.len(), crate::events::KIND_NAMES.len(), "{f:?}");
        assert!(f.by_kind["line_crossed"].iter().any(|c| c == "direction"));
    }
}
