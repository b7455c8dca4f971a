//! CloudWatch adapter of the alarm reader: alarm states, their state changes, and metric sums,
//! read for the compliance report. Metrics are *written* as EMF log lines (`system.rs`), never
//! through this API. Pinned to the query-protocol SDK (FACTS.md: moto lacks the CBOR one).

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{HistoryItemType, Statistic};

use crate::adapters::s3::{from_date_time, to_date_time};
use crate::domain::report::{AlarmState, AlarmTransition};
use crate::domain::timestamp::Timestamp;
use crate::ports::{AlarmReader, BoxError};

/// GetMetricStatistics answers at most 1,440 data points per call.
const MAX_DATAPOINTS: i64 = 1_440;

#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: Client,
}

impl CloudWatchAlarms {
    pub fn new(client: Client) -> Self {
        CloudWatchAlarms { client }
    }
}

impl AlarmReader for CloudWatchAlarms {
    async fn alarm_states(&self, name_prefix: Option<&str>) -> Result<Vec<AlarmState>, BoxError> {
        let mut states = Vec::new();
        let mut pages = self
            .client
            .describe_alarms()
            .set_alarm_name_prefix(name_prefix.map(str::to_owned))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for alarm in page?.metric_alarms() {
                states.push(AlarmState {
                    name: alarm.alarm_name().unwrap_or_default().to_owned(),
                    state: alarm
                        .state_value()
                        .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
                    reason: alarm.state_reason().map(str::to_owned),
                    updated_at: alarm.state_updated_timestamp().and_then(from_date_time),
                });
            }
        }
        Ok(states)
    }

    async fn alarm_history(
        &self,
        name_prefix: Option<&str>,
        from: &Timestamp,
        to: &Timestamp,
    ) -> Result<Vec<AlarmTransition>, BoxError> {
        let mut transitions = Vec::new();
        let mut pages = self
            .client
            .describe_alarm_history()
            .history_item_type(HistoryItemType::StateUpdate)
            .start_date(to_date_time(*from))
            .end_date(to_date_time(*to))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for item in page?.alarm_history_items() {
                let name = item.alarm_name().unwrap_or_default();
                if name_prefix.is_some_and(|prefix| !name.starts_with(prefix)) {
                    continue;
                }
                let Some(at) = item.timestamp().and_then(from_date_time) else {
                    continue;
                };
                transitions.push(AlarmTransition {
                    name: name.to_owned(),
                    at,
                    summary: item.history_summary().unwrap_or_default().to_owned(),
                });
            }
        }
        transitions.sort_by_key(|t| t.at);
        Ok(transitions)
    }

    async fn metric_sum(
        &self,
        namespace: &str,
        metric: &str,
        from: &Timestamp,
        to: &Timestamp,
    ) -> Result<f64, BoxError> {
        let seconds = (to.as_datetime() - from.as_datetime())
            .whole_seconds()
            .max(60);
        // The smallest whole-minute period that needs at most MAX_DATAPOINTS points, and at
        // least an hour (hourly data is kept for 455 days).
        let per_point = (seconds + MAX_DATAPOINTS - 1) / MAX_DATAPOINTS;
        let period = ((per_point + 59) / 60 * 60).max(3_600);
        let answer = self
            .client
            .get_metric_statistics()
            .namespace(namespace)
            .metric_name(metric)
            .start_time(to_date_time(*from))
            .end_time(to_date_time(*to))
            .period(i32::try_from(period).unwrap_or(i32::MAX))
            .statistics(Statistic::Sum)
            .send()
            .await?;
        Ok(answer
            .datapoints()
            .iter()
            .filter_map(|point| point.sum())
            .sum())
    }
}
