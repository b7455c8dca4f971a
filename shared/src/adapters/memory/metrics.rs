//! `RecordingMetrics`: keeps every emitted metric, for assertions.

use std::sync::{Arc, Mutex};

use crate::ports::{Metric, MetricsSink};

/// Keeps every emitted metric, for assertions.
#[derive(Debug, Clone, Default)]
pub struct RecordingMetrics {
    metrics: Arc<Mutex<Vec<Metric>>>,
}

impl RecordingMetrics {
    pub fn recorded(&self) -> Vec<Metric> {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The sum of all values emitted under `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.recorded()
            .iter()
            .filter(|m| m.name == name)
            .map(|m| m.value)
            .sum()
    }
}

impl MetricsSink for RecordingMetrics {
    fn emit(&self, metrics: &[Metric]) {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(metrics);
    }
}
