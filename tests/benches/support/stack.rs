//! What the emulator benchmarks share: a number from the environment, and a fresh stack
//! provisioned from `template.yaml` (tables, Object Lock vault, checkpoint signing key).

use anyhow::Context;
use ledgerctl::provision::{CHECKPOINT_SIGNING_KEY, VAULT_BUCKET, provision_stack};
use ledgerctl::template::{Stack, Template};

/// `name` parsed from the environment, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A stack provisioned on the emulator for one benchmark run.
pub struct BenchStack {
    pub sdk: aws_config::SdkConfig,
    /// The stack name (`<prefix>-<uuid>`): its tables are `<name>-signals` and `<name>-audit`.
    pub name: String,
    pub bucket: String,
    pub key: String,
}

impl BenchStack {
    /// Provisions a fresh stack named `<prefix>-<uuid>` on the emulator `AWS_ENDPOINT_URL` names.
    pub async fn provision(prefix: &str) -> anyhow::Result<BenchStack> {
        std::env::var("AWS_ENDPOINT_URL")
            .context("AWS_ENDPOINT_URL must point at the emulator (use infra/bench-emulator.sh)")?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let name = format!("{prefix}-{}", uuid::Uuid::now_v7().simple());
        let template = Template::parse(include_str!("../../../template.yaml"))?;
        let provisioned = provision_stack(&sdk, &template, &Stack::local(&name)).await?;
        let bucket = provisioned
            .bucket_name(VAULT_BUCKET)
            .context("bucket")?
            .to_owned();
        let key = provisioned
            .key_arn(CHECKPOINT_SIGNING_KEY)
            .context("key")?
            .to_owned();
        Ok(BenchStack {
            sdk,
            name,
            bucket,
            key,
        })
    }
}
