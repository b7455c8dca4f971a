//! An operator's acknowledgement of a vault finding. A planted or forged object under
//! `checkpoints/` is COMPLIANCE-locked like everything else, so it can never be removed; without
//! a way to acknowledge it, every later sweep would fail on it forever. The acknowledgement is
//! itself locked evidence (one object per key and original version, never overwritten) and is
//! audited with the operator as actor. It changes how the finding is reported (acknowledged, not
//! failing), never whether it is reported.

use serde_json::json;

use crate::app::sweep::{ACKNOWLEDGEMENT_PREFIX, Acknowledgement};
use crate::app::vault;
use crate::domain::audit::AuditEventType;
use crate::ports::{AuditSink, BlobVault, Clock, MetricsSink, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum AcknowledgeError {
    #[error("the vault holds no object {0}")]
    NoSuchObject(String),
    #[error("only findings under checkpoints/ can be acknowledged, not {0}")]
    OutsideCheckpoints(String),
    #[error("{key} (version {version_id}) is already acknowledged")]
    AlreadyAcknowledged { key: String, version_id: String },
    #[error("the reason must say why, in at least 10 characters")]
    ReasonTooShort,
    #[error("cannot compute the retention date")]
    Retention,
    #[error("the vault failed")]
    Vault(#[from] VaultError),
}

/// What an acknowledgement wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    pub acknowledgement: Acknowledgement,
    pub object_key: String,
    pub version_id: String,
}

/// The ports and settings an acknowledgement needs.
#[derive(Debug)]
pub struct Acknowledger<V, A, C, M> {
    pub vault: V,
    pub audit: A,
    pub clock: C,
    pub metrics: M,
    /// How long the acknowledgement stays locked (the ledger's retention).
    pub retention_days: u32,
}

impl<V: BlobVault, A: AuditSink, C: Clock, M: MetricsSink> Acknowledger<V, A, C, M> {
    /// Acknowledges the finding about `key` (its original version), by `actor`, for `reason`.
    pub async fn acknowledge(
        &self,
        key: &str,
        reason: &str,
        actor: &str,
    ) -> Result<Acknowledged, AcknowledgeError> {
        let Acknowledger {
            vault,
            audit,
            clock,
            metrics,
            retention_days,
        } = self;
        let retention_days = *retention_days;
        if !key.starts_with(crate::app::sweep::CHECKPOINT_PREFIX) {
            return Err(AcknowledgeError::OutsideCheckpoints(key.to_owned()));
        }
        if reason.trim().chars().count() < 10 {
            return Err(AcknowledgeError::ReasonTooShort);
        }
        let original = vault::list_originals(vault, key)
            .await?
            .into_iter()
            .find(|o| o.key() == key)
            .ok_or_else(|| AcknowledgeError::NoSuchObject(key.to_owned()))?;
        let object_key = Acknowledgement::object_key(key, original.version_id());
        let existing = vault::list_originals(vault, ACKNOWLEDGEMENT_PREFIX).await?;
        if existing.iter().any(|o| o.key() == object_key) {
            return Err(AcknowledgeError::AlreadyAcknowledged {
                key: key.to_owned(),
                version_id: original.version_id().to_owned(),
            });
        }
        let now = clock.now();
        let acknowledgement = Acknowledgement {
            format: Acknowledgement::FORMAT.to_owned(),
            key: key.to_owned(),
            version_id: original.version_id().to_owned(),
            reason: reason.trim().to_owned(),
            acknowledged_by: actor.to_owned(),
            acknowledged_at: now,
        };
        let retain_until = now
            .plus_days(retention_days)
            .map_err(|_| AcknowledgeError::Retention)?;
        let body = serde_json::to_vec_pretty(&acknowledgement).unwrap_or_default();
        let stored = vault
            .put_locked(&object_key, body, "application/json", retain_until)
            .await?;
        let mut event = super::run_event(
            actor,
            AuditEventType::FindingAcknowledged,
            &uuid::Uuid::now_v7().to_string(),
            format!(
                "finding about {key} acknowledged: {}",
                acknowledgement.reason
            ),
            json!({
                "key": key,
                "version_id": acknowledgement.version_id,
                "acknowledgement": object_key,
                "acknowledgement_version_id": stored.version_id,
            }),
            now,
        );
        event.actor = actor.to_owned();
        super::record_run(audit, metrics, &event).await;
        Ok(Acknowledged {
            acknowledgement,
            object_key,
            version_id: stored.version_id,
        })
    }
}
