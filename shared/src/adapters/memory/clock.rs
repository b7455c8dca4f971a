//! `FixedClock`: a clock that stands still until moved.

use std::sync::{Arc, Mutex};

use crate::domain::timestamp::Timestamp;
use crate::ports::Clock;

/// A clock that stands still until moved.
#[derive(Debug, Clone)]
pub struct FixedClock {
    now: Arc<Mutex<Timestamp>>,
}

impl FixedClock {
    pub fn new(now: Timestamp) -> FixedClock {
        FixedClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}
