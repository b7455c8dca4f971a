//! The report's monitoring readers in memory: `InMemoryTables` (table settings) and
//! `InMemoryAlarms` (alarm states and metric sums).

use crate::domain::report::{AlarmState, AlarmTransition, TableRole, TableSettings};
use crate::domain::timestamp::Timestamp;
use crate::ports::{AlarmReader, StoreError, TableInspector};

/// Tables whose settings are all protective: deletion protection, point-in-time recovery, a
/// `NEW_AND_OLD_IMAGES` stream and KMS encryption.
#[derive(Debug, Clone, Default)]
pub struct InMemoryTables;

impl TableInspector for InMemoryTables {
    async fn table_settings(
        &self,
        role: TableRole,
        table_name: &str,
    ) -> Result<TableSettings, StoreError> {
        Ok(TableSettings {
            role,
            table_name: table_name.to_owned(),
            deletion_protection: true,
            point_in_time_recovery: true,
            stream_view_type: Some("NEW_AND_OLD_IMAGES".to_owned()),
            sse: "KMS".to_owned(),
        })
    }
}

/// Alarms held in memory: their states as set, no history, and metric sums of 0.
#[derive(Debug, Clone, Default)]
pub struct InMemoryAlarms {
    pub states: Vec<AlarmState>,
}

impl AlarmReader for InMemoryAlarms {
    async fn alarm_states(
        &self,
        name_prefix: Option<&str>,
    ) -> Result<Vec<AlarmState>, crate::ports::BoxError> {
        Ok(self
            .states
            .iter()
            .filter(|a| name_prefix.is_none_or(|p| a.name.starts_with(p)))
            .cloned()
            .collect())
    }

    async fn alarm_history(
        &self,
        _name_prefix: Option<&str>,
        _from: &Timestamp,
        _to: &Timestamp,
    ) -> Result<Vec<AlarmTransition>, crate::ports::BoxError> {
        Ok(Vec::new())
    }

    async fn metric_sum(
        &self,
        _namespace: &str,
        _metric: &str,
        _from: &Timestamp,
        _to: &Timestamp,
    ) -> Result<f64, crate::ports::BoxError> {
        Ok(0.0)
    }
}
