//! The strict audit seal note parser over arbitrary text: never panics, and what it accepts is
//! exactly the text it would write (one text per seal).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::audit_seal::SignedSeal;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(note) = SignedSeal::parse(text) {
        assert_eq!(note.to_text(), text);
    }
});
