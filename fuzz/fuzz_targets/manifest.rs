//! The backup manifest parser over arbitrary bytes: never panics, and accepts only canonical
//! bytes (what it accepts is exactly what it would write).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::backup::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        assert_eq!(manifest.to_bytes(), data);
        assert!(manifest.check().is_ok());
        let _ = manifest.tree();
    }
});
