//! Event and object ids: UUIDv7 strings, time-ordered and unique across restarts without a
//! coordinating counter or a new dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.
///
/// Time first makes ids sort by creation (handy for outboxes and logs); the random bits make two ids
/// made in the same millisecond, by this process or a restarted one, collide with negligible odds.
pub fn new_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    uuid_v7(ms, fastrand::u64(..), fastrand::u64(..))
}

/// Formats a UUIDv7 from its timestamp and random bits (the bits that do not fit are dropped).
fn uuid_v7(unix_ms: u64, rand_a: u64, rand_b: u64) -> String {
    let hi: u64 = ((unix_ms & 0xFFFF_FFFF_FFFF) << 16) | 0x7000 | (rand_a & 0x0FFF);
    let lo: u64 = (rand_b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn layout_is_uuid_v7() {
        let id = uuid_v7(0x0189_7A2B_3C4D, u64::MAX, u64::MAX);
        assert_eq!(id, "01897a2b-3c4d-7fff-bfff-ffffffffffff");
        let id = uuid_v7(1, 0, 0);
        assert_eq!(id, "00000000-0001-7000-8000-000000000000");
    }

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        let set: HashSet<&String> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
        // The first 12 hex digits are the millisecond timestamp: never decreasing.
        for w in ids.windows(2) {
            assert!(w[0][..13] <= w[1][..13], "{} then {}", w[0], w[1]);
        }
        assert!(ids.iter().all(|i| i.len() == 36 && &i[14..15] == "7"));
    }
}
