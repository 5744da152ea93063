//! The local page in a real headless Chromium (over WebDriver) against a real `lookout run` on
//! the bundled footage served live over RTSP: the overview agrees with `/metrics`, the live view
//! draws tracks, a line drawn with the mouse and saved is named by the next crossing; and no
//! answer of the page is a picture. The README's screenshots are taken here: written into
//! `docs/ui/` with `UPDATE_SCREENSHOTS=1` (`make screenshots`), into the test's folder otherwise,
//! so a plain `cargo test` leaves the tracked files alone.
#![cfg(feature = "capture")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::live::wait_until;
use common::page::{Live, metric, save, screenshot_dir, track_pixels};
use common::webdriver::Browser;
use serde_json::{Value, json};

#[test]
fn the_page_shows_live_counts_and_tracks_and_a_drawn_line_names_the_next_crossing() {
    let live = Live::start(false);
    let (run, page, dir) = (&live.run, live.page, live.dir.path());
    assert!(
        wait_until(Duration::from_secs(60), || {
            metric(run, "lookout_frames_processed_total", &[("camera", "door")]) > 0.0
        }),
        "no frames processed: {}",
        run.log()
    );

    let browser = Browser::start(1280, 960);
    browser.goto(&format!("http://{page}/"));

    // Overview: the camera, streaming, with counts between two scrapes of /metrics taken
    // around the page's own reading.
    let streaming = browser.wait_js(
        Duration::from_secs(30),
        "const o = window.lookout.overview; \
         return o && o.cameras.some(c => c.name === 'door' && c.state === 'streaming' && c.events > 0);",
    );
    assert!(
        streaming.is_some(),
        "overview never showed door streaming with events: {}",
        run.log()
    );
    let door = [("camera", "door")];
    let before = metric(run, "lookout_events_total", &door);
    let dropped_before = metric(run, "lookout_frames_dropped_total", &door);
    let polls = browser
        .js("return window.lookout.polls;", vec![])
        .as_u64()
        .unwrap();
    browser
        .wait_js(
            Duration::from_secs(10),
            &format!("return window.lookout.polls >= {};", polls + 2),
        )
        .expect("the overview updates");
    let row = browser.js(
        "const tr = document.querySelector('#cameras tbody tr[data-camera=door]'); \
         return tr && [...tr.children].map(td => td.textContent);",
        vec![],
    );
    let after = metric(run, "lookout_events_total", &door);
    let dropped_after = metric(run, "lookout_frames_dropped_total", &door);
    let cells: Vec<String> = serde_json::from_value(row.clone()).expect("a row for door");
    assert_eq!(cells[0], "door");
    assert_eq!(cells[1], "streaming");
    assert_eq!(
        metric(
            run,
            "lookout_camera_state",
            &[("camera", "door"), ("state", "streaming")]
        ),
        1.0
    );
    let shown: f64 = cells[7].parse().unwrap_or(-1.0);
    assert!(
        before <= shown && shown <= after && shown > 0.0,
        "events on the page {shown}, /metrics {before}..{after}: {row}"
    );
    let dropped: f64 = cells[4].parse().unwrap_or(-1.0);
    assert!(
        dropped_before <= dropped && dropped <= dropped_after,
        "dropped on the page {dropped}, /metrics {dropped_before}..{dropped_after}: {row}"
    );
    let captured_rate: f64 = cells[2].parse().unwrap_or(0.0);
    assert!(captured_rate > 1.0, "captured/s {captured_rate}: {row}");
    let shots = screenshot_dir(dir);
    std::fs::write(shots.join("overview.png"), browser.screenshot()).unwrap();

    // Live view: tracks arrive and are drawn in the track colour.
    browser.click(&browser.find("#tab-live"));
    let tracks = browser.wait_js(
        Duration::from_secs(30),
        "const f = window.lookout.frames.door; return f && f.tracks.length > 0 && window.lookout.heat.door ? f.tracks.length : null;",
    );
    assert!(tracks.is_some(), "no tracks reached the live view");
    // Drawn within a frame of arriving.
    std::thread::sleep(Duration::from_millis(300));
    let canvas = browser.find("#canvas");
    let drawn = track_pixels(&browser.element_screenshot(&canvas));
    assert!(
        drawn > 200,
        "only {drawn} pixels in the track colour on the canvas"
    );

    // Draw a line across the footpath with the mouse, name it, count both ways, save.
    browser.type_into(&browser.find("#name"), "gate");
    // A select's list is a native popup WebDriver cannot click into headless: chosen as a
    // keyboard user would, by focusing it and pressing Home (its first choice: both ways).
    browser.send_keys(&browser.find("#direction"), "\u{E011}");
    assert_eq!(
        browser.js("return document.getElementById('direction').value;", vec![]),
        json!("any")
    );
    // Typing scrolled the page: the canvas back in view, then measured.
    let rect = browser.js(
        "window.scrollTo(0, 0); const r = document.getElementById('canvas').getBoundingClientRect(); \
         return [r.left, r.top, r.width, r.height];",
        vec![],
    );
    let r: Vec<f64> = serde_json::from_value(rect).unwrap();
    let at = |fx: f64, fy: f64| {
        (
            (r[0] + fx * r[2]).round() as i64,
            (r[1] + fy * r[3]).round() as i64,
        )
    };
    let (x, y) = at(0.45, 0.30);
    browser.click_at(x, y);
    let (x, y) = at(0.45, 0.68);
    browser.click_at(x, y);
    let checked = browser
        .wait_js(
            Duration::from_secs(10),
            "const c = window.lookout.lastCheck; return c && c.snippet && c.snippet.includes('gate') && !c.error ? c.snippet : null;",
        )
        .unwrap_or_else(|| {
            panic!(
                "no valid snippet: {} {} {r:?}",
                browser.js("return window.lookout.lastCheck;", vec![]),
                browser.js("return window.lookout.draft;", vec![])
            )
        });
    let snippet = checked.as_str().unwrap().to_string();
    assert!(snippet.contains("direction: any"), "{snippet}");
    let shown = browser.js(
        "return document.getElementById('snippet').textContent;",
        vec![],
    );
    assert_eq!(shown, json!(format!("- {snippet}")));
    let saved_at = Instant::now();
    save(&browser);

    // The file has the line, and everything else as it was.
    let text = common::read(&dir.join("p.yaml"));
    let original = &live.original;
    let added: Vec<&str> = text
        .lines()
        .filter(|l| !original.lines().any(|o| o == *l))
        .collect();
    assert_eq!(
        added,
        vec![format!("      lines:"), format!("        - {snippet}")],
        "{text}"
    );
    assert!(
        original.lines().all(|l| text.lines().any(|t| t == l)),
        "{text}"
    );

    // The next crossing names the line, in the sink and on the page.
    let crossed = wait_until(Duration::from_secs(120), || {
        run.events().iter().any(|e| e["kind"] == "line_crossed")
    });
    assert!(
        crossed,
        "no crossing in {:?} after the save: {}",
        saved_at.elapsed(),
        run.log()
    );
    let crossings: Vec<Value> = run
        .events()
        .into_iter()
        .filter(|e| e["kind"] == "line_crossed")
        .collect();
    assert!(
        crossings.iter().all(|e| e["line"] == "gate"),
        "{crossings:?}"
    );
    let on_page = browser.wait_js(
        Duration::from_secs(10),
        "return window.lookout.events.some(e => e.kind === 'line_crossed' && e.line === 'gate') \
         && document.querySelector('#timeline li[data-kind=line_crossed]') !== null;",
    );
    assert!(
        on_page.is_some(),
        "the crossing is not in the page's timeline"
    );
    // The line drawn from the reloaded layout, with its count, over the heat map.
    browser
        .wait_js(
            Duration::from_secs(10),
            "const l = window.lookout.layouts.find(l => l.camera === 'door'); return l && l.lines.some(x => x.name === 'gate');",
        )
        .expect("the reloaded layout has the line");

    // Move it: pick it in "Edit" (keyboard: the next choice), drag its end b a tenth of the
    // view to the right, save. The item is replaced where it is; nothing else moves.
    browser.send_keys(&browser.find("#existing"), "\u{E015}");
    browser
        .wait_js(
            Duration::from_secs(5),
            "return document.getElementById('existing').value === 'gate' && window.lookout.draft.points.length === 2;",
        )
        .expect("the line is loaded for editing");
    let rect = browser.js(
        "window.scrollTo(0, 0); const r = document.getElementById('canvas').getBoundingClientRect(); \
         return [r.left, r.top, r.width, r.height, window.lookout.draft.points[1]];",
        vec![],
    );
    let (left, top, w, h) = (
        rect[0].as_f64().unwrap(),
        rect[1].as_f64().unwrap(),
        rect[2].as_f64().unwrap(),
        rect[3].as_f64().unwrap(),
    );
    let (bx, by) = (rect[4][0].as_f64().unwrap(), rect[4][1].as_f64().unwrap());
    let px = |fx: f64, fy: f64| {
        (
            (left + fx * w).round() as i64,
            (top + fy * h).round() as i64,
        )
    };
    browser.js("window.lookout.saved = null;", vec![]);
    browser.drag(px(bx, by), px(bx + 0.1, by));
    let new_bx = browser
        .wait_js(
            Duration::from_secs(10),
            &format!(
                "const p = window.lookout.draft.points[1]; return p[0] > {} ? p[0] : null;",
                bx + 0.05
            ),
        )
        .expect("the end moved")
        .as_f64()
        .unwrap();
    assert!(
        (new_bx - (bx + 0.1)).abs() < 0.01,
        "b moved to {new_bx} from {bx}"
    );
    let saved = save(&browser);
    let moved_text = common::read(&dir.join("p.yaml"));
    let gates: Vec<&str> = moved_text
        .lines()
        .filter(|l| l.contains("name: gate"))
        .collect();
    let moved_snippet = saved["snippet"].as_str().unwrap();
    assert_ne!(moved_snippet, snippet);
    assert_eq!(
        gates,
        vec![format!("        - {moved_snippet}")],
        "{moved_text}"
    );
    assert_eq!(
        moved_text.lines().count(),
        text.lines().count(),
        "{moved_text}"
    );
    // For the README: the heat map a little fuller, the page scrolled back to its top.
    browser.wait_js(
        Duration::from_secs(30),
        "const h = window.lookout.heat.door; return h && h.cells.filter(v => v > 0).length > 150;",
    );
    browser.js(
        "document.getElementById('clear').click(); window.scrollTo(0, 0);",
        vec![],
    );
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(shots.join("live.png"), browser.screenshot()).unwrap();

    // Keyboard only: focus the view, Escape, Enter places a point at the cross, five steps
    // right (1% each), Enter again: a line of two points.
    browser.js(
        "document.getElementById('canvas').focus(); window.lookout.cursor = [0.5, 0.5];",
        vec![],
    );
    browser.press("\u{E00C}\u{E007}\u{E014}\u{E014}\u{E014}\u{E014}\u{E014}\u{E007}");
    let points = browser.js("return window.lookout.draft.points;", vec![]);
    let points: Vec<[f64; 2]> = serde_json::from_value(points).unwrap();
    assert_eq!(points.len(), 2, "{points:?}");
    assert!(
        (points[0][0] - 0.5).abs() < 1e-6 && (points[1][0] - 0.55).abs() < 1e-6,
        "{points:?}"
    );
    assert!((points[1][1] - 0.5).abs() < 1e-6, "{points:?}");

    // At a phone's width nothing runs off the side of the page, in either view.
    browser.resize(390, 844);
    std::thread::sleep(Duration::from_millis(500));
    let overflow =
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;";
    assert_eq!(
        browser.js(overflow, vec![]),
        json!(0),
        "the live view overflows"
    );
    browser.click(&browser.find("#tab-overview"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        browser.js(overflow, vec![]),
        json!(0),
        "the overview overflows"
    );
    drop(browser);
    live.run.stop();
}

/// Status, content type and body of `GET path`.
fn get(agent: &ureq::Agent, page: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut resp = agent.get(format!("http://{page}{path}")).call().unwrap();
    let ty = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.body_mut().read_to_vec().unwrap_or_default();
    (resp.status().as_u16(), ty, body)
}

/// Every answer of the page, and what it streams, with its type and its first bytes.
fn answers(page: SocketAddr) -> Vec<(String, String, Vec<u8>)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let paths = [
        "/",
        "/index.html",
        "/app.js",
        "/style.css",
        "/api/overview",
        "/api/layout",
        "/api/still/door",
        "/api/still?camera=door",
        "/still.jpg",
        "/snapshot",
        "/favicon.ico",
        "/api/frame/door.jpg",
    ];
    let mut out = Vec::new();
    for p in paths {
        let (_, ty, body) = get(&agent, page, p);
        out.push((p.to_string(), ty, body));
    }
    // The event stream, read for a few seconds.
    let mut stream = std::net::TcpStream::connect(page).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut body = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    let mut buf = [0u8; 65536];
    while Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    out.push(("/api/stream".into(), "text/event-stream".into(), body));
    out
}

/// Magic numbers of picture and video formats.
fn is_picture(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"\x89PNG")
        || b.starts_with(b"GIF8")
        || (b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP"))
        || b.starts_with(b"BM")
        || b.get(4..8) == Some(b"ftyp")
        || b.starts_with(&[0, 0, 1, 0])
}

#[test]
fn without_stills_no_answer_of_the_page_is_a_picture() {
    let live = Live::start(false);
    let page = live.page;
    live.wait_detected();
    let answers = answers(page);
    let stream = &answers.last().unwrap().2;
    let text = String::from_utf8_lossy(stream);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("event: frame\ndata: {"),
        "no frames streamed: {text}"
    );
    for (path, ty, body) in &answers {
        assert!(
            ty.starts_with("text/") || ty.starts_with("application/json"),
            "{path}: {ty}"
        );
        assert!(!is_picture(body), "{path} answered picture bytes");
        // Every byte is text: no picture can hide in the answers.
        assert!(std::str::from_utf8(body).is_ok(), "{path} is not text");
    }
    let still = answers.iter().find(|a| a.0 == "/api/still/door").unwrap();
    assert!(still.1.starts_with("text/plain"), "{still:?}");
    // Another site's page in the same browser cannot change the file: a form posting plain
    // text is refused, and so is a request naming another origin; the file is untouched.
    let before = common::read(&live.dir.path().join("p.yaml"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let edit = r#"{"camera":"door","kind":"mask","points":[[0,0],[1,0],[1,1]]}"#;
    let post = |ty: &str, origin: &str| {
        agent
            .post(format!("http://{page}/api/save"))
            .header("Content-Type", ty)
            .header("Origin", origin)
            .send(edit)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post("text/plain", &format!("http://{page}")), 415);
    assert_eq!(post("application/json", "https://evil.example"), 403);
    assert_eq!(common::read(&live.dir.path().join("p.yaml")), before);
    live.run.stop();
}

#[test]
fn with_stills_this_machine_gets_a_redacted_jpeg_and_the_page_draws_it() {
    let live = Live::start(true);
    let (run, page) = (&live.run, live.page);
    live.wait_detected();
    let (status, layout) = common::http_get(page, "/api/layout").unwrap();
    assert_eq!(status, 200);
    let layout: Value = serde_json::from_str(&layout).unwrap();
    assert_eq!(layout[0]["stills"], json!(true), "{layout}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let (status, ty, body) = get(&agent, page, "/api/still/door");
    assert_eq!(
        status,
        200,
        "{}: {}",
        String::from_utf8_lossy(&body),
        run.log()
    );
    assert_eq!(ty, "image/jpeg");
    let img = image::load_from_memory(&body).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (768, 576));
    // Redacted, or not at all: nothing was withheld to produce it.
    assert_eq!(
        metric(run, "lookout_media_withheld_total", &[("kind", "still")]),
        0.0
    );
    // The page asks for it and draws it behind the metadata.
    let browser = Browser::start(1024, 768);
    browser.goto(&format!("http://{page}/#live"));
    let drawn = browser.wait_js(
        Duration::from_secs(30),
        "const i = window.lookout.stills.door; return i && i.naturalWidth === 768 && !document.getElementById('still-label').hidden;",
    );
    assert!(drawn.is_some(), "the page did not load the still");
    drop(browser);
    // A camera that does not exist gets words, not a picture.
    let (status, text) = common::http_get(page, "/api/still/nowhere").unwrap();
    assert_eq!(status, 404, "{text}");
    live.run.stop();
}
