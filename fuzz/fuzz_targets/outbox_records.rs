//! An outbox whose segment and ack files hold arbitrary bytes (a torn write, a bad disk, a
//! hostile file): opening recovers what is valid, reading never panics, and every record read
//! was whole (its CRC checked).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::sinks::outbox::{Outbox, OutboxLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    // The first 12 bytes are the ack file; the rest is the first segment.
    let (ack, segment) = data.split_at(data.len().min(12));
    let _ = std::fs::write(dir.path().join("ack"), ack);
    let _ = std::fs::write(dir.path().join(format!("{:020}.seg", 1)), segment);
    let Ok((mut outbox, _recovery)) = Outbox::open(dir.path(), OutboxLimits::default()) else {
        return;
    };
    let mut read = 0;
    while let Ok(Some((seq, _payload))) = outbox.next_record() {
        let _ = outbox.ack(seq);
        read += 1;
        assert!(read <= segment.len(), "more records than bytes");
    }
    // Still usable for new events after recovery.
    let _ = outbox.append(b"{}");
});
