//! Delivery-latency statistics over the entries of a period, computed exactly.
//!
//! Promise: memory is bounded by the number of *distinct* latency values (whole milliseconds),
//! not by the number of entries; every percentile is the exact nearest-rank value of the
//! multiset seen (no sampling, no interpolation, no floats), and the share within the requirement
//! is truncated, never rounded up, so `100.00` means every signal met it.

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;

use crate::domain::entry::StoredEntry;
use crate::domain::timestamp::Timestamp;

/// The 10 slowest signals are listed.
pub const WORST_KEPT: usize = 10;
/// Upper bounds (inclusive, ms) of the histogram's buckets; one more bucket holds the rest.
/// Negative latencies (producer clock ahead) fall in the first bucket.
pub const HISTOGRAM_UPPER_BOUNDS_MS: [i64; 9] = [50, 100, 200, 300, 400, 500, 750, 1000, 2000];

/// One of the slowest signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorstSignal {
    pub signal_id: String,
    pub chain_index: u64,
    pub symbol: String,
    pub received_at: Timestamp,
    pub latency_ms: i64,
}

/// One histogram bucket: latencies in `(previous upper bound, upper_ms]`; `upper_ms` is `None` for
/// the last bucket (above the last bound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramBucket {
    pub label: String,
    pub upper_ms: Option<i64>,
    pub count: u64,
}

/// Accumulates the latencies of the period's entries. The caller adds only entries whose
/// `received_at` is in the period.
#[derive(Debug, Clone, Default)]
pub struct LatencyAccumulator {
    counts: BTreeMap<i64, u64>,
    count: u64,
    worst: Vec<WorstSignal>,
    per_day: BTreeMap<Date, u64>,
}

impl LatencyAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, entry: &StoredEntry) {
        let entry = &entry.entry;
        let latency = entry.delivery_latency_ms;
        *self.counts.entry(latency).or_default() += 1;
        self.count += 1;
        *self
            .per_day
            .entry(entry.received_at.as_datetime().date())
            .or_default() += 1;
        let qualifies = self.worst.len() < WORST_KEPT
            || self
                .worst
                .last()
                .is_some_and(|last| worse(latency, entry.chain_index, last));
        if qualifies {
            self.worst.push(WorstSignal {
                signal_id: entry.signal_id.to_string(),
                chain_index: entry.chain_index,
                symbol: entry.content.symbol.clone(),
                received_at: entry.received_at,
                latency_ms: latency,
            });
            // Slowest first; among equals, the earlier entry first.
            self.worst.sort_by(|a, b| {
                b.latency_ms
                    .cmp(&a.latency_ms)
                    .then(a.chain_index.cmp(&b.chain_index))
            });
            self.worst.truncate(WORST_KEPT);
        }
    }

    /// Entries added.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> Option<i64> {
        self.counts.keys().next().copied()
    }

    pub fn max(&self) -> Option<i64> {
        self.counts.keys().next_back().copied()
    }

    /// The nearest-rank `p`-th percentile (`0 < p <= 100`): the smallest value `v` with
    /// `count(≤ v) ≥ ceil(p/100 · n)`. `None` when nothing was added.
    pub fn percentile(&self, p: u32) -> Option<i64> {
        nearest_rank(&self.counts, self.count, p)
    }

    /// Entries with a latency of at most `limit_ms` (negative latencies included).
    pub fn at_most(&self, limit_ms: i64) -> u64 {
        self.counts.range(..=limit_ms).map(|(_, n)| n).sum()
    }

    /// Entries with a negative latency: the producer's clock was ahead of the ledger's.
    pub fn negative(&self) -> u64 {
        self.counts.range(..0).map(|(_, n)| n).sum()
    }

    /// The histogram over [`HISTOGRAM_UPPER_BOUNDS_MS`]; its counts sum to [`count`](Self::count).
    pub fn histogram(&self) -> Vec<HistogramBucket> {
        let mut buckets = Vec::with_capacity(HISTOGRAM_UPPER_BOUNDS_MS.len() + 1);
        let mut below = 0;
        for upper in HISTOGRAM_UPPER_BOUNDS_MS {
            let up_to = self.at_most(upper);
            buckets.push(HistogramBucket {
                label: format!("≤{upper}"),
                upper_ms: Some(upper),
                count: up_to - below,
            });
            below = up_to;
        }
        let last = HISTOGRAM_UPPER_BOUNDS_MS[HISTOGRAM_UPPER_BOUNDS_MS.len() - 1];
        buckets.push(HistogramBucket {
            label: format!(">{last}"),
            upper_ms: None,
            count: self.count - below,
        });
        buckets
    }

    /// The slowest signals, slowest first (at most [`WORST_KEPT`]).
    pub fn worst(&self) -> &[WorstSignal] {
        &self.worst
    }

    /// Entries per UTC day of `received_at`.
    pub fn per_day(&self, day: Date) -> u64 {
        self.per_day.get(&day).copied().unwrap_or(0)
    }
}

fn worse(latency: i64, chain_index: u64, than: &WorstSignal) -> bool {
    latency > than.latency_ms || (latency == than.latency_ms && chain_index < than.chain_index)
}

/// Nearest-rank percentile over a value → count map holding `total` values.
pub fn nearest_rank(counts: &BTreeMap<i64, u64>, total: u64, p: u32) -> Option<i64> {
    if total == 0 {
        return None;
    }
    // rank = ceil(p · n / 100), at least 1; in integers, so it is exact.
    let product = u128::from(p.min(100)) * u128::from(total);
    let rank = product.div_ceil(100).max(1);
    let mut seen: u128 = 0;
    for (value, count) in counts {
        seen += u128::from(*count);
        if seen >= rank {
            return Some(*value);
        }
    }
    counts.keys().next_back().copied()
}

/// `part / whole` as a percentage with exactly two decimals, truncated (`"99.50"`); `None` when
/// `whole` is 0.
pub fn percent_string(part: u64, whole: u64) -> Option<String> {
    if whole == 0 {
        return None;
    }
    let hundredths = u128::from(part) * 10_000 / u128::from(whole);
    Some(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::test_support::chain;

    /// Entries of a chain with the given latencies (the stored hashes no longer match, which the
    /// latency statistics do not look at).
    fn with_latencies(latencies: &[i64]) -> Vec<StoredEntry> {
        let mut entries = chain(latencies.len() as u64);
        for (entry, latency) in entries.iter_mut().zip(latencies) {
            entry.entry.delivery_latency_ms = *latency;
        }
        entries
    }

    fn accumulate(latencies: &[i64]) -> LatencyAccumulator {
        let mut acc = LatencyAccumulator::new();
        for entry in with_latencies(latencies) {
            acc.add(&entry);
        }
        acc
    }

    /// The textbook definition on a sorted copy.
    fn oracle(latencies: &[i64], p: u32) -> Option<i64> {
        let mut sorted = latencies.to_vec();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return None;
        }
        // The smallest rank r (1-based) with r ≥ p/100 · n, found by counting up.
        let n = sorted.len();
        let rank = (1..=n).find(|r| r * 100 >= p as usize * n).unwrap_or(n);
        Some(sorted[rank - 1])
    }

    #[test]
    fn percentile_table() {
        let check = |latencies: &[i64], p: u32, expected: Option<i64>| {
            assert_eq!(
                accumulate(latencies).percentile(p),
                expected,
                "{latencies:?} p{p}"
            );
        };
        check(&[], 50, None);
        check(&[7], 50, Some(7));
        check(&[7], 99, Some(7));
        check(&[1, 2, 3, 4], 50, Some(2));
        check(&[1, 2, 3, 4], 95, Some(4));
        check(&[15, 20, 35, 40, 50], 30, Some(20));
        check(&[15, 20, 35, 40, 50], 40, Some(20));
        check(&[15, 20, 35, 40, 50], 50, Some(35));
        check(&[15, 20, 35, 40, 50], 100, Some(50));
        check(&[-5, 500, 501], 50, Some(500));
    }

    #[test]
    fn shares_are_truncated_with_two_decimals() {
        assert_eq!(percent_string(199, 200).as_deref(), Some("99.50"));
        assert_eq!(percent_string(2, 3).as_deref(), Some("66.66"));
        assert_eq!(percent_string(9_999, 10_000).as_deref(), Some("99.99"));
        assert_eq!(percent_string(99_999, 100_000).as_deref(), Some("99.99"));
        assert_eq!(percent_string(5, 5).as_deref(), Some("100.00"));
        assert_eq!(percent_string(0, 5).as_deref(), Some("0.00"));
        assert_eq!(percent_string(0, 0), None);
    }

    #[test]
    fn worst_signals_and_negatives() {
        let acc = accumulate(&[10, 900, -3, 900, 40, 7000, 1, 2, 3, 4, 5, 6, 8, -1]);
        let worst: Vec<(u64, i64)> = acc
            .worst()
            .iter()
            .map(|w| (w.chain_index, w.latency_ms))
            .collect();
        assert_eq!(
            worst,
            vec![
                (5, 7000),
                (1, 900),
                (3, 900),
                (4, 40),
                (0, 10),
                (12, 8),
                (11, 6),
                (10, 5),
                (9, 4),
                (8, 3)
            ]
        );
        assert_eq!(acc.negative(), 2);
        assert_eq!(acc.at_most(500), 11);
        assert_eq!((acc.min(), acc.max()), (Some(-3), Some(7000)));
        assert_eq!(acc.worst()[0].signal_id, "sig-000005");
    }

    #[test]
    fn histogram_buckets_are_inclusive_upper_bounds() {
        let acc = accumulate(&[-20, 50, 51, 100, 500, 501, 2000, 2001, 99_999]);
        let counts: Vec<(String, u64)> = acc
            .histogram()
            .into_iter()
            .map(|b| (b.label, b.count))
            .collect();
        let expected = [
            ("≤50", 2),
            ("≤100", 2),
            ("≤200", 0),
            ("≤300", 0),
            ("≤400", 0),
            ("≤500", 1),
            ("≤750", 1),
            ("≤1000", 0),
            ("≤2000", 1),
            (">2000", 2),
        ];
        let expected: Vec<(String, u64)> = expected
            .iter()
            .map(|(l, c)| ((*l).to_owned(), *c))
            .collect();
        assert_eq!(counts, expected);
    }

    proptest! {
        #[test]
        fn percentiles_match_the_sorting_oracle(latencies in prop::collection::vec(-2_000i64..5_000, 0..300), p in 1u32..=100) {
            let acc = accumulate(&latencies);
            prop_assert_eq!(acc.percentile(p), oracle(&latencies, p));
            for q in [50, 95, 99, 100] {
                prop_assert_eq!(acc.percentile(q), oracle(&latencies, q));
            }
            prop_assert_eq!(acc.max(), latencies.iter().max().copied());
            prop_assert_eq!(acc.min(), latencies.iter().min().copied());
        }

        #[test]
        fn histogram_counts_sum_to_the_count(latencies in prop::collection::vec(-3_000i64..10_000, 0..300)) {
            let acc = accumulate(&latencies);
            let total: u64 = acc.histogram().iter().map(|b| b.count).sum();
            prop_assert_eq!(total, acc.count());
            prop_assert_eq!(acc.count(), latencies.len() as u64);
            prop_assert_eq!(acc.at_most(500), latencies.iter().filter(|l| **l <= 500).count() as u64);
        }
    }
}
