//! Ports: the small capabilities the application needs from the outside world — a ledger store,
//! an audit sink, a vault, a signer and public keys, metrics and a clock — speaking domain types and small error enums, never
//! SDK types. Adapters (DynamoDB, EMF, in-memory doubles) implement them.

use std::future::Future;

use crate::domain::audit::AuditEvent;
use crate::domain::audit_seal::AuditKey;
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::receipt::{StoredReceipt, Subscriber};
use crate::domain::report::{AlarmState, AlarmTransition, TableRole, TableSettings};
use crate::domain::signal::{SignalContent, SignalId};
use crate::domain::timestamp::Timestamp;

/// Any underlying error, kept whole for logs (`#[source]`), never flattened into a string.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error and all its sources, joined with ": ", for one log field.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The last entry of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub chain_index: u64,
    pub entry_hash: Hash,
}

/// A storage failure that is not about the ledger's rules.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store asked us to slow down, or a concurrent transaction touched the same items; retry.
    #[error("the store is throttling or a concurrent transaction conflicted; retry later")]
    Busy(#[source] BoxError),
    /// Anything else: missing table, permissions, network, a bug.
    #[error("the store failed")]
    Failed(#[source] BoxError),
    /// An item exists but is not a well-formed entry (the stored attributes were edited).
    #[error("stored item at {key} is malformed: {reason}")]
    Malformed { key: String, reason: String },
    /// A write that must create its item found one already at `key` (for an audit event with a
    /// deterministic key, a retry of a write that succeeded).
    #[error("an item already exists at {key}")]
    AlreadyExists { key: String },
}

/// Why an append did not happen. Nothing was written in every case.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended this chain index first: re-read the head and retry.
    #[error("chain index {0} is already taken")]
    IndexTaken(u64),
    /// The signal id is already claimed by an entry: this is a replay.
    #[error("signal id {0} is already claimed")]
    SignalIdTaken(SignalId),
    /// The audit record could not be written, so neither was the entry.
    #[error("the audit record of the insert could not be written")]
    AuditWriteFailed(#[source] BoxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One stored item read back in index order: an entry, or the reason it is not one.
pub type ReadItem = Result<StoredEntry, StoreError>;

/// The append-only ledger.
pub trait LedgerStore: Send + Sync {
    /// The last entry, read with strong consistency; `None` for an empty ledger.
    fn head(&self) -> impl Future<Output = Result<Option<ChainHead>, StoreError>> + Send;

    /// Atomically writes the entry (only if its chain index is free), the claim of its signal id
    /// (only if unclaimed) and the audit record of the insert — all three or none.
    fn append(
        &self,
        entry: &StoredEntry,
        audit: &AuditEvent,
    ) -> impl Future<Output = Result<(), AppendError>> + Send;

    /// The entry that claimed `signal_id`, read with strong consistency.
    fn find_by_signal_id(
        &self,
        signal_id: &SignalId,
    ) -> impl Future<Output = Result<Option<StoredEntry>, StoreError>> + Send;

    /// Up to `limit` entries with chain index ≥ `from`, in ascending index order, and whether
    /// more may follow. Malformed items are returned as errors in place, not skipped.
    fn read_page(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// The entry at `chain_index`, read with strong consistency; `None` when there is none.
    fn entry_at(
        &self,
        chain_index: u64,
    ) -> impl Future<Output = Result<Option<StoredEntry>, StoreError>> + Send;

    /// The claims of these signal ids (at most 100 per call); ids without a claim are absent
    /// from the answer. Malformed claims are errors.
    fn claims(
        &self,
        signal_ids: &[SignalId],
    ) -> impl Future<Output = Result<Vec<(SignalId, Claim)>, StoreError>> + Send;

    /// Atomically writes a delivery receipt (only if the signal has none from this subscriber)
    /// and the audit record of it — both or neither.
    ///
    /// The default answers that this store keeps no receipts; every store of the product
    /// implements it (DynamoDB, in memory), a test wrapper delegates it.
    fn record_receipt(
        &self,
        receipt: &StoredReceipt,
        audit: &AuditEvent,
    ) -> impl Future<Output = Result<(), ReceiptError>> + Send {
        let _ = (receipt, audit);
        async {
            Err(ReceiptError::Store(StoreError::Failed(Box::new(
                NoReceipts,
            ))))
        }
    }

    /// The receipt `subscriber` gave for `signal_id`, read with strong consistency.
    fn receipt(
        &self,
        signal_id: &SignalId,
        subscriber: &Subscriber,
    ) -> impl Future<Output = Result<Option<StoredReceipt>, StoreError>> + Send {
        let _ = (signal_id, subscriber);
        async { Err(StoreError::Failed(Box::new(NoReceipts))) }
    }

    /// Every receipt of `signal_id` (in subscriber-key order); a malformed item is an error in
    /// place, not skipped.
    fn receipts_of(
        &self,
        signal_id: &SignalId,
    ) -> impl Future<Output = Result<Vec<Result<StoredReceipt, StoreError>>, StoreError>> + Send
    {
        let _ = signal_id;
        async { Err(StoreError::Failed(Box::new(NoReceipts))) }
    }
}

/// A signal made durable and idempotent before it has a place in the chain (group commit,
/// ARCHITECTURE.md): everything its entry and the audit event of its insert need, except the
/// placement. Inert until a commit sequences it: never an entry, never answered as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub signal_id: SignalId,
    pub content: SignalContent,
    pub received_at: Timestamp,
    pub submitter: String,
    pub request_id: String,
    /// The id of its `SIGNAL_INSERTED` event, fixed when it is made pending, so that whichever
    /// invocation sequences it writes the same event.
    pub event_id: String,
}

impl Pending {
    /// The order in which combiners sequence pendings: `received_at#signal_id`.
    pub fn sequence_key(&self) -> String {
        sequence_key(&self.received_at, &self.signal_id)
    }
}

/// `received_at#signal_id`: the sequencing order of pendings, and what a commit records as the
/// last key it sequenced.
pub fn sequence_key(received_at: &Timestamp, signal_id: &SignalId) -> String {
    format!("{}#{}", received_at.as_str(), signal_id.as_str())
}

/// The newest commit, read with strong consistency: where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitHead {
    /// The first chain index of the head commit (`None` on an empty ledger): its generation may
    /// still receive late pendings.
    pub first: Option<u64>,
    /// The next free chain index: the generation that new pendings join.
    pub next: u64,
    /// The hash of the last entry ([`Hash::ZERO`] on an empty ledger).
    pub last_hash: Hash,
    /// The greatest [`sequence_key`] of the head commit's entries (empty on an empty ledger).
    pub last_key: String,
}

/// Why a commit was not written. Nothing was written in every case.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// A commit starting at this chain index exists already: the head moved.
    #[error("a commit at chain index {0} exists already")]
    Lost(u64),
    /// These signal ids of the commit are claimed already (replays, or sequenced by another
    /// combiner).
    #[error("{} signal id(s) of the commit are claimed already", .0.len())]
    Claimed(Vec<SignalId>),
    /// The audit record of the inserts could not be written, so neither was the commit.
    #[error("the audit record of the inserts could not be written")]
    AuditWriteFailed(#[source] BoxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a claimed signal sits: enough for its owner to rebuild and re-hash its entry from its
/// own content without reading the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub chain_index: u64,
    pub entry_hash: Hash,
    pub previous_hash: Hash,
    pub received_at: Timestamp,
    pub submitter: String,
}

/// The ledger's group-commit primitives (ARCHITECTURE.md, "Group commit"): one commit on the
/// chain carries many signals. [`LedgerStore::append`] stays a commit of one; every reader of
/// [`LedgerStore`] sees the same entries whichever way they were appended.
pub trait GroupCommitStore: LedgerStore {
    /// The newest commit, read with strong consistency.
    fn commit_head(&self) -> impl Future<Output = Result<CommitHead, StoreError>> + Send;

    /// Makes `pending` durable in `generation`; a pending with its signal id already there is
    /// not an error (the id is idempotent) and is left as it is.
    fn put_pending(
        &self,
        generation: u64,
        pending: &Pending,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The first `limit` signal ids pending in `generation` in the store's pending order (keys
    /// only): a fixed order of ids, the same for every reader — not necessarily the ids' byte
    /// order (the DynamoDB layout orders pendings by a hash of the id, its sort key being a
    /// number), so "am I first" is `ids.first() == Some(mine)`.
    fn first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SignalId>, StoreError>> + Send;

    /// The first chain indexes of the newest `limit` commits that start at or before
    /// `at_or_before`, newest first: the generations whose pendings a combiner that takes over
    /// reads, as the combiner before it did.
    fn commit_firsts(
        &self,
        at_or_before: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send;

    /// Every pending of `generation`, claimed or not. A malformed pending item is left out (it
    /// is inert: it can never be answered as stored).
    fn pendings(
        &self,
        generation: u64,
    ) -> impl Future<Output = Result<Vec<Pending>, StoreError>> + Send;

    /// Atomically writes the longest prefix of `entries` that fits the store's limits (at least
    /// one entry), starting at `head.next` and chained on `head.last_hash`, with the claim of each
    /// signal id (only if unclaimed), the `SIGNAL_INSERTED` event of each (`audits[i]` is
    /// `entries[i]`'s) and a commit record (only if no commit starts at `head.next`) — all or
    /// nothing. Answers how many entries it committed.
    fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> impl Future<Output = Result<usize, CommitError>> + Send;

    /// Where the claim of `signal_id` places it, read with strong consistency.
    fn placed(
        &self,
        signal_id: &SignalId,
    ) -> impl Future<Output = Result<Option<Placed>, StoreError>> + Send;
}

/// The answer of a store that keeps no delivery receipts.
#[derive(Debug, thiserror::Error)]
#[error("this ledger store keeps no delivery receipts")]
pub struct NoReceipts;

/// Why a receipt was not recorded. Nothing was written in every case.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The signal already has a receipt from this subscriber: a replay (or a conflict).
    #[error("signal {0} already has a receipt from this subscriber")]
    Taken(SignalId),
    /// The audit record could not be written, so neither was the receipt.
    #[error("the audit record of the receipt could not be written")]
    AuditWriteFailed(#[source] BoxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a signal-id claim says: the entry that claimed the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub chain_index: u64,
    pub entry_hash: Hash,
}

/// A page of [`LedgerStore::read_page`].
#[derive(Debug)]
pub struct Page {
    pub items: Vec<ReadItem>,
    /// The index to continue from, when there may be more.
    pub next: Option<u64>,
}

/// Where audit events outside an append go (refusals, runs of scheduled jobs).
pub trait AuditSink: Send + Sync {
    /// Writes the event only if no event has its key (day, time and id): otherwise
    /// [`StoreError::AlreadyExists`] and nothing is written.
    fn record(&self, event: &AuditEvent) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// CloudWatch-style units used by the product's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
    /// A plain number (CloudWatch `None`), e.g. hours.
    None,
}

impl Unit {
    pub fn as_str(&self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
            Unit::None => "None",
        }
    }
}

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: f64,
}

impl Metric {
    pub fn count(name: &'static str, value: u64) -> Metric {
        Metric {
            name,
            unit: Unit::Count,
            value: value as f64,
        }
    }

    /// A duration in hours (unit `None`: CloudWatch has no hour unit).
    pub fn hours(name: &'static str, value: f64) -> Metric {
        Metric {
            name,
            unit: Unit::None,
            value,
        }
    }

    pub fn millis(name: &'static str, value: i64) -> Metric {
        Metric {
            name,
            unit: Unit::Milliseconds,
            value: value as f64,
        }
    }
}

/// Fire-and-forget metrics (no I/O on the hot path beyond a log line).
pub trait MetricsSink: Send + Sync {
    fn emit(&self, metrics: &[Metric]);
}

/// The wall clock, injected so that tests and benchmarks control time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// Why a vault (WORM object store) operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("object {key} (version {version_id:?}) does not exist")]
    NotFound {
        key: String,
        version_id: Option<String>,
    },
    /// A create-only write ([`BlobVault::create_locked`], [`BlobVault::complete_upload`]) found
    /// the key already there: another writer got it first, and nothing was written.
    #[error("{key} already exists (another writer created it first); nothing was written")]
    AlreadyExists { key: String },
    /// The store refused: e.g. deleting or shortening the retention of a locked version.
    #[error("the vault refused the operation on {key}")]
    Refused {
        key: String,
        #[source]
        source: BoxError,
    },
    #[error("the vault failed")]
    Failed(#[source] BoxError),
}

/// An object version the vault holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
    /// Whether this is the version a plain GET returns.
    pub is_latest: bool,
    pub size: u64,
}

/// What a locked write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub version_id: String,
    /// SHA-256 of the body, as sent with the write (and checked by the store).
    pub sha256: Hash,
}

/// The lock, encryption and checksum a stored version carries (from HeadObject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProtection {
    /// `COMPLIANCE` or `GOVERNANCE`; `None` when unlocked.
    pub lock_mode: Option<String>,
    pub retain_until: Option<Timestamp>,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    /// SHA-256 of the whole object as the store reports it (base64 in S3, decoded here);
    /// `None` for a multipart object, whose stored checksum is composed from its parts' — to
    /// prove such an object's hash, read it back and hash it.
    pub sha256: Option<Hash>,
}

/// A multipart upload in progress (for objects too large to hold in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
}

/// What the store returned for one uploaded part; passed back, in order, to complete the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// 1-based, consecutive.
    pub part_number: u32,
    pub etag: String,
    /// SHA-256 of this part (S3 verifies it; the object's checksum is composed from them).
    pub sha256: Hash,
}

/// The smallest part a multipart upload accepts, except the last (S3's limit).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// Reading the vault: listing versions and reading exact versions. Everything that only reads
/// (the proof routes of the ingest function among them) needs no more than this.
pub trait VaultReads: Send + Sync {
    /// Every version of every key under `prefix`: keys ascending, and for each key its versions
    /// from oldest to newest.
    fn list_versions(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectVersion>, VaultError>> + Send;

    /// As [`VaultReads::list_versions`], but only the keys after `after` (in key order): what
    /// was added since a listing whose last key was `after`. S3 starts the listing there
    /// (`key-marker`); the default filters a full listing.
    fn list_versions_after(
        &self,
        prefix: &str,
        after: &str,
    ) -> impl Future<Output = Result<Vec<ObjectVersion>, VaultError>> + Send {
        async move {
            let mut versions = self.list_versions(prefix).await?;
            versions.retain(|version| version.key.as_str() > after);
            Ok(versions)
        }
    }

    /// The bytes of exactly this version.
    fn get_version(
        &self,
        key: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<Vec<u8>, VaultError>> + Send;
}

/// Orders a listing as [`VaultReads::list_versions`] promises: keys ascending, each key's versions
/// oldest first — by modification time (nanoseconds since the epoch, when the store gave one), then
/// the latest version last, then against the store's own newest-first order (`position` is the
/// index in the store's answer). Both S3 adapters list through this.
pub fn order_versions(mut listed: Vec<(ObjectVersion, Option<i128>, usize)>) -> Vec<ObjectVersion> {
    listed.sort_by(|(a, a_time, a_position), (b, b_time, b_position)| {
        a.key
            .cmp(&b.key)
            .then_with(|| a_time.cmp(b_time))
            .then_with(|| a.is_latest.cmp(&b.is_latest))
            .then_with(|| b_position.cmp(a_position))
    });
    listed.into_iter().map(|(version, _, _)| version).collect()
}

/// Write-once object storage (S3 with Object Lock in COMPLIANCE mode).
pub trait BlobVault: VaultReads {
    /// Starts a multipart upload of a new object version that will be COMPLIANCE-locked until
    /// `retain_until` and server-side encrypted, with SHA-256 part checksums.
    fn start_upload(
        &self,
        key: &str,
        content_type: &str,
        retain_until: Timestamp,
    ) -> impl Future<Output = Result<Upload, VaultError>> + Send;

    /// Uploads part `part_number` (1-based); every part but the last must be at least
    /// [`MIN_PART_BYTES`].
    fn upload_part(
        &self,
        upload: &Upload,
        part_number: u32,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<UploadedPart, VaultError>> + Send;

    /// Completes the upload: the object version appears, locked, only now, and only if no
    /// version of the key exists yet (create-only: `If-None-Match: *` on S3); otherwise
    /// [`VaultError::AlreadyExists`], and the upload stays pending, to be aborted. Returns its
    /// version id; `sha256` is the caller's SHA-256 of the whole body, echoed back in
    /// [`StoredObject`] (the store checks each part's checksum, not this one).
    fn complete_upload(
        &self,
        upload: &Upload,
        parts: &[UploadedPart],
        sha256: Hash,
        retain_until: Timestamp,
    ) -> impl Future<Output = Result<StoredObject, VaultError>> + Send;

    /// Abandons the upload: no object version is created and the parts are discarded.
    fn abort_upload(&self, upload: &Upload) -> impl Future<Output = Result<(), VaultError>> + Send;

    /// Writes a new object version under COMPLIANCE lock until `retain_until`, server-side
    /// encrypted, with its SHA-256 checksum for the store to verify.
    fn put_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> impl Future<Output = Result<StoredObject, VaultError>> + Send;

    /// As [`BlobVault::put_locked`], but create-only: when any version of `key` exists the store
    /// writes nothing and answers [`VaultError::AlreadyExists`] (`If-None-Match: *` on S3), so
    /// of two writers racing for one key exactly one succeeds.
    fn create_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> impl Future<Output = Result<StoredObject, VaultError>> + Send;

    /// Lock, encryption and checksum of exactly this version.
    fn protection(
        &self,
        key: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<ObjectProtection, VaultError>> + Send;
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signing service failed")]
    Failed(#[source] BoxError),
}

/// An ECDSA P-256 signing key held by a service (KMS), used for checkpoints.
pub trait Signer: Send + Sync {
    /// The key's identifier as written into checkpoint signature lines (a key ARN or id).
    fn key_id(&self) -> &str;

    /// ECDSA P-256 signature (ASN.1 DER) over `SHA-256(message)` (`ECDSA_SHA_256`); verifying
    /// it with the public key takes the digest `SHA-256(message)`.
    fn sign(&self, message: &[u8]) -> impl Future<Output = Result<Vec<u8>, SignError>> + Send;
}

/// Looks up the public halves of signing keys, to verify checkpoints. Separate from [`Signer`]:
/// readers (the report, `ledgerctl trace`) verify without being able to sign.
pub trait PublicKeys: Send + Sync {
    /// The public key of `key_id` — the current signing key, or an earlier one after a
    /// rotation — DER-encoded SubjectPublicKeyInfo.
    fn public_key(&self, key_id: &str) -> impl Future<Output = Result<Vec<u8>, SignError>> + Send;
}

/// Reads the live settings of the deployment's tables: evidence for the compliance report.
pub trait TableInspector: Send + Sync {
    fn table_settings(
        &self,
        role: TableRole,
        table_name: &str,
    ) -> impl Future<Output = Result<TableSettings, StoreError>> + Send;
}

/// Reads the monitoring side of the deployment (CloudWatch alarms and metric sums).
pub trait AlarmReader: Send + Sync {
    /// The alarms whose names start with `name_prefix` (all when `None`), with their states.
    fn alarm_states(
        &self,
        name_prefix: Option<&str>,
    ) -> impl Future<Output = Result<Vec<AlarmState>, BoxError>> + Send;

    /// The state changes of those alarms between `from` and `to`, oldest first.
    fn alarm_history(
        &self,
        name_prefix: Option<&str>,
        from: &Timestamp,
        to: &Timestamp,
    ) -> impl Future<Output = Result<Vec<AlarmTransition>, BoxError>> + Send;

    /// The sum of a dimensionless metric between `from` and `to` (0 when no data points).
    fn metric_sum(
        &self,
        namespace: &str,
        metric: &str,
        from: &Timestamp,
        to: &Timestamp,
    ) -> impl Future<Output = Result<f64, BoxError>> + Send;
}

/// One audit item read back in key order: its key, and the event or why it is not one.
#[derive(Debug)]
pub struct KeyedAuditEvent {
    pub key: AuditKey,
    pub event: Result<AuditEvent, StoreError>,
}

/// Reads the audit log back, one UTC day at a time.
pub trait AuditLog: Send + Sync {
    /// Calls `visit` with every item whose key `(pk, sk)` lies in the key range of the window
    /// `[from, to)` — from `(day of from, from)` inclusive to `(day of to, to)` exclusive, byte
    /// order — in key order, read with strong consistency, one page in memory at a time. An
    /// item that is not a well-formed event is visited as an error in place, never skipped.
    fn visit_window<F>(
        &self,
        from: &Timestamp,
        to: &Timestamp,
        visit: F,
    ) -> impl Future<Output = Result<(), StoreError>> + Send
    where
        F: FnMut(KeyedAuditEvent) + Send;

    /// The earliest day (`YYYY-MM-DD`) any audit item is stored under; `None` when there is none.
    fn earliest_day(&self) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Calls `visit` with every event recorded on `day` (`YYYY-MM-DD`) in time order, holding
    /// one page of events in memory at a time.
    fn visit_day<F>(
        &self,
        day: &str,
        visit: F,
    ) -> impl Future<Output = Result<(), StoreError>> + Send
    where
        F: FnMut(AuditEvent) + Send;
}

/// Hands out time-limited download links to exact object versions.
pub trait Presigner: Send + Sync {
    fn presign_get(
        &self,
        key: &str,
        version_id: &str,
        expires_in: std::time::Duration,
    ) -> impl Future<Output = Result<String, VaultError>> + Send;
}

/// Reading one version of an object as a stream, for readers that must never hold a large
/// object whole: offline verification of an evidence folder reads its backup CSVs and leaf-hash
/// files this way, so its memory does not grow with the ledger.
pub trait ReadVersions: Send + Sync {
    /// The bytes of `key` at `version_id`, as a reader; [`VaultError::NotFound`] when
    /// [`VaultReads::get_version`] would answer it.
    fn open_version(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, VaultError>;
}
