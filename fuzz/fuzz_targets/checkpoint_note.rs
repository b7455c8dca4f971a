//! The strict checkpoint note parser over arbitrary text: never panics, and what it accepts
//! is written back exactly as read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::checkpoint::SignedCheckpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(note) = SignedCheckpoint::parse(text) {
        let written = note.to_text();
        assert_eq!(SignedCheckpoint::parse(&written).ok(), Some(note));
    }
});
