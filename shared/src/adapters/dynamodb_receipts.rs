//! Delivery receipts on the signals table: the item mapping and the three store operations
//! (a child module of `dynamodb.rs`, sharing its helpers and its one mapping style).
//!
//! Layout: a receipt lives at `pk = "RECEIPT#<signal_id>"`, `sk = subscriber_key(subscriber)`
//! (a number: the signals table's sort key is numeric), so one `Query` reads a signal's
//! receipts and the conditional put makes each (signal, subscriber) pair unique. The item
//! carries every receipt field and its `receipt_hash`; reading it back recomputes nothing but
//! parses strictly and checks that the key names the subscriber it holds.
//!
//! Promise: as for entries, the only writes are puts conditioned on `attribute_not_exists(pk)`,
//! here in one transaction with the audit record of the receipt.

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use super::{DynamoLedgerStore, audit_item, hash, n, number, s, store_error, text};
use crate::adapters::dynamo_api::{DynamoApi, DynamoFault, Item, KeyQuery, PutIfAbsent};
use crate::domain::audit::AuditEvent;
use crate::domain::receipt::{Receipt, StoredReceipt, Subscriber};
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{ReceiptError, StoreError};

/// Prefix of the partition key of a signal's receipts.
pub const RECEIPT_PREFIX: &str = "RECEIPT#";
/// Domain separator of [`subscriber_key`].
pub const SUBSCRIBER_KEY_DOMAIN: &[u8] = b"SIGNAL-LEDGER/RECEIPT-KEY\0";

/// The numeric sort key of a subscriber's receipt: the first 8 bytes of
/// `SHA-256(SUBSCRIBER_KEY_DOMAIN || subscriber)`, big-endian, shifted right by one so that it
/// fits a signed 64-bit integer in every tool. Two subscribers of one signal sharing a key
/// (probability 2⁻⁶³ per pair) would make the second one's receipt a conflict, never an
/// overwrite.
pub fn subscriber_key(subscriber: &Subscriber) -> u64 {
    let digest = Sha256::new()
        .chain_update(SUBSCRIBER_KEY_DOMAIN)
        .chain_update(subscriber.as_str().as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 1
}

fn partition(signal_id: &SignalId) -> String {
    format!("{RECEIPT_PREFIX}{signal_id}")
}

/// The DynamoDB item of a stored receipt.
pub fn receipt_item(stored: &StoredReceipt) -> Item {
    let receipt = &stored.receipt;
    Item::from([
        ("pk".into(), s(partition(&receipt.signal_id))),
        ("sk".into(), n(subscriber_key(&receipt.subscriber))),
        ("signal_id".into(), s(receipt.signal_id.as_str())),
        ("chain_index".into(), n(receipt.chain_index)),
        ("subscriber".into(), s(receipt.subscriber.as_str())),
        ("generated_at".into(), s(receipt.generated_at.as_str())),
        ("delivered_at".into(), s(receipt.delivered_at.as_str())),
        ("recorded_at".into(), s(receipt.recorded_at.as_str())),
        ("client_latency_ms".into(), n(receipt.client_latency_ms)),
        ("submitter".into(), s(&receipt.submitter)),
        ("receipt_hash".into(), s(stored.receipt_hash.to_hex())),
    ])
}

/// Parses a receipt item strictly (canonical timestamps and numbers, a key that names the
/// receipt's signal and subscriber).
pub fn receipt_from_item(item: &Item) -> Result<StoredReceipt, StoreError> {
    let key = match (item.get("pk"), item.get("sk")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::N(sk))) => format!("{pk}/{sk}"),
        _ => "receipt".to_owned(),
    };
    let malformed = |reason: String| StoreError::Malformed {
        key: key.clone(),
        reason,
    };
    let timestamp = |name: &str| {
        Timestamp::parse_canonical(&text(item, name, &key)?)
            .map_err(|e| malformed(format!("{name} {e}")))
    };
    let signal_id = SignalId::parse(&text(item, "signal_id", &key)?)
        .map_err(|e| malformed(format!("signal_id {e}")))?;
    let subscriber = Subscriber::parse(&text(item, "subscriber", &key)?)
        .map_err(|e| malformed(format!("subscriber {e}")))?;
    let expected_pk = partition(&signal_id);
    let expected_sk = subscriber_key(&subscriber);
    match (item.get("pk"), number::<u64>(item, "sk", &key)) {
        (Some(AttributeValue::S(pk)), Ok(sk)) if *pk == expected_pk && sk == expected_sk => {}
        _ => {
            return Err(malformed(
                "the key does not name the receipt's signal and subscriber".into(),
            ));
        }
    }
    Ok(StoredReceipt {
        receipt: Receipt {
            signal_id,
            chain_index: number(item, "chain_index", &key)?,
            subscriber,
            generated_at: timestamp("generated_at")?,
            delivered_at: timestamp("delivered_at")?,
            recorded_at: timestamp("recorded_at")?,
            client_latency_ms: number(item, "client_latency_ms", &key)?,
            submitter: text(item, "submitter", &key)?,
        },
        receipt_hash: hash(item, "receipt_hash", &key)?,
    })
}

impl<D: DynamoApi> DynamoLedgerStore<D> {
    pub(super) async fn put_receipt(
        &self,
        receipt: &StoredReceipt,
        audit: &AuditEvent,
    ) -> Result<(), ReceiptError> {
        let items = vec![
            PutIfAbsent {
                table: self.signals_table.clone(),
                item: receipt_item(receipt),
            },
            PutIfAbsent {
                table: self.audit_table.clone(),
                item: audit_item(audit),
            },
        ];
        let error = match self.client.transact_put_if_absent(items).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if let DynamoFault::TransactionCanceled { reasons, .. } = &error {
            let code = |position: usize| reasons.get(position).map_or("None", String::as_str);
            let (receipt_code, audit_code) = (code(0), code(1));
            if receipt_code == "ConditionalCheckFailed" {
                return Err(ReceiptError::Taken(receipt.receipt.signal_id.clone()));
            }
            let busy = [
                "TransactionConflict",
                "ThrottlingError",
                "ProvisionedThroughputExceeded",
            ];
            if busy.contains(&receipt_code) || busy.contains(&audit_code) {
                return Err(StoreError::Busy(Box::new(error)).into());
            }
            if audit_code != "None" {
                return Err(ReceiptError::AuditWriteFailed(Box::new(error)));
            }
        }
        Err(store_error(error).into())
    }

    pub(super) async fn get_receipt(
        &self,
        signal_id: &SignalId,
        subscriber: &Subscriber,
    ) -> Result<Option<StoredReceipt>, StoreError> {
        let key = Item::from([
            ("pk".to_owned(), s(partition(signal_id))),
            ("sk".to_owned(), n(subscriber_key(subscriber))),
        ]);
        let item = self
            .client
            .get_item(&self.signals_table, key)
            .await
            .map_err(store_error)?;
        item.as_ref().map(receipt_from_item).transpose()
    }

    pub(super) async fn query_receipts(
        &self,
        signal_id: &SignalId,
    ) -> Result<Vec<Result<StoredReceipt, StoreError>>, StoreError> {
        let mut receipts = Vec::new();
        let mut start_after = None;
        loop {
            let mut query = KeyQuery::partition(&self.signals_table, s(partition(signal_id)));
            query.start_after = start_after;
            let page = self.client.query(query).await.map_err(store_error)?;
            receipts.extend(page.items.iter().map(receipt_from_item));
            match page.last_evaluated_key {
                Some(key) => start_after = Some(key),
                None => return Ok(receipts),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::receipt::ReceiptRequest;
    use crate::domain::test_support::{chain, timestamp};

    fn stored() -> StoredReceipt {
        let signal = chain(2).pop().unwrap();
        StoredReceipt::seal(Receipt::assemble(
            &signal,
            ReceiptRequest {
                subscriber: Subscriber::parse("desk-7").unwrap(),
                delivered_at: timestamp("2026-11-28T09:00:02.5Z"),
            },
            timestamp("2026-11-28T09:05:00Z"),
            "arn:aws:iam::123456789012:role/gateway".into(),
        ))
    }

    #[test]
    fn an_item_reads_back_as_the_receipt() {
        let receipt = stored();
        assert_eq!(receipt_from_item(&receipt_item(&receipt)).unwrap(), receipt);
    }

    #[test]
    fn an_edited_or_moved_item_is_malformed() {
        let item = receipt_item(&stored());
        let edits: [(&str, AttributeValue); 4] = [
            ("subscriber", s("desk-8")),
            ("sk", n(1)),
            ("delivered_at", s("2026-11-28T09:00:02.5Z")),
            ("client_latency_ms", n("007")),
        ];
        for (name, value) in edits {
            let mut edited = item.clone();
            edited.insert(name.into(), value);
            assert!(
                matches!(
                    receipt_from_item(&edited),
                    Err(StoreError::Malformed { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn subscriber_keys_match_the_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/vectors/receipts.json")).unwrap();
        for vector in vectors["receipts"].as_array().unwrap() {
            let subscriber =
                Subscriber::parse(vector["fields"]["subscriber"].as_str().unwrap()).unwrap();
            assert_eq!(
                subscriber_key(&subscriber),
                vector["item_sk"].as_u64().unwrap()
            );
        }
    }

    #[test]
    fn subscriber_keys_differ_and_fit_a_signed_integer() {
        let a = subscriber_key(&Subscriber::parse("a").unwrap());
        let b = subscriber_key(&Subscriber::parse("b").unwrap());
        assert_ne!(a, b);
        assert!(a <= i64::MAX as u64 && b <= i64::MAX as u64);
    }
}
