//! The shell commands an auditor runs to re-check the report's integrity claims without trusting
//! the operator: stock AWS CLI, OpenSSL, the repository's standard-library Python verifiers and
//! `ledgerctl`.
//!
//! Promise: every command names the report's real bucket, tables, keys and signing key, and every
//! value put into a command line is shell-quoted when it holds anything but safe characters.

use serde::Serialize;

use crate::domain::report::inputs::ReportInputs;

/// One step: what it shows, and the exact command line (run from a checkout of the repository).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditorCommand {
    pub purpose: String,
    pub command: String,
}

/// Quotes `value` for a POSIX shell unless it is made of characters no shell interprets.
pub(crate) fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b));
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

pub(crate) fn auditor_commands(
    inputs: &ReportInputs,
    example_signal: Option<&str>,
) -> Vec<AuditorCommand> {
    let mut commands = Commands::default();
    commands.tables(inputs);
    commands.checkpoint(inputs);
    commands.backups(inputs);
    commands.verifiers(inputs, example_signal);
    commands.0
}

/// The commands so far, in the order an auditor runs them.
#[derive(Default)]
struct Commands(Vec<AuditorCommand>);

impl Commands {
    fn step(&mut self, purpose: &str, command: String) {
        self.0.push(AuditorCommand {
            purpose: purpose.to_owned(),
            command,
        });
    }

    /// Each table's protection settings.
    fn tables(&mut self, inputs: &ReportInputs) {
        for table in [&inputs.signals_table, &inputs.audit_table] {
            let table = shell_quote(table);
            self.step(
                "Table protection: deletion protection, stream and encryption, then point-in-time recovery.",
                format!(
                    "aws dynamodb describe-table --table-name {table} && aws dynamodb describe-continuous-backups --table-name {table}"
                ),
            );
        }
    }

    /// The checkpoints' versions, the latest one's retention, and its signature.
    fn checkpoint(&mut self, inputs: &ReportInputs) {
        let bucket = shell_quote(&inputs.vault_bucket);
        self.step(
            "Every checkpoint has exactly one version: none was overwritten.",
            format!(
                "aws s3api list-object-versions --bucket {bucket} --prefix checkpoints/ --query 'Versions[].[Key,VersionId,LastModified]' --output text"
            ),
        );
        let Some(checkpoint) = &inputs.latest_checkpoint else {
            return;
        };
        let key = shell_quote(&checkpoint.key);
        self.step(
            "Download the latest checkpoint note and show its COMPLIANCE retention.",
            format!(
                "aws s3api get-object --bucket {bucket} --key {key} checkpoint.txt && aws s3api get-object-retention --bucket {bucket} --key {key}"
            ),
        );
        if let Some(key_id) = &checkpoint.signing_key_id {
            self.step(
                "Fetch the signing key's public key from KMS (docs/ledger-format.md §7).",
                format!(
                    "aws kms get-public-key --key-id {} --query PublicKey --output text | base64 -d > key.der && openssl pkey -pubin -inform DER -in key.der -out key.pem",
                    shell_quote(key_id)
                ),
            );
            self.step(
                "Verify the checkpoint's signature: the body is its first 7 lines, the signature the last field of its last line.",
                "head -n 7 checkpoint.txt > body.txt && tail -n 1 checkpoint.txt | cut -d ' ' -f 3 | base64 -d > sig.der && openssl dgst -sha256 -verify key.pem -signature sig.der body.txt".to_owned(),
            );
        }
    }

    /// The backups' versions, and an independent re-check of the latest backup with rows.
    fn backups(&mut self, inputs: &ReportInputs) {
        let bucket = shell_quote(&inputs.vault_bucket);
        self.step(
            "Every backup manifest and CSV has exactly one version.",
            format!(
                "aws s3api list-object-versions --bucket {bucket} --prefix manifests/ --query 'Versions[].[Key,VersionId]' --output text && aws s3api list-object-versions --bucket {bucket} --prefix signals/ --query 'Versions[].[Key,VersionId]' --output text"
            ),
        );
        let latest_with_csv = inputs
            .backups
            .iter()
            .rev()
            .find_map(|b| b.manifest.csv.as_ref().map(|csv| (b, csv)));
        if let Some((backup, csv)) = latest_with_csv {
            let (csv_file, manifest_file) = (
                shell_quote(file_name(&csv.key)),
                shell_quote(file_name(&backup.manifest_key)),
            );
            self.step(
                "Download the latest backup with rows and its manifest; re-check every row's hash and link and the manifest independently (standard-library Python).",
                format!(
                    "aws s3api get-object --bucket {bucket} --key {} --version-id {} {csv_file} && aws s3api get-object --bucket {bucket} --key {} {manifest_file} && python3 docs/vectors/backup/check_backup.py {csv_file} {manifest_file}",
                    shell_quote(&csv.key),
                    shell_quote(&csv.version_id),
                    shell_quote(&backup.manifest_key),
                ),
            );
        }
    }

    /// The independent verifiers: the Python checks, a restore, and a trace.
    fn verifiers(&mut self, inputs: &ReportInputs, example_signal: Option<&str>) {
        let bucket = shell_quote(&inputs.vault_bucket);
        self.step(
            "Check the independent Python verifier against the format's known-answer vectors.",
            "python3 docs/vectors/check_vectors.py && python3 docs/vectors/backup/check_backup.py"
                .to_owned(),
        );
        self.step(
            "Restore every backup into a new, empty table created from template.yaml (its name in RESTORE_TABLE), verifying checksums, row hashes, links and Merkle roots while loading.",
            format!(
                "ledgerctl restore --bucket {bucket} --target-table \"${{RESTORE_TABLE:?name of a new empty table}}\""
            ),
        );
        self.step(
            "Trace one signal (here the slowest of the period) through the ledger, its audit records, backup and checkpoint.",
            format!(
                "ledgerctl trace {}",
                example_signal
                    .map(shell_quote)
                    .unwrap_or_else(|| "\"${SIGNAL_ID:?a signal id}\"".to_owned())
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("signal-ledger-vault"), "signal-ledger-vault");
        assert_eq!(
            shell_quote("checkpoints/0001-2026.txt"),
            "checkpoints/0001-2026.txt"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }
}
