//! Creates the template's resources on an emulator (or any endpoint the SDK is pointed at),
//! property by property, so local resources are what `sam deploy` would create: the DynamoDB
//! tables, the S3 buckets with their bucket policies, and the KMS keys.
//!
//! Promise: a template property this code does not translate is an error naming it — a new
//! setting in `template.yaml` can never be silently missing locally. Re-running is harmless:
//! existing tables and buckets are left as they are, and a KMS key (which has no name) is found
//! again through the alias created with it, `alias/<stack>-<logical id without "Key">` in kebab
//! case (`alias/<stack>-checkpoint-signing`).
//!
//! One deliberate gap, reported in [`ProvisionedBucket::skipped_statements`]: when the endpoint is
//! plain `http://` (an emulator), a bucket-policy `Deny` statement with a `Condition` is not
//! applied. The one denying requests without TLS (`aws:SecureTransport` false) would, rightly,
//! deny every request there; any other would be applied as if unconditional, because moto
//! ignores policy conditions (e.g. "deny `s3:PutObjectRetention` unless the mode is COMPLIANCE"
//! would deny the COMPLIANCE retention the vault needs). Unconditional statements are applied.

use anyhow::{Context, anyhow, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, SseSpecification, StreamSpecification, StreamViewType,
};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, DefaultRetention, ExpirationStatus,
    LifecycleRule, LifecycleRuleFilter, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::template::{BucketDefinition, ResourceDefinition, Stack, TableDefinition, Template};

/// The table properties `ledgerctl provision` translates, read strictly: any other property, at
/// any depth (say `SSESpecification.SSEType`), is an error rather than silently not provisioned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct TableProperties {
    /// Resolved separately (`TableDefinition::table_name`).
    #[serde(rename = "TableName")]
    _table_name: serde::de::IgnoredAny,
    billing_mode: Option<String>,
    attribute_definitions: Vec<AttributeProperty>,
    key_schema: Vec<KeyProperty>,
    point_in_time_recovery_specification: Option<PointInTimeRecoveryProperty>,
    deletion_protection_enabled: Option<bool>,
    stream_specification: Option<StreamProperty>,
    #[serde(rename = "SSESpecification")]
    sse_specification: Option<SseProperty>,
    resource_policy: Option<ResourcePolicyProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct AttributeProperty {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct KeyProperty {
    attribute_name: String,
    key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct PointInTimeRecoveryProperty {
    point_in_time_recovery_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct StreamProperty {
    stream_view_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SseProperty {
    #[serde(rename = "SSEEnabled")]
    sse_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct ResourcePolicyProperty {
    policy_document: Value,
}

impl TableProperties {
    fn of(table: &TableDefinition) -> anyhow::Result<TableProperties> {
        TableProperties::deserialize(&table.properties).map_err(|error| {
            anyhow!(
                "{}: {error} in template.yaml; teach ledgerctl/src/provision.rs to translate it",
                table.logical_id
            )
        })
    }
}

/// What happened to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioned {
    Created(String),
    AlreadyExisted(String),
}

/// Creates every table that does not exist yet.
pub async fn create_tables(
    client: &Client,
    tables: &[TableDefinition],
) -> anyhow::Result<Vec<Provisioned>> {
    let mut outcomes = Vec::new();
    for table in tables {
        outcomes.push(create_table(client, table).await?);
    }
    Ok(outcomes)
}

async fn create_table(client: &Client, table: &TableDefinition) -> anyhow::Result<Provisioned> {
    let properties = TableProperties::of(table)?;
    let name = table.table_name.clone();
    let exists = client.describe_table().table_name(&name).send().await;
    if exists.is_ok() {
        return Ok(Provisioned::AlreadyExisted(name));
    }

    let mut request = client.create_table().table_name(&name);
    for attribute in &properties.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()?,
        );
    }
    for key in &properties.key_schema {
        request = request.key_schema(
            KeySchemaElement::builder()
                .attribute_name(&key.attribute_name)
                .key_type(KeyType::from(key.key_type.as_str()))
                .build()?,
        );
    }
    if let Some(mode) = &properties.billing_mode {
        request = request.billing_mode(BillingMode::from(mode.as_str()));
    }
    if let Some(protected) = properties.deletion_protection_enabled {
        request = request.deletion_protection_enabled(protected);
    }
    if let Some(stream) = &properties.stream_specification {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()?,
        );
    }
    if let Some(sse) = &properties.sse_specification {
        request =
            request.sse_specification(SseSpecification::builder().enabled(sse.sse_enabled).build());
    }
    if let Some(policy) = &properties.resource_policy {
        request = request.resource_policy(policy.policy_document.to_string());
    }
    request.send().await.map_err(|e| {
        anyhow::anyhow!(
            "creating table {name}: {}",
            shared::app::ingest::error_chain(&e)
        )
    })?;

    let pitr = properties
        .point_in_time_recovery_specification
        .is_some_and(|s| s.point_in_time_recovery_enabled);
    if pitr {
        client
            .update_continuous_backups()
            .table_name(&name)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "enabling point-in-time recovery on {name}: {}",
                    shared::app::ingest::error_chain(&e)
                )
            })?;
    }
    Ok(Provisioned::Created(name))
}

/// Logical id of the WORM vault bucket in `template.yaml`.
pub const VAULT_BUCKET: &str = "VaultBucket";
/// Logical id of the checkpoint signing key in `template.yaml`.
pub const CHECKPOINT_SIGNING_KEY: &str = "CheckpointSigningKey";

/// Everything [`provision_stack`] did, resource by resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedStack {
    pub tables: Vec<Provisioned>,
    pub buckets: Vec<ProvisionedBucket>,
    pub keys: Vec<ProvisionedKey>,
    /// The names of the alarms created (or updated: PutMetricAlarm is idempotent).
    pub alarms: Vec<String>,
}

impl ProvisionedStack {
    /// The name of the bucket `logical_id`.
    pub fn bucket_name(&self, logical_id: &str) -> Option<&str> {
        self.buckets
            .iter()
            .find(|b| b.logical_id == logical_id)
            .map(|b| b.outcome.name())
    }

    /// The ARN of the KMS key `logical_id`.
    pub fn key_arn(&self, logical_id: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|k| k.logical_id == logical_id)
            .map(|k| k.key_arn.as_str())
    }

    /// `VAULT_BUCKET=<name> CHECKPOINT_KMS_KEY_ID=<key ARN>`, for shell scripts to `eval`. Bucket
    /// names and key ARNs need no quoting.
    pub fn shell_exports(&self) -> anyhow::Result<String> {
        let bucket = self
            .bucket_name(VAULT_BUCKET)
            .ok_or_else(|| anyhow!("the template has no bucket {VAULT_BUCKET}"))?;
        let key = self
            .key_arn(CHECKPOINT_SIGNING_KEY)
            .ok_or_else(|| anyhow!("the template has no KMS key {CHECKPOINT_SIGNING_KEY}"))?;
        Ok(format!("VAULT_BUCKET={bucket} CHECKPOINT_KMS_KEY_ID={key}"))
    }
}

impl Provisioned {
    /// The resource's name.
    pub fn name(&self) -> &str {
        match self {
            Provisioned::Created(name) | Provisioned::AlreadyExisted(name) => name,
        }
    }
}

/// What happened to one bucket (and its bucket policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedBucket {
    pub logical_id: String,
    pub outcome: Provisioned,
    /// Bucket-policy statements not applied, each with the reason (see the module doc).
    pub skipped_statements: Vec<String>,
}

/// One KMS key, created with its alias or found through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedKey {
    pub logical_id: String,
    pub key_arn: String,
    pub alias: String,
    pub created: bool,
}

/// Whether requests reach the endpoint over TLS: what `aws:SecureTransport` says about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    PlainHttp,
}

impl Transport {
    /// Plain HTTP for an `http://` endpoint override, TLS otherwise (AWS itself).
    pub fn of(sdk: &aws_config::SdkConfig) -> Transport {
        match sdk.endpoint_url() {
            Some(url) if !url.to_ascii_lowercase().starts_with("https://") => Transport::PlainHttp,
            _ => Transport::Tls,
        }
    }
}

/// Creates every table, bucket (with its policy) and KMS key of the template for `stack` that
/// does not exist yet. The whole template is read and checked before anything is created.
pub async fn provision_stack(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    stack: &Stack,
) -> anyhow::Result<ProvisionedStack> {
    let tables = template.tables(stack)?;
    let buckets = template.buckets(stack)?;
    let policies = template.bucket_policies(stack)?;
    let keys = template.kms_keys(stack)?;
    let alarms = template.alarms(stack)?;
    let mut policy_of = Vec::new();
    for bucket in &buckets {
        let mine: Vec<&ResourceDefinition> = policies
            .iter()
            .filter(|p| p.properties["Bucket"] == bucket.bucket_name.as_str())
            .collect();
        if mine.len() > 1 {
            bail!(
                "{}: a bucket has one policy, but {} name it",
                bucket.logical_id,
                mine.len()
            );
        }
        policy_of.push(mine.first().copied());
    }
    if let Some(orphan) = policies.iter().find(|p| {
        !buckets
            .iter()
            .any(|b| p.properties["Bucket"] == b.bucket_name.as_str())
    }) {
        bail!(
            "{}: Bucket {} is not a bucket of the template",
            orphan.logical_id,
            orphan.properties["Bucket"]
        );
    }

    let transport = Transport::of(sdk);
    let s3 = aws_sdk_s3::Client::new(sdk);
    let kms = aws_sdk_kms::Client::new(sdk);
    let mut outcome = ProvisionedStack {
        tables: create_tables(&Client::new(sdk), &tables).await?,
        buckets: Vec::new(),
        keys: Vec::new(),
        alarms: Vec::new(),
    };
    for (bucket, policy) in buckets.iter().zip(policy_of) {
        outcome.buckets.push(
            create_bucket(&s3, bucket, policy, &stack.region, transport)
                .await
                .with_context(|| format!("provisioning bucket {}", bucket.logical_id))?,
        );
    }
    for key in &keys {
        outcome.keys.push(
            create_key(&kms, key, stack)
                .await
                .with_context(|| format!("provisioning KMS key {}", key.logical_id))?,
        );
    }
    let cloudwatch = aws_sdk_cloudwatch::Client::new(sdk);
    for alarm in &alarms {
        outcome.alarms.push(
            put_alarm(&cloudwatch, alarm)
                .await
                .with_context(|| format!("provisioning alarm {}", alarm.logical_id))?,
        );
    }
    Ok(outcome)
}

/// Creates (or updates) one alarm exactly as the template defines it. The emulator never
/// evaluates alarms, but the report reads their definitions and states back.
async fn put_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarm: &ResourceDefinition,
) -> anyhow::Result<String> {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    let p = &alarm.properties;
    let number = |key: &str| p[key].as_f64().or_else(|| p[key].as_str()?.parse().ok());
    let integer = |key: &str| number(key).map(|n| n as i32);
    let strings = |key: &str| -> Vec<String> {
        p[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let name = alarm.string("AlarmName")?;
    let dimensions = p["Dimensions"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|d| {
                    Dimension::builder()
                        .name(d["Name"].as_str().unwrap_or_default())
                        .value(d["Value"].as_str().unwrap_or_default())
                        .build()
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .set_alarm_description(p["AlarmDescription"].as_str().map(str::to_owned))
        .namespace(alarm.string("Namespace")?)
        .metric_name(alarm.string("MetricName")?)
        .set_dimensions(Some(dimensions))
        .set_statistic(p["Statistic"].as_str().map(Statistic::from))
        .set_extended_statistic(p["ExtendedStatistic"].as_str().map(str::to_owned))
        .set_period(integer("Period"))
        .set_evaluation_periods(integer("EvaluationPeriods"))
        .set_datapoints_to_alarm(integer("DatapointsToAlarm"))
        .set_threshold(number("Threshold"))
        .comparison_operator(ComparisonOperator::from(
            alarm.string("ComparisonOperator")?.as_str(),
        ))
        .set_treat_missing_data(p["TreatMissingData"].as_str().map(str::to_owned))
        .set_alarm_actions(Some(strings("AlarmActions")))
        .set_ok_actions(Some(strings("OKActions")))
        .send()
        .await
        .with_context(|| format!("PutMetricAlarm {name}"))?;
    Ok(name)
}

const BUCKET_PROPERTIES: [&str; 8] = [
    "BucketName",
    "ObjectLockEnabled",
    "ObjectLockConfiguration",
    "VersioningConfiguration",
    "BucketEncryption",
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
    "LifecycleConfiguration",
];

/// Creates the bucket, unless it exists, and configures it as the template says: Object Lock
/// (at creation; it cannot be turned on later), default retention, versioning, default
/// encryption, public access block, ownership controls, lifecycle rules, then its bucket policy
/// (`policy`).
pub async fn create_bucket(
    client: &aws_sdk_s3::Client,
    bucket: &BucketDefinition,
    policy: Option<&ResourceDefinition>,
    region: &str,
    transport: Transport,
) -> anyhow::Result<ProvisionedBucket> {
    let id = bucket.logical_id.as_str();
    let name = bucket.bucket_name.clone();
    let properties = object(&bucket.properties, id, &BUCKET_PROPERTIES)?;
    // Translate everything before touching S3.
    let at = |key: &str| format!("{id}.{key}");
    let object_lock_enabled = match properties.get("ObjectLockEnabled") {
        Some(value) => boolean(value, &at("ObjectLockEnabled"))?,
        None => false,
    };
    let object_lock = properties
        .get("ObjectLockConfiguration")
        .map(|v| object_lock_configuration(v, &at("ObjectLockConfiguration")))
        .transpose()?;
    let versioning = properties
        .get("VersioningConfiguration")
        .map(|v| versioning_configuration(v, &at("VersioningConfiguration")))
        .transpose()?;
    let encryption = properties
        .get("BucketEncryption")
        .map(|v| bucket_encryption(v, &at("BucketEncryption")))
        .transpose()?;
    let public_access = properties
        .get("PublicAccessBlockConfiguration")
        .map(|v| public_access_block(v, &at("PublicAccessBlockConfiguration")))
        .transpose()?;
    let ownership = properties
        .get("OwnershipControls")
        .map(|v| ownership_controls(v, &at("OwnershipControls")))
        .transpose()?;
    let lifecycle = properties
        .get("LifecycleConfiguration")
        .map(|v| lifecycle_configuration(v, &at("LifecycleConfiguration")))
        .transpose()?;
    let (policy_document, skipped_statements) = match policy {
        Some(policy) => bucket_policy(policy, transport)?,
        None => (None, Vec::new()),
    };

    match client.head_bucket().bucket(&name).send().await {
        Ok(_) => {
            return Ok(ProvisionedBucket {
                logical_id: id.to_owned(),
                outcome: Provisioned::AlreadyExisted(name),
                skipped_statements: Vec::new(),
            });
        }
        Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(error) => return Err(error).with_context(|| format!("looking up bucket {name}")),
    }

    let mut request = client
        .create_bucket()
        .bucket(&name)
        .object_lock_enabled_for_bucket(object_lock_enabled);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    request
        .send()
        .await
        .with_context(|| format!("creating bucket {name}"))?;
    // One put per translated setting, in this order, each failure naming what it was doing.
    macro_rules! put {
        ($setting:expr, $operation:ident . $field:ident, $what:literal) => {
            if let Some(value) = $setting {
                client
                    .$operation()
                    .bucket(&name)
                    .$field(value)
                    .send()
                    .await
                    .with_context(|| format!("{} on {name}", $what))?;
            }
        };
    }
    put!(
        versioning,
        put_bucket_versioning.versioning_configuration,
        "enabling versioning"
    );
    put!(
        object_lock,
        put_object_lock_configuration.object_lock_configuration,
        "configuring Object Lock"
    );
    put!(
        encryption,
        put_bucket_encryption.server_side_encryption_configuration,
        "configuring default encryption"
    );
    put!(
        public_access,
        put_public_access_block.public_access_block_configuration,
        "blocking public access"
    );
    put!(
        ownership,
        put_bucket_ownership_controls.ownership_controls,
        "setting ownership controls"
    );
    put!(
        lifecycle,
        put_bucket_lifecycle_configuration.lifecycle_configuration,
        "configuring the lifecycle rules"
    );
    put!(
        policy_document,
        put_bucket_policy.policy,
        "putting the bucket policy"
    );
    Ok(ProvisionedBucket {
        logical_id: id.to_owned(),
        outcome: Provisioned::Created(name),
        skipped_statements,
    })
}

fn object_lock_configuration(value: &Value, at: &str) -> anyhow::Result<ObjectLockConfiguration> {
    let configuration = object(value, at, &["ObjectLockEnabled", "Rule"])?;
    let mut builder = ObjectLockConfiguration::builder();
    if let Some(enabled) = configuration.get("ObjectLockEnabled") {
        builder = builder.object_lock_enabled(ObjectLockEnabled::from(
            string(enabled, &format!("{at}.ObjectLockEnabled"))?.as_str(),
        ));
    }
    if let Some(rule) = configuration.get("Rule") {
        let at = format!("{at}.Rule");
        let rule = object(rule, &at, &["DefaultRetention"])?;
        if let Some(retention) = rule.get("DefaultRetention") {
            let at = format!("{at}.DefaultRetention");
            let retention = object(retention, &at, &["Mode", "Days", "Years"])?;
            let mut default = DefaultRetention::builder();
            if let Some(mode) = retention.get("Mode") {
                default = default.mode(ObjectLockRetentionMode::from(
                    string(mode, &format!("{at}.Mode"))?.as_str(),
                ));
            }
            if let Some(days) = retention.get("Days") {
                default = default.days(integer(days, &format!("{at}.Days"))?);
            }
            if let Some(years) = retention.get("Years") {
                default = default.years(integer(years, &format!("{at}.Years"))?);
            }
            builder = builder.rule(
                ObjectLockRule::builder()
                    .default_retention(default.build())
                    .build(),
            );
        }
    }
    Ok(builder.build())
}

fn versioning_configuration(value: &Value, at: &str) -> anyhow::Result<VersioningConfiguration> {
    let configuration = object(value, at, &["Status"])?;
    let status = configuration
        .get("Status")
        .ok_or_else(|| anyhow!("{at}: Status is missing"))?;
    Ok(VersioningConfiguration::builder()
        .status(BucketVersioningStatus::from(
            string(status, &format!("{at}.Status"))?.as_str(),
        ))
        .build())
}

fn bucket_encryption(value: &Value, at: &str) -> anyhow::Result<ServerSideEncryptionConfiguration> {
    let encryption = object(value, at, &["ServerSideEncryptionConfiguration"])?;
    let at = format!("{at}.ServerSideEncryptionConfiguration");
    let mut configuration = ServerSideEncryptionConfiguration::builder();
    for (i, rule) in array(encryption.get("ServerSideEncryptionConfiguration"), &at)?
        .iter()
        .enumerate()
    {
        let at = format!("{at}[{i}]");
        let rule = object(
            rule,
            &at,
            &["ServerSideEncryptionByDefault", "BucketKeyEnabled"],
        )?;
        let mut translated = ServerSideEncryptionRule::builder();
        if let Some(default) = rule.get("ServerSideEncryptionByDefault") {
            let at = format!("{at}.ServerSideEncryptionByDefault");
            let default = object(default, &at, &["SSEAlgorithm", "KMSMasterKeyID"])?;
            let algorithm = default
                .get("SSEAlgorithm")
                .ok_or_else(|| anyhow!("{at}: SSEAlgorithm is missing"))?;
            let kms_key = default
                .get("KMSMasterKeyID")
                .map(|k| string(k, &format!("{at}.KMSMasterKeyID")))
                .transpose()?;
            translated = translated.apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(
                        string(algorithm, &format!("{at}.SSEAlgorithm"))?.as_str(),
                    ))
                    .set_kms_master_key_id(kms_key)
                    .build()?,
            );
        }
        if let Some(enabled) = rule.get("BucketKeyEnabled") {
            translated =
                translated.bucket_key_enabled(boolean(enabled, &format!("{at}.BucketKeyEnabled"))?);
        }
        configuration = configuration.rules(translated.build());
    }
    Ok(configuration.build()?)
}

fn public_access_block(value: &Value, at: &str) -> anyhow::Result<PublicAccessBlockConfiguration> {
    let block = object(
        value,
        at,
        &[
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ],
    )?;
    let flag = |key: &str| {
        block
            .get(key)
            .map(|v| boolean(v, &format!("{at}.{key}")))
            .transpose()
    };
    Ok(PublicAccessBlockConfiguration::builder()
        .set_block_public_acls(flag("BlockPublicAcls")?)
        .set_block_public_policy(flag("BlockPublicPolicy")?)
        .set_ignore_public_acls(flag("IgnorePublicAcls")?)
        .set_restrict_public_buckets(flag("RestrictPublicBuckets")?)
        .build())
}

/// Lifecycle rules; only what the vault may have: aborting incomplete multipart uploads. An
/// expiration or transition rule is not translated (and has no place in a WORM vault).
fn lifecycle_configuration(
    value: &Value,
    at: &str,
) -> anyhow::Result<BucketLifecycleConfiguration> {
    let configuration = object(value, at, &["Rules"])?;
    let at = format!("{at}.Rules");
    let mut translated = BucketLifecycleConfiguration::builder();
    for (i, rule) in array(configuration.get("Rules"), &at)?.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let rule = object(
            rule,
            &at,
            &["Id", "Status", "Prefix", "AbortIncompleteMultipartUpload"],
        )?;
        let text = |key: &str| {
            rule.get(key)
                .map(|v| string(v, &format!("{at}.{key}")))
                .transpose()
        };
        let status = text("Status")?.ok_or_else(|| anyhow!("{at}: Status is missing"))?;
        let mut builder = LifecycleRule::builder()
            .set_id(text("Id")?)
            .status(ExpirationStatus::from(status.as_str()))
            .filter(
                LifecycleRuleFilter::builder()
                    .prefix(text("Prefix")?.unwrap_or_default())
                    .build(),
            );
        if let Some(abort) = rule.get("AbortIncompleteMultipartUpload") {
            let at = format!("{at}.AbortIncompleteMultipartUpload");
            let abort = object(abort, &at, &["DaysAfterInitiation"])?;
            let days = abort
                .get("DaysAfterInitiation")
                .ok_or_else(|| anyhow!("{at}: DaysAfterInitiation is missing"))?;
            builder = builder.abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(integer(days, &format!("{at}.DaysAfterInitiation"))?)
                    .build(),
            );
        }
        translated = translated.rules(builder.build()?);
    }
    Ok(translated.build()?)
}

fn ownership_controls(value: &Value, at: &str) -> anyhow::Result<OwnershipControls> {
    let controls = object(value, at, &["Rules"])?;
    let at = format!("{at}.Rules");
    let mut translated = OwnershipControls::builder();
    for (i, rule) in array(controls.get("Rules"), &at)?.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let rule = object(rule, &at, &["ObjectOwnership"])?;
        let ownership = rule
            .get("ObjectOwnership")
            .ok_or_else(|| anyhow!("{at}: ObjectOwnership is missing"))?;
        translated = translated.rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::from(
                    string(ownership, &format!("{at}.ObjectOwnership"))?.as_str(),
                ))
                .build()?,
        );
    }
    Ok(translated.build()?)
}

/// The policy document to put (`None` when no statement is left) and the statements skipped.
fn bucket_policy(
    policy: &ResourceDefinition,
    transport: Transport,
) -> anyhow::Result<(Option<String>, Vec<String>)> {
    let id = policy.logical_id.as_str();
    let properties = object(&policy.properties, id, &["Bucket", "PolicyDocument"])?;
    let at = format!("{id}.PolicyDocument");
    let document = properties
        .get("PolicyDocument")
        .ok_or_else(|| anyhow!("{at} is missing"))?;
    let mut document = object(document, &at, &["Version", "Id", "Statement"])?.clone();
    let statements = match document.remove("Statement") {
        Some(Value::Array(statements)) => statements,
        Some(single @ Value::Object(_)) => vec![single],
        _ => bail!("{at}.Statement is not a statement or a list of them"),
    };
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (i, statement) in statements.into_iter().enumerate() {
        let sid = statement["Sid"]
            .as_str()
            .map_or_else(|| format!("Statement[{i}]"), str::to_owned);
        if transport == Transport::PlainHttp && denies_plain_http(&statement) {
            skipped.push(format!(
                "{id} statement {sid}: it denies requests without TLS, and the endpoint is plain HTTP"
            ));
        } else if transport == Transport::PlainHttp && is_conditional_deny(&statement) {
            skipped.push(format!(
                "{id} statement {sid}: a conditional deny, and the emulator behind a plain-HTTP endpoint ignores policy conditions (it would deny unconditionally)"
            ));
        } else {
            kept.push(statement);
        }
    }
    if kept.is_empty() {
        return Ok((None, skipped));
    }
    document.insert("Statement".into(), Value::Array(kept));
    Ok((Some(Value::Object(document).to_string()), skipped))
}

/// `Effect: Deny` with any `Condition`.
fn is_conditional_deny(statement: &Value) -> bool {
    statement["Effect"] == "Deny"
        && statement
            .get("Condition")
            .is_some_and(|condition| condition.as_object().is_none_or(|c| !c.is_empty()))
}

/// `Effect: Deny` under exactly the condition `Bool: {aws:SecureTransport: false}`.
fn denies_plain_http(statement: &Value) -> bool {
    let is_false = |v: &Value| v == &Value::Bool(false) || v.as_str() == Some("false");
    statement["Effect"] == "Deny"
        && statement["Condition"].as_object().is_some_and(|condition| {
            condition.len() == 1
                && condition
                    .get("Bool")
                    .and_then(Value::as_object)
                    .is_some_and(|operator| {
                        operator.len() == 1
                            && operator.get("aws:SecureTransport").is_some_and(is_false)
                    })
        })
}

const KEY_PROPERTIES: [&str; 4] = ["Description", "KeySpec", "KeyUsage", "KeyPolicy"];

/// The alias that makes a key findable again: `alias/<stack>-<logical id without a trailing
/// "Key", in kebab case>`, e.g. `alias/signal-ledger-checkpoint-signing`.
pub fn key_alias(stack: &Stack, logical_id: &str) -> String {
    let base = logical_id.strip_suffix("Key").unwrap_or(logical_id);
    let mut kebab = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            kebab.push('-');
        }
        kebab.push(c.to_ascii_lowercase());
    }
    format!("alias/{}-{kebab}", stack.name)
}

/// Finds the key through its alias ([`key_alias`]), or creates it with the template's key spec,
/// usage, description and key policy and then the alias. A found key must have the template's
/// spec and usage and be enabled.
pub async fn create_key(
    client: &aws_sdk_kms::Client,
    key: &ResourceDefinition,
    stack: &Stack,
) -> anyhow::Result<ProvisionedKey> {
    let id = key.logical_id.as_str();
    let properties = object(&key.properties, id, &KEY_PROPERTIES)?;
    let text = |name: &str| {
        properties
            .get(name)
            .map(|v| string(v, &format!("{id}.{name}")))
            .transpose()
    };
    let spec = text("KeySpec")?.map(|s| KeySpec::from(s.as_str()));
    let usage = text("KeyUsage")?.map(|u| KeyUsageType::from(u.as_str()));
    let description = text("Description")?;
    let policy = match properties.get("KeyPolicy") {
        Some(policy @ Value::Object(_)) => Some(policy.to_string()),
        Some(_) => bail!("{id}.KeyPolicy is not a policy document"),
        None => None,
    };
    let alias = key_alias(stack, id);

    match client.describe_key().key_id(&alias).send().await {
        Ok(found) => {
            let metadata = found
                .key_metadata()
                .ok_or_else(|| anyhow!("DescribeKey {alias} answered without key metadata"))?;
            let differs = |template: Option<&str>, actual: Option<&str>| {
                template.is_some_and(|t| Some(t) != actual)
            };
            if differs(
                spec.as_ref().map(KeySpec::as_str),
                metadata.key_spec().map(KeySpec::as_str),
            ) || differs(
                usage.as_ref().map(KeyUsageType::as_str),
                metadata.key_usage().map(KeyUsageType::as_str),
            ) {
                bail!(
                    "{alias} names key {}, whose spec or usage is not the template's",
                    metadata.key_id()
                );
            }
            if !metadata.enabled() {
                bail!(
                    "{alias} names key {}, which is not enabled",
                    metadata.key_id()
                );
            }
            let key_arn = metadata
                .arn()
                .ok_or_else(|| anyhow!("DescribeKey {alias} answered without the key's ARN"))?;
            return Ok(ProvisionedKey {
                logical_id: id.to_owned(),
                key_arn: key_arn.to_owned(),
                alias,
                created: false,
            });
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) => {}
        Err(error) => return Err(error).with_context(|| format!("looking up {alias}")),
    }

    let created = client
        .create_key()
        .set_key_spec(spec)
        .set_key_usage(usage)
        .set_description(description)
        .set_policy(policy)
        .send()
        .await
        .context("creating the key")?;
    let metadata = created
        .key_metadata()
        .ok_or_else(|| anyhow!("CreateKey answered without key metadata"))?;
    let key_arn = metadata
        .arn()
        .ok_or_else(|| anyhow!("CreateKey answered without the key's ARN"))?
        .to_owned();
    client
        .create_alias()
        .alias_name(&alias)
        .target_key_id(metadata.key_id())
        .send()
        .await
        .with_context(|| format!("creating {alias} for key {key_arn}"))?;
    Ok(ProvisionedKey {
        logical_id: id.to_owned(),
        key_arn,
        alias,
        created: true,
    })
}

/// `value` as a mapping whose keys are all in `translated`; any other key is an error naming it.
fn object<'a>(
    value: &'a Value,
    at: &str,
    translated: &[&str],
) -> anyhow::Result<&'a Map<String, Value>> {
    let map = value
        .as_object()
        .ok_or_else(|| anyhow!("{at} is not a mapping"))?;
    if let Some(unknown) = map.keys().find(|key| !translated.contains(&key.as_str())) {
        bail!(
            "{at}: property {unknown} of template.yaml is not provisioned locally; teach ledgerctl/src/provision.rs to translate it"
        );
    }
    Ok(map)
}

fn array<'a>(value: Option<&'a Value>, at: &str) -> anyhow::Result<&'a Vec<Value>> {
    value
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("{at} is not a list"))
}

fn string(value: &Value, at: &str) -> anyhow::Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{at} is not a string"))
}

/// A boolean, also spelled as the strings `true` / `false` (CloudFormation accepts both).
fn boolean(value: &Value, at: &str) -> anyhow::Result<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => bail!("{at} is not a boolean"),
    }
}

/// An integer, also spelled as a string of digits (CloudFormation accepts both).
fn integer(value: &Value, at: &str) -> anyhow::Result<i32> {
    let number = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    number
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| anyhow!("{at} is not an integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_aliases_are_the_stack_and_the_kebab_cased_logical_id() {
        let stack = Stack::local("signal-ledger");
        assert_eq!(
            key_alias(&stack, "CheckpointSigningKey"),
            "alias/signal-ledger-checkpoint-signing"
        );
        assert_eq!(key_alias(&stack, "Backup"), "alias/signal-ledger-backup");
    }

    #[test]
    fn conditional_denies_are_skipped_only_over_plain_http() {
        let policy = ResourceDefinition {
            logical_id: "P".into(),
            properties: serde_json::json!({
                "Bucket": "b",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "RequireTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                         "Resource": "arn:aws:s3:::b/*",
                         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                        {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*",
                         "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"},
                        {"Sid": "OnlyCompliance", "Effect": "Deny", "Principal": "*",
                         "Action": "s3:PutObjectRetention", "Resource": "arn:aws:s3:::b/*",
                         "Condition": {"StringNotEquals": {"s3:object-lock-mode": "COMPLIANCE"}}}
                    ]
                }
            }),
        };
        let (document, skipped) = bucket_policy(&policy, Transport::PlainHttp).unwrap();
        let document: Value = serde_json::from_str(&document.unwrap()).unwrap();
        assert_eq!(document["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(document["Statement"][0]["Sid"], "NoDeletes");
        assert_eq!(skipped.len(), 2);
        assert!(
            skipped[0].starts_with("P statement RequireTls: it denies requests without TLS"),
            "{skipped:?}"
        );
        assert!(
            skipped[1].starts_with("P statement OnlyCompliance: a conditional deny"),
            "{skipped:?}"
        );

        let (document, skipped) = bucket_policy(&policy, Transport::Tls).unwrap();
        let document: Value = serde_json::from_str(&document.unwrap()).unwrap();
        assert_eq!(document["Statement"].as_array().unwrap().len(), 3);
        assert!(skipped.is_empty());
    }

    #[test]
    fn untranslated_nested_properties_are_errors() {
        let error = bucket_encryption(
            &serde_json::json!({"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "Unknown": 1}}
            ]}),
            "B.BucketEncryption",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "B.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault: property Unknown of template.yaml is not provisioned locally; teach ledgerctl/src/provision.rs to translate it"
        );
    }

    fn table(properties: Value) -> TableDefinition {
        TableDefinition {
            logical_id: "T".into(),
            table_name: "t".into(),
            properties,
        }
    }

    #[test]
    fn untranslated_table_properties_are_errors_at_any_depth() {
        let base = serde_json::json!({
            "TableName": {"Fn::Sub": "${AWS::StackName}-t"},
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "SSESpecification": {"SSEEnabled": true},
        });
        let properties = TableProperties::of(&table(base.clone())).unwrap();
        assert!(properties.sse_specification.is_some_and(|s| s.sse_enabled));
        let mut nested = base.clone();
        nested["SSESpecification"]["SSEType"] = "KMS".into();
        let error = TableProperties::of(&table(nested)).unwrap_err().to_string();
        assert!(error.starts_with("T: unknown field `SSEType`"), "{error}");
        let mut top = base;
        top["TimeToLiveSpecification"] = serde_json::json!({"Enabled": true});
        let error = TableProperties::of(&table(top)).unwrap_err().to_string();
        assert!(
            error.contains("unknown field `TimeToLiveSpecification`"),
            "{error}"
        );
    }
}
