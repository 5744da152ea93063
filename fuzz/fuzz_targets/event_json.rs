//! Event JSON (what sinks and `lookout events` read back): any bytes parse to an error or an
//! event, and an event survives a round trip unchanged (`Event::from_json` refuses what would not:
//! a fuzz run found `1e55` as a box corner, infinity as f32, written back as `null`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::events::Event;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = Event::from_json(data) else {
        return;
    };
    let json = serde_json::to_vec(&event).expect("an event serializes");
    let back = Event::from_json(&json).expect("an event reads back");
    assert_eq!(
        serde_json::to_value(&back).expect("value"),
        serde_json::to_value(&event).expect("value"),
        "round trip changed the event"
    );
});
