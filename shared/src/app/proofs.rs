//! Proofs from the vault, for the read-only routes of the ingest function URL: the latest trusted
//! checkpoint note, an entry's inclusion proof and the consistency proof between two
//! checkpointed sizes (`docs/ledger-format.md` section 13).
//!
//! Promises:
//! - only trusted notes are used, judged by `app::vault` (origin, pinned keys: [`TrustedKeys`]);
//!   a planted or forged note is passed over exactly as every other reader passes it over;
//! - no proof rescans the ledger or the tree: one listing of `checkpoints/` (keys only) — in
//!   full once per process, then only the keys added since (the sweep only ever adds keys after
//!   the last one: sizes and times grow), one page — and, per proof node, at most the notes and leaf-hash files that
//!   cover it — each node's hash is the compact range of the largest checkpoint inside the node
//!   extended by the leaves after it (from the next checkpoint's leaf-hash file), and every
//!   object is read at most once per request. `ProofRead::gets` counts the reads;
//! - a proof is checked against its note's root before it is served: a vault or ledger that
//!   disagrees with its own checkpoints yields an error, never a proof that does not verify;
//! - [`RangeProver`] proves many consecutive leaves against one checkpoint (a regulator's
//!   production) in bounded memory: one listing, each note judged once, at most
//!   [`RANGE_LEAF_FILES`] leaf-hash files held at once, and only the current leaf's path kept —
//!   a sibling node serves a contiguous run of leaves, so each node is hashed once.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use crate::app::sweep::CHECKPOINT_PREFIX;
use crate::app::vault::{
    self, CheckpointTrust, Original, TrustError, TrustedKeys, is_note, key_mismatch, originals,
};
use crate::domain::checkpoint::{SignedCheckpoint, leaves_key, parse_leaves};
use crate::domain::hash::Hash;
use crate::domain::merkle::{self, CompactRange};
use crate::domain::proof::{consistency_nodes, extend_root, inclusion_nodes, range_suffix};
use crate::ports::{PublicKeys, VaultError, VaultReads};

/// Why a proof (or the latest note) cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ProofsError {
    /// This deployment reads no vault (no `VAULT_BUCKET`).
    #[error("proofs are not configured on this function")]
    NotConfigured,
    /// No trusted checkpoint exists yet.
    #[error("no trusted checkpoint exists yet")]
    NoCheckpoint,
    /// No trusted checkpoint has this tree size.
    #[error("no trusted checkpoint has tree size {tree_size}")]
    NotCheckpointed { tree_size: u64 },
    /// The entry is not in the tree of the chosen checkpoint.
    #[error("chain index {chain_index} is not covered by the checkpoint of tree size {tree_size}")]
    NotCovered { chain_index: u64, tree_size: u64 },
    /// The vault's objects disagree with each other or with the entry (a finding for the sweep).
    #[error("the vault cannot give a proof: {0}")]
    Inconsistent(String),
    #[error("the vault could not be read")]
    Vault(#[from] VaultError),
    #[error("the trusted checkpoint keys could not be loaded")]
    Trust(#[from] TrustError),
}

/// An inclusion proof and what it verifies against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    pub checkpoint: SignedCheckpoint,
    pub path: Vec<Hash>,
    pub read: ProofRead,
}

/// A consistency proof and the two notes it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consistency {
    pub from: SignedCheckpoint,
    pub to: SignedCheckpoint,
    pub path: Vec<Hash>,
    pub read: ProofRead,
}

/// What answering one request read from the vault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofRead {
    /// `ListObjectVersions` calls (one listing of `checkpoints/`).
    pub listings: u32,
    /// `GetObject` calls: notes and leaf-hash files.
    pub gets: u32,
}

/// What the ingest service needs to answer the proof routes.
pub trait ProofSource: Send + Sync {
    /// The latest trusted checkpoint note, as stored.
    fn latest_note(&self) -> impl Future<Output = Result<String, ProofsError>> + Send;

    /// The inclusion proof of the leaf `entry_hash` at `chain_index`, in the tree of the latest
    /// trusted checkpoint or of the trusted checkpoint of `tree_size`.
    fn inclusion(
        &self,
        chain_index: u64,
        entry_hash: Hash,
        tree_size: Option<u64>,
    ) -> impl Future<Output = Result<Inclusion, ProofsError>> + Send;

    /// The consistency proof between the trusted checkpoints of sizes `from ≤ to` (`from > 0`).
    fn consistency(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Consistency, ProofsError>> + Send;
}

/// No vault: every proof route answers that proofs are not configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProofs;

impl ProofSource for NoProofs {
    async fn latest_note(&self) -> Result<String, ProofsError> {
        Err(ProofsError::NotConfigured)
    }

    async fn inclusion(
        &self,
        _chain_index: u64,
        _entry_hash: Hash,
        _tree_size: Option<u64>,
    ) -> Result<Inclusion, ProofsError> {
        Err(ProofsError::NotConfigured)
    }

    async fn consistency(&self, _from: u64, _to: u64) -> Result<Consistency, ProofsError> {
        Err(ProofsError::NotConfigured)
    }
}

/// Proofs when a vault is configured; `None` answers like [`NoProofs`].
impl<T: ProofSource> ProofSource for Option<T> {
    async fn latest_note(&self) -> Result<String, ProofsError> {
        match self {
            Some(proofs) => proofs.latest_note().await,
            None => Err(ProofsError::NotConfigured),
        }
    }

    async fn inclusion(
        &self,
        chain_index: u64,
        entry_hash: Hash,
        tree_size: Option<u64>,
    ) -> Result<Inclusion, ProofsError> {
        match self {
            Some(proofs) => proofs.inclusion(chain_index, entry_hash, tree_size).await,
            None => Err(ProofsError::NotConfigured),
        }
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<Consistency, ProofsError> {
        match self {
            Some(proofs) => proofs.consistency(from, to).await,
            None => Err(ProofsError::NotConfigured),
        }
    }
}

/// Proofs read from a vault, judged with the deployment's trusted keys (resolved on first use,
/// then kept for the life of the process).
#[derive(Debug)]
pub struct VaultProofs<V, K> {
    vault: V,
    keys: Option<K>,
    trust: CheckpointTrust,
    resolved: OnceLock<TrustedKeys>,
    /// The original version of every `checkpoints/` key seen so far, in key order.
    listing: Mutex<Vec<Original>>,
}

impl<V: VaultReads, K: PublicKeys> VaultProofs<V, K> {
    pub fn new(vault: V, keys: Option<K>, trust: CheckpointTrust) -> VaultProofs<V, K> {
        VaultProofs {
            vault,
            keys,
            trust,
            resolved: OnceLock::new(),
            listing: Mutex::new(Vec::new()),
        }
    }

    async fn trusted(&self) -> Result<&TrustedKeys, ProofsError> {
        if let Some(resolved) = self.resolved.get() {
            return Ok(resolved);
        }
        let resolved = self.trust.resolve(self.keys.as_ref()).await?;
        // Two first requests at once both resolve; either result is the same set.
        Ok(self.resolved.get_or_init(|| resolved))
    }

    /// The `checkpoints/` listing: the keys seen before, and those added after the last one.
    async fn listing(&self) -> Result<Vec<Original>, ProofsError> {
        let known = self.listing.lock().map(|l| l.clone()).unwrap_or_default();
        let new = match known.last() {
            None => self.vault.list_versions(CHECKPOINT_PREFIX).await?,
            Some(last) => {
                self.vault
                    .list_versions_after(CHECKPOINT_PREFIX, last.key())
                    .await?
            }
        };
        let mut objects = known;
        objects.extend(originals(new));
        if let Ok(mut listing) = self.listing.lock()
            && listing.len() < objects.len()
        {
            listing.clone_from(&objects);
        }
        Ok(objects)
    }

    async fn session(&self) -> Result<Session<'_, V>, ProofsError> {
        let trusted = self.trusted().await?;
        let objects = self.listing().await?;
        Ok(Session::new(&self.vault, trusted, objects))
    }

    /// The trusted set these proofs judge notes with (resolved on first use).
    pub async fn trusted_keys(&self) -> Result<&TrustedKeys, ProofsError> {
        self.trusted().await
    }

    /// A prover of many leaves against the latest trusted checkpoint, or the trusted
    /// checkpoint of `tree_size`.
    pub async fn range_prover(
        &self,
        tree_size: Option<u64>,
    ) -> Result<RangeProver<'_, V>, ProofsError> {
        let mut session = self.session().await?;
        session.leaf_file_cap = RANGE_LEAF_FILES;
        let checkpoint = match tree_size {
            None => session.latest().await?.ok_or(ProofsError::NoCheckpoint)?,
            Some(size) => session
                .at_size(size)
                .await?
                .ok_or(ProofsError::NotCheckpointed { tree_size: size })?,
        };
        Ok(RangeProver {
            session,
            checkpoint,
            path: Vec::new(),
        })
    }
}

/// The most leaf-hash files a [`RangeProver`] holds at once.
pub const RANGE_LEAF_FILES: usize = 4;

/// Inclusion proofs of leaves in ascending order against one trusted checkpoint. A node is the
/// sibling of exactly the leaves of its own sibling subtree, a contiguous run: keeping the
/// previous leaf's path is enough to hash every node once.
#[derive(Debug)]
pub struct RangeProver<'a, V> {
    session: Session<'a, V>,
    checkpoint: SignedCheckpoint,
    /// The previous leaf's path: its nodes and their hashes.
    path: Vec<(Range<u64>, Hash)>,
}

impl<V: VaultReads> RangeProver<'_, V> {
    /// The checkpoint every proof verifies against.
    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }

    /// What the prover has read from the vault so far.
    pub fn read(&self) -> ProofRead {
        self.session.read
    }

    /// RFC 6962 `PATH(chain_index, D[tree_size])` of the leaf `entry_hash`, verified against
    /// the checkpoint's root. Cheapest when called with ascending indexes.
    pub async fn inclusion(
        &mut self,
        chain_index: u64,
        entry_hash: Hash,
    ) -> Result<Vec<Hash>, ProofsError> {
        let size = self.checkpoint.checkpoint.tree_size;
        let nodes = inclusion_nodes(chain_index, size).map_err(|_| ProofsError::NotCovered {
            chain_index,
            tree_size: size,
        })?;
        let mut path = Vec::with_capacity(nodes.len());
        for node in nodes {
            let known = self
                .path
                .iter()
                .find(|(range, _)| *range == node)
                .map(|(_, hash)| *hash);
            let hash = match known {
                Some(hash) => hash,
                None => self.session.node_hash(node.clone()).await?,
            };
            path.push((node, hash));
        }
        let hashes: Vec<Hash> = path.iter().map(|(_, hash)| *hash).collect();
        self.path = path;
        merkle::verify_inclusion(
            &entry_hash,
            chain_index,
            size,
            &hashes,
            &self.checkpoint.checkpoint.root,
        )
        .map_err(|error| {
            ProofsError::Inconsistent(format!(
                "entry {chain_index}'s hash {entry_hash} is not the leaf the checkpoint of size {size} holds there: {error}"
            ))
        })?;
        Ok(hashes)
    }
}

impl<V: VaultReads, K: PublicKeys> ProofSource for VaultProofs<V, K> {
    async fn latest_note(&self) -> Result<String, ProofsError> {
        let trusted = self.trusted().await?;
        let latest = vault::latest_checkpoint(&self.vault, trusted).await?;
        match latest.map(|latest| latest.content) {
            Some(Ok((signed, check))) if check.is_trusted() => Ok(signed.to_text()),
            _ => Err(ProofsError::NoCheckpoint),
        }
    }

    async fn inclusion(
        &self,
        chain_index: u64,
        entry_hash: Hash,
        tree_size: Option<u64>,
    ) -> Result<Inclusion, ProofsError> {
        let mut session = self.session().await?;
        let checkpoint = match tree_size {
            None => session.latest().await?.ok_or(ProofsError::NoCheckpoint)?,
            Some(size) => session
                .at_size(size)
                .await?
                .ok_or(ProofsError::NotCheckpointed { tree_size: size })?,
        };
        let size = checkpoint.checkpoint.tree_size;
        let nodes = inclusion_nodes(chain_index, size).map_err(|_| ProofsError::NotCovered {
            chain_index,
            tree_size: size,
        })?;
        let path = session.hashes(&nodes).await?;
        merkle::verify_inclusion(
            &entry_hash,
            chain_index,
            size,
            &path,
            &checkpoint.checkpoint.root,
        )
        .map_err(|error| {
            ProofsError::Inconsistent(format!(
                "entry {chain_index}'s hash {entry_hash} is not the leaf the checkpoint of size {size} holds there: {error}"
            ))
        })?;
        Ok(Inclusion {
            checkpoint,
            path,
            read: session.read,
        })
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<Consistency, ProofsError> {
        let mut session = self.session().await?;
        let old = session
            .at_size(from)
            .await?
            .ok_or(ProofsError::NotCheckpointed { tree_size: from })?;
        let new = session
            .at_size(to)
            .await?
            .ok_or(ProofsError::NotCheckpointed { tree_size: to })?;
        let nodes = consistency_nodes(from, to)
            .map_err(|error| ProofsError::Inconsistent(error.to_string()))?;
        let path = session.hashes(&nodes).await?;
        merkle::verify_consistency(from, to, &old.checkpoint.root, &new.checkpoint.root, &path)
            .map_err(|error| {
                ProofsError::Inconsistent(format!(
                    "the trusted checkpoints of sizes {from} and {to} are not consistent: {error}"
                ))
            })?;
        Ok(Consistency {
            from: old,
            to: new,
            path,
            read: session.read,
        })
    }
}

/// The tree size a checkpoint key names (`checkpoints/<20 digits>-…`).
fn size_of(original: &Original) -> Option<u64> {
    original
        .key()
        .strip_prefix(CHECKPOINT_PREFIX)
        .and_then(|rest| rest.get(..20))
        .and_then(|digits| digits.parse().ok())
}

/// One request's view of the vault: the listing, and every object read so far (each at most
/// once; a range prover's leaf-hash files at most [`RANGE_LEAF_FILES`] at a time).
#[derive(Debug)]
struct Session<'a, V> {
    vault: &'a V,
    trusted: &'a TrustedKeys,
    /// Notes by the size their key names, each size's notes in key (time) order.
    notes: Vec<(u64, Original)>,
    /// Leaf-hash files by key.
    leaf_files: HashMap<String, Original>,
    /// Notes read, by key: the note when trusted, `None` when it does not count.
    judged: HashMap<String, Option<SignedCheckpoint>>,
    leaves: HashMap<String, Vec<Hash>>,
    /// The most leaf-hash files held at once (a request holds every file it reads).
    leaf_file_cap: usize,
    read: ProofRead,
}

impl<'a, V: VaultReads> Session<'a, V> {
    fn new(vault: &'a V, trusted: &'a TrustedKeys, objects: Vec<Original>) -> Session<'a, V> {
        let mut notes = Vec::new();
        let mut leaf_files = HashMap::new();
        for original in objects {
            if is_note(&original) {
                if let Some(size) = size_of(&original) {
                    notes.push((size, original));
                }
            } else {
                leaf_files.insert(original.key().to_owned(), original);
            }
        }
        Session {
            vault,
            trusted,
            notes,
            leaf_files,
            judged: HashMap::new(),
            leaves: HashMap::new(),
            leaf_file_cap: usize::MAX,
            read: ProofRead {
                listings: 1,
                gets: 0,
            },
        }
    }

    /// The note at `position` in the listing when it counts (read and judged once).
    async fn judge(&mut self, position: usize) -> Result<Option<SignedCheckpoint>, ProofsError> {
        let Some((_, original)) = self.notes.get(position) else {
            return Ok(None);
        };
        if let Some(judged) = self.judged.get(original.key()) {
            return Ok(judged.clone());
        }
        let original = original.clone();
        self.read.gets += 1;
        let note = vault::read_note(self.vault, &original).await?;
        let judged = note.content.ok().filter(|signed| {
            key_mismatch(&original, signed).is_none() && self.trusted.check(signed).is_trusted()
        });
        self.judged
            .insert(original.key().to_owned(), judged.clone());
        Ok(judged)
    }

    /// The newest trusted note of the largest size.
    async fn latest(&mut self) -> Result<Option<SignedCheckpoint>, ProofsError> {
        for position in (0..self.notes.len()).rev() {
            if let Some(signed) = self.judge(position).await? {
                return Ok(Some(signed));
            }
        }
        Ok(None)
    }

    /// The newest trusted note of exactly `size`.
    async fn at_size(&mut self, size: u64) -> Result<Option<SignedCheckpoint>, ProofsError> {
        self.largest_in(size..size + 1).await
    }

    /// The newest trusted note of the largest size in `sizes`.
    async fn largest_in(
        &mut self,
        sizes: Range<u64>,
    ) -> Result<Option<SignedCheckpoint>, ProofsError> {
        let end = self.notes.partition_point(|(size, _)| *size < sizes.end);
        let start = self.notes.partition_point(|(size, _)| *size < sizes.start);
        for position in (start..end).rev() {
            if let Some(signed) = self.judge(position).await? {
                return Ok(Some(signed));
            }
        }
        Ok(None)
    }

    /// The oldest trusted note whose size is above `index`: its leaf-hash file holds leaf `index`
    /// (when the checkpoints before it are the vault's own).
    async fn covering(&mut self, index: u64) -> Result<Option<SignedCheckpoint>, ProofsError> {
        let start = self.notes.partition_point(|(size, _)| *size <= index);
        for position in start..self.notes.len() {
            if let Some(signed) = self.judge(position).await? {
                return Ok(Some(signed));
            }
        }
        Ok(None)
    }

    /// The leaf hashes of a trusted note's leaf-hash file, checked against its `leaves` line.
    async fn leaf_file(&mut self, signed: &SignedCheckpoint) -> Result<&[Hash], ProofsError> {
        let key = leaves_key(signed.checkpoint.tree_size, &signed.checkpoint.time);
        if !self.leaves.contains_key(&key) {
            let original = self.leaf_files.get(&key).cloned().ok_or_else(|| {
                ProofsError::Inconsistent(format!("the leaf-hash file {key} is missing"))
            })?;
            self.read.gets += 1;
            let bytes = self
                .vault
                .get_version(original.key(), original.version_id())
                .await?;
            let hashes = parse_leaves(&bytes, &signed.checkpoint.leaves)
                .map_err(|error| ProofsError::Inconsistent(format!("{key}: {error}")))?;
            if self.leaves.len() >= self.leaf_file_cap {
                // Leaves are asked for mostly in ascending order: drop the file of the lowest leaves.
                let lowest = self.leaves.keys().min().cloned();
                if let Some(lowest) = lowest {
                    self.leaves.remove(&lowest);
                }
            }
            self.leaves.insert(key.clone(), hashes);
        }
        Ok(self.leaves.get(&key).map_or(&[], Vec::as_slice))
    }

    /// The root of the subtree `nodes` names, for each node in order.
    async fn hashes(&mut self, nodes: &[Range<u64>]) -> Result<Vec<Hash>, ProofsError> {
        let mut hashes = Vec::with_capacity(nodes.len());
        for node in nodes {
            hashes.push(self.node_hash(node.clone()).await?);
        }
        Ok(hashes)
    }

    /// A node's root: the compact range of the largest trusted checkpoint inside the node
    /// (restricted to the node), extended by the leaves after that checkpoint, read from the
    /// leaf-hash files that hold them (usually one: the next checkpoint's).
    async fn node_hash(&mut self, node: Range<u64>) -> Result<Hash, ProofsError> {
        // A checkpoint at the node's end holds the node only if the node is its last subtree;
        // any checkpoint strictly inside the node always holds the node's first leaves.
        let mut inside = None;
        for sizes in [node.end..node.end + 1, node.start..node.end] {
            if let Some(signed) = self.largest_in(sizes).await?
                && let Some(base) = range_suffix(&signed.checkpoint.range, node.start)
            {
                inside = Some((base, signed.checkpoint.tree_size));
                break;
            }
        }
        let (base, mut position) = inside.unwrap_or((CompactRange::new(), node.start));
        let mut more = Vec::new();
        while position < node.end {
            let covering = self.covering(position).await?.ok_or_else(|| {
                ProofsError::Inconsistent(format!("no trusted checkpoint covers leaf {position}"))
            })?;
            let (from, to) = (
                covering.checkpoint.leaves.from,
                covering.checkpoint.leaves.to,
            );
            if from > position {
                return Err(ProofsError::Inconsistent(format!(
                    "leaf {position} is in no leaf-hash file (the next holds {from}..{to})"
                )));
            }
            let end = node.end.min(to);
            let file = self.leaf_file(&covering).await?;
            let slice = usize::try_from(position - from)
                .ok()
                .zip(usize::try_from(end - from).ok())
                .and_then(|(first, last)| file.get(first..last))
                .ok_or_else(|| ProofsError::Inconsistent(format!("short leaf file at {to}")))?;
            more.extend_from_slice(slice);
            position = end;
        }
        Ok(extend_root(base, &more))
    }
}

#[cfg(test)]
#[path = "proofs_tests.rs"]
pub(crate) mod tests;
