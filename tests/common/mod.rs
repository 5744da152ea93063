//! Helpers shared by the integration tests: free ports, temp pipeline files, HTTP, the binary.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[cfg(feature = "capture")]
pub mod live;
#[cfg(feature = "capture")]
pub mod page;
pub mod webdriver;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled footage file.
pub fn footage(name: &str) -> PathBuf {
    root().join("pipelines/footage").join(name)
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A shipped pipeline file (`pipelines/<name>`) made runnable from `dir`: its model and footage
/// paths made absolute, each `(from, to)` of `changes` applied (each must be in the file, so a
/// changed example fails loudly), `extra` appended; returns the path of the copy in `dir`.
pub fn shipped_pipeline(
    name: &str,
    changes: &[(&str, String)],
    extra: &str,
    dir: &Path,
) -> PathBuf {
    let root = root();
    let shipped = read(&root.join("pipelines").join(name));
    let mut text = shipped.clone();
    let paths = [
        ("../models/", format!("{}/models/", root.display())),
        (
            "source: footage/",
            format!("source: {}/pipelines/footage/", root.display()),
        ),
    ];
    for (from, to) in paths.iter().chain(changes) {
        assert!(shipped.contains(from), "{name} changed: no `{from}`");
        text = text.replace(from, to);
    }
    text.push_str(extra);
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pipeline");
    path
}

/// Writes `text` as `name` in a fresh temporary folder and returns the folder and the file path.
pub fn pipeline_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write pipeline");
    (dir, path)
}

/// GET `path` from `addr`; returns status and body (also for 4xx/5xx).
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into();
    let mut resp = agent
        .get(format!("http://{addr}{path}"))
        .call()
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// Runs the `lookout` binary with `args` and waits for it.
pub fn lookout(args: &[&str]) -> Output {
    lookout_cmd().args(args).output().expect("run lookout")
}

/// Runs `lookout` from the repository root, so paths read as in the README (`models/...`).
pub fn lookout_in_root(args: &[&str]) -> Output {
    lookout_cmd()
        .current_dir(root())
        .args(args)
        .output()
        .expect("run lookout")
}

/// [`lookout_in_root`] that must exit 0: its standard output.
pub fn lookout_ok(args: &[&str]) -> String {
    let out = lookout_in_root(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "lookout {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// [`lookout_ok`] for commands with `--json` that print one JSON object.
pub fn lookout_json(args: &[&str]) -> serde_json::Value {
    let out = lookout_ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("lookout {args:?}: {e}: {out}"))
}

/// [`lookout_ok`] for commands that print one JSON object per line (`detect --json`).
pub fn lookout_json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    lookout_ok(args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("lookout {args:?}: {e}: {l}")))
        .collect()
}

/// Writes `yaml` as `dir/p.yaml`, runs it to the end (exit 0 expected) and returns the process
/// output and the run summary.
pub fn run_pipeline(dir: &Path, yaml: &str) -> (Output, serde_json::Value) {
    let path = dir.join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    let summary = dir.join("summary.json");
    let out = lookout_cmd()
        .args(["run", path.to_str().unwrap(), "--no-progress", "--summary"])
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = serde_json::from_str(&read(&summary)).unwrap();
    (out, summary)
}

/// Starts `lookout run PATH --no-progress --summary SUMMARY` with `env`, its output discarded.
pub fn lookout_run(path: &Path, summary: &Path, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = lookout_cmd();
    cmd.arg("run")
        .arg(path)
        .args(["--no-progress", "--summary"])
        .arg(summary);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start lookout")
}

/// The value of metric `name` with `labels` on the `/metrics` of 127.0.0.1:`port`, if it is up.
pub fn scrape(port: u16, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (_, body) = http_get(addr, "/metrics").ok()?;
    metric_value(&parse_metrics(&body), name, labels)
}

/// A command for the `lookout` binary, with quiet logs.
pub fn lookout_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lookout"));
    c.env("LOOKOUT_LOG", "warn");
    c
}

/// Parses Prometheus text format with a real parser, returning (name, labels, value) samples.
pub fn parse_metrics(text: &str) -> Vec<prometheus_parse::Sample> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines)
        .expect("valid Prometheus text")
        .samples
}

/// The value of the sample `name` whose labels include all of `labels`.
pub fn metric_value(
    samples: &[prometheus_parse::Sample],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            _ => f64::NAN,
        })
}

/// Reads a file to a string, for assertions.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A real mosquitto broker on 127.0.0.1, started by the test; stopped (SIGTERM) on drop.
pub struct Mosquitto {
    pub port: u16,
    conf: PathBuf,
    child: Option<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts mosquitto on a free port and waits until it accepts connections.
    pub fn start() -> Mosquitto {
        Self::start_on(free_port())
    }

    /// Starts mosquitto on `port` (used to restart a stopped broker on the same port).
    pub fn start_on(port: u16) -> Mosquitto {
        Self::start_with(port, "", tempfile::tempdir().expect("temp dir"))
    }

    /// A broker that saves sessions and queued messages to disk on stop, so that a client with a
    /// persistent session (clean_session = false) keeps its subscription across [`Self::restart`].
    pub fn start_persistent() -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let extra = format!(
            "persistence true\npersistence_location {}/\nautosave_interval 1\n",
            dir.path().display()
        );
        Self::start_with(free_port(), &extra, dir)
    }

    /// Starts mosquitto with a plain listener and a TLS listener whose certificate is signed by
    /// a CA made for this test (`openssl`); returns the broker, the TLS port and the CA's PEM path.
    pub fn start_tls() -> (Mosquitto, u16, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        test_certificates(d);
        let tls_port = free_port();
        let extra = format!(
            "listener {tls_port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n",
            d.display()
        );
        let ca = d.join("ca.pem");
        let m = Self::start_with(free_port(), &extra, dir);
        wait_port(tls_port);
        (m, tls_port, ca)
    }

    fn start_with(port: u16, extra: &str, dir: tempfile::TempDir) -> Mosquitto {
        let conf = dir.path().join("mosquitto.conf");
        let persistence = if extra.contains("persistence true") {
            ""
        } else {
            "persistence false\n"
        };
        std::fs::write(
            &conf,
            format!("per_listener_settings false\nallow_anonymous true\n{persistence}log_dest stderr\nlog_type error\nlistener {port} 127.0.0.1\n{extra}"),
        )
        .expect("write mosquitto.conf");
        let mut m = Mosquitto {
            port,
            conf,
            child: None,
            _dir: dir,
        };
        m.restart();
        m
    }

    /// (Re)starts the broker with the same configuration and waits for its port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto is installed (deps.sh)");
        self.child = Some(child);
        wait_port(self.port);
    }

    /// Stops the broker (SIGTERM, so a persistent one saves its state) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

/// Makes a CA for one test and a server certificate for 127.0.0.1 and localhost signed by it, in
/// `d` (`ca.pem`, `server.pem`, `server.key`), readable by servers that drop to their own user.
pub fn test_certificates(d: &Path) {
    let run = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .expect("openssl")
            .status
            .success();
        assert!(ok, "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=lookout-test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
    // mosquitto started as root drops to its own user, which must be able to read these.
    use std::os::unix::fs::PermissionsExt;
    for f in [
        d.to_path_buf(),
        d.join("ca.pem"),
        d.join("server.pem"),
        d.join("server.key"),
    ] {
        let mode = if f.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
fn wait_port(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A subscriber (a real MQTT client) collecting (topic, payload, retained) from `filter`.
pub struct Subscriber {
    pub rx: crossbeam_channel::Receiver<(String, Vec<u8>, bool)>,
    client: rumqttc::Client,
}

impl Subscriber {
    /// Connects to the broker on `port` and subscribes to `filter` (e.g. `#`).
    pub fn start(port: u16, filter: &str) -> Subscriber {
        Self::connect(
            port,
            filter,
            &format!("test-sub-{}", fastrand::u32(..)),
            true,
        )
    }

    /// A subscriber with a persistent session (`clean_session = false`) under `client_id`: with a
    /// persistent broker, messages published while it is away are kept for it.
    pub fn persistent(port: u16, filter: &str, client_id: &str) -> Subscriber {
        Self::connect(port, filter, client_id, false)
    }

    fn connect(port: u16, filter: &str, client_id: &str, clean: bool) -> Subscriber {
        let mut opts = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
        opts.set_keep_alive(std::time::Duration::from_secs(5));
        opts.set_clean_session(clean);
        let (client, mut conn) = rumqttc::Client::new(opts, 100);
        client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .expect("subscribe");
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = ready_tx.try_send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        if tx
                            .send((p.topic.clone(), p.payload.to_vec(), p.retain))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
                }
            }
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("subscribed");
        Subscriber { rx, client }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

/// Publishes one message with QoS 1 on the broker at `port` and waits for the broker's PUBACK.
pub fn mqtt_publish(port: u16, topic: &str, payload: &[u8], retain: bool) {
    let opts =
        rumqttc::MqttOptions::new(format!("test-pub-{}", fastrand::u32(..)), "127.0.0.1", port);
    let (client, mut conn) = rumqttc::Client::new(opts, 10);
    client
        .publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload.to_vec())
        .expect("publish");
    for ev in conn.iter() {
        match ev {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => break,
            Ok(_) => {}
            Err(e) => panic!("publish to 127.0.0.1:{port}: {e}"),
        }
    }
    let _ = client.disconnect();
}

/// One request seen by [`HttpReceiver`].
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
    pub status: u16,
}

/// A real HTTP server on 127.0.0.1 that answers each POST with the status `respond` picks.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<SeenRequest>>>,
    server: std::sync::Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpReceiver {
    /// Starts the server; `respond(n, body)` gets the 0-based request number and the body.
    pub fn start(respond: impl Fn(usize, &[u8]) -> u16 + Send + 'static) -> HttpReceiver {
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let addr = server.server_addr().to_ip().expect("ip address");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (srv, log) = (std::sync::Arc::clone(&server), std::sync::Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut body = Vec::new();
                let _ = std::io::Read::read_to_end(req.as_reader(), &mut body);
                let headers = req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect();
                let n = log.lock().unwrap().len();
                let status = respond(n, &body);
                log.lock().unwrap().push(SeenRequest {
                    headers,
                    body,
                    status,
                });
                let _ = req.respond(tiny_http::Response::empty(status));
            }
        });
        HttpReceiver {
            addr,
            seen,
            server,
            thread: Some(thread),
        }
    }

    /// Requests seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cond()
}

/// A real `nats-server` with JetStream on 127.0.0.1, started by the test, its store in a
/// temporary folder; killed on drop. Several make a cluster ([`nats_cluster`]).
pub struct NatsServer {
    pub port: u16,
    /// The monitoring port (`/healthz` answers 200 once JetStream is ready).
    pub http_port: u16,
    args: Vec<String>,
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// One server with JetStream.
    pub fn start() -> NatsServer {
        Self::start_with(free_port(), &[])
    }

    /// A server on `port` with extra arguments (authentication, TLS, cluster routes).
    pub fn start_with(port: u16, extra: &[String]) -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let http_port = free_port();
        let mut args: Vec<String> = [
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &http_port.to_string(),
            "-js",
            "-sd",
            &dir.path().join("store").display().to_string(),
            "-l",
            &dir.path().join("nats.log").display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        let mut s = NatsServer {
            port,
            http_port,
            args,
            child: None,
            dir,
        };
        s.restart();
        s
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The folder of its store, log and any files a test puts there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// (Re)starts the server with the same arguments and store, and waits for its port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("nats-server")
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server is installed (deps.sh)");
        self.child = Some(child);
        wait_port(self.port);
    }

    /// Waits until the server says JetStream is ready (`/healthz`).
    pub fn wait_ready(&self) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.http_port).parse().unwrap();
        assert!(
            wait_until(std::time::Duration::from_secs(30), || {
                http_get(addr, "/healthz").is_ok_and(|(status, _)| status == 200)
            }),
            "nats-server on {} not healthy: {}",
            self.port,
            read(&self.dir.path().join("nats.log"))
        );
    }

    /// SIGKILL: the server dies at once, as a machine losing power would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three JetStream servers on 127.0.0.1 routed into one cluster, each ready.
pub fn nats_cluster() -> Vec<NatsServer> {
    let cluster: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let servers: Vec<NatsServer> = (0..3)
        .map(|i| {
            let routes: Vec<String> = (0..3)
                .filter(|j| *j != i)
                .map(|j| format!("nats://127.0.0.1:{}", cluster[j]))
                .collect();
            let extra: Vec<String> = [
                "--name".to_string(),
                format!("n{i}"),
                "--cluster_name".into(),
                "lookout-test".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{}", cluster[i]),
                "--routes".into(),
                routes.join(","),
            ]
            .into();
            NatsServer::start_with(free_port(), &extra)
        })
        .collect();
    for s in &servers {
        s.wait_ready();
    }
    servers
}

/// Every message of JetStream stream `stream` on the server at `url`, read one by one by
/// sequence (an oracle that shares no code with lookout): (subject, `Nats-Msg-Id`, payload).
pub fn nats_stream_messages(url: &str, stream: &str) -> Vec<(String, String, serde_json::Value)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.expect("connect to NATS");
        let js = async_nats::jetstream::new(client);
        let mut s = js.get_stream(stream).await.expect("the stream exists");
        let state = s.info().await.expect("stream info").state.clone();
        let mut out = Vec::new();
        if state.messages == 0 {
            return out;
        }
        for seq in state.first_sequence..=state.last_sequence {
            let Ok(m) = s.get_raw_message(seq).await else {
                continue; // deleted
            };
            let id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let v = serde_json::from_slice(&m.payload).expect("payload is JSON");
            out.push((m.subject.to_string(), id, v));
        }
        out
    })
}

/// A deterministic source of noise (xorshift) for made-up pictures.
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// 0..1.
    pub fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Mean 0, standard deviation about `sigma` (a sum of four uniforms).
    pub fn gauss(&mut self, sigma: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum::<f32>() - 2.0;
        s * sigma * 1.73
    }

    /// -amp..=amp, roughly triangular.
    pub fn jitter(&mut self, amp: i32) -> i32 {
        let a = (self.next() % (amp as u64 + 1)) as i32;
        let b = (self.next() % (amp as u64 + 1)) as i32;
        a - b
    }
}
