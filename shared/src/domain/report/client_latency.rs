//! Client delivery latency (`delivered_at − generated_at` of delivery receipts) over a period,
//! exactly, and per subscriber: the report's view of what subscribers felt.
//!
//! Promise: the same exact nearest-rank percentiles as `latency.rs` (no sampling, no floats);
//! memory bounded by distinct latency values per subscriber and by [`MAX_SUBSCRIBERS_TRACKED`]
//! subscribers (receipts of further subscribers still count in the overall figures, and how many
//! were not tracked is reported).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::report::LATENCY_REQUIREMENT_MS;
use crate::domain::report::latency::{nearest_rank, percent_string};

/// The slowest subscribers listed.
pub const SLOWEST_SUBSCRIBERS_KEPT: usize = 10;
/// Subscribers tracked one by one; the rest count in the overall figures only.
pub const MAX_SUBSCRIBERS_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Default)]
struct Latencies {
    counts: BTreeMap<i64, u64>,
    count: u64,
}

impl Latencies {
    fn add(&mut self, latency_ms: i64) {
        *self.counts.entry(latency_ms).or_default() += 1;
        self.count += 1;
    }

    fn percentile(&self, p: u32) -> Option<i64> {
        nearest_rank(&self.counts, self.count, p)
    }
}

/// Accumulates the `RECEIPT_RECORDED` audit events of a period (the caller adds only events
/// that occurred in it). Other events are ignored; a receipt event whose details lack the
/// latency or the subscriber is counted as unreadable, never guessed at.
#[derive(Debug, Clone, Default)]
pub struct ClientLatencyAccumulator {
    all: Latencies,
    subscribers: BTreeMap<String, Latencies>,
    untracked_receipts: u64,
    unreadable: u64,
}

impl ClientLatencyAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_event(&mut self, event: &AuditEvent) {
        if event.event_type != AuditEventType::ReceiptRecorded {
            return;
        }
        let latency = event.details["client_latency_ms"].as_i64();
        let subscriber = event.details["subscriber"].as_str();
        match (latency, subscriber) {
            (Some(latency), Some(subscriber)) => self.add(subscriber, latency),
            _ => self.unreadable += 1,
        }
    }

    pub fn add(&mut self, subscriber: &str, latency_ms: i64) {
        self.all.add(latency_ms);
        if let Some(latencies) = self.subscribers.get_mut(subscriber) {
            latencies.add(latency_ms);
        } else if self.subscribers.len() < MAX_SUBSCRIBERS_TRACKED {
            let mut latencies = Latencies::default();
            latencies.add(latency_ms);
            self.subscribers.insert(subscriber.to_owned(), latencies);
        } else {
            self.untracked_receipts += 1;
        }
    }

    /// The statistics as the report shows them.
    pub fn summary(&self) -> ClientDelivery {
        let within = self
            .all
            .counts
            .range(..=LATENCY_REQUIREMENT_MS)
            .map(|(_, n)| n)
            .sum();
        let mut slowest: Vec<SubscriberLatency> = self
            .subscribers
            .iter()
            .map(|(subscriber, latencies)| SubscriberLatency {
                subscriber: subscriber.clone(),
                receipts: latencies.count,
                p95_ms: latencies.percentile(95).unwrap_or_default(),
                max_ms: latencies
                    .counts
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or_default(),
            })
            .collect();
        // Slowest first: by p95, then max, then more receipts; ties by name, so the order is fixed.
        slowest.sort_by(|a, b| {
            (b.p95_ms, b.max_ms, b.receipts)
                .cmp(&(a.p95_ms, a.max_ms, a.receipts))
                .then_with(|| a.subscriber.cmp(&b.subscriber))
        });
        slowest.truncate(SLOWEST_SUBSCRIBERS_KEPT);
        ClientDelivery {
            receipts: self.all.count,
            subscribers: self.subscribers.len() as u64,
            min_ms: self.all.counts.keys().next().copied(),
            p50_ms: self.all.percentile(50),
            p95_ms: self.all.percentile(95),
            p99_ms: self.all.percentile(99),
            max_ms: self.all.counts.keys().next_back().copied(),
            within_requirement: within,
            within_requirement_percent: percent_string(within, self.all.count),
            slowest_subscribers: slowest,
            receipts_of_untracked_subscribers: self.untracked_receipts,
            unreadable_receipt_events: self.unreadable,
        }
    }
}

/// One of the slowest subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberLatency {
    pub subscriber: String,
    pub receipts: u64,
    pub p95_ms: i64,
    pub max_ms: i64,
}

/// The latency section's client-delivery part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientDelivery {
    /// Receipts recorded in the period.
    pub receipts: u64,
    /// Distinct subscribers tracked.
    pub subscribers: u64,
    pub min_ms: Option<i64>,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    pub p99_ms: Option<i64>,
    pub max_ms: Option<i64>,
    /// Receipts with a client latency of at most the requirement (500 ms).
    pub within_requirement: u64,
    pub within_requirement_percent: Option<String>,
    /// The slowest subscribers by their own p95, slowest first (at most 10).
    pub slowest_subscribers: Vec<SubscriberLatency>,
    /// Receipts of subscribers beyond the first 10,000 (in the overall figures only).
    pub receipts_of_untracked_subscribers: u64,
    /// `RECEIPT_RECORDED` events without a readable latency or subscriber.
    pub unreadable_receipt_events: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::timestamp;

    fn event(subscriber: &str, latency: i64) -> AuditEvent {
        AuditEvent {
            event_id: "e".into(),
            occurred_at: timestamp("2026-11-28T10:00:00Z"),
            event_type: AuditEventType::ReceiptRecorded,
            actor: "gateway".into(),
            request_id: "r".into(),
            signal_id: Some("s".into()),
            chain_index: Some(0),
            reason: None,
            excerpt: None,
            details: serde_json::json!({"subscriber": subscriber, "client_latency_ms": latency}),
        }
    }

    #[test]
    fn percentiles_and_the_slowest_subscribers() {
        let mut accumulator = ClientLatencyAccumulator::new();
        for latency in 1..=100 {
            accumulator.add_event(&event("fast", latency));
        }
        for latency in [900, 1200] {
            accumulator.add_event(&event("slow", latency));
        }
        accumulator.add_event(&event("middle", 600));
        let mut other = event("ignored", 5);
        other.event_type = AuditEventType::SignalInserted;
        accumulator.add_event(&other);
        let mut broken = event("x", 1);
        broken.details = serde_json::json!({"subscriber": "x"});
        accumulator.add_event(&broken);

        let summary = accumulator.summary();
        assert_eq!(summary.receipts, 103);
        assert_eq!(summary.subscribers, 3);
        assert_eq!(summary.p50_ms, Some(52));
        assert_eq!(summary.p95_ms, Some(98));
        assert_eq!(summary.p99_ms, Some(900));
        assert_eq!(summary.max_ms, Some(1200));
        assert_eq!(summary.within_requirement, 100);
        assert_eq!(summary.within_requirement_percent.as_deref(), Some("97.08"));
        assert_eq!(summary.unreadable_receipt_events, 1);
        let names: Vec<_> = summary
            .slowest_subscribers
            .iter()
            .map(|s| (s.subscriber.as_str(), s.p95_ms, s.receipts))
            .collect();
        assert_eq!(
            names,
            vec![("slow", 1200, 2), ("middle", 600, 1), ("fast", 95, 100)]
        );
    }

    #[test]
    fn nothing_recorded_is_no_figures() {
        let summary = ClientLatencyAccumulator::new().summary();
        assert_eq!(summary.receipts, 0);
        assert_eq!(summary.p95_ms, None);
        assert_eq!(summary.within_requirement_percent, None);
        assert!(summary.slowest_subscribers.is_empty());
    }

    #[test]
    fn subscribers_beyond_the_limit_count_overall_only() {
        let mut accumulator = ClientLatencyAccumulator::new();
        for n in 0..MAX_SUBSCRIBERS_TRACKED + 3 {
            accumulator.add(&format!("s{n}"), 10);
        }
        let summary = accumulator.summary();
        assert_eq!(summary.receipts, MAX_SUBSCRIBERS_TRACKED as u64 + 3);
        assert_eq!(summary.subscribers, MAX_SUBSCRIBERS_TRACKED as u64);
        assert_eq!(summary.receipts_of_untracked_subscribers, 3);
        assert_eq!(summary.slowest_subscribers.len(), SLOWEST_SUBSCRIBERS_KEPT);
    }
}
