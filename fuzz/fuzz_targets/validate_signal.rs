//! The signal validator over arbitrary bytes: never panics, and its answer is bounded — at most
//! `MAX_REPORTED_PROBLEMS` problems (never none on a refusal), each message short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::signal::{MAX_REPORTED_PROBLEMS, Rejection, ValidationRules, validate};
use shared::domain::timestamp::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(now) = Timestamp::parse_rfc3339("2026-11-28T09:30:00Z") else {
        return;
    };
    match validate(data, &ValidationRules::default(), now) {
        Ok(submission) => {
            let content = submission.content;
            assert!(!content.symbol.is_empty() && content.symbol.len() <= 16);
            assert!(
                content
                    .symbol
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"./-".contains(&b))
            );
            assert!(!content.rationale.trim().is_empty());
        }
        Err(Rejection::Invalid { problems, omitted }) => {
            assert!(!problems.is_empty());
            assert!(problems.len() <= MAX_REPORTED_PROBLEMS);
            assert!(omitted == 0 || problems.len() == MAX_REPORTED_PROBLEMS);
            for problem in &problems {
                assert!(problem.message.len() <= 1024, "{}", problem.message);
                assert!(problem.field.len() <= 64 * 4);
            }
        }
        Err(Rejection::MalformedJson { message, .. }) => assert!(message.len() <= 1024),
    }
});
