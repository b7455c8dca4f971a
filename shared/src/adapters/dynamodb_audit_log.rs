//! Reading the audit table back (`AuditLog`): a day's events live in its own partition
//! (`pk = <day>`, one item per event) and in the 8 stripes of its insert audit bundles
//! (`pk = <day>#<0-7>`, one item per commit, docs/ledger-format.md §9). The reader merges the 9
//! partitions by sort key, one page of each in memory (pages read concurrently), and unpacks each bundle into its events,
//! each keyed `(<day>, <bundle sk>#<position, 2 digits>)`: a stable key in the same byte order as
//! the bundle's place, so the report, the access review and the audit seals see every
//! `SIGNAL_INSERTED` event as one event, as before.
//!
//! Promise: an item or a bundle element that is not a well-formed event is visited as an error
//! in place (a bundle that is not a list of events, as one error under the bundle's key), never
//! skipped.

use std::collections::VecDeque;

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::{INSERTS_INFIX, STRIPES};
use super::{DynamoAuditSink, audit_from_item, s, sealable_audit_from_item, store_error};
use crate::adapters::dynamo_api::{DynamoApi, Item, KeyQuery};
use crate::domain::audit::AuditEvent;
use crate::domain::audit_seal::{self, AuditKey};
use crate::domain::timestamp::Timestamp;
use crate::ports::{AuditLog, KeyedAuditEvent, StoreError};

/// The partitions holding a day's audit items, in key order: the day, then its stripes.
pub fn day_partitions(day: &str) -> Vec<String> {
    std::iter::once(day.to_owned())
        .chain((0..STRIPES).map(|stripe| format!("{day}#{stripe}")))
        .collect()
}

/// One partition being read page by page.
struct Cursor {
    query: KeyQuery,
    buffer: VecDeque<Item>,
    exhausted: bool,
}

fn sort_key(item: &Item) -> &str {
    match item.get("sk") {
        Some(AttributeValue::S(sk)) => sk.as_str(),
        _ => "?",
    }
}

/// The audit items of one stored item: itself, or the events of an insert audit bundle, each
/// with its key and its event read by `read` (an element that is not a map is an error).
fn unpack(
    day: &str,
    item: &Item,
    read: fn(&Item) -> Result<AuditEvent, StoreError>,
) -> Vec<KeyedAuditEvent> {
    let sk = sort_key(item).to_owned();
    let is_bundle = matches!(item.get("pk"), Some(AttributeValue::S(pk)) if pk != day)
        || sk.contains(INSERTS_INFIX);
    if !is_bundle {
        return vec![KeyedAuditEvent {
            key: AuditKey {
                pk: day.to_owned(),
                sk,
            },
            event: read(item),
        }];
    }
    let label = |suffix: &str| {
        format!(
            "{}/{sk}{suffix}",
            match item.get("pk") {
                Some(AttributeValue::S(pk)) => pk.as_str(),
                _ => "?",
            }
        )
    };
    match item.get("events") {
        Some(AttributeValue::L(events)) if !events.is_empty() => events
            .iter()
            .enumerate()
            .map(|(position, element)| {
                let key = AuditKey {
                    pk: day.to_owned(),
                    sk: format!("{sk}#{position:02}"),
                };
                let event = match element {
                    AttributeValue::M(map) => {
                        let mut map = map.clone();
                        map.insert("sk".to_owned(), s(&key.sk));
                        read(&map)
                    }
                    _ => Err(StoreError::Malformed {
                        key: label(&format!("[{position}]")),
                        reason: "the bundle's element is not an audit event".to_owned(),
                    }),
                };
                KeyedAuditEvent { key, event }
            })
            .collect(),
        _ => vec![KeyedAuditEvent {
            key: AuditKey {
                pk: day.to_owned(),
                sk: sk.clone(),
            },
            event: Err(StoreError::Malformed {
                key: label(""),
                reason: "an insert audit bundle whose events are missing, empty or not a list"
                    .to_owned(),
            }),
        }],
    }
}

impl<D: DynamoApi> DynamoAuditSink<D> {
    /// Visits the items of `day` (from sort key `from` on, when given) merged over its
    /// partitions in sort-key order, until `visit` answers `false`.
    async fn merge_day<F>(
        &self,
        day: &str,
        from: Option<&str>,
        mut visit: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(Item) -> bool + Send,
    {
        let mut cursors: Vec<Cursor> = day_partitions(day)
            .into_iter()
            .map(|pk| {
                let mut query = KeyQuery::partition(&self.audit_table, s(pk));
                query.sort_from = from.map(s);
                Cursor {
                    query,
                    buffer: VecDeque::new(),
                    exhausted: false,
                }
            })
            .collect();
        loop {
            // Every partition whose page ran out is read again, all at once: a window's first
            // pages are 9 Queries in flight, one round trip, not 9 in a row.
            let refills = cursors
                .iter_mut()
                .filter(|cursor| cursor.buffer.is_empty() && !cursor.exhausted)
                .map(|cursor| async move {
                    while cursor.buffer.is_empty() && !cursor.exhausted {
                        let page = self
                            .client
                            .query(cursor.query.clone())
                            .await
                            .map_err(store_error)?;
                        cursor.buffer.extend(page.items);
                        match page.last_evaluated_key {
                            Some(key) => cursor.query.start_after = Some(key),
                            None => cursor.exhausted = true,
                        }
                    }
                    Ok::<(), StoreError>(())
                });
            futures_util::future::try_join_all(refills).await?;
            let smallest = cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.buffer.front().map(|item| (sort_key(item), i)))
                .min()
                .map(|(_, i)| i);
            let Some(item) = smallest.and_then(|i| cursors[i].buffer.pop_front()) else {
                return Ok(());
            };
            if !visit(item) {
                return Ok(());
            }
        }
    }
}

impl<D: DynamoApi> AuditLog for DynamoAuditSink<D> {
    async fn visit_day<F>(&self, day: &str, mut visit: F) -> Result<(), StoreError>
    where
        F: FnMut(AuditEvent) + Send,
    {
        let mut failure = None;
        self.merge_day(day, None, |item| {
            for keyed in unpack(day, &item, audit_from_item) {
                match keyed.event {
                    Ok(event) => visit(event),
                    Err(error) => {
                        failure = Some(error);
                        return false;
                    }
                }
            }
            true
        })
        .await?;
        failure.map_or(Ok(()), Err)
    }

    async fn visit_window<F>(
        &self,
        from: &Timestamp,
        to: &Timestamp,
        mut visit: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(KeyedAuditEvent) + Send,
    {
        let first_day = audit_seal::day_of(from).to_owned();
        for day in audit_seal::window_days(from, to) {
            let start = (day == first_day).then(|| from.as_str().to_owned());
            self.merge_day(&day, start.as_deref(), |item| {
                for keyed in unpack(&day, &item, sealable_audit_from_item) {
                    if !audit_seal::key_in_window(&keyed.key, from, to) {
                        return false;
                    }
                    visit(keyed);
                }
                true
            })
            .await?;
        }
        Ok(())
    }

    async fn earliest_day(&self) -> Result<Option<String>, StoreError> {
        let mut earliest: Option<String> = None;
        let mut start_after = None;
        loop {
            let page = self
                .client
                .scan_partition_keys(&self.audit_table, start_after)
                .await
                .map_err(store_error)?;
            for item in &page.items {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    // A stripe of insert audit bundles (`<day>#<stripe>`) belongs to its day.
                    let day = pk.split_once('#').map_or(pk.as_str(), |(day, _)| day);
                    if earliest.as_deref().is_none_or(|e| day < e) {
                        earliest = Some(day.to_owned());
                    }
                }
            }
            match page.last_evaluated_key {
                Some(key) => start_after = Some(key),
                None => return Ok(earliest),
            }
        }
    }
}
