//! Event JSON (what sinks and `lookout events` read back): any bytes parse to an error or an
//! event, and an event survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::events::Event;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Event>(data) else {
        return;
    };
    let json = serde_json::to_vec(&event).expect("an event serializes");
    let back: Event = serde_json::from_slice(&json).expect("an event reads back");
    assert_eq!(
        serde_json::to_value(&back).expect("value"),
        serde_json::to_value(&event).expect("value"),
        "round trip changed the event"
    );
});
