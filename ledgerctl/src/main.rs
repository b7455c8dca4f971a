//! `ledgerctl`: the operator and auditor command line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledgerctl::provision::{Provisioned, provision_stack};
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
    }
}
