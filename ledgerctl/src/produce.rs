//! `ledgerctl produce`: a regulator's production of one period written to a local zip
//! (`shared::app::produce` builds it; `docs/ledger-format.md` section 14).
//!
//! Promises: the production is audited as `RECORDS_READ` with the caller's identity before any
//! byte is written (no audit, no file); the zip appears at `--out` only whole (written to
//! `<out>.partial`, then renamed); an existing `--out` is never overwritten.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::app::produce::{Bundle, Plan, Producer, Requester, disclosure_event};
use shared::domain::report::Period;
use shared::domain::timestamp::Timestamp;
use shared::ports::{AuditLog, AuditSink, BlobVault, LedgerStore, PublicKeys};

/// What `produce` needs besides its ports.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    pub out: PathBuf,
    pub requester: Requester,
    /// Progress lines on stderr.
    pub progress: bool,
}

/// What was produced.
#[derive(Debug, Clone)]
pub struct ProduceSummary {
    pub out: PathBuf,
    pub plan: Plan,
    pub bundle: Bundle,
    pub sha256: String,
    pub bytes: u64,
}

impl fmt::Display for ProduceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "produced {}: {} entries of {} (chain index {}..{}), {} audit events, proofs against the checkpoint of tree size {}; {} bytes, SHA-256 {}. Check it with: unzip {} -d DIR && cd DIR && python3 verify.py",
            self.out.display(),
            self.bundle.entries,
            self.plan.period.label(),
            self.plan.first_index,
            self.plan.end_index,
            self.bundle.audit_events,
            self.plan.checkpoint.checkpoint.tree_size,
            self.bytes,
            self.sha256,
            self.out.display(),
        )
    }
}

/// Plans the production of `period`, audits it, and writes the zip to `options.out`.
pub async fn produce_file<S, V, L, K>(
    producer: &Producer<S, V, L, K>,
    audit: &impl AuditSink,
    period: Period,
    now: impl Fn() -> Timestamp,
    options: &ProduceOptions,
) -> anyhow::Result<ProduceSummary>
where
    S: LedgerStore,
    V: BlobVault,
    L: AuditLog,
    K: PublicKeys,
{
    if options.out.exists() {
        anyhow::bail!(
            "{} exists already; a production never overwrites a file",
            options.out.display()
        );
    }
    let say = |line: &str| {
        if options.progress {
            eprintln!("produce: {line}");
        }
    };
    let plan = producer.plan(period, now()).await?;
    say(&format!(
        "{} entries (chain index {}..{}), proofs against the checkpoint of tree size {}",
        plan.entries(),
        plan.first_index,
        plan.end_index,
        plan.checkpoint.checkpoint.tree_size
    ));
    let event = disclosure_event(
        &plan,
        &options.requester,
        json!({"tool": "ledgerctl produce", "file": options.out.display().to_string()}),
        now(),
    );
    audit
        .record(&event)
        .await
        .context("the production could not be audited (RECORDS_READ), so nothing was written")?;
    say("audited as RECORDS_READ; writing the zip");
    let partial = partial_path(&options.out);
    let file = std::fs::File::options()
        .write(true)
        .read(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let written = Box::pin(producer.write(&plan, &options.requester, now(), file))
        .await
        .map(|(file, bundle)| file.sync_all().map(|()| bundle));
    let bundle = match written {
        Ok(Ok(bundle)) => bundle,
        Ok(Err(error)) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error).context("cannot write the zip");
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error.into());
        }
    };
    std::fs::rename(&partial, &options.out)
        .with_context(|| format!("cannot rename {} to its name", partial.display()))?;
    let (sha256, bytes) = sha256_file(&options.out)?;
    say(&format!(
        "{} proofs made with {} vault reads",
        bundle.entries, bundle.proof_reads
    ));
    Ok(ProduceSummary {
        out: options.out.clone(),
        plan,
        bundle,
        sha256,
        bytes,
    })
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn sha256_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    Ok((hex(&hasher.finalize()), bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
