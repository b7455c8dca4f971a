//! `ledgerctl`: the operator and auditor command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledgerctl::provision::{Provisioned, create_tables};
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
    /// Create the DynamoDB tables of template.yaml (for the local emulator; uses AWS_ENDPOINT_URL).
    Provision {
        /// Stack name: table names are derived from it as in the template (`<stack>-signals`, ...).
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
            let tables = Template::parse(&text)?.tables(&Stack::local(stack_name))?;
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            for outcome in create_tables(&client, &tables).await? {
                let line = match outcome {
                    Provisioned::Created(name) => format!("created table {name}"),
                    Provisioned::AlreadyExisted(name) => {
                        format!("table {name} already exists; left as it is")
                    }
                };
                eprintln!("{line}");
            }
            Ok(())
        }
    }
}
