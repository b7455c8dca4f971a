//! The group-commit layout of the signals table (ARCHITECTURE.md "Group commit",
//! docs/ledger-format.md §9): pending items, commit records, entry bundles and claims, and the
//! insert audit bundles of the audit table — written with one all-or-nothing transaction of
//! conditional puts per commit, and read back into entries in chain order.
//!
//! Promises: the only writes are puts conditioned on `attribute_not_exists(pk)`; every entry of a
//! bundle is parsed exactly as a format-1 entry item; a commit without its bundle, a bundle that
//! is not a list of entries, an entry in the wrong place or a count that disagrees with the
//! bundle is an error in place (one per position), never skipped; a pending item is never read
//! as an entry.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    CLAIM_PREFIX, DynamoLedgerStore, audit_item, claim_item, entry_from_item, entry_item, hash, n,
    number, s, store_error, text,
};
use crate::adapters::dynamo_api::{DynamoApi, DynamoFault, Item, KeyQuery};
use crate::domain::audit::AuditEvent;
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::signal::{SignalContent, SignalId};
use crate::domain::timestamp::Timestamp;
use crate::ports::{CommitError, CommitHead, Pending, Placed, ReadItem, StoreError, sequence_key};

/// Partition key of every commit record (`sk` = its first chain index).
pub const COMMIT_PARTITION: &str = "COMMIT";
/// Prefix of the partition key of an entry bundle: `BUNDLE#<first mod STRIPES>`.
pub const BUNDLE_PREFIX: &str = "BUNDLE#";
/// Prefix of the partition key of a pending item: `PENDING#<generation>`.
pub const PENDING_PREFIX: &str = "PENDING#";
/// The infix of an insert audit bundle's sort key: `<occurred_at>#INSERTS#<first>`.
pub const INSERTS_INFIX: &str = "#INSERTS#";
/// Entry bundles and insert audit bundles are spread over this many partition keys.
pub const STRIPES: u64 = 8;
/// At most this many entries per commit: the transaction's 100 actions are the commit record,
/// the two bundles and one claim per entry.
pub const MAX_COMMIT_ENTRIES: usize = 97;
/// Neither bundle of a commit grows past this (DynamoDB's item limit is 400 KB).
pub const MAX_BUNDLE_BYTES: usize = 350 * 1024;

/// The key of the commit record starting at `first`.
pub fn commit_key(first: u64) -> Item {
    Item::from([
        ("pk".to_owned(), s(COMMIT_PARTITION)),
        ("sk".to_owned(), n(first)),
    ])
}

/// The key of the entry bundle of the commit starting at `first`.
pub fn bundle_key(first: u64) -> Item {
    Item::from([
        (
            "pk".to_owned(),
            s(format!("{BUNDLE_PREFIX}{}", first % STRIPES)),
        ),
        ("sk".to_owned(), n(first)),
    ])
}

/// The sort key of a pending item: the first 120 bits of `SHA-256("signal-ledger/pending/v1\n"
/// || signal_id)` as a decimal number (the signals table's sort key is a number, and 120 bits
/// stay within DynamoDB's 38 significant digits). Pendings of a generation are ordered by it.
pub fn pending_sort_key(signal_id: &SignalId) -> u128 {
    let digest = Hash::sha256(
        [
            b"signal-ledger/pending/v1\n".as_slice(),
            signal_id.as_str().as_bytes(),
        ]
        .concat()
        .as_slice(),
    );
    let mut bytes = [0u8; 16];
    bytes[1..].copy_from_slice(&digest.as_bytes()[..15]);
    u128::from_be_bytes(bytes)
}

/// The pending item of `pending` in `generation`.
pub fn pending_item(generation: u64, pending: &Pending) -> Item {
    Item::from([
        ("pk".to_owned(), s(format!("{PENDING_PREFIX}{generation}"))),
        ("sk".to_owned(), n(pending_sort_key(&pending.signal_id))),
        ("signal_id".to_owned(), s(pending.signal_id.as_str())),
        (
            "content".to_owned(),
            s(serde_json::to_string(&pending.content).unwrap_or_default()),
        ),
        ("received_at".to_owned(), s(pending.received_at.as_str())),
        ("submitter".to_owned(), s(&pending.submitter)),
        ("request_id".to_owned(), s(&pending.request_id)),
        ("event_id".to_owned(), s(&pending.event_id)),
    ])
}

/// Reads a pending item back; `None` when it is not a well-formed one (it is inert).
pub fn pending_from_item(item: &Item) -> Option<Pending> {
    let key = "pending";
    let signal_id = SignalId::parse(&text(item, "signal_id", key).ok()?).ok()?;
    let sort_key: u128 = number(item, "sk", key).ok()?;
    if sort_key != pending_sort_key(&signal_id) {
        return None;
    }
    let content: SignalContent = serde_json::from_str(&text(item, "content", key).ok()?).ok()?;
    Some(Pending {
        signal_id,
        content,
        received_at: Timestamp::parse_canonical(&text(item, "received_at", key).ok()?).ok()?,
        submitter: text(item, "submitter", key).ok()?,
        request_id: text(item, "request_id", key).ok()?,
        event_id: text(item, "event_id", key).ok()?,
    })
}

/// The items of one commit: the commit record, the entry bundle, the insert audit bundle and
/// one claim per entry, in the transaction's order (reasons are read by that position).
pub fn commit_items(
    first: u64,
    last_key: &str,
    entries: &[StoredEntry],
    audits: &[AuditEvent],
) -> CommitItems {
    let stripe = first % STRIPES;
    let last_hash = entries.last().map_or(Hash::ZERO, |e| e.entry_hash);
    let commit = Item::from([
        ("pk".to_owned(), s(COMMIT_PARTITION)),
        ("sk".to_owned(), n(first)),
        ("count".to_owned(), n(entries.len())),
        ("last_hash".to_owned(), s(last_hash.to_hex())),
        ("last_key".to_owned(), s(last_key)),
        ("stripe".to_owned(), n(stripe)),
        (
            "signal_ids".to_owned(),
            AttributeValue::L(
                entries
                    .iter()
                    .map(|e| s(e.entry.signal_id.as_str()))
                    .collect(),
            ),
        ),
    ]);
    let mut bundle = bundle_key(first);
    bundle.insert(
        "entries".to_owned(),
        AttributeValue::L(
            entries
                .iter()
                .map(|e| AttributeValue::M(entry_item(e)))
                .collect(),
        ),
    );
    CommitItems {
        commit,
        bundle,
        audit_bundle: audits
            .first()
            .map(|head| insert_audit_bundle(first, head, audits)),
        claims: entries.iter().map(claim_item).collect(),
    }
}

/// The items [`commit_items`] builds.
#[derive(Debug, Clone)]
pub struct CommitItems {
    pub commit: Item,
    pub bundle: Item,
    /// `None` only for a commit without audit events (restore writes none).
    pub audit_bundle: Option<Item>,
    pub claims: Vec<Item>,
}

/// The insert audit bundle of the commit starting at `first`: `pk = <day>#<first mod 8>`, `sk =
/// <occurred_at>#INSERTS#<first>` (day and time of its first event), the events as a list of
/// audit items without their own key attributes: an event's key is its place in the bundle.
fn insert_audit_bundle(first: u64, head: &AuditEvent, audits: &[AuditEvent]) -> Item {
    let occurred_at = head.occurred_at.as_str();
    Item::from([
        (
            "pk".to_owned(),
            s(format!("{}#{}", &occurred_at[..10], first % STRIPES)),
        ),
        (
            "sk".to_owned(),
            s(format!("{occurred_at}{INSERTS_INFIX}{first}")),
        ),
        (
            "events".to_owned(),
            AttributeValue::L(
                audits
                    .iter()
                    .map(|event| {
                        let mut item = audit_item(event);
                        item.remove("pk");
                        item.remove("sk");
                        AttributeValue::M(item)
                    })
                    .collect(),
            ),
        ),
    ])
}

/// DynamoDB's size of an item: attribute names plus values (numbers about one byte per two
/// digits, lists and maps 3 bytes plus one per element), as in DynamoDB's documentation.
pub fn item_bytes(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_bytes(value))
        .sum()
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + item_bytes(map) + map.len(),
        AttributeValue::Ss(set) | AttributeValue::Ns(set) => set.iter().map(String::len).sum(),
        _ => 1,
    }
}

/// How many of `commits` (in order) a page of `limit` entries from `from` on needs: commits are
/// taken until the entries they hold at or after `from` reach `limit` (an unreadable commit
/// counts as the one finding it yields). At least one, when there is one.
fn commits_covering(
    commits: &[(u64, Result<CommitRecord, StoreError>)],
    from: u64,
    limit: u32,
) -> usize {
    let mut entries = 0u64;
    let mut taken = 0;
    for (first, commit) in commits {
        if taken > 0 && entries >= u64::from(limit) {
            break;
        }
        entries += match commit {
            Ok(commit) => commit.end().saturating_sub((*first).max(from)).max(1),
            Err(_) => 1,
        };
        taken += 1;
    }
    taken
}

/// How many of `entries` (with their `audits`) one commit can carry: at most
/// [`MAX_COMMIT_ENTRIES`], and neither bundle past [`MAX_BUNDLE_BYTES`]; at least one.
pub fn commit_prefix(entries: &[StoredEntry], audits: &[AuditEvent]) -> usize {
    let (mut entry_bytes, mut audit_bytes) = (0, 0);
    let mut taken = 0;
    for (entry, audit) in entries.iter().zip(audits).take(MAX_COMMIT_ENTRIES) {
        entry_bytes += 4 + item_bytes(&entry_item(entry));
        audit_bytes += 4 + item_bytes(&audit_item(audit));
        if taken > 0 && (entry_bytes > MAX_BUNDLE_BYTES || audit_bytes > MAX_BUNDLE_BYTES) {
            break;
        }
        taken += 1;
    }
    taken
}

/// A commit record read back strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    pub first: u64,
    pub count: u64,
    pub last_hash: Hash,
    pub last_key: String,
}

impl CommitRecord {
    fn from_item(item: &Item) -> Result<CommitRecord, StoreError> {
        let first: u64 = number(item, "sk", COMMIT_PARTITION)?;
        let key = format!("{COMMIT_PARTITION}/{first}");
        let malformed = |reason: String| StoreError::Malformed {
            key: key.clone(),
            reason,
        };
        let count: u64 = number(item, "count", &key)?;
        if !(1..=MAX_COMMIT_ENTRIES as u64).contains(&count) {
            return Err(malformed(format!(
                "count {count} is not between 1 and {MAX_COMMIT_ENTRIES}"
            )));
        }
        let stripe: u64 = number(item, "stripe", &key)?;
        if stripe != first % STRIPES {
            return Err(malformed(format!(
                "stripe {stripe} is not {first} mod {STRIPES}"
            )));
        }
        Ok(CommitRecord {
            first,
            count,
            last_hash: hash(item, "last_hash", &key)?,
            last_key: text(item, "last_key", &key)?,
        })
    }

    /// The chain index after this commit's last entry.
    pub fn end(&self) -> u64 {
        self.first + self.count
    }
}

/// The entries of a bundle (`None`: the commit has no bundle) as the commit's `count` items in
/// place, each parsed strictly and checked to sit at its index.
fn bundle_entries(commit: &CommitRecord, bundle: Option<&Item>) -> Vec<ReadItem> {
    let bundle_label = format!("{BUNDLE_PREFIX}{}/{}", commit.first % STRIPES, commit.first);
    let in_place = |position: u64, reason: String| StoreError::Malformed {
        key: format!("{bundle_label}[{position}]"),
        reason,
    };
    let list = match bundle.map(|b| b.get("entries")) {
        None => {
            return (0..commit.count)
                .map(|p| {
                    Err(in_place(
                        p,
                        format!(
                            "the commit at chain index {} has no entry bundle: entry {} is missing",
                            commit.first,
                            commit.first + p
                        ),
                    ))
                })
                .collect();
        }
        Some(Some(AttributeValue::L(list))) => list,
        Some(_) => {
            return (0..commit.count)
                .map(|p| {
                    Err(in_place(
                        p,
                        "the bundle's entries are missing or not a list".to_owned(),
                    ))
                })
                .collect();
        }
    };
    (0..commit.count)
        .map(|position| {
            let index = commit.first + position;
            let is_last = position + 1 == commit.count;
            if is_last && list.len() as u64 > commit.count {
                return Err(in_place(
                    position,
                    format!(
                        "the commit at chain index {} counts {} entries but its bundle holds {}",
                        commit.first,
                        commit.count,
                        list.len()
                    ),
                ));
            }
            match list.get(position as usize) {
                None => Err(in_place(
                    position,
                    format!(
                        "the commit at chain index {} counts {} entries but its bundle holds {}: entry {index} is missing",
                        commit.first,
                        commit.count,
                        list.len()
                    ),
                )),
                Some(AttributeValue::M(item)) => {
                    let entry = entry_from_item(item)?;
                    if entry.entry.chain_index != index {
                        return Err(in_place(
                            position,
                            format!(
                                "holds the entry of chain index {} at chain index {index}",
                                entry.entry.chain_index
                            ),
                        ));
                    }
                    Ok(entry)
                }
                Some(_) => Err(in_place(position, "the element is not a map".to_owned())),
            }
        })
        .collect()
}

/// Why a commit transaction was cancelled, read from its reasons by action position: the
/// commit record, the entry bundle, the insert audit bundle, then one claim per entry.
enum Cancelled {
    Busy,
    Lost,
    Claimed(Vec<SignalId>),
    AuditWriteFailed,
    Other,
}

///
/// `replays_first`: a claimed id wins over a taken commit (a commit of one, where a claimed id
/// means a replay whatever else happened).
fn cancelled(reasons: &[String], ids: &[SignalId], replays_first: bool) -> Cancelled {
    let code = |position: usize| reasons.get(position).map_or("None", String::as_str);
    let busy = [
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    ];
    if reasons
        .iter()
        .any(|r| r == "ThrottlingError" || r == "ProvisionedThroughputExceeded")
    {
        return Cancelled::Busy;
    }
    let lost = matches!(code(0), "ConditionalCheckFailed" | "TransactionConflict");
    if lost && !replays_first {
        return Cancelled::Lost;
    }
    let claimed: Vec<SignalId> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| code(3 + i) == "ConditionalCheckFailed")
        .map(|(_, id)| id.clone())
        .collect();
    if !claimed.is_empty() {
        return Cancelled::Claimed(claimed);
    }
    if lost {
        return Cancelled::Lost;
    }
    if reasons.iter().any(|r| busy.contains(&r.as_str())) {
        return Cancelled::Busy;
    }
    if code(2) != "None" {
        return Cancelled::AuditWriteFailed;
    }
    Cancelled::Other
}

impl<D: DynamoApi> DynamoLedgerStore<D> {
    /// The newest commit record, strongly consistent; `None` on an empty ledger.
    pub(crate) async fn head_commit(&self) -> Result<Option<CommitRecord>, StoreError> {
        let mut query = KeyQuery::partition(&self.signals_table, s(COMMIT_PARTITION));
        query.descending = true;
        query.limit = Some(1);
        let page = self.client.query(query).await.map_err(store_error)?;
        page.items.first().map(CommitRecord::from_item).transpose()
    }

    /// The commit holding `chain_index` or, when none starts at or before it, `None`.
    async fn commit_at_or_before(&self, chain_index: u64) -> Result<Option<Item>, StoreError> {
        let mut query = KeyQuery::partition(&self.signals_table, s(COMMIT_PARTITION));
        query.sort_until = Some(n(chain_index));
        query.descending = true;
        query.limit = Some(1);
        let page = self.client.query(query).await.map_err(store_error)?;
        Ok(page.items.into_iter().next())
    }

    /// Every item of `keys` (any number), in no particular order; unprocessed keys are asked
    /// for again after a short pause.
    pub(crate) async fn batch_get_all(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut keys = chunk.to_vec();
            let mut attempt = 0u32;
            while !keys.is_empty() {
                let got = self
                    .client
                    .batch_get_items(&self.signals_table, std::mem::take(&mut keys))
                    .await
                    .map_err(store_error)?;
                found.extend(got.items);
                if !got.unprocessed.is_empty() {
                    keys = got.unprocessed;
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(
                        20 * u64::from(attempt.min(10)),
                    ))
                    .await;
                }
            }
        }
        Ok(found)
    }

    /// Entries from `from` on, at most `limit`, read through the commit records and their
    /// bundles; see [`crate::ports::LedgerStore::read_page`].
    pub(crate) async fn read_bundled_page(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<crate::ports::Page, StoreError> {
        // From the commit holding `from` when there is one; otherwise from `from` itself, so
        // that every commit read yields a position at or after `from` and a page always
        // advances (a commit ending before `from`, or one too malformed to say where it ends,
        // was reported by the read that started at it).
        let start = match self.commit_at_or_before(from).await? {
            Some(holding) => match CommitRecord::from_item(&holding) {
                Ok(commit) if commit.end() > from => commit.first,
                _ => from,
            },
            None => from,
        };
        let mut query = KeyQuery::partition(&self.signals_table, s(COMMIT_PARTITION));
        query.sort_from = Some(n(start));
        query.limit = Some(limit.clamp(1, 100));
        let page = self.client.query(query).await.map_err(store_error)?;
        let mut commits: Vec<(u64, Result<CommitRecord, StoreError>)> = page
            .items
            .iter()
            .map(|item| {
                let first = number::<u64>(item, "sk", COMMIT_PARTITION).unwrap_or_default();
                (first, CommitRecord::from_item(item))
            })
            .collect();
        // Only the bundles the page needs: the commits whose entries (from `from` on) reach
        // `limit`. Reading all of them would fetch up to 100 commits of 97 entries for a page of
        // 1,000, and read most of them again for the next page.
        let needed = commits_covering(&commits, from, limit);
        let more_commits = needed < commits.len();
        commits.truncate(needed);
        let keys = commits
            .iter()
            .filter(|(_, c)| c.is_ok())
            .map(|(first, _)| bundle_key(*first))
            .collect();
        let bundles: std::collections::HashMap<u64, Item> = self
            .batch_get_all(keys)
            .await?
            .into_iter()
            .filter_map(|b| Some((number::<u64>(&b, "sk", "bundle").ok()?, b)))
            .collect();
        let mut items = Vec::new();
        let mut position = from;
        for (first, commit) in commits {
            let produced = match commit {
                Ok(commit) => {
                    let entries = bundle_entries(&commit, bundles.get(&commit.first));
                    entries
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| (commit.first + i as u64, item))
                        .collect()
                }
                Err(error) => vec![(first, Err(error))],
            };
            for (index, item) in produced {
                if index < from {
                    continue;
                }
                if items.len() as u32 >= limit {
                    return Ok(crate::ports::Page {
                        items,
                        next: Some(position),
                    });
                }
                items.push(item);
                position = index + 1;
            }
        }
        let next = (more_commits || page.last_evaluated_key.is_some()).then_some(position);
        Ok(crate::ports::Page { items, next })
    }

    /// The entry at `chain_index` through its commit and bundle.
    pub(crate) async fn bundled_entry_at(
        &self,
        chain_index: u64,
    ) -> Result<Option<StoredEntry>, StoreError> {
        let Some(item) = self.commit_at_or_before(chain_index).await? else {
            return Ok(None);
        };
        let commit = CommitRecord::from_item(&item)?;
        if chain_index >= commit.end() {
            return Ok(None);
        }
        let bundle = self
            .client
            .get_item(&self.signals_table, bundle_key(commit.first))
            .await
            .map_err(store_error)?;
        let position = (chain_index - commit.first) as usize;
        bundle_entries(&commit, bundle.as_ref())
            .into_iter()
            .nth(position)
            .transpose()
    }

    /// Writes a commit of the longest fitting prefix of `entries`; see
    /// [`crate::ports::GroupCommitStore::commit`].
    pub(crate) async fn write_commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
        replays_first: bool,
    ) -> Result<usize, CommitError> {
        let malformed = |reason: String| CommitError::Store(StoreError::Failed(reason.into()));
        if entries.is_empty() || audits.len() != entries.len() {
            return Err(malformed(format!(
                "a commit needs at least one entry and one audit event per entry ({} entries, {} events)",
                entries.len(),
                audits.len()
            )));
        }
        let taken = commit_prefix(entries, audits);
        let (entries, audits) = (&entries[..taken], &audits[..taken]);
        let mut previous = head.last_hash;
        let mut last_key = head.last_key.clone();
        for (i, stored) in entries.iter().enumerate() {
            let entry = &stored.entry;
            if entry.chain_index != head.next + i as u64 || entry.previous_hash != previous {
                return Err(malformed(format!(
                    "entry {i} of the commit is not chained on the head (chain index {}, expected {}; or its previous hash is not the hash before it)",
                    entry.chain_index,
                    head.next + i as u64
                )));
            }
            previous = stored.entry_hash;
            last_key = last_key.max(sequence_key(&entry.received_at, &entry.signal_id));
        }
        let items = commit_items(head.next, &last_key, entries, audits);
        let mut puts = vec![
            self.put(&self.signals_table, items.commit),
            self.put(&self.signals_table, items.bundle),
        ];
        if let Some(audit_bundle) = items.audit_bundle {
            puts.push(self.put(&self.audit_table, audit_bundle));
        }
        puts.extend(
            items
                .claims
                .into_iter()
                .map(|claim| self.put(&self.signals_table, claim)),
        );
        let error = match self.client.transact_put_if_absent(puts).await {
            Ok(()) => return Ok(taken),
            Err(error) => error,
        };
        let ids: Vec<SignalId> = entries.iter().map(|e| e.entry.signal_id.clone()).collect();
        match &error {
            DynamoFault::TransactionCanceled { reasons, .. } => {
                match cancelled(reasons, &ids, replays_first) {
                    Cancelled::Busy => Err(StoreError::Busy(Box::new(error)).into()),
                    Cancelled::Lost => Err(CommitError::Lost(head.next)),
                    Cancelled::Claimed(claimed) => Err(CommitError::Claimed(claimed)),
                    Cancelled::AuditWriteFailed => {
                        Err(CommitError::AuditWriteFailed(Box::new(error)))
                    }
                    Cancelled::Other => Err(store_error(error).into()),
                }
            }
            _ => Err(store_error(error).into()),
        }
    }

    /// The commit head; see [`crate::ports::GroupCommitStore::commit_head`].
    pub(crate) async fn read_commit_head(&self) -> Result<CommitHead, StoreError> {
        Ok(match self.head_commit().await? {
            None => CommitHead {
                first: None,
                next: 0,
                last_hash: Hash::ZERO,
                last_key: String::new(),
            },
            Some(commit) => CommitHead {
                first: Some(commit.first),
                next: commit.end(),
                last_hash: commit.last_hash,
                last_key: commit.last_key,
            },
        })
    }

    /// See [`crate::ports::GroupCommitStore::commit_firsts`]: the commit records' keys only.
    pub(crate) async fn read_commit_firsts(
        &self,
        at_or_before: u64,
        limit: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let mut query = KeyQuery::partition(&self.signals_table, s(COMMIT_PARTITION));
        query.sort_until = Some(n(at_or_before));
        query.descending = true;
        query.limit = Some(limit);
        query.projection = Some(&["pk", "sk"]);
        let page = self.client.query(query).await.map_err(store_error)?;
        page.items
            .iter()
            .map(|item| number(item, "sk", COMMIT_PARTITION))
            .collect()
    }

    pub(crate) async fn write_pending(
        &self,
        generation: u64,
        pending: &Pending,
    ) -> Result<(), StoreError> {
        let item = pending_item(generation, pending);
        match self
            .client
            .put_if_absent(self.put(&self.signals_table, item))
            .await
        {
            Ok(()) | Err(DynamoFault::ConditionalCheckFailed(_)) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }

    pub(crate) async fn read_first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> Result<Vec<SignalId>, StoreError> {
        let mut query = KeyQuery::partition(
            &self.signals_table,
            s(format!("{PENDING_PREFIX}{generation}")),
        );
        query.limit = Some(limit);
        query.projection = Some(&["pk", "sk", "signal_id"]);
        let page = self.client.query(query).await.map_err(store_error)?;
        Ok(page
            .items
            .iter()
            .filter_map(|item| SignalId::parse(&text(item, "signal_id", "pending").ok()?).ok())
            .collect())
    }

    pub(crate) async fn read_pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
        let mut found = Vec::new();
        let mut query = KeyQuery::partition(
            &self.signals_table,
            s(format!("{PENDING_PREFIX}{generation}")),
        );
        loop {
            let page = self
                .client
                .query(query.clone())
                .await
                .map_err(store_error)?;
            found.extend(page.items.iter().filter_map(pending_from_item));
            match page.last_evaluated_key {
                Some(key) => query.start_after = Some(key),
                None => return Ok(found),
            }
        }
    }

    pub(crate) async fn read_placed(
        &self,
        signal_id: &SignalId,
    ) -> Result<Option<Placed>, StoreError> {
        let claim_key = format!("{CLAIM_PREFIX}{signal_id}");
        let Some(claim) = self
            .client
            .get_item(
                &self.signals_table,
                Item::from([("pk".to_owned(), s(&claim_key)), ("sk".to_owned(), n(0))]),
            )
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let (_, found) = super::claim_from_item(&claim)?;
        let received_at = text(&claim, "received_at", &claim_key)?;
        Ok(Some(Placed {
            chain_index: found.chain_index,
            entry_hash: found.entry_hash,
            previous_hash: hash(&claim, "previous_hash", &claim_key)?,
            received_at: Timestamp::parse_canonical(&received_at).map_err(|e| {
                StoreError::Malformed {
                    key: claim_key.clone(),
                    reason: format!("received_at {e}"),
                }
            })?,
            submitter: text(&claim, "submitter", &claim_key)?,
        }))
    }
}
