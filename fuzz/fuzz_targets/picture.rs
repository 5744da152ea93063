//! Picture bytes (PNG, JPEG or anything else) through the bounded decoder: an error or a picture
//! within the size limit, never a panic or an allocation past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::capture::input::{MAX_PICTURE_SIDE, decode_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = decode_bytes(data) {
        assert!(p.width() <= MAX_PICTURE_SIDE && p.height() <= MAX_PICTURE_SIDE);
    }
});
