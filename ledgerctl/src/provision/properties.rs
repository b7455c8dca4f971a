//! The template properties `ledgerctl provision` translates, as typed structs read strictly
//! (`deny_unknown_fields` at every level): a property this code does not translate, at any depth
//! (say `SSESpecification.SSEType`, or `BucketEncryption…ServerSideEncryptionByDefault.Foo`), is
//! an error naming its path rather than silently not provisioned.

use anyhow::anyhow;
use serde::de::{DeserializeOwned, Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// `value` (the resolved `Properties` of the resource `logical_id`) read as `T`; an error names
/// the path of the first property that is unknown, missing or of the wrong type.
pub fn strict<T: DeserializeOwned>(value: &Value, logical_id: &str) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let at = match path.as_str() {
            "." => logical_id.to_owned(),
            path => format!("{logical_id}.{path}"),
        };
        anyhow!(
            "{at}: {} in template.yaml; teach ledgerctl/src/provision.rs to translate it",
            error.inner()
        )
    })
}

/// A boolean, also spelled as the strings `true` / `false` (CloudFormation accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Bool(b) => Ok(Flag(b)),
            Value::String(s) if s == "true" => Ok(Flag(true)),
            Value::String(s) if s == "false" => Ok(Flag(false)),
            other => Err(D::Error::custom(format!("{other} is not a boolean"))),
        }
    }
}

/// An integer, also spelled as a string of digits (CloudFormation accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer(pub i32);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let number = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        number
            .and_then(|n| i32::try_from(n).ok())
            .map(Integer)
            .ok_or_else(|| D::Error::custom(format!("{value} is not an integer")))
    }
}

// ---- AWS::DynamoDB::Table ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TableProperties {
    /// Resolved separately (`TableDefinition::table_name`).
    #[serde(rename = "TableName")]
    _table_name: IgnoredAny,
    pub billing_mode: Option<String>,
    pub attribute_definitions: Vec<AttributeProperty>,
    pub key_schema: Vec<KeyProperty>,
    pub point_in_time_recovery_specification: Option<PointInTimeRecoveryProperty>,
    pub deletion_protection_enabled: Option<bool>,
    pub stream_specification: Option<StreamProperty>,
    #[serde(rename = "SSESpecification")]
    pub sse_specification: Option<SseProperty>,
    pub resource_policy: Option<ResourcePolicyProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AttributeProperty {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct KeyProperty {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct PointInTimeRecoveryProperty {
    pub point_in_time_recovery_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct StreamProperty {
    pub stream_view_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SseProperty {
    #[serde(rename = "SSEEnabled")]
    pub sse_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ResourcePolicyProperty {
    pub policy_document: Value,
}

// ---- AWS::S3::Bucket ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct BucketProperties {
    /// Resolved separately (`BucketDefinition::bucket_name`).
    #[serde(rename = "BucketName")]
    _bucket_name: IgnoredAny,
    pub object_lock_enabled: Option<Flag>,
    pub object_lock_configuration: Option<ObjectLockProperty>,
    pub versioning_configuration: Option<VersioningProperty>,
    pub bucket_encryption: Option<BucketEncryptionProperty>,
    pub public_access_block_configuration: Option<PublicAccessBlockProperty>,
    pub ownership_controls: Option<OwnershipControlsProperty>,
    pub lifecycle_configuration: Option<LifecycleProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ObjectLockProperty {
    pub object_lock_enabled: Option<String>,
    pub rule: Option<ObjectLockRuleProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ObjectLockRuleProperty {
    pub default_retention: Option<DefaultRetentionProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DefaultRetentionProperty {
    pub mode: Option<String>,
    pub days: Option<Integer>,
    pub years: Option<Integer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct VersioningProperty {
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct BucketEncryptionProperty {
    pub server_side_encryption_configuration: Vec<EncryptionRuleProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct EncryptionRuleProperty {
    pub server_side_encryption_by_default: Option<EncryptionByDefaultProperty>,
    pub bucket_key_enabled: Option<Flag>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionByDefaultProperty {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: String,
    #[serde(rename = "KMSMasterKeyID")]
    pub kms_master_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct PublicAccessBlockProperty {
    pub block_public_acls: Option<Flag>,
    pub block_public_policy: Option<Flag>,
    pub ignore_public_acls: Option<Flag>,
    pub restrict_public_buckets: Option<Flag>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct OwnershipControlsProperty {
    pub rules: Vec<OwnershipRuleProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct OwnershipRuleProperty {
    pub object_ownership: String,
}

/// Lifecycle rules; only what the vault may have: aborting incomplete multipart uploads. An
/// expiration or transition rule is not translated (and has no place in a WORM vault).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct LifecycleProperty {
    pub rules: Vec<LifecycleRuleProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct LifecycleRuleProperty {
    pub id: Option<String>,
    pub status: String,
    pub prefix: Option<String>,
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteUploadProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AbortIncompleteUploadProperty {
    pub days_after_initiation: Integer,
}

// ---- AWS::S3::BucketPolicy ----

/// The statements are kept as JSON: they are put as a policy document, not translated one by
/// one (only their `Effect` and `Condition` decide whether one is skipped locally).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct BucketPolicyProperties {
    /// Matched to its bucket separately (`provision_stack`).
    #[serde(rename = "Bucket")]
    _bucket: IgnoredAny,
    pub policy_document: PolicyDocumentProperty,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct PolicyDocumentProperty {
    pub version: Option<Value>,
    pub id: Option<Value>,
    pub statement: Value,
}

// ---- AWS::KMS::Key ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct KeyProperties {
    pub description: Option<String>,
    pub key_spec: Option<String>,
    pub key_usage: Option<String>,
    /// Put as the key policy document, as written.
    pub key_policy: Option<Map<String, Value>>,
}
