//! The few DynamoDB operations the ledger's adapters use, as one small trait over items in the
//! SDK's own `AttributeValue` form, implemented here by the SDK client. A modelled DynamoDB for
//! benchmarks (`tests/model`) implements it too, so the adapters' item mapping and error handling
//! run unchanged over both.
//!
//! Promise: the only writes this trait can express are puts conditioned on
//! `attribute_not_exists(pk)` — alone or in one all-or-nothing transaction.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};

use crate::ports::BoxError;

/// One DynamoDB item: attribute name → value.
pub type Item = HashMap<String, AttributeValue>;

/// The condition on every write: the item must not exist yet.
pub const IF_ABSENT: &str = "attribute_not_exists(pk)";

/// A put of `item` into `table`, only if no item with its key exists.
#[derive(Debug, Clone, PartialEq)]
pub struct PutIfAbsent {
    pub table: String,
    pub item: Item,
}

/// A `Query` on one partition (`pk = partition`), optionally from a sort key on (`sk >= from`)
/// and up to one (`sk <= until`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyQuery {
    pub table: String,
    pub partition: AttributeValue,
    pub sort_from: Option<AttributeValue>,
    pub sort_until: Option<AttributeValue>,
    pub descending: bool,
    /// At most this many items (DynamoDB also stops a page at 1 MB).
    pub limit: Option<u32>,
    /// Continue after this key (a previous page's `last_evaluated_key`).
    pub start_after: Option<Item>,
    /// Attribute names to return (`None`: all).
    pub projection: Option<&'static [&'static str]>,
}

impl KeyQuery {
    /// A strongly consistent, ascending query of the whole partition.
    pub fn partition(table: impl Into<String>, partition: AttributeValue) -> KeyQuery {
        KeyQuery {
            table: table.into(),
            partition,
            sort_from: None,
            sort_until: None,
            descending: false,
            limit: None,
            start_after: None,
            projection: None,
        }
    }
}

/// One page of a [`KeyQuery`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryPage {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub last_evaluated_key: Option<Item>,
}

/// What a `BatchGetItem` returned: the items found, and the keys it did not process (throttling).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchGot {
    pub items: Vec<Item>,
    pub unprocessed: Vec<Item>,
}

/// How a DynamoDB call failed, sorted the way the adapters react to it; the original error is
/// kept whole as the source.
#[derive(Debug, thiserror::Error)]
pub enum DynamoFault {
    /// A conditional put found its item already present.
    #[error("the conditional check failed")]
    ConditionalCheckFailed(#[source] BoxError),
    /// A transaction was cancelled; `reasons` has one code per action, in order (`"None"` for
    /// an action that was not the cause, else e.g. `ConditionalCheckFailed`,
    /// `TransactionConflict`, `ThrottlingError`).
    #[error("the transaction was cancelled ({reasons:?})")]
    TransactionCanceled {
        reasons: Vec<String>,
        #[source]
        source: BoxError,
    },
    /// Throttling, a conflicting transaction, a timeout or a dispatch failure: retry later.
    #[error("DynamoDB is busy")]
    Busy(#[source] BoxError),
    /// Anything else: validation (item or transaction too large), permissions, a missing table.
    #[error("the DynamoDB call failed")]
    Failed(#[source] BoxError),
}

/// The DynamoDB operations of the ledger's adapters. All reads are strongly consistent.
pub trait DynamoApi: Send + Sync {
    /// `PutItem` conditioned on [`IF_ABSENT`].
    fn put_if_absent(
        &self,
        put: PutIfAbsent,
    ) -> impl Future<Output = Result<(), DynamoFault>> + Send;

    /// `TransactWriteItems` of puts, each conditioned on [`IF_ABSENT`]: all or none.
    fn transact_put_if_absent(
        &self,
        puts: Vec<PutIfAbsent>,
    ) -> impl Future<Output = Result<(), DynamoFault>> + Send;

    /// `GetItem`.
    fn get_item(
        &self,
        table: &str,
        key: Item,
    ) -> impl Future<Output = Result<Option<Item>, DynamoFault>> + Send;

    /// `BatchGetItem` on one table (at most 100 keys).
    fn batch_get_items(
        &self,
        table: &str,
        keys: Vec<Item>,
    ) -> impl Future<Output = Result<BatchGot, DynamoFault>> + Send;

    /// One page of a `Query`.
    fn query(&self, query: KeyQuery)
    -> impl Future<Output = Result<QueryPage, DynamoFault>> + Send;

    /// One page of a strongly consistent `Scan` of `table` returning only the partition keys
    /// (`pk`), continuing after `start_after`. Used once, to find where the audit log begins;
    /// an implementation that does not model `Scan` (the benchmarks' modelled DynamoDB) refuses.
    fn scan_partition_keys(
        &self,
        table: &str,
        start_after: Option<Item>,
    ) -> impl Future<Output = Result<QueryPage, DynamoFault>> + Send {
        let _ = (table, start_after);
        async {
            Err(DynamoFault::Failed(
                "this DynamoDB implementation does not model Scan".into(),
            ))
        }
    }
}

impl DynamoApi for Client {
    async fn put_if_absent(&self, put: PutIfAbsent) -> Result<(), DynamoFault> {
        let result = self
            .put_item()
            .table_name(put.table)
            .set_item(Some(put.item))
            .condition_expression(IF_ABSENT)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => {
                    Err(DynamoFault::ConditionalCheckFailed(Box::new(error)))
                }
                _ => Err(classify(error)),
            },
        }
    }

    async fn transact_put_if_absent(&self, puts: Vec<PutIfAbsent>) -> Result<(), DynamoFault> {
        let items = puts
            .into_iter()
            .map(|put| {
                Put::builder()
                    .table_name(put.table)
                    .set_item(Some(put.item))
                    .condition_expression(IF_ABSENT)
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build())
                    .map_err(|error| DynamoFault::Failed(Box::new(error)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(error) = result else { return Ok(()) };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        {
            let reasons = cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code().unwrap_or("None").to_owned())
                .collect();
            return Err(DynamoFault::TransactionCanceled {
                reasons,
                source: Box::new(error),
            });
        }
        Err(classify(error))
    }

    async fn get_item(&self, table: &str, key: Item) -> Result<Option<Item>, DynamoFault> {
        let output = self
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item)
    }

    async fn batch_get_items(&self, table: &str, keys: Vec<Item>) -> Result<BatchGot, DynamoFault> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|error| DynamoFault::Failed(Box::new(error)))?;
        let output = self
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(classify)?;
        Ok(BatchGot {
            items: output
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default(),
            unprocessed: output
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default(),
        })
    }

    async fn query(&self, query: KeyQuery) -> Result<QueryPage, DynamoFault> {
        let condition = match (&query.sort_from, &query.sort_until) {
            (Some(_), Some(_)) => "pk = :pk AND sk BETWEEN :from AND :until",
            (Some(_), None) => "pk = :pk AND sk >= :from",
            (None, Some(_)) => "pk = :pk AND sk <= :until",
            (None, None) => "pk = :pk",
        };
        let mut request = self
            .query()
            .table_name(query.table)
            .key_condition_expression(condition)
            .expression_attribute_values(":pk", query.partition)
            .scan_index_forward(!query.descending)
            .consistent_read(true)
            .set_exclusive_start_key(query.start_after)
            .set_limit(query.limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)));
        if let Some(from) = query.sort_from {
            request = request.expression_attribute_values(":from", from);
        }
        if let Some(until) = query.sort_until {
            request = request.expression_attribute_values(":until", until);
        }
        if let Some(names) = query.projection {
            request = request.projection_expression(names.join(", "));
        }
        let output = request.send().await.map_err(classify)?;
        Ok(QueryPage {
            items: output.items.unwrap_or_default(),
            last_evaluated_key: output.last_evaluated_key,
        })
    }

    async fn scan_partition_keys(
        &self,
        table: &str,
        start_after: Option<Item>,
    ) -> Result<QueryPage, DynamoFault> {
        let output = self
            .scan()
            .table_name(table)
            .projection_expression("pk")
            .consistent_read(true)
            .set_exclusive_start_key(start_after)
            .send()
            .await
            .map_err(classify)?;
        Ok(QueryPage {
            items: output.items.unwrap_or_default(),
            last_evaluated_key: output.last_evaluated_key,
        })
    }
}

/// Sorts an SDK error into busy (retry) or failed, keeping it whole as the source.
pub(crate) fn classify<E, R>(error: SdkError<E, R>) -> DynamoFault
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let busy = matches!(
        error.as_service_error().and_then(|e| e.code()),
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "TransactionConflictException"
                | "TransactionInProgressException"
        )
    ) || matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    );
    if busy {
        DynamoFault::Busy(Box::new(error))
    } else {
        DynamoFault::Failed(Box::new(error))
    }
}
