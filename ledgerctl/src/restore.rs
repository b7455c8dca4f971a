//! Disaster recovery: restores every backup of the vault into a new, named signals table,
//! verifying while it loads.
//!
//! How it goes:
//! 1. The manifests (`manifests/…`) are listed and the **original** (oldest) version of each key
//!    is read; they are ordered by backup id and their chain is verified
//!    (`verify_manifest_chain`). Any finding refuses the restore before anything is written.
//! 2. The target table must exist (create it beforehand from `template.yaml`, e.g.
//!    `ledgerctl provision --stack-name <name>` creates `<name>-signals`) with the signals
//!    table's key (`pk` S, `sk` N). It must be empty, unless `resume` is set (see below).
//! 3. Each manifest's CSV — exactly the `version_id` the manifest names — is downloaded, checked
//!    against the manifest's SHA-256 and size, and read row by row (`RowReader`) into one
//!    `ChainVerifier` that continues across files (hash, link, index). After each manifest the
//!    verifier's size, head hash and Merkle root must equal the manifest's. A finding stops the
//!    restore, naming the backup, the CSV row and the chain index.
//! 4. Each verified row is written as a commit of one on layout 2 (docs/ledger-format.md §9:
//!    its entry bundle and signal-id claim, then its commit record) with `PutItem` conditioned
//!    on `attribute_not_exists(pk)` — never an update, a delete or an unconditional put; no
//!    insert audit bundle (the audit log is not restored). A failed condition on an item that already holds exactly the same content counts as
//!    "already restored"; any other existing item is a conflict, reported by its key.
//!
//! 5. Then the delivery receipts: each manifest's receipts CSV (§8.6), exactly the version named,
//!    is checked against the manifest's SHA-256, size and row count, and every row against §10
//!    (`check_receipt_rows`: its hash, latency, window, order, and a signal in the backups); its
//!    signal must be the restored entry at its chain index (id and `generated_at`). Any finding
//!    stops the restore, naming the file and row. Each receipt is then put under the same
//!    create-only condition as the entries.
//!
//! Resuming: rows are written in windows of at most [`WINDOW`] consecutive chain indexes, a
//! window only after the previous one is complete, so after an interruption every missing item
//! is within [`WINDOW`] indexes below the target's head. With `resume`, the target's head entry
//! must equal the backup's row at that index (else the table is not a restore of this vault),
//! rows below `head - WINDOW + 1` are verified but not written, and the rest are put again
//! (present ones are skipped as "already restored").
//!
//! Memory: one day's CSV is held in memory at a time (`BlobVault::get_version` returns the
//! bytes); rows are then streamed from it. A streaming `get` would bound this further.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ScalarAttributeType};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use shared::adapters::dynamodb::commit::commit_items;
use shared::adapters::dynamodb::receipts::receipt_item;
use shared::app::vault;
use shared::domain::backup::{
    BackupId, CsvObject, Manifest, RowReader, check_receipt_rows, read_receipt_rows,
    verify_manifest_chain,
};
use shared::domain::chain::ChainVerifier;
use shared::domain::entry::StoredEntry;
use shared::domain::hash::Hash;
use shared::domain::receipt::StoredReceipt;
use shared::ports::{BlobVault, LedgerStore, sequence_key};
use tokio::task::JoinSet;

/// The most consecutive chain indexes written at once (two puts each, in parallel).
pub const WINDOW: u64 = 64;

/// Condition on every write: the item must not exist yet.
const IF_ABSENT: &str = "attribute_not_exists(pk)";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreOptions {
    /// The new signals table to fill.
    pub target_table: String,
    /// Continue an interrupted restore into a table that already holds part of it.
    pub resume: bool,
    /// Restore only the backups up to and including this one (all when `None`).
    pub until: Option<BackupId>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreSummary {
    pub target_table: String,
    /// Manifests restored (empty days included).
    pub manifests: usize,
    pub last_backup_id: Option<BackupId>,
    /// Entries in the target afterwards: the last manifest's `index_range.to`.
    pub size: u64,
    /// Rows read from the CSVs and verified.
    pub rows_verified: u64,
    /// Items (entries and claims) written by this run.
    pub items_written: u64,
    /// Items that were already there with identical content (a resumed run).
    pub items_already_present: u64,
    /// Rows below the resume point: verified, not written.
    pub rows_skipped: u64,
    /// Delivery receipts read from the receipts CSVs, verified and restored (written now or
    /// already present); their items are counted in `items_written` / `items_already_present`.
    pub receipts_restored: u64,
    /// The head hash and Merkle root of the restored chain (equal to the last manifest's).
    pub head_hash: Hash,
    pub merkle_root: Hash,
    /// Manifest keys that have more than one version: the original was used; the newer
    /// versions are an overwrite the backup verification reports.
    pub overwritten_manifests: Vec<String>,
    pub duration_ms: u64,
}

impl std::fmt::Display for RestoreSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.duration_ms as f64 / 1000.0;
        write!(
            f,
            "restored {} entries and {} receipts from {} backups (last {}) into {}: {} items written, {} already present, {} rows skipped; head {}, root {}; {:.1}s ({:.0} rows/s)",
            self.size,
            self.receipts_restored,
            self.manifests,
            self.last_backup_id
                .map_or_else(|| "none".to_owned(), |id| id.to_string()),
            self.target_table,
            self.items_written,
            self.items_already_present,
            self.rows_skipped,
            self.head_hash,
            self.merkle_root,
            seconds,
            self.rows_verified as f64 / seconds.max(0.001),
        )
    }
}

/// Restores the vault's backups into `options.target_table`. See the module documentation.
pub async fn restore<V: BlobVault>(
    vault: &V,
    dynamodb: &Client,
    options: &RestoreOptions,
) -> anyhow::Result<RestoreSummary> {
    let started = Instant::now();
    let target = options.target_table.as_str();
    let ManifestsToRestore {
        manifests,
        overwritten,
    } = read_manifests(vault, options.until).await?;
    let total = manifests.last().map_or(0, |(_, m)| m.index_range.to);

    check_target_table(dynamodb, target).await?;
    let store = shared::adapters::dynamodb::DynamoLedgerStore::new(dynamodb.clone(), target, "");
    let resume = resume_point(dynamodb, &store, target, options.resume, total).await?;
    let bar = progress_bar(options.progress, total)?;
    let mut load = Load {
        target,
        resume,
        bar,
        writer: Writer {
            client: dynamodb.clone(),
            table: target.to_owned(),
            pending: Vec::new(),
            written: 0,
            already_present: 0,
        },
        verifier: ChainVerifier::from_genesis(),
        rows_verified: 0,
        rows_skipped: 0,
    };
    for (_, manifest) in &manifests {
        load.backup(vault, manifest).await?;
    }
    load.writer.flush().await?;
    load.bar.finish_and_clear();
    let end = check_restored(&store, target, &manifests, &load.verifier).await?;
    let mut receipts_restored = 0;
    for (_, manifest) in &manifests {
        receipts_restored += restore_receipts(vault, &store, &mut load.writer, manifest).await?;
    }
    Ok(RestoreSummary {
        target_table: target.to_owned(),
        manifests: manifests.len(),
        last_backup_id: manifests.last().map(|(_, m)| m.backup_id),
        size: total,
        rows_verified: load.rows_verified,
        items_written: load.writer.written,
        items_already_present: load.writer.already_present,
        rows_skipped: load.rows_skipped,
        receipts_restored,
        head_hash: end.head_hash,
        merkle_root: end.merkle_root,
        overwritten_manifests: overwritten,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Where the writes start: 0 into an empty table; with `resume`, [`WINDOW`] below the target's
/// head, whose entry the backups must then hold exactly.
struct ResumePoint {
    /// Rows below this chain index are verified, not written.
    from: u64,
    /// The target's head entry, when resuming.
    existing_head: Option<StoredEntry>,
}

/// The target table must be empty, or (with `resume`) hold a prefix of the backups.
async fn resume_point(
    dynamodb: &Client,
    store: &impl LedgerStore,
    target: &str,
    resume: bool,
    total: u64,
) -> anyhow::Result<ResumePoint> {
    let head = store
        .head()
        .await
        .with_context(|| format!("cannot read the head of the target table {target}"))?;
    let Some(head) = head else {
        if !resume {
            let any = dynamodb
                .scan()
                .table_name(target)
                .limit(1)
                .send()
                .await
                .with_context(|| format!("cannot scan the target table {target}"))?;
            ensure!(
                any.items().is_empty(),
                "the target table {target} is not empty (it holds items other than entries); restore only into a new, empty table, or pass --resume to continue an interrupted restore"
            );
        }
        return Ok(ResumePoint {
            from: 0,
            existing_head: None,
        });
    };
    ensure!(
        resume,
        "the target table {target} already holds entries (head at chain index {}); restore only into a new, empty table, or pass --resume to continue an interrupted restore of this vault",
        head.chain_index
    );
    ensure!(
        head.chain_index < total,
        "cannot resume: the target table {target} holds entries up to chain index {}, but the backups only reach {total}",
        head.chain_index
    );
    let entry = store
        .entry_at(head.chain_index)
        .await
        .with_context(|| {
            format!(
                "cannot read the head entry {} of the target table {target}",
                head.chain_index
            )
        })?
        .with_context(|| {
            format!(
                "the head entry {} of {target} disappeared while resuming",
                head.chain_index
            )
        })?;
    Ok(ResumePoint {
        from: (head.chain_index + 1).saturating_sub(WINDOW),
        existing_head: Some(entry),
    })
}

/// A progress bar on stderr over `total` rows, hidden unless `shown`.
fn progress_bar(shown: bool, total: u64) -> anyhow::Result<ProgressBar> {
    let bar = if shown {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec}, eta {eta}) {msg}",
        )
        .context("progress bar template")?,
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    Ok(bar)
}

/// The load in progress: one chain verifier across every backup, and the writer.
struct Load<'a> {
    target: &'a str,
    resume: ResumePoint,
    bar: ProgressBar,
    writer: Writer,
    verifier: ChainVerifier,
    rows_verified: u64,
    rows_skipped: u64,
}

impl Load<'_> {
    /// Downloads one backup's CSV, checks it against its manifest, verifies its rows into the
    /// chain and writes those at or above the resume point; the verifier must then be at the
    /// manifest's end state.
    async fn backup(&mut self, vault: &impl BlobVault, manifest: &Manifest) -> anyhow::Result<()> {
        let id = manifest.backup_id;
        self.bar.set_message(format!("backup {id}"));
        let Some(csv) = &manifest.csv else {
            return check_manifest_end(&self.verifier, manifest);
        };
        let what = format!("backup {id} ({} version {})", csv.key, csv.version_id);
        let bytes = download_named(vault, csv, &what, "CSV").await?;
        let rows = RowReader::new(bytes.as_slice()).with_context(|| format!("{what}: header"))?;
        for (number, row) in (1u64..).zip(rows) {
            let stored = row.with_context(|| format!("{what}: cannot read the CSV"))?;
            self.row(&what, number, manifest, stored).await?;
        }
        check_manifest_end(&self.verifier, manifest).with_context(|| what.clone())
    }

    /// One CSV row: verified into the chain, compared with the target's head when resuming,
    /// and queued for writing unless it is below the resume point.
    async fn row(
        &mut self,
        what: &str,
        number: u64,
        manifest: &Manifest,
        stored: StoredEntry,
    ) -> anyhow::Result<()> {
        let (target, index) = (self.target, stored.entry.chain_index);
        self.verifier.push(&stored);
        if let Some(finding) = self.verifier.first_finding() {
            bail!(
                "{what}, row {number} (chain index {index}): the chain is broken: {} {}; nothing after it was restored",
                finding.kind.name(),
                serde_json::to_string(finding).unwrap_or_default()
            );
        }
        ensure!(
            index < manifest.index_range.to,
            "{what}, row {number}: chain index {index} is outside the manifest's range [{}, {})",
            manifest.index_range.from,
            manifest.index_range.to
        );
        self.rows_verified += 1;
        self.bar.inc(1);
        if let Some(existing) = &self.resume.existing_head
            && existing.entry.chain_index == index
            && *existing != stored
        {
            bail!(
                "cannot resume: the entry at chain index {index} in {target} (hash {}) differs from {what}, row {number} (hash {}): the table is not a restore of this vault",
                existing.entry_hash,
                stored.entry_hash
            );
        }
        if index < self.resume.from {
            self.rows_skipped += 1;
            return Ok(());
        }
        self.writer.pending.push(stored);
        if self.writer.pending.len() as u64 >= WINDOW {
            self.writer.flush().await?;
        }
        Ok(())
    }
}

/// The restored chain's end state.
struct RestoredEnd {
    head_hash: Hash,
    merkle_root: Hash,
}

/// The restored chain must end as the last manifest says, and the target's head must be its
/// last entry.
async fn check_restored(
    store: &impl LedgerStore,
    target: &str,
    manifests: &[(Vec<u8>, Manifest)],
    verifier: &ChainVerifier,
) -> anyhow::Result<RestoredEnd> {
    let total = manifests.last().map_or(0, |(_, m)| m.index_range.to);
    let head_hash = verifier.head_hash().unwrap_or(Hash::ZERO);
    let merkle_root = verifier.tree().root();
    if let Some((_, last)) = manifests.last() {
        ensure!(
            head_hash == last.last_entry_hash && merkle_root == last.merkle_root,
            "the restored chain's head {head_hash} and root {merkle_root} differ from the last manifest's ({} and {})",
            last.last_entry_hash,
            last.merkle_root
        );
    }
    let restored = store
        .head()
        .await
        .with_context(|| format!("cannot read back the head of {target}"))?;
    ensure!(
        restored.map(|h| (h.chain_index + 1, h.entry_hash))
            == (total > 0).then_some((total, head_hash)),
        "after the restore the head of {target} is {restored:?}, expected {total} entries ending in {head_hash}"
    );
    Ok(RestoredEnd {
        head_hash,
        merkle_root,
    })
}

/// Restores one manifest's receipts CSV into the target, whose entries are already restored:
/// the exact version named, its SHA-256, size and row count, every row by §10 and against the
/// restored entry of its signal; then each receipt is put create-only. Returns the receipts.
async fn restore_receipts(
    vault: &impl BlobVault,
    store: &impl LedgerStore,
    writer: &mut Writer,
    manifest: &Manifest,
) -> anyhow::Result<u64> {
    let Some(receipts) = &manifest.receipts else {
        return Ok(0);
    };
    let Some(csv) = &receipts.csv else {
        return Ok(0);
    };
    let what = format!(
        "backup {} ({} version {})",
        manifest.backup_id, csv.key, csv.version_id
    );
    let bytes = download_named(vault, csv, &what, "receipts CSV").await?;
    let rows = read_receipt_rows(&bytes).with_context(|| format!("{what}: cannot read the CSV"))?;
    ensure!(
        rows.len() as u64 == receipts.row_count,
        "{what}: {} rows, but the manifest says {}",
        rows.len(),
        receipts.row_count
    );
    if let Some(finding) = check_receipt_rows(&rows, receipts, manifest.index_range.to).first() {
        bail!(
            "{what}, row {}: {}: {}; no receipt of it was restored",
            finding.row,
            finding.kind,
            finding.message
        );
    }
    for (number, row) in (1u64..).zip(&rows) {
        let receipt = &row.receipt;
        let entry = store
            .entry_at(receipt.chain_index)
            .await
            .with_context(|| format!("cannot read back entry {}", receipt.chain_index))?;
        ensure!(
            entry
                .as_ref()
                .is_some_and(|e| e.entry.signal_id == receipt.signal_id
                    && e.entry.content.generated_at == receipt.generated_at),
            "{what}, row {number}: the receipt names signal {} at chain index {} generated at {}, but the restored entry there is {:?}",
            receipt.signal_id,
            receipt.chain_index,
            receipt.generated_at,
            entry.map(|e| (e.entry.signal_id, e.entry.content.generated_at))
        );
    }
    for window in rows.chunks(WINDOW as usize) {
        writer.put_receipts(window).await?;
    }
    Ok(rows.len() as u64)
}

/// The manifests to restore, read and chain-verified.
struct ManifestsToRestore {
    /// The original version of every manifest up to `until` (its bytes and itself), in
    /// backup-id order.
    manifests: Vec<(Vec<u8>, Manifest)>,
    /// Manifest keys overwritten by newer versions.
    overwritten: Vec<String>,
}

/// The original version of every manifest up to `until`, in backup-id order, after verifying
/// their chain; and the keys that were overwritten by newer versions.
async fn read_manifests<V: BlobVault>(
    vault: &V,
    until: Option<BackupId>,
) -> anyhow::Result<ManifestsToRestore> {
    let listing = vault::list_manifests(vault)
        .await
        .context("cannot list the manifests in the vault")?;
    if let Some(stray) = listing.strays.first() {
        bail!(
            "{} is not a manifest key; refusing to guess what it is",
            stray.key()
        );
    }
    let mut overwritten = Vec::new();
    let mut manifests = Vec::with_capacity(listing.manifests.len());
    for (id, original) in &listing.manifests {
        if original.overwritten() {
            overwritten.push(original.key().to_owned());
        }
        if until.is_some_and(|until| *id > until) {
            continue;
        }
        let read = vault::read_manifest(vault, original)
            .await
            .with_context(|| {
                format!(
                    "cannot read manifest {} version {}",
                    original.key(),
                    original.version_id()
                )
            })??;
        manifests.push((read.bytes, read.manifest));
    }
    if let Some(until) = until {
        ensure!(
            manifests.last().is_some_and(|(_, m)| m.backup_id == until),
            "there is no backup {until} in the vault"
        );
    }
    let findings = verify_manifest_chain(&manifests);
    if !findings.is_empty() {
        let text = findings
            .iter()
            .map(|f| {
                format!(
                    "manifest #{} ({}): {}",
                    f.position,
                    f.backup_id,
                    serde_json::to_string(&f.kind).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        bail!(
            "the manifest chain is broken ({} findings), nothing was restored: {text}",
            findings.len()
        );
    }
    Ok(ManifestsToRestore {
        manifests,
        overwritten,
    })
}

/// After a manifest's rows: the verifier must be exactly at the manifest's end state.
fn check_manifest_end(verifier: &ChainVerifier, manifest: &Manifest) -> anyhow::Result<()> {
    let head = verifier.head_hash().unwrap_or(Hash::ZERO);
    let root = verifier.tree().root();
    ensure!(
        verifier.position() == manifest.index_range.to
            && head == manifest.last_entry_hash
            && root == manifest.merkle_root,
        "backup {}: the rows end at size {} with head {head} and root {root}, but the manifest says size {}, head {}, root {}",
        manifest.backup_id,
        verifier.position(),
        manifest.index_range.to,
        manifest.last_entry_hash,
        manifest.merkle_root
    );
    Ok(())
}

/// The target must exist and have the signals table's key.
async fn check_target_table(dynamodb: &Client, target: &str) -> anyhow::Result<()> {
    let described = dynamodb
        .describe_table()
        .table_name(target)
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot describe the target table {target}: it must exist before the restore (e.g. `ledgerctl provision --stack-name <name>` creates <name>-signals from template.yaml)"
            )
        })?;
    let table = described
        .table()
        .with_context(|| format!("no description of {target}"))?;
    let key: Vec<(&str, KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect();
    let types: HashMap<&str, ScalarAttributeType> = table
        .attribute_definitions()
        .iter()
        .map(|d| (d.attribute_name(), d.attribute_type().clone()))
        .collect();
    ensure!(
        key == [("pk", KeyType::Hash), ("sk", KeyType::Range)]
            && types.get("pk") == Some(&ScalarAttributeType::S)
            && types.get("sk") == Some(&ScalarAttributeType::N),
        "the target table {target} does not have the signals table's key (pk S HASH, sk N RANGE)"
    );
    Ok(())
}

/// Writes rows a window at a time: every item of a window is put in parallel, and the next
/// window starts only when all of them are done.
struct Writer {
    client: Client,
    table: String,
    pending: Vec<StoredEntry>,
    written: u64,
    already_present: u64,
}

enum Put {
    Written,
    AlreadyPresent,
}

impl Writer {
    /// Puts these receipts in parallel, each only if its key is free.
    async fn put_receipts(&mut self, receipts: &[StoredReceipt]) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        for stored in receipts {
            let what = format!(
                "receipt of signal {} from subscriber {}",
                stored.receipt.signal_id, stored.receipt.subscriber
            );
            let (client, table, item): (Client, String, Item) = (
                self.client.clone(),
                self.table.clone(),
                receipt_item(stored),
            );
            tasks.spawn(async move {
                put_if_absent(&client, &table, item)
                    .await
                    .with_context(|| format!("cannot restore the {what} into {table}"))
            });
        }
        self.join(tasks).await
    }

    /// Writes the window's entries as commits of one (layout 2, docs/ledger-format.md §9): the
    /// entry bundles and claims first, then the commit records, so that a commit record (which
    /// is what the head is read from when resuming) never exists without its bundle. A commit
    /// of one per entry makes every item a function of its row alone, so a resumed restore puts
    /// exactly the same items again.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let mut commits = Vec::new();
        let mut tasks = JoinSet::new();
        for stored in self.pending.drain(..) {
            let index = stored.entry.chain_index;
            let last_key = sequence_key(&stored.entry.received_at, &stored.entry.signal_id);
            let items = commit_items(index, &last_key, std::slice::from_ref(&stored), &[]);
            commits.push((format!("commit record {index}"), items.commit));
            let claims = items.claims.into_iter().map(|claim| {
                (
                    format!("claim of signal {} (entry {index})", stored.entry.signal_id),
                    claim,
                )
            });
            for (what, item) in
                std::iter::once((format!("entry bundle {index}"), items.bundle)).chain(claims)
            {
                let (client, table) = (self.client.clone(), self.table.clone());
                tasks.spawn(async move {
                    put_if_absent(&client, &table, item)
                        .await
                        .with_context(|| format!("cannot restore the {what} into {table}"))
                });
            }
        }
        self.join(tasks).await?;
        let mut tasks = JoinSet::new();
        for (what, item) in commits {
            let (client, table) = (self.client.clone(), self.table.clone());
            tasks.spawn(async move {
                put_if_absent(&client, &table, item)
                    .await
                    .with_context(|| format!("cannot restore the {what} into {table}"))
            });
        }
        self.join(tasks).await
    }

    /// Waits for every put; counts them; the first error, if any, after all have ended.
    async fn join(&mut self, mut tasks: JoinSet<anyhow::Result<Put>>) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined.context("a write task failed")? {
                Ok(Put::Written) => self.written += 1,
                Ok(Put::AlreadyPresent) => self.already_present += 1,
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Puts `item` only if its key is free; an existing identical item is "already restored".
async fn put_if_absent(client: &Client, table: &str, item: Item) -> anyhow::Result<Put> {
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(item.clone()))
        .condition_expression(IF_ABSENT)
        .send()
        .await;
    let error = match result {
        Ok(_) => return Ok(Put::Written),
        Err(error) => error,
    };
    if !error
        .as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
    {
        return Err(error.into());
    }
    let key = |name: &str| {
        item.get(name)
            .cloned()
            .unwrap_or(AttributeValue::Null(true))
    };
    let existing = client
        .get_item()
        .table_name(table)
        .key("pk", key("pk"))
        .key("sk", key("sk"))
        .consistent_read(true)
        .send()
        .await
        .context("cannot read the existing item")?;
    let existing = existing.item().cloned().unwrap_or_default();
    ensure!(
        same_item(&existing, &item),
        "a different item already exists at pk {:?}, sk {:?}: {}",
        item.get("pk").and_then(|v| v.as_s().ok()),
        item.get("sk").and_then(|v| v.as_n().ok()),
        describe_difference(&existing, &item)
    );
    Ok(Put::AlreadyPresent)
}

/// Equal attribute by attribute; numbers compared by value (DynamoDB may normalise their text).
fn same_item(existing: &Item, expected: &Item) -> bool {
    existing.len() == expected.len()
        && expected.iter().all(|(name, value)| {
            existing
                .get(name)
                .is_some_and(|found| same_value(found, value))
        })
}

fn same_value(found: &AttributeValue, expected: &AttributeValue) -> bool {
    match (found, expected) {
        (AttributeValue::N(a), AttributeValue::N(b)) => {
            a == b || matches!((a.parse::<i128>(), b.parse::<i128>()), (Ok(x), Ok(y)) if x == y)
        }
        _ => found == expected,
    }
}

fn describe_difference(existing: &Item, expected: &Item) -> String {
    let mut names: Vec<&String> = existing.keys().chain(expected.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| match (existing.get(*name), expected.get(*name)) {
            (Some(a), Some(b)) => !same_value(a, b),
            _ => true,
        })
        .map(|name| {
            format!(
                "{name}: found {:?}, backup has {:?}",
                existing.get(name),
                expected.get(name)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Downloads exactly the version a manifest names and checks it is those bytes (size and
/// SHA-256); `what` names the backup and object in errors, `kind` the file ("CSV").
async fn download_named(
    vault: &impl BlobVault,
    csv: &CsvObject,
    what: &str,
    kind: &str,
) -> anyhow::Result<Vec<u8>> {
    let bytes = vault
        .get_version(&csv.key, &csv.version_id)
        .await
        .with_context(|| format!("cannot download {what}"))?;
    ensure!(
        bytes.len() as u64 == csv.bytes && Hash::sha256(&bytes) == csv.sha256,
        "{what}: the {kind} ({} bytes, SHA-256 {}) is not the one its manifest names ({} bytes, SHA-256 {})",
        bytes.len(),
        Hash::sha256(&bytes),
        csv.bytes,
        csv.sha256
    );
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_and_extra_attributes_differ() {
        let a = Item::from([("sk".to_owned(), AttributeValue::N("7".into()))]);
        let b = Item::from([("sk".to_owned(), AttributeValue::N("007".into()))]);
        assert!(same_item(&a, &b));
        let mut c = a.clone();
        c.insert("note".into(), AttributeValue::S("x".into()));
        assert!(!same_item(&c, &a));
        assert!(describe_difference(&c, &a).contains("note"));
    }
}
