//! Configuration from environment variables (DESIGN.md "Configuration"), parsed once at start;
//! a missing or malformed variable stops the process with a message naming it.

use crate::app::vault::CheckpointTrust;
use crate::domain::signal::{
    DEFAULT_MAX_AGE_SECONDS, DEFAULT_MIN_RATIONALE_CHARS, MAX_RATIONALE_CHARS,
};

pub const DEFAULT_RETENTION_DAYS: u32 = 2555;
pub const DEFAULT_METRICS_NAMESPACE: &str = "SignalLedger";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name}={value:?} is invalid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// What the ingest function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    pub signals_table: String,
    pub audit_table: String,
    pub retention_days: u32,
    pub min_rationale_chars: usize,
    /// How far behind the server clock a signal's `generated_at` may be (`too_old` beyond).
    pub max_signal_age_seconds: u32,
    pub metrics_namespace: String,
    /// The vault the proof routes read checkpoints from (`VAULT_BUCKET`); without it they
    /// answer 503.
    pub vault_bucket: Option<String>,
    /// The checkpoint signing key and the rotated-out ones: which notes the proofs trust.
    pub checkpoint_kms_key_id: Option<String>,
    pub checkpoint_previous_key_ids: Vec<String>,
}

impl IngestConfig {
    /// The checkpoints the proof routes serve: this ledger's origin, its signing keys.
    pub fn trust(&self) -> CheckpointTrust {
        CheckpointTrust::new(
            origin(&self.signals_table),
            self.checkpoint_kms_key_id.as_deref(),
            &self.checkpoint_previous_key_ids,
        )
    }

    pub fn from_env() -> Result<IngestConfig, ConfigError> {
        IngestConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses from any lookup (the environment in production, a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<IngestConfig, ConfigError> {
        let vars = Vars(&lookup);
        Ok(IngestConfig {
            signals_table: vars.required("SIGNALS_TABLE")?,
            audit_table: vars.required("AUDIT_TABLE")?,
            retention_days: vars.retention_days()?,
            min_rationale_chars: vars.number(
                "MIN_RATIONALE_CHARS",
                DEFAULT_MIN_RATIONALE_CHARS,
                1..=MAX_RATIONALE_CHARS,
                "a character count between 1 and 4000",
            )?,
            max_signal_age_seconds: vars.number(
                "MAX_SIGNAL_AGE_SECONDS",
                DEFAULT_MAX_AGE_SECONDS,
                60..=31_622_400,
                "seconds between 60 and 31622400 (366 days)",
            )?,
            metrics_namespace: vars.metrics_namespace(),
            vault_bucket: vars.optional("VAULT_BUCKET"),
            checkpoint_kms_key_id: vars.optional("CHECKPOINT_KMS_KEY_ID"),
            checkpoint_previous_key_ids: vars.list("CHECKPOINT_PREVIOUS_KEY_IDS"),
        })
    }
}

/// What the integrity sweep reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepConfig {
    pub signals_table: String,
    pub audit_table: String,
    pub vault_bucket: String,
    pub retention_days: u32,
    pub metrics_namespace: String,
    /// Signs checkpoints when set; otherwise they carry the explicit `unsigned` marker.
    pub checkpoint_kms_key_id: Option<String>,
    /// Signing keys rotated out, whose checkpoints still count (`CHECKPOINT_PREVIOUS_KEY_IDS`,
    /// comma-separated).
    pub checkpoint_previous_key_ids: Vec<String>,
    /// Encrypts vault objects with this KMS key when set; otherwise AES256.
    pub vault_kms_key_id: Option<String>,
    /// Audit events younger than this are left to a later seal, so writes still in flight are
    /// never missed (`AUDIT_SEAL_LAG_SECONDS`, default 300, 60 to 86400).
    pub audit_seal_lag_seconds: u64,
    /// How long one step of the resumable full pass verifies before it stops at the next
    /// trusted checkpoint or seal and writes its cursor (`FULL_SWEEP_BUDGET_SECONDS`, default
    /// 600, 1 to 840: under the function's 900 s timeout, with room for the step's end).
    pub full_sweep_budget_seconds: u64,
}

impl SweepConfig {
    pub fn from_env() -> Result<SweepConfig, ConfigError> {
        SweepConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<SweepConfig, ConfigError> {
        let vars = Vars(&lookup);
        Ok(SweepConfig {
            signals_table: vars.required("SIGNALS_TABLE")?,
            audit_table: vars.required("AUDIT_TABLE")?,
            vault_bucket: vars.required("VAULT_BUCKET")?,
            retention_days: vars.retention_days()?,
            metrics_namespace: vars.metrics_namespace(),
            checkpoint_kms_key_id: vars.optional("CHECKPOINT_KMS_KEY_ID"),
            checkpoint_previous_key_ids: vars.list("CHECKPOINT_PREVIOUS_KEY_IDS"),
            vault_kms_key_id: vars.optional("VAULT_KMS_KEY_ID"),
            audit_seal_lag_seconds: vars.number(
                "AUDIT_SEAL_LAG_SECONDS",
                crate::app::audit_seal::DEFAULT_LAG_SECONDS,
                60..=86_400,
                "seconds between 60 and 86400",
            )?,
            full_sweep_budget_seconds: vars.number(
                "FULL_SWEEP_BUDGET_SECONDS",
                crate::app::sweep::DEFAULT_FULL_PASS_BUDGET_SECONDS,
                1..=840,
                "seconds between 1 and 840",
            )?,
        })
    }

    /// The checkpoints that count: this ledger's origin, its signing key and the earlier ones.
    pub fn trust(&self) -> CheckpointTrust {
        CheckpointTrust::new(
            self.origin(),
            self.checkpoint_kms_key_id.as_deref(),
            &self.checkpoint_previous_key_ids,
        )
    }

    /// The checkpoints' origin line: names the log by its table, so two ledgers' checkpoints
    /// can never be confused.
    pub fn origin(&self) -> String {
        origin(&self.signals_table)
    }
}

/// What the backup job reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    pub signals_table: String,
    pub audit_table: String,
    pub vault_bucket: String,
    pub retention_days: u32,
    pub metrics_namespace: String,
    /// Encrypts vault objects with this KMS key when set; otherwise AES256.
    pub vault_kms_key_id: Option<String>,
}

impl BackupConfig {
    pub fn from_env() -> Result<BackupConfig, ConfigError> {
        BackupConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<BackupConfig, ConfigError> {
        let vars = Vars(&lookup);
        Ok(BackupConfig {
            signals_table: vars.required("SIGNALS_TABLE")?,
            audit_table: vars.required("AUDIT_TABLE")?,
            vault_bucket: vars.required("VAULT_BUCKET")?,
            retention_days: vars.retention_days()?,
            metrics_namespace: vars.metrics_namespace(),
            vault_kms_key_id: vars.optional("VAULT_KMS_KEY_ID"),
        })
    }
}

/// How long a report's presigned download link stays valid unless `REPORT_URL_EXPIRY_SECONDS` says.
pub const DEFAULT_REPORT_URL_EXPIRY_SECONDS: u64 = 3600;

/// What the report function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportConfig {
    pub signals_table: String,
    pub audit_table: String,
    pub vault_bucket: String,
    /// How long the report objects themselves stay locked.
    pub retention_days: u32,
    pub metrics_namespace: String,
    /// Encrypts the report objects with this KMS key when set; otherwise AES256.
    pub vault_kms_key_id: Option<String>,
    /// The checkpoint signing key, to check the latest checkpoint's signature in the report.
    pub checkpoint_kms_key_id: Option<String>,
    /// Signing keys rotated out, whose checkpoints still count.
    pub checkpoint_previous_key_ids: Vec<String>,
    /// Lifetime of the presigned download URLs returned with a report (at most 7 days, S3's limit).
    pub report_url_expiry_seconds: u64,
    /// Only alarms whose name starts with this prefix are reported (the stack's own alarms).
    pub alarm_name_prefix: Option<String>,
}

impl ReportConfig {
    pub fn from_env() -> Result<ReportConfig, ConfigError> {
        ReportConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ReportConfig, ConfigError> {
        let vars = Vars(&lookup);
        Ok(ReportConfig {
            signals_table: vars.required("SIGNALS_TABLE")?,
            audit_table: vars.required("AUDIT_TABLE")?,
            vault_bucket: vars.required("VAULT_BUCKET")?,
            retention_days: vars.retention_days()?,
            metrics_namespace: vars.metrics_namespace(),
            vault_kms_key_id: vars.optional("VAULT_KMS_KEY_ID"),
            checkpoint_kms_key_id: vars.optional("CHECKPOINT_KMS_KEY_ID"),
            checkpoint_previous_key_ids: vars.list("CHECKPOINT_PREVIOUS_KEY_IDS"),
            report_url_expiry_seconds: vars.number(
                "REPORT_URL_EXPIRY_SECONDS",
                DEFAULT_REPORT_URL_EXPIRY_SECONDS,
                1..=604_800,
                "seconds between 1 and 604800 (7 days)",
            )?,
            alarm_name_prefix: vars.optional("ALARM_NAME_PREFIX"),
        })
    }

    /// The checkpoints that count when the report judges the latest one.
    pub fn trust(&self) -> CheckpointTrust {
        CheckpointTrust::new(
            origin(&self.signals_table),
            self.checkpoint_kms_key_id.as_deref(),
            &self.checkpoint_previous_key_ids,
        )
    }
}

/// The checkpoints' origin line of the ledger kept in `signals_table`.
pub fn origin(signals_table: &str) -> String {
    format!("signal-ledger:{signals_table}")
}

/// A comma-separated list, trimmed, without empty items or repeats.
pub fn key_list(items: &[String]) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for item in items.iter().flat_map(|i| i.split(',')).map(str::trim) {
        if !item.is_empty() && !list.iter().any(|seen| seen == item) {
            list.push(item.to_owned());
        }
    }
    list
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn list(&self, name: &'static str) -> Vec<String> {
        key_list(&self.optional(name).into_iter().collect::<Vec<_>>())
    }

    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    fn retention_days(&self) -> Result<u32, ConfigError> {
        self.number(
            "RETENTION_DAYS",
            DEFAULT_RETENTION_DAYS,
            1..=36_500,
            "days between 1 and 36500",
        )
    }

    fn metrics_namespace(&self) -> String {
        self.optional("METRICS_NAMESPACE")
            .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned())
    }

    fn number<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        expected: &'static str,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd,
    {
        let Some(value) = self.optional(name) else {
            return Ok(default);
        };
        value
            .trim()
            .parse::<T>()
            .ok()
            .filter(|parsed| range.contains(parsed))
            .ok_or(ConfigError::Invalid {
                name,
                value,
                expected,
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<IngestConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IngestConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_and_required() {
        let config = parse(&[("SIGNALS_TABLE", "s"), ("AUDIT_TABLE", "a")]).unwrap();
        assert_eq!(config.retention_days, 2555);
        assert_eq!(config.min_rationale_chars, 20);
        assert_eq!(config.max_signal_age_seconds, 86_400);
        assert_eq!(config.metrics_namespace, "SignalLedger");
        assert_eq!(
            parse(&[("AUDIT_TABLE", "a")]),
            Err(ConfigError::Missing("SIGNALS_TABLE"))
        );
        assert_eq!(
            parse(&[("SIGNALS_TABLE", " "), ("AUDIT_TABLE", "a")]),
            Err(ConfigError::Missing("SIGNALS_TABLE"))
        );
    }

    #[test]
    fn invalid_numbers_name_the_variable() {
        let error = parse(&[
            ("SIGNALS_TABLE", "s"),
            ("AUDIT_TABLE", "a"),
            ("MIN_RATIONALE_CHARS", "0"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable MIN_RATIONALE_CHARS=\"0\" is invalid: expected a character count between 1 and 4000"
        );
        assert!(
            parse(&[
                ("SIGNALS_TABLE", "s"),
                ("AUDIT_TABLE", "a"),
                ("RETENTION_DAYS", "7y")
            ])
            .is_err()
        );
        let config = parse(&[
            ("SIGNALS_TABLE", "s"),
            ("AUDIT_TABLE", "a"),
            ("RETENTION_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(config.retention_days, 30);
        for bad in ["0", "59", "31622401", "1d", "-60"] {
            let error = parse(&[
                ("SIGNALS_TABLE", "s"),
                ("AUDIT_TABLE", "a"),
                ("MAX_SIGNAL_AGE_SECONDS", bad),
            ])
            .unwrap_err();
            assert!(
                error.to_string().contains("MAX_SIGNAL_AGE_SECONDS"),
                "{error}"
            );
        }
        let config = parse(&[
            ("SIGNALS_TABLE", "s"),
            ("AUDIT_TABLE", "a"),
            ("MAX_SIGNAL_AGE_SECONDS", "3600"),
        ])
        .unwrap();
        assert_eq!(config.max_signal_age_seconds, 3600);
    }

    #[test]
    fn the_audit_seal_lag_defaults_to_five_minutes_and_is_bounded() {
        let sweep = |lag: Option<&str>| {
            SweepConfig::from_lookup(|name| match name {
                "SIGNALS_TABLE" | "AUDIT_TABLE" | "VAULT_BUCKET" => Some("x".to_owned()),
                "AUDIT_SEAL_LAG_SECONDS" => lag.map(str::to_owned),
                _ => None,
            })
        };
        assert_eq!(sweep(None).unwrap().audit_seal_lag_seconds, 300);
        assert_eq!(sweep(Some("900")).unwrap().audit_seal_lag_seconds, 900);
        for bad in ["0", "59", "86401", "5m", "-300"] {
            let error = sweep(Some(bad)).unwrap_err();
            assert!(
                error.to_string().contains("AUDIT_SEAL_LAG_SECONDS"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_full_sweep_budget_defaults_to_ten_minutes_and_stays_under_the_timeout() {
        let sweep = |budget: Option<&str>| {
            SweepConfig::from_lookup(|name| match name {
                "SIGNALS_TABLE" | "AUDIT_TABLE" | "VAULT_BUCKET" => Some("x".to_owned()),
                "FULL_SWEEP_BUDGET_SECONDS" => budget.map(str::to_owned),
                _ => None,
            })
        };
        assert_eq!(sweep(None).unwrap().full_sweep_budget_seconds, 600);
        assert_eq!(sweep(Some("30")).unwrap().full_sweep_budget_seconds, 30);
        for bad in ["0", "841", "900", "10m"] {
            let error = sweep(Some(bad)).unwrap_err();
            assert!(
                error.to_string().contains("FULL_SWEEP_BUDGET_SECONDS"),
                "{error}"
            );
        }
    }
}
