//! `lookout events --nats URL [...]`: a fleet's events from its JetStream stream, for operators:
//! tailed (readable lines or JSON lines), or counted per site, device and camera (`--counts`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use lookout::events::{Crossing, Event, EventKind};
use lookout::sinks::Secret;
use lookout::sinks::nats::{NatsAuth, NatsTls, config::check_subject_prefix};
use serde::Serialize;

use super::BadInput;

/// Arguments of `lookout events`.
#[derive(clap::Args)]
pub struct Args {
    /// NATS server URL, e.g. nats://fleet.example.net:4222 (several, comma-separated).
    #[arg(long, env = "NATS_URL", value_name = "URL")]
    nats: String,
    /// Subject filter, e.g. `lookout.oslo.>`; default `<prefix>.>` narrowed by --site, --device,
    /// --camera and --kind.
    #[arg(long, value_name = "SUBJECT")]
    subject: Option<String>,
    /// First token(s) of the subjects (the sinks' `subject_prefix`).
    #[arg(long, default_value = "lookout", value_name = "PREFIX")]
    prefix: String,
    /// Only this site.
    #[arg(long)]
    site: Option<String>,
    /// Only this device (box).
    #[arg(long)]
    device: Option<String>,
    /// Only this camera.
    #[arg(long)]
    camera: Option<String>,
    /// Only this kind of event (`object`, `line_crossed`, ...).
    #[arg(long)]
    kind: Option<String>,
    /// The stream to read; default: the one that stores the subject.
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// Start this far back: `90s`, `15m`, `1h`, `7d`. Default: new events only, or with --counts
    /// everything the stream holds.
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    /// Read through a durable consumer of this name: the next `--durable NAME` goes on where this
    /// one stopped (events are acknowledged once printed). Default: an ephemeral consumer.
    #[arg(long, value_name = "NAME")]
    durable: Option<String>,
    /// Print each event as one JSON line (with --counts, one JSON object).
    #[arg(long)]
    json: bool,
    /// Stop once caught up, instead of waiting for new events.
    #[arg(long)]
    no_follow: bool,
    /// Print counts per site, device and camera: events by kind, line crossings by label and
    /// direction, zone entries by label; then exit.
    #[arg(long, conflicts_with = "durable")]
    counts: bool,
    /// User name (with --password).
    #[arg(long, env = "NATS_USER")]
    user: Option<String>,
    /// Password (better from the environment).
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Authentication token (better from the environment).
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// NATS credentials file (.creds).
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    creds: Option<PathBuf>,
    /// PEM file of the CA that signed the servers' certificates (implies TLS).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// PEM client certificate (with --tls-key; implies TLS).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Counts of one camera of one box.
#[derive(Debug, Default, Serialize)]
struct CameraCounts {
    site: String,
    device: String,
    camera: String,
    events: u64,
    /// Events per kind.
    kinds: BTreeMap<String, u64>,
    /// Crossings per line, label and direction.
    lines: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    /// Entries per zone and label.
    zones: BTreeMap<String, BTreeMap<String, u64>>,
}

/// `90s`, `15m`, `1h`, `7d` or plain seconds.
fn parse_since(s: &str) -> Result<Duration, BadInput> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| BadInput(format!("--since `{s}`: expected e.g. 90s, 15m, 1h or 7d")))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(BadInput(format!("--since `{s}`: the unit is s, m, h or d"))),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

impl Args {
    /// The subject filter from --subject, or from --prefix and the narrowing options.
    fn subject(&self) -> Result<String, BadInput> {
        if let Some(s) = &self.subject {
            if s.is_empty() || s.contains(char::is_whitespace) {
                return Err(BadInput(format!("--subject `{s}` is not a NATS subject")));
            }
            return Ok(s.clone());
        }
        check_subject_prefix(&self.prefix).map_err(BadInput)?;
        let parts = [&self.site, &self.device, &self.camera, &self.kind];
        if parts.iter().all(|p| p.is_none()) {
            return Ok(format!("{}.>", self.prefix));
        }
        let mut subject = self.prefix.clone();
        for (what, p) in ["site", "device", "camera", "kind"].iter().zip(parts) {
            match p {
                Some(v) => {
                    lookout::config::check_name(what, v).map_err(BadInput)?;
                    subject.push('.');
                    subject.push_str(v);
                }
                None => subject.push_str(".*"),
            }
        }
        Ok(subject)
    }

    fn auth(&self) -> Result<NatsAuth, BadInput> {
        match (&self.user, &self.token, &self.creds) {
            (None, None, None) => Ok(NatsAuth::None),
            (Some(u), None, None) => Ok(NatsAuth::UserPassword(
                u.clone(),
                Secret(self.password.clone().unwrap_or_default()),
            )),
            (None, Some(t), None) => Ok(NatsAuth::Token(Secret(t.clone()))),
            (None, None, Some(c)) => Ok(NatsAuth::Credentials(c.clone())),
            _ => Err(BadInput(
                "give one of --user/--password, --token or --creds, not several".into(),
            )),
        }
    }

    fn tls(&self) -> Option<NatsTls> {
        let tls = self.tls_ca.is_some() || self.tls_cert.is_some();
        tls.then(|| NatsTls {
            ca_file: self.tls_ca.clone(),
            client: self.tls_cert.clone().zip(self.tls_key.clone()),
        })
    }

    fn deliver_policy(&self) -> Result<consumer::DeliverPolicy, BadInput> {
        Ok(match &self.since {
            Some(s) => {
                let since = parse_since(s)?;
                let start = SystemTime::now()
                    .checked_sub(since)
                    .unwrap_or(UNIX_EPOCH)
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                consumer::DeliverPolicy::ByStartTime {
                    start_time: async_nats::datetime::from_nanos(start.as_nanos() as i128)
                        .map_err(|e| BadInput(format!("--since `{s}`: {e}")))?,
                }
            }
            None if self.counts => consumer::DeliverPolicy::All,
            None => consumer::DeliverPolicy::New,
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let subject = args.subject()?;
    let auth = args.auth()?;
    let policy = args.deliver_policy()?;
    let urls: Vec<String> = args.nats.split(',').map(|u| u.trim().to_string()).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(read(&args, &urls, &subject, &auth, policy))
}

async fn read(
    args: &Args,
    urls: &[String],
    subject: &str,
    auth: &NatsAuth,
    policy: consumer::DeliverPolicy,
) -> anyhow::Result<ExitCode> {
    let servers = urls
        .iter()
        .map(|u| lookout::config::redact_userinfo(u))
        .collect::<Vec<_>>()
        .join(",");
    let opts = lookout::sinks::nats::connect_options(auth, args.tls().as_ref(), "lookout-events")
        .await
        .context("NATS credentials")?;
    let client = opts
        .connect(urls)
        .await
        .with_context(|| format!("cannot connect to NATS {servers}"))?;
    let js = jetstream::new(client);
    let stream_name = match &args.stream {
        Some(s) => s.clone(),
        None => js
            .stream_by_subject(subject)
            .await
            .with_context(|| format!("no JetStream stream on {servers} stores `{subject}`"))?,
    };
    let stream = js
        .get_stream(&stream_name)
        .await
        .with_context(|| format!("JetStream stream `{stream_name}`"))?;
    let caught_up_stops = args.no_follow || args.counts;
    let mut counts: BTreeMap<(String, String, String), CameraCounts> = BTreeMap::new();
    let mut out = std::io::stdout().lock();
    let mut take = |msg: &async_nats::Message| -> anyhow::Result<()> {
        if args.counts {
            count(&mut counts, &msg.payload);
            Ok(())
        } else {
            print_event(&mut out, &msg.payload, args.json)
        }
    };
    match &args.durable {
        Some(name) => {
            let cfg = consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: subject.to_string(),
                deliver_policy: policy,
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            };
            let mut c = stream
                .get_or_create_consumer(name, cfg)
                .await
                .with_context(|| format!("durable consumer `{name}`"))?;
            let pending = c.info().await.map(|i| i.num_pending).unwrap_or(1);
            if !(caught_up_stops && pending == 0) {
                let mut messages = c.messages().await.context("reading the stream")?;
                while let Some(m) = messages.next().await {
                    let m = m.map_err(|e| anyhow::anyhow!("reading the stream: {e}"))?;
                    take(&m)?;
                    m.ack()
                        .await
                        .map_err(|e| anyhow::anyhow!("acknowledging: {e}"))?;
                    if caught_up_stops && m.info().is_ok_and(|i| i.pending == 0) {
                        break;
                    }
                }
            }
        }
        None => {
            let cfg = consumer::pull::OrderedConfig {
                filter_subject: subject.to_string(),
                deliver_policy: policy,
                ..Default::default()
            };
            let c = stream
                .create_consumer(cfg)
                .await
                .context("creating a consumer")?;
            let pending = c.cached_info().num_pending;
            if !(caught_up_stops && pending == 0) {
                let mut messages = c.messages().await.context("reading the stream")?;
                while let Some(m) = messages.next().await {
                    let m = m.map_err(|e| anyhow::anyhow!("reading the stream: {e}"))?;
                    take(&m)?;
                    if caught_up_stops && m.info().is_ok_and(|i| i.pending == 0) {
                        break;
                    }
                }
            }
        }
    }
    if args.counts {
        print_counts(counts.into_values().collect(), args.json)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event(out: &mut impl Write, payload: &[u8], json: bool) -> anyhow::Result<()> {
    if json {
        out.write_all(payload)?;
        out.write_all(b"\n")?;
    } else {
        match serde_json::from_slice::<Event>(payload) {
            Ok(e) => writeln!(out, "{}/{} {e}", e.site, e.device)?,
            Err(_) => writeln!(
                out,
                "(not a lookout event) {}",
                String::from_utf8_lossy(payload)
            )?,
        }
    }
    out.flush()?;
    Ok(())
}

fn count(counts: &mut BTreeMap<(String, String, String), CameraCounts>, payload: &[u8]) {
    let Ok(e) = serde_json::from_slice::<Event>(payload) else {
        return;
    };
    let key = (e.site.clone(), e.device.clone(), e.camera.clone());
    let c = counts.entry(key).or_insert_with(|| CameraCounts {
        site: e.site.clone(),
        device: e.device.clone(),
        camera: e.camera.clone(),
        ..Default::default()
    });
    c.events += 1;
    *c.kinds.entry(e.kind.name().to_string()).or_default() += 1;
    match &e.kind {
        EventKind::LineCrossed {
            line, direction, ..
        } => {
            let per_label = c.lines.entry(line.clone()).or_default();
            let per_dir = per_label.entry(e.label.clone()).or_default();
            for d in [Crossing::AToB, Crossing::BToA] {
                per_dir.entry(d.name().to_string()).or_default();
            }
            *per_dir.entry(direction.name().to_string()).or_default() += 1;
        }
        EventKind::ZoneEnter { zone } => {
            *c.zones
                .entry(zone.clone())
                .or_default()
                .entry(e.label.clone())
                .or_default() += 1;
        }
        _ => {}
    }
}

fn print_counts(cameras: Vec<CameraCounts>, json: bool) -> anyhow::Result<()> {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "cameras": cameras }))?
        )?;
        return Ok(());
    }
    if cameras.is_empty() {
        outln!("no events")?;
    }
    for c in &cameras {
        let kinds: Vec<String> = c.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        outln!(
            "{}/{}/{}: {} events ({})",
            c.site,
            c.device,
            c.camera,
            c.events,
            kinds.join(", ")
        )?;
        for (line, labels) in &c.lines {
            for (label, dirs) in labels {
                let d: Vec<String> = dirs.iter().map(|(k, n)| format!("{k} {n}")).collect();
                outln!("  line {line}: {label} {}", d.join(", "))?;
            }
        }
        for (zone, labels) in &c.zones {
            for (label, n) in labels {
                outln!("  zone {zone}: {label} entered {n}")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_and_subjects() {
        assert_eq!(parse_since("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_since("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_since("30").unwrap(), Duration::from_secs(30));
        assert!(parse_since("1w").is_err() && parse_since("h").is_err());
    }
}
