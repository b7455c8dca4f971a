//! `ledgerctl`: the operator and auditor command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledgerctl::provision::{Provisioned, provision_stack};
use ledgerctl::restore::{RestoreOptions, restore};
use ledgerctl::template::{Stack, Template};
use ledgerctl::trace::render_text;
use shared::app::trace::{DEFAULT_AUDIT_DAYS, Sources, TraceError, TraceOptions, trace};

#[derive(Debug, Parser)]
#[command(
    name = "ledgerctl",
    version,
    about = "Operator and auditor tools for the signal compliance ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the tables, the vault bucket, the signing key and the alarms of template.yaml (for the local
    /// emulator; uses AWS_ENDPOINT_URL). Reports on stderr; the last line on stdout is
    /// `VAULT_BUCKET=<name> CHECKPOINT_KMS_KEY_ID=<key ARN>`, for shell scripts to `eval`.
    Provision(ProvisionArgs),
    /// Restore every backup in the vault into a new, empty signals table, verifying each CSV
    /// (checksum, row hashes, links, Merkle root) against the verified manifest chain while it
    /// loads. The target table must exist: create it first from template.yaml, e.g.
    /// `ledgerctl provision --stack-name recovery` creates `recovery-signals`. Progress on
    /// stderr; the summary line on stdout.
    Restore(RestoreArgs),
    /// Follow one signal through every record kept of it and check each against the others:
    /// the entry (all fields); its hash check (recomputed canonical hash, links to the previous
    /// and next entries, the signal-id claim); its audit events (searched in the UTC day
    /// partitions from the day of `received_at` through --audit-days later days, never after
    /// today); its delivery latency against the 500 ms requirement (reported, not a check); the
    /// backup holding it (manifest, CSV version, the row's hash, Object Lock and encryption);
    /// and the latest checkpoint covering it (signature, and an RFC 6962 inclusion proof from the
    /// live ledger verified against the checkpoint's root). Read-only. Progress on stderr; the
    /// report on stdout.
    #[command(
        verbatim_doc_comment,
        after_help = "Exit status:\n  0  the trail is complete and every check passed\n  1  a check failed: evidence of tampering\n  2  the trail stops early (not yet backed up or checkpointed, ...), or the signal id is unknown or malformed\n  3  the trace could not be made (AWS unreachable, access denied, ...)"
    )]
    Trace(TraceArgs),
    /// Acknowledge a vault finding that can never be removed (a planted or forged object under
    /// `checkpoints/`, COMPLIANCE-locked): writes a locked acknowledgement of its original version
    /// and audits it with your identity. Later sweeps list it as acknowledged instead of failing.
    Acknowledge(AcknowledgeArgs),
    /// Download the original locked version of every evidence object of the vault (manifests,
    /// backup CSVs, checkpoints and their leaf files, audit seals and their events files, trusted
    /// keys, acknowledgements, reports, verification and sweep run records) into DIR, as
    /// DIR/<key>, and write DIR/evidence.json: each object's key, version id, SHA-256, size and
    /// retention (mode and retain-until), for offline verification. A newer version written over
    /// a key is never downloaded. With --from/--to, dated records (CSVs, reports, run records)
    /// outside the period are left out; the chains (manifests, checkpoints, seals) are always
    /// whole. Resumes an interrupted export into the same DIR (files present with the right
    /// SHA-256 are kept); refuses a non-empty DIR that is not an export of the same bucket and
    /// period. Audited as RECORDS_READ with your identity. Progress on stderr; the summary on
    /// stdout.
    #[command(verbatim_doc_comment)]
    ExportEvidence(ExportArgs),
    /// Verify an evidence folder offline, with no AWS credentials and no network: each file
    /// against DIR/evidence.json (SHA-256, size, versions, lock); the manifest chain; every
    /// backup CSV (checksum, row hashes, links across files, Merkle root); every checkpoint
    /// (signature under the given public keys only, origin, root refolded from the previous
    /// checkpoint's range and its leaf-hash file, so consecutive checkpoints are consistent);
    /// that backups and checkpoints agree at every chain index both cover; and the audit seals
    /// (signature, chain, events files). A plain
    /// `aws s3 sync` copy (no evidence.json) is accepted; the report says which checks it
    /// cannot make. The report on stdout.
    #[command(
        verbatim_doc_comment,
        after_help = "Exit status:\n  0  everything checked is verified\n  1  a finding: the file and the row, line or chain index are named\n  2  the evidence is incomplete (a listed or named file is missing), or cannot be judged (an unreadable key or evidence.json)"
    )]
    VerifyEvidence(VerifyEvidenceArgs),
    /// Produce one period's records for a regulator as one self-contained zip: the entries as
    /// CSV and as JSON Lines, the audit events with the access review, an inclusion proof of
    /// every entry against the latest trusted checkpoint (which must cover the period's last
    /// entry), that signed checkpoint and the public key(s), a README.txt and a
    /// standard-library verify.py (`unzip FILE -d DIR && cd DIR && python3 verify.py`).
    /// Audited as RECORDS_READ with your identity before anything is written. Never overwrites
    /// FILE. Progress on stderr; the summary on stdout.
    #[command(verbatim_doc_comment)]
    Produce(ProduceArgs),
}

#[derive(Debug, clap::Args)]
struct ProduceArgs {
    /// First day of the period (UTC, YYYY-MM-DD; or an RFC 3339 instant).
    #[arg(long)]
    from: String,
    /// Last day of the period, included (UTC, YYYY-MM-DD; or an RFC 3339 instant, excluded).
    #[arg(long)]
    to: String,
    /// The zip to write (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// The signals table.
    #[arg(long, env = "SIGNALS_TABLE")]
    signals_table: String,
    /// The audit table (the period's events; the production is recorded there).
    #[arg(long, env = "AUDIT_TABLE")]
    audit_table: String,
    /// The vault bucket holding `checkpoints/`.
    #[arg(long, env = "VAULT_BUCKET")]
    bucket: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct VerifyEvidenceArgs {
    /// The evidence folder (from export-evidence, or an `aws s3 sync` copy of the vault).
    dir: PathBuf,
    /// A trusted checkpoint public key: DER SubjectPublicKeyInfo (`aws kms get-public-key
    /// --key-id K --query PublicKey --output text | base64 -d > key.der`) or PEM. Repeat for
    /// keys rotated out. Only these keys make a checkpoint count.
    #[arg(long = "public-key", required = true)]
    public_key: Vec<PathBuf>,
    /// The expected checkpoint origin (`signal-ledger:<signals table>`); by default the origin of
    /// the first checkpoint a given key verifies.
    #[arg(long)]
    origin: Option<String>,
    /// Print the verdict as JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The vault bucket.
    #[arg(long, env = "VAULT_BUCKET")]
    bucket: String,
    /// The folder to export into: empty or new, or an earlier export of this bucket to resume.
    #[arg(long)]
    out: PathBuf,
    /// First day of the period (UTC, YYYY-MM-DD); needs --to.
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// Last day of the period, included (UTC, YYYY-MM-DD); needs --from.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// The audit table, where the export is recorded.
    #[arg(long, env = "AUDIT_TABLE")]
    audit_table: String,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct ProvisionArgs {
    /// Stack name: resource names are derived from it as in the template (`<stack>-signals`, ...).
    #[arg(long, env = "STACK_NAME", default_value = "signal-ledger")]
    stack_name: String,
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    /// The vault bucket holding `manifests/` and `signals/`.
    #[arg(long, env = "VAULT_BUCKET")]
    bucket: String,
    /// The signals table to restore into (must exist; must be empty unless --resume).
    #[arg(long)]
    target_table: String,
    /// Continue an interrupted restore into this target: entries already there must be this
    /// vault's; present items are checked and skipped.
    #[arg(long)]
    resume: bool,
    /// Restore only the backups up to and including this backup id (`YYYYMMDD` or
    /// `YYYYMMDD_N`).
    #[arg(long)]
    until: Option<shared::domain::backup::BackupId>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct TraceArgs {
    /// The signal id to trace.
    signal_id: String,
    /// The signals table (entries and signal-id claims).
    #[arg(long, env = "SIGNALS_TABLE")]
    signals_table: String,
    /// The audit table (partitioned by UTC day).
    #[arg(long, env = "AUDIT_TABLE")]
    audit_table: String,
    /// The vault bucket holding `manifests/`, `signals/` and `checkpoints/`.
    #[arg(long, env = "VAULT_BUCKET")]
    bucket: String,
    /// Search the audit table this many days after the day of `received_at`.
    #[arg(long, default_value_t = DEFAULT_AUDIT_DAYS)]
    audit_days: u32,
    /// Print the trace as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    trust: TrustArgs,
}

#[derive(Debug, clap::Args)]
struct AcknowledgeArgs {
    /// The object's key, as the sweep's finding names it (e.g. `checkpoints/zz.txt`).
    key: String,
    /// Why it is acknowledged: what it is, and who checked it (at least 10 characters).
    #[arg(long)]
    reason: String,
    /// The vault bucket.
    #[arg(long, env = "VAULT_BUCKET")]
    bucket: String,
    /// The audit table.
    #[arg(long, env = "AUDIT_TABLE")]
    audit_table: String,
    /// How long the acknowledgement stays locked, in days.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 2555)]
    retention_days: u32,
}

/// Which checkpoints count: the ledger's signing key and the keys rotated out before it.
#[derive(Debug, clap::Args)]
struct TrustArgs {
    /// The current checkpoint signing key (KMS key id or ARN). Without it, only unsigned
    /// checkpoints count (a stack without a signing key).
    #[arg(long, env = "CHECKPOINT_KMS_KEY_ID")]
    checkpoint_key_id: Option<String>,
    /// Earlier signing keys, comma-separated, whose checkpoints still count.
    #[arg(long, env = "CHECKPOINT_PREVIOUS_KEY_IDS", value_delimiter = ',')]
    previous_key_ids: Vec<String>,
}

/// Exit status of `trace` when it could not be made at all.
const TRACE_NOT_MADE: u8 = 3;
/// Exit status of `trace` for an unknown or malformed signal id (the trail stops at once).
const TRACE_STOPPED: u8 = 2;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Provision(args) => provision(args).await,
        Command::Restore(args) => restore_backups(args).await,
        Command::Acknowledge(args) => acknowledge(args).await,
        Command::Trace(args) => trace_signal(args).await,
        Command::ExportEvidence(args) => export(args).await,
        Command::VerifyEvidence(args) => verify_evidence(args).await,
        Command::Produce(args) => Box::pin(produce(args)).await,
    }
}

/// Exit status of `verify-evidence` when nothing can be judged (an unreadable key or folder).
const EVIDENCE_UNJUDGED: u8 = 2;

async fn verify_evidence(args: VerifyEvidenceArgs) -> anyhow::Result<ExitCode> {
    let verdict =
        match ledgerctl::verify::verify_folder(&args.dir, &args.public_key, args.origin.as_deref())
            .await
        {
            Ok(verdict) => verdict,
            Err(error) => {
                eprintln!("error: {error:#}");
                return Ok(ExitCode::from(EVIDENCE_UNJUDGED));
            }
        };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &verdict)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", verdict.render_text())?;
    }
    Ok(ExitCode::from(verdict.exit_code))
}

/// Who the credentials say the caller is (STS), not a name typed in.
async fn caller_arn(sdk: &aws_config::SdkConfig) -> anyhow::Result<String> {
    let identity = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_sts::error::DisplayErrorContext(e)))?;
    Ok(identity
        .arn()
        .ok_or_else(|| anyhow::anyhow!("the caller identity has no ARN"))?
        .to_owned())
}

async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    use shared::ports::Clock;
    let period = match (&args.from, &args.to) {
        (Some(from), Some(to)) => Some(ledgerctl::export::Period::new(from, to)?),
        _ => None,
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let options = ledgerctl::export::ExportOptions {
        out: args.out,
        period,
        progress: !args.quiet,
        actor: caller_arn(&sdk).await?,
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let vault =
        shared::adapters::s3::S3Vault::new(aws_sdk_s3::Client::new(&sdk), args.bucket, None);
    let audit = shared::adapters::dynamodb::DynamoAuditSink::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        args.audit_table,
    );
    let summary = ledgerctl::export::export_evidence(
        &vault,
        &audit,
        || shared::adapters::system::SystemClock.now(),
        &options,
    )
    .await?;
    for key in &summary.overwritten {
        eprintln!("warning: {key} has newer versions; its original was exported");
    }
    for skipped in &summary.not_exported {
        eprintln!(
            "warning: {} (version {}) not exported: {}",
            skipped.key, skipped.version_id, skipped.reason
        );
    }
    writeln!(std::io::stdout().lock(), "{summary}")?;
    Ok(ExitCode::SUCCESS)
}

async fn produce(args: ProduceArgs) -> anyhow::Result<ExitCode> {
    use shared::ports::Clock;
    let now = || shared::adapters::system::SystemClock.now();
    let request = shared::domain::report::PeriodRequest {
        from: Some(args.from),
        to: Some(args.to),
        ..Default::default()
    };
    let period = request.resolve(now())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let requester = shared::app::produce::Requester {
        actor: caller_arn(&sdk).await?,
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let audit = shared::adapters::dynamodb::DynamoAuditSink::new(
        dynamodb.clone(),
        args.audit_table.clone(),
    );
    let producer = shared::app::produce::Producer::new(
        shared::adapters::dynamodb::DynamoLedgerStore::new(
            dynamodb,
            args.signals_table.clone(),
            &args.audit_table,
        ),
        shared::adapters::s3::S3Vault::new(aws_sdk_s3::Client::new(&sdk), args.bucket, None),
        audit.clone(),
        Some(shared::adapters::kms::KmsPublicKeys::new(
            aws_sdk_kms::Client::new(&sdk),
        )),
        shared::app::vault::CheckpointTrust::new(
            shared::config::origin(&args.signals_table),
            args.trust.checkpoint_key_id.as_deref(),
            &shared::config::key_list(&args.trust.previous_key_ids),
        ),
    );
    let options = ledgerctl::produce::ProduceOptions {
        out: args.out,
        requester,
        progress: !args.quiet,
    };
    let summary = Box::pin(ledgerctl::produce::produce_file(
        &producer, &audit, period, now, &options,
    ))
    .await?;
    writeln!(std::io::stdout().lock(), "{summary}")?;
    Ok(ExitCode::SUCCESS)
}

async fn provision(args: ProvisionArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.template)
        .with_context(|| format!("cannot read {}", args.template.display()))?;
    let template = Template::parse(&text)?;
    let stack = Stack::local(args.stack_name);
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let provisioned = provision_stack(&sdk, &template, &stack).await?;
    for outcome in &provisioned.tables {
        let line = match outcome {
            Provisioned::Created(name) => format!("created table {name}"),
            Provisioned::AlreadyExisted(name) => {
                format!("table {name} already exists; left as it is")
            }
        };
        eprintln!("{line}");
    }
    for bucket in &provisioned.buckets {
        match &bucket.outcome {
            Provisioned::Created(name) => eprintln!("created bucket {name}"),
            Provisioned::AlreadyExisted(name) => {
                eprintln!("bucket {name} already exists; left as it is")
            }
        }
        for skipped in &bucket.skipped_statements {
            eprintln!("  not applied: {skipped}");
        }
    }
    for key in &provisioned.keys {
        if key.created {
            eprintln!("created KMS key {} ({})", key.key_arn, key.alias);
        } else {
            eprintln!(
                "KMS key {} ({}) already exists; left as it is",
                key.key_arn, key.alias
            );
        }
    }
    eprintln!(
        "put {} alarms ({}…); the emulator stores them but never evaluates them",
        provisioned.alarms.len(),
        provisioned.alarms.first().map_or("", String::as_str)
    );
    writeln!(std::io::stdout().lock(), "{}", provisioned.shell_exports()?)?;
    Ok(ExitCode::SUCCESS)
}

async fn restore_backups(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let vault =
        shared::adapters::s3::S3Vault::new(aws_sdk_s3::Client::new(&sdk), args.bucket, None);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let options = RestoreOptions {
        target_table: args.target_table,
        resume: args.resume,
        until: args.until,
        progress: !args.quiet,
    };
    let summary = Box::pin(restore(&vault, &dynamodb, &options)).await?;
    for key in &summary.overwritten_manifests {
        eprintln!("warning: manifest {key} has newer versions; its original was used");
    }
    writeln!(std::io::stdout().lock(), "{summary}")?;
    Ok(ExitCode::SUCCESS)
}

async fn acknowledge(args: AcknowledgeArgs) -> anyhow::Result<ExitCode> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let actor = caller_arn(&sdk).await?;
    let acknowledger = shared::app::acknowledge::Acknowledger {
        vault: shared::adapters::s3::S3Vault::new(aws_sdk_s3::Client::new(&sdk), args.bucket, None),
        audit: shared::adapters::dynamodb::DynamoAuditSink::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            args.audit_table,
        ),
        clock: shared::adapters::system::SystemClock,
        metrics: shared::adapters::system::EmfStdout::new("SignalLedger", "ledgerctl"),
        retention_days: args.retention_days,
    };
    let done = acknowledger
        .acknowledge(&args.key, &args.reason, &actor)
        .await?;
    eprintln!(
        "acknowledged {} (version {}) as {actor}: {} (version {}), locked; audited as FINDING_ACKNOWLEDGED",
        done.acknowledgement.key, done.acknowledgement.version_id, done.object_key, done.version_id
    );
    Ok(ExitCode::SUCCESS)
}

async fn trace_signal(args: TraceArgs) -> anyhow::Result<ExitCode> {
    use shared::ports::Clock;
    let origin = shared::config::origin(&args.signals_table);
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = shared::adapters::dynamodb::DynamoLedgerStore::new(
        dynamodb.clone(),
        args.signals_table,
        &args.audit_table,
    );
    let audit = shared::adapters::dynamodb::DynamoAuditSink::new(dynamodb, args.audit_table);
    let vault =
        shared::adapters::s3::S3Vault::new(aws_sdk_s3::Client::new(&sdk), args.bucket, None);
    // Only public keys are fetched: the key id comes from each checkpoint's signature line.
    let keys = shared::adapters::kms::KmsPublicKeys::new(aws_sdk_kms::Client::new(&sdk));
    let sources = Sources {
        store: &store,
        vault: &vault,
        audit: &audit,
        keys: Some(&keys),
    };
    let options = TraceOptions {
        audit_days: args.audit_days,
        now: shared::adapters::system::SystemClock.now(),
        trust: shared::app::vault::CheckpointTrust::new(
            origin,
            args.trust.checkpoint_key_id.as_deref(),
            &shared::config::key_list(&args.trust.previous_key_ids),
        ),
    };
    let progress = |line: &str| eprintln!("trace: {line}");
    let traced = match Box::pin(trace(&sources, &args.signal_id, &options, &progress)).await {
        Ok(traced) => traced,
        Err(error) => {
            let code = match error {
                TraceError::InvalidSignalId { .. } | TraceError::UnknownSignalId(_) => {
                    TRACE_STOPPED
                }
                _ => TRACE_NOT_MADE,
            };
            eprintln!("error: {:#}", anyhow::Error::from(error));
            return Ok(ExitCode::from(code));
        }
    };
    let text = match args.json {
        true => serde_json::to_string_pretty(&traced)? + "\n",
        false => render_text(&traced),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::from(traced.exit_code()))
}
