//! Every parameter of the modelled DynamoDB in one place, each with its source. Figures are
//! DynamoDB's published ones (the issue that asked for the model, issue 13, quotes them;
//! `FACTS.md` "DynamoDB figures for models" keeps them for the project); re-measure them in the
//! deployed region and change them here, nowhere else.

use std::time::Duration;

/// A log-normal latency given by its median and 99th percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNormal {
    pub p50: Duration,
    pub p99: Duration,
}

/// z of the 99th percentile of the standard normal distribution.
const Z_99: f64 = 2.326_347_874;

impl LogNormal {
    pub const fn millis(p50: f64, p99: f64) -> LogNormal {
        LogNormal {
            p50: Duration::from_micros((p50 * 1000.0) as u64),
            p99: Duration::from_micros((p99 * 1000.0) as u64),
        }
    }

    /// `exp(μ + σ·z)` with `μ = ln p50` and `σ = (ln p99 − ln p50) / z₉₉`.
    pub fn sample(&self, standard_normal: f64) -> Duration {
        let p50 = self.p50.as_secs_f64();
        let sigma = (self.p99.as_secs_f64().ln() - p50.ln()) / Z_99;
        Duration::from_secs_f64((p50.ln() + sigma * standard_normal).exp())
    }

    fn lerp(a: LogNormal, b: LogNormal, t: f64) -> LogNormal {
        let mix = |x: Duration, y: Duration| x.mul_f64(1.0 - t) + y.mul_f64(t);
        LogNormal {
            p50: mix(a.p50, b.p50),
            p99: mix(a.p99, b.p99),
        }
    }
}

/// DynamoDB's semantics and performance, as modelled.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParameters {
    /// GetItem, BatchGetItem and one Query page: p50 5 ms / p99 12 ms (published single-page
    /// read latency from Lambda in the same region; issue 13, FACTS.md).
    pub read: LogNormal,
    /// PutItem: p50 7.6 ms / p99 16 ms (published, from Lambda in-region; issue 13, FACTS.md).
    pub put: LogNormal,
    /// TransactWriteItems of up to `transact_small_items` actions: p50 15 ms / p99 40 ms (issue 13).
    pub transact_small: LogNormal,
    pub transact_small_items: usize,
    /// TransactWriteItems of `transact_large_items` actions and more: p50 32 ms / p99 98 ms
    /// (published for 25 items; issue 13, FACTS.md). In between, both percentiles rise linearly.
    pub transact_large: LogNormal,
    pub transact_large_items: usize,
    /// Per partition-key value: 1,000 WCU/s and 3,000 RCU/s (DynamoDB developer guide,
    /// "partitions and data distribution"; FACTS.md). A bucket holds one second of capacity.
    pub partition_wcu_per_second: f64,
    pub partition_rcu_per_second: f64,
    /// A write costs 1 WCU per KB (rounded up), a transactional write 2 (FACTS.md).
    pub write_unit_bytes: usize,
    pub transactional_write_factor: f64,
    /// A strongly consistent read costs 1 RCU per 4 KB (rounded up; a query sums its items first).
    pub read_unit_bytes: usize,
    /// Items ≤ 400 KB; a transaction ≤ 100 actions and ≤ 4 MB; a query page ≤ 1 MB (FACTS.md).
    pub max_item_bytes: usize,
    pub max_transaction_actions: usize,
    pub max_transaction_bytes: usize,
    pub max_query_page_bytes: usize,
}

impl ModelParameters {
    /// The published figures above.
    pub fn published() -> ModelParameters {
        ModelParameters {
            read: LogNormal::millis(5.0, 12.0),
            put: LogNormal::millis(7.6, 16.0),
            transact_small: LogNormal::millis(15.0, 40.0),
            transact_small_items: 4,
            transact_large: LogNormal::millis(32.0, 98.0),
            transact_large_items: 25,
            partition_wcu_per_second: 1_000.0,
            partition_rcu_per_second: 3_000.0,
            write_unit_bytes: 1024,
            transactional_write_factor: 2.0,
            read_unit_bytes: 4096,
            max_item_bytes: 400 * 1024,
            max_transaction_actions: 100,
            max_transaction_bytes: 4 * 1024 * 1024,
            max_query_page_bytes: 1024 * 1024,
        }
    }

    /// The latency distribution of a transaction of `actions` actions.
    pub fn transact(&self, actions: usize) -> LogNormal {
        if actions <= self.transact_small_items {
            return self.transact_small;
        }
        if actions >= self.transact_large_items {
            return self.transact_large;
        }
        let t = (actions - self.transact_small_items) as f64
            / (self.transact_large_items - self.transact_small_items) as f64;
        LogNormal::lerp(self.transact_small, self.transact_large, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_normal_sample_hits_its_percentiles() {
        let latency = LogNormal::millis(7.6, 16.0);
        assert_eq!(latency.sample(0.0).as_micros(), 7_600);
        assert_eq!(latency.sample(Z_99).as_micros(), 16_000);
        assert!(latency.sample(-1.0) < latency.sample(1.0));
    }

    #[test]
    fn transaction_latency_rises_linearly_between_4_and_25_actions() {
        let p = ModelParameters::published();
        assert_eq!(p.transact(3), p.transact_small);
        assert_eq!(p.transact(100), p.transact_large);
        let middle = p.transact(4 + 21 / 2 + 1); // 15 actions: t = 11/21
        assert!(middle.p50 > p.transact_small.p50 && middle.p50 < p.transact_large.p50);
        assert_eq!(p.transact(25).p99, Duration::from_millis(98));
    }
}
