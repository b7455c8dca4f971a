//! `ledgerctl`: the operator and auditor command line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledgerctl::provision::{Provisioned, provision_stack};
use ledgerctl::restore::{RestoreOptions, restore};
use ledgerctl::template::{Stack, Template};

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
    /// Create the tables, the vault bucket and the signing key of template.yaml (for the local
    /// emulator; uses AWS_ENDPOINT_URL). Reports on stderr; the last line on stdout is
    /// `VAULT_BUCKET=<name> CHECKPOINT_KMS_KEY_ID=<key ARN>`, for shell scripts to `eval`.
    Provision {
        /// Stack name: resource names are derived from it as in the template (`<stack>-signals`, ...).
        #[arg(long, env = "STACK_NAME", default_value = "signal-ledger")]
        stack_name: String,
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
    },
    /// Restore every backup in the vault into a new, empty signals table, verifying each CSV
    /// (checksum, row hashes, links, Merkle root) against the verified manifest chain while it
    /// loads. The target table must exist: create it first from template.yaml, e.g.
    /// `ledgerctl provision --stack-name recovery` creates `recovery-signals`. Progress on
    /// stderr; the summary line on stdout.
    Restore {
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
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Provision {
            stack_name,
            template,
        } => {
            let text = std::fs::read_to_string(&template)
                .with_context(|| format!("cannot read {}", template.display()))?;
            let template = Template::parse(&text)?;
            let stack = Stack::local(stack_name);
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
            writeln!(std::io::stdout().lock(), "{}", provisioned.shell_exports()?)?;
            Ok(())
        }
        Command::Restore {
            bucket,
            target_table,
            resume,
            until,
            quiet,
        } => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let vault =
                shared::adapters::s3::S3Vault::new(aws_sdk_s3::Client::new(&sdk), bucket, None);
            let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
            let options = RestoreOptions {
                target_table,
                resume,
                until,
                progress: !quiet,
            };
            let summary = Box::pin(restore(&vault, &dynamodb, &options)).await?;
            for key in &summary.overwritten_manifests {
                eprintln!("warning: manifest {key} has newer versions; its original was used");
            }
            writeln!(std::io::stdout().lock(), "{summary}")?;
            Ok(())
        }
    }
}
