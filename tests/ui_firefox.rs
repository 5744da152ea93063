//! The local page in a real headless Firefox (Debian's Firefox ESR, over WebDriver through
//! geckodriver) against a real `lookout run` on the bundled footage served live over RTSP: the
//! overview shows the camera, the live view draws its tracks, a zone drawn with the mouse and
//! saved is named by the next zone event, and a mask drawn over the whole picture and saved
//! leaves no detection to track. (tests/ui_page.rs does the rest in Chromium.)
#![cfg(feature = "capture")]

mod common;

use std::time::Duration;

use common::live::wait_until;
use common::page::{Live, metric, save, track_pixels};
use common::webdriver::{Browser, Engine};
use serde_json::{Value, json};

/// Picks `value` in the `<select>` `id` by clicking its option, as WebDriver selects options.
fn choose(browser: &Browser, id: &str, value: &str) {
    browser.click(&browser.find(&format!("#{id} option[value={value}]")));
    browser
        .wait_js(
            Duration::from_secs(5),
            &format!("return document.getElementById('{id}').value === '{value}';"),
        )
        .unwrap_or_else(|| panic!("#{id} did not change to {value}"));
}

/// Clicks the canvas at each of `points` (fractions of its width and height), then waits for
/// the page's check of the drawing and returns its snippet, which starts with `prefix`.
fn draw(browser: &Browser, points: &[(f64, f64)], prefix: &str) -> String {
    let rect = browser.js(
        "window.lookout.lastCheck = null; window.scrollTo(0, 0); const r = document.getElementById('canvas').getBoundingClientRect(); \
         return [r.left, r.top, r.width, r.height];",
        vec![],
    );
    let r: Vec<f64> = serde_json::from_value(rect).unwrap();
    for &(fx, fy) in points {
        browser.click_at(
            (r[0] + fx * r[2]).round() as i64,
            (r[1] + fy * r[3]).round() as i64,
        );
    }
    let n = points.len();
    let checked = browser
        .wait_js(
            Duration::from_secs(10),
            &format!(
                "const c = window.lookout.lastCheck; \
                 return window.lookout.draft.points.length === {n} && c && c.snippet \
                 && c.snippet.startsWith('{prefix}') && !c.error ? c.snippet : null;"
            ),
        )
        .unwrap_or_else(|| {
            panic!(
                "no valid snippet: {} {}",
                browser.js("return window.lookout.lastCheck;", vec![]),
                browser.js("return window.lookout.draft;", vec![])
            )
        });
    checked.as_str().unwrap().to_string()
}

/// Lines of `text` that `before` does not have.
fn added<'a>(text: &'a str, before: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !before.lines().any(|o| o == *l))
        .collect()
}

#[test]
fn in_firefox_the_page_draws_tracks_and_a_drawn_zone_and_mask_take_effect() {
    let live = Live::start(false);
    let (run, dir) = (&live.run, live.dir.path());
    live.wait_detected();

    let browser = Browser::start_engine(Engine::Firefox, 1280, 1024);
    browser.goto(&format!("http://{}/", live.page));

    // Overview: the camera, streaming, counting frames.
    let row = browser.wait_js(
        Duration::from_secs(30),
        "const tr = document.querySelector('#cameras tbody tr[data-camera=door]'); \
         const cells = tr && [...tr.children].map(td => td.textContent); \
         return cells && cells[1] === 'streaming' && Number(cells[2]) > 1 ? cells : null;",
    );
    assert!(
        row.is_some(),
        "the overview never showed door streaming: {}",
        run.log()
    );

    // Live view: tracks arrive and are drawn in the track colour.
    browser.click(&browser.find("#tab-live"));
    let tracks = browser.wait_js(
        Duration::from_secs(60),
        "const f = window.lookout.frames.door; return f && f.tracks.length > 0 ? f.tracks.length : null;",
    );
    assert!(tracks.is_some(), "no tracks reached the live view");
    std::thread::sleep(Duration::from_millis(300));
    let drawn = track_pixels(&browser.element_screenshot(&browser.find("#canvas")));
    assert!(
        drawn > 200,
        "only {drawn} pixels in the track colour on the canvas"
    );

    // A zone over the middle of the footpath, drawn corner by corner and saved.
    choose(&browser, "kind", "zone");
    browser.type_into(&browser.find("#name"), "lawn");
    let corners = [(0.33, 0.33), (0.57, 0.33), (0.57, 0.78), (0.33, 0.78)];
    let snippet = draw(&browser, &corners, "{name: lawn");
    save(&browser);
    let zoned = common::read(&dir.join("p.yaml"));
    assert_eq!(
        added(&zoned, &live.original),
        vec![format!("        - {snippet}")],
        "{zoned}"
    );
    let entered = wait_until(Duration::from_secs(120), || {
        run.events()
            .iter()
            .any(|e| e["kind"] == "zone_enter" && e["zone"] == "lawn")
    });
    assert!(entered, "nobody entered the drawn zone: {}", run.log());

    // A mask over the whole picture: every detection is dropped, so the tracks end and no new
    // one starts while the detector keeps finding people.
    choose(&browser, "kind", "mask");
    let whole = [
        (0.002, 0.002),
        (0.998, 0.002),
        (0.998, 0.998),
        (0.002, 0.998),
    ];
    let mask = draw(&browser, &whole, "[[");
    save(&browser);
    let masked = common::read(&dir.join("p.yaml"));
    assert_eq!(
        added(&masked, &zoned),
        vec!["      masks:".to_string(), format!("        - {mask}")],
        "{masked}"
    );
    let door = [("camera", "door")];
    assert!(
        wait_until(Duration::from_secs(60), || {
            metric(run, "lookout_tracks_active", &door) == 0.0
        }),
        "tracks still active under a mask over everything: {}",
        run.log()
    );
    let events = run.events().len();
    let found = metric(run, "lookout_detections_total", &door);
    assert!(
        wait_until(Duration::from_secs(60), || {
            metric(run, "lookout_detections_total", &door) >= found + 10.0
        }),
        "the detector stopped finding people: {}",
        run.log()
    );
    assert_eq!(metric(run, "lookout_tracks_active", &door), 0.0);
    let later: Vec<Value> = run.events().into_iter().skip(events).collect();
    assert!(
        later
            .iter()
            .all(|e| !(e["kind"] == "object" && e["type"] == "new") && e["kind"] != "zone_enter"),
        "events under the mask: {later:?}"
    );
    assert_eq!(
        browser.js(
            "const f = window.lookout.frames.door; return f ? f.tracks.length : null;",
            vec![]
        ),
        json!(0)
    );
    drop(browser);
    live.run.stop();
}
