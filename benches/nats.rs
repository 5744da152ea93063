//! The `nats` sink into a real JetStream (`nats-server -js` on 127.0.0.1, started here):
//!
//! 1. Events per second one sink sustains, each acknowledged by the stream before the next, from
//!    the outbox (criterion, 1000 events per iteration), beside two peers on the same server: the
//!    official client publishing the same events with the same `Nats-Msg-Id`, awaiting each
//!    acknowledgement (what the sink does, without its queue and outbox), and publishing them all
//!    before awaiting the acknowledgements (the most this server takes from one connection).
//! 2. The outbox when the fleet's broker is away for an hour at the demo's event rate: an hour of
//!    the demo's events goes into the outbox with the server down, then the server starts and the
//!    time to deliver them all is measured. Printed after the criterion results.
//!
//! The events are the demo's own (`events.jsonl` at the top of the repository, written by
//! `make demo` or `lookout run pipelines/demo.yaml`; another file with `LOOKOUT_BENCH_EVENTS`).
//! Run: `cargo bench --bench nats`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use lookout::events::{Device, Event};
use lookout::metrics::Metrics;
use lookout::sinks::{Catalog, SinkContext, Sinks};

/// Events per criterion iteration (below the sink's queue of 1024, so none is dropped).
const BATCH: usize = 1000;

/// Seconds of footage in the demo (vtest.avi: 795 frames at 10 fps).
const DEMO_SECONDS: f64 = 79.5;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A JetStream server on `port` with its store in `dir`; killed on drop.
struct Server(Child);

impl Server {
    fn start(port: u16, dir: &Path) -> Server {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (deps.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo's events, in order.
fn demo_events() -> Vec<Event> {
    let path = std::env::var_os("LOOKOUT_BENCH_EVENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run `make demo` (or `lookout run pipelines/demo.yaml`) first",
            path.display()
        )
    });
    text.lines()
        .map(|l| serde_json::from_str(l).expect("an event per line"))
        .collect()
}

/// `n` events cycling through `demo`, each with a fresh id.
fn replay(demo: &[Event], n: usize) -> Vec<Event> {
    demo.iter()
        .cycle()
        .take(n)
        .map(|e| Event {
            id: lookout::events::new_id(),
            ..e.clone()
        })
        .collect()
}

/// A `nats` sink to 127.0.0.1:`port` with its outbox in `state`.
fn sink(port: u16, state: &Path) -> (Sinks, Arc<Metrics>) {
    let text = format!(
        "cameras:\n  - name: vtest\n    source: test:ball\n\
         sinks:\n  - nats: {{url: nats://127.0.0.1:{port}, stream: {{name: LOOKOUT, max_age_s: 86400}}, retry: {{initial_ms: 200, max_ms: 1000}}}}\n"
    );
    let pipeline = lookout::pipeline::load_str(&text, Path::new("bench.yaml"), |_| None)
        .expect("valid pipeline");
    let metrics = Arc::new(Metrics::new());
    let ctx = SinkContext {
        device: Device {
            name: "bench".into(),
            site: "lab".into(),
        },
        state_dir: state.to_path_buf(),
        metrics: Arc::clone(&metrics),
        catalog: Catalog::default(),
    };
    (Sinks::start(pipeline.sinks, &ctx).expect("sink"), metrics)
}

fn delivered(m: &Metrics) -> u64 {
    m.sink_deliveries
        .with_label_values(&["nats", "delivered"])
        .get()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The time of `iters` rounds of `round`, each on what `setup` made for it (not timed).
fn rounds<T>(iters: u64, mut setup: impl FnMut() -> T, mut round: impl FnMut(T)) -> Duration {
    (0..iters)
        .map(|_| {
            let input = setup();
            let start = Instant::now();
            round(input);
            start.elapsed()
        })
        .sum()
}

fn throughput(c: &mut Criterion) {
    let demo = demo_events();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _server = Server::start(port, dir.path());
    let (sinks, metrics) = sink(port, &dir.path().join("state"));
    // The stream exists once the first event is stored.
    sinks.publish(demo[0].clone());
    wait_for("the first event", Duration::from_secs(30), || {
        delivered(&metrics) == 1
    });

    let mut group = c.benchmark_group(format!("nats_jetstream_{BATCH}_events"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("lookout_nats_sink_outbox_acked", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || replay(&demo, BATCH),
                |events| {
                    let want = delivered(&metrics) + BATCH as u64;
                    for e in events {
                        sinks.publish(e);
                    }
                    wait_for("delivery", Duration::from_secs(120), || {
                        delivered(&metrics) >= want
                    });
                },
            )
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let js = rt.block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        async_nats::jetstream::new(client)
    });
    // The payloads the sink publishes: the events as stamped JSON, on their subjects.
    let messages = || -> Vec<(String, String, Vec<u8>)> {
        replay(&demo, BATCH)
            .into_iter()
            .map(|mut e| {
                e.device = "bench".into();
                e.site = "lab".into();
                let subject = lookout::sinks::nats::subject(
                    "lookout",
                    &e.site,
                    &e.device,
                    &e.camera,
                    e.kind.name(),
                );
                (subject, e.id.clone(), serde_json::to_vec(&e).unwrap())
            })
            .collect()
    };
    let publish = |subject: String, id: &str, payload: Vec<u8>| {
        let msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(id);
        js.send_publish(subject, msg)
    };
    group.bench_function("peer_async_nats_acked_one_by_one", |b| {
        b.iter_custom(|iters| {
            rounds(iters, messages, |batch| {
                rt.block_on(async {
                    for (subject, id, payload) in batch {
                        publish(subject, &id, payload).await.unwrap().await.unwrap();
                    }
                })
            })
        })
    });
    group.bench_function("peer_async_nats_acks_pipelined", |b| {
        b.iter_custom(|iters| {
            rounds(iters, messages, |batch| {
                rt.block_on(async {
                    let mut acks = Vec::with_capacity(BATCH);
                    for (subject, id, payload) in batch {
                        acks.push(publish(subject, &id, payload).await.unwrap());
                    }
                    for ack in acks {
                        ack.await.unwrap();
                    }
                })
            })
        })
    });
    group.finish();
    sinks.shutdown();
}

/// An hour of the demo's events with the server away, then the server back.
fn hour_away() {
    let demo = demo_events();
    let rate = demo.len() as f64 / DEMO_SECONDS;
    let n = (rate * 3600.0).round() as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let (sinks, metrics) = sink(port, &dir.path().join("state"));
    let events = replay(&demo, n);
    let json_bytes: usize = events
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap().len() + 40)
        .sum();
    let pending = || metrics.outbox_events.with_label_values(&["nats"]).get() as usize;
    let mut sent = 0;
    for chunk in events.chunks(500) {
        for e in chunk {
            sinks.publish(e.clone());
        }
        sent += chunk.len();
        wait_for("the outbox", Duration::from_secs(60), || pending() == sent);
    }
    let bytes = metrics.outbox_bytes.with_label_values(&["nats"]).get() as f64;
    let dropped = metrics.outbox_dropped.with_label_values(&["nats"]).get();
    let retries = metrics.sink_retries.with_label_values(&["nats"]).get();

    let back = Instant::now();
    let _server = Server::start(port, dir.path());
    wait_for("the backlog", Duration::from_secs(600), || pending() == 0);
    let drain = back.elapsed().as_secs_f64();
    sinks.shutdown();

    let per_event = bytes / n as f64;
    let full_hours = (64u64 << 20) as f64 / (per_event * rate) / 3600.0;
    println!();
    println!("nats/hour_away: the demo's rate {rate:.2} events/s; an hour away = {n} events");
    println!(
        "  outbox while away: {:.1} MiB ({per_event:.0} B/event; ~{:.1} MiB of JSON sent later), {dropped} dropped, {retries} retries",
        bytes / (1 << 20) as f64,
        json_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "  server back: all {n} delivered in {drain:.1} s ({:.0} events/s)",
        n as f64 / drain
    );
    println!(
        "  the default 64 MiB outbox holds {full_hours:.1} h of the demo's events before the oldest are dropped"
    );
}

criterion_group!(benches, throughput);

fn main() {
    // Warnings (the sink failing while the server is away) on standard error; LOOKOUT_LOG=debug
    // for more.
    let filter = std::env::var("LOOKOUT_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    benches();
    hour_away();
    Criterion::default().configure_from_args().final_summary();
}
