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
use serde_json::{Map, Value};

use crate::template::{BucketDefinition, ResourceDefinition, Stack, TableDefinition, Template};

mod properties;
use properties::{
    BucketEncryptionProperty, BucketPolicyProperties, BucketProperties, KeyProperties,
    LifecycleProperty, ObjectLockProperty, OwnershipControlsProperty, PolicyDocumentProperty,
    PublicAccessBlockProperty, TableProperties, strict,
};

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
    let properties: TableProperties = strict(&table.properties, &table.logical_id)?;
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

/// A bucket's settings, translated from the template before anything is created: one SDK
/// value per setting the bucket has.
struct BucketSettings {
    object_lock_enabled: bool,
    object_lock: Option<ObjectLockConfiguration>,
    versioning: Option<VersioningConfiguration>,
    encryption: Option<ServerSideEncryptionConfiguration>,
    public_access: Option<PublicAccessBlockConfiguration>,
    ownership: Option<OwnershipControls>,
    lifecycle: Option<BucketLifecycleConfiguration>,
    /// The bucket policy to put (`None` when there is none, or no statement is left).
    policy_document: Option<String>,
    /// Bucket-policy statements not applied, each with the reason (see the module doc).
    skipped_statements: Vec<String>,
}

impl BucketSettings {
    fn translate(
        bucket: &BucketDefinition,
        policy: Option<&ResourceDefinition>,
        transport: Transport,
    ) -> anyhow::Result<BucketSettings> {
        let properties: BucketProperties = strict(&bucket.properties, &bucket.logical_id)?;
        let (policy_document, skipped_statements) = match policy {
            Some(policy) => bucket_policy(policy, transport)?,
            None => (None, Vec::new()),
        };
        Ok(BucketSettings {
            object_lock_enabled: properties.object_lock_enabled.is_some_and(|f| f.0),
            object_lock: properties
                .object_lock_configuration
                .map(object_lock_configuration),
            versioning: properties.versioning_configuration.map(|v| {
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::from(v.status.as_str()))
                    .build()
            }),
            encryption: properties
                .bucket_encryption
                .map(bucket_encryption)
                .transpose()?,
            public_access: properties
                .public_access_block_configuration
                .map(public_access_block),
            ownership: properties
                .ownership_controls
                .map(ownership_controls)
                .transpose()?,
            lifecycle: properties
                .lifecycle_configuration
                .map(lifecycle_configuration)
                .transpose()?,
            policy_document,
            skipped_statements,
        })
    }
}

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
    // Translate everything before touching S3.
    let settings = BucketSettings::translate(bucket, policy, transport)?;
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
        .object_lock_enabled_for_bucket(settings.object_lock_enabled);
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
    let skipped_statements = configure_bucket(client, &name, settings).await?;
    Ok(ProvisionedBucket {
        logical_id: id.to_owned(),
        outcome: Provisioned::Created(name),
        skipped_statements,
    })
}

/// Puts each translated setting on the new bucket `name`, in this order, each failure naming
/// what it was doing; returns the skipped policy statements.
async fn configure_bucket(
    client: &aws_sdk_s3::Client,
    name: &str,
    settings: BucketSettings,
) -> anyhow::Result<Vec<String>> {
    macro_rules! put {
        ($setting:expr, $operation:ident . $field:ident, $what:literal) => {
            if let Some(value) = $setting {
                client
                    .$operation()
                    .bucket(name)
                    .$field(value)
                    .send()
                    .await
                    .with_context(|| format!("{} on {name}", $what))?;
            }
        };
    }
    put!(
        settings.versioning,
        put_bucket_versioning.versioning_configuration,
        "enabling versioning"
    );
    put!(
        settings.object_lock,
        put_object_lock_configuration.object_lock_configuration,
        "configuring Object Lock"
    );
    put!(
        settings.encryption,
        put_bucket_encryption.server_side_encryption_configuration,
        "configuring default encryption"
    );
    put!(
        settings.public_access,
        put_public_access_block.public_access_block_configuration,
        "blocking public access"
    );
    put!(
        settings.ownership,
        put_bucket_ownership_controls.ownership_controls,
        "setting ownership controls"
    );
    put!(
        settings.lifecycle,
        put_bucket_lifecycle_configuration.lifecycle_configuration,
        "configuring the lifecycle rules"
    );
    put!(
        settings.policy_document,
        put_bucket_policy.policy,
        "putting the bucket policy"
    );
    Ok(settings.skipped_statements)
}

fn object_lock_configuration(lock: ObjectLockProperty) -> ObjectLockConfiguration {
    let retention = lock.rule.and_then(|rule| rule.default_retention);
    ObjectLockConfiguration::builder()
        .set_object_lock_enabled(
            lock.object_lock_enabled
                .map(|enabled| ObjectLockEnabled::from(enabled.as_str())),
        )
        .set_rule(retention.map(|retention| {
            ObjectLockRule::builder()
                .default_retention(
                    DefaultRetention::builder()
                        .set_mode(
                            retention
                                .mode
                                .map(|mode| ObjectLockRetentionMode::from(mode.as_str())),
                        )
                        .set_days(retention.days.map(|days| days.0))
                        .set_years(retention.years.map(|years| years.0))
                        .build(),
                )
                .build()
        }))
        .build()
}

fn bucket_encryption(
    encryption: BucketEncryptionProperty,
) -> anyhow::Result<ServerSideEncryptionConfiguration> {
    let mut configuration = ServerSideEncryptionConfiguration::builder();
    for rule in encryption.server_side_encryption_configuration {
        let by_default = rule
            .server_side_encryption_by_default
            .map(|default| {
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(default.sse_algorithm.as_str()))
                    .set_kms_master_key_id(default.kms_master_key_id)
                    .build()
            })
            .transpose()?;
        configuration = configuration.rules(
            ServerSideEncryptionRule::builder()
                .set_apply_server_side_encryption_by_default(by_default)
                .set_bucket_key_enabled(rule.bucket_key_enabled.map(|f| f.0))
                .build(),
        );
    }
    Ok(configuration.build()?)
}

fn public_access_block(block: PublicAccessBlockProperty) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .set_block_public_acls(block.block_public_acls.map(|f| f.0))
        .set_block_public_policy(block.block_public_policy.map(|f| f.0))
        .set_ignore_public_acls(block.ignore_public_acls.map(|f| f.0))
        .set_restrict_public_buckets(block.restrict_public_buckets.map(|f| f.0))
        .build()
}

fn lifecycle_configuration(
    lifecycle: LifecycleProperty,
) -> anyhow::Result<BucketLifecycleConfiguration> {
    let mut translated = BucketLifecycleConfiguration::builder();
    for rule in lifecycle.rules {
        translated = translated.rules(
            LifecycleRule::builder()
                .set_id(rule.id)
                .status(ExpirationStatus::from(rule.status.as_str()))
                .filter(
                    LifecycleRuleFilter::builder()
                        .prefix(rule.prefix.unwrap_or_default())
                        .build(),
                )
                .set_abort_incomplete_multipart_upload(rule.abort_incomplete_multipart_upload.map(
                    |abort| {
                        AbortIncompleteMultipartUpload::builder()
                            .days_after_initiation(abort.days_after_initiation.0)
                            .build()
                    },
                ))
                .build()?,
        );
    }
    Ok(translated.build()?)
}

fn ownership_controls(controls: OwnershipControlsProperty) -> anyhow::Result<OwnershipControls> {
    let mut translated = OwnershipControls::builder();
    for rule in controls.rules {
        translated = translated.rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::from(rule.object_ownership.as_str()))
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
    let properties: BucketPolicyProperties = strict(&policy.properties, id)?;
    let PolicyDocumentProperty {
        version,
        id: document_id,
        statement,
    } = properties.policy_document;
    let statements = match statement {
        Value::Array(statements) => statements,
        single @ Value::Object(_) => vec![single],
        _ => bail!("{id}.PolicyDocument.Statement is not a statement or a list of them"),
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
    let mut document = Map::new();
    if let Some(version) = version {
        document.insert("Version".into(), version);
    }
    if let Some(document_id) = document_id {
        document.insert("Id".into(), document_id);
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

/// A key's settings, translated from the template before anything is created.
struct KeySettings {
    spec: Option<KeySpec>,
    usage: Option<KeyUsageType>,
    description: Option<String>,
    policy: Option<String>,
}

impl KeySettings {
    fn translate(key: &ResourceDefinition) -> anyhow::Result<KeySettings> {
        let properties: KeyProperties = strict(&key.properties, &key.logical_id)?;
        Ok(KeySettings {
            spec: properties.key_spec.as_deref().map(KeySpec::from),
            usage: properties.key_usage.as_deref().map(KeyUsageType::from),
            description: properties.description,
            policy: properties
                .key_policy
                .map(|policy| Value::Object(policy).to_string()),
        })
    }
}

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
    let settings = KeySettings::translate(key)?;
    let alias = key_alias(stack, id);
    let (key_arn, created) = match find_key(client, &alias, &settings).await? {
        Some(key_arn) => (key_arn, false),
        None => (create_aliased_key(client, &alias, settings).await?, true),
    };
    Ok(ProvisionedKey {
        logical_id: id.to_owned(),
        key_arn,
        alias,
        created,
    })
}

/// The ARN of the key `alias` names, if any; it must have the template's spec and usage and be
/// enabled.
async fn find_key(
    client: &aws_sdk_kms::Client,
    alias: &str,
    settings: &KeySettings,
) -> anyhow::Result<Option<String>> {
    let found = match client.describe_key().key_id(alias).send().await {
        Ok(found) => found,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error).with_context(|| format!("looking up {alias}")),
    };
    let metadata = found
        .key_metadata()
        .ok_or_else(|| anyhow!("DescribeKey {alias} answered without key metadata"))?;
    let differs =
        |template: Option<&str>, actual: Option<&str>| template.is_some_and(|t| Some(t) != actual);
    if differs(
        settings.spec.as_ref().map(KeySpec::as_str),
        metadata.key_spec().map(KeySpec::as_str),
    ) || differs(
        settings.usage.as_ref().map(KeyUsageType::as_str),
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
    Ok(Some(key_arn.to_owned()))
}

/// Creates the key as the template says, then `alias` for it; returns its ARN.
async fn create_aliased_key(
    client: &aws_sdk_kms::Client,
    alias: &str,
    settings: KeySettings,
) -> anyhow::Result<String> {
    let created = client
        .create_key()
        .set_key_spec(settings.spec)
        .set_key_usage(settings.usage)
        .set_description(settings.description)
        .set_policy(settings.policy)
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
        .alias_name(alias)
        .target_key_id(metadata.key_id())
        .send()
        .await
        .with_context(|| format!("creating {alias} for key {key_arn}"))?;
    Ok(key_arn)
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

    fn bucket(properties: Value) -> BucketDefinition {
        BucketDefinition {
            logical_id: "B".into(),
            bucket_name: "b".into(),
            properties,
        }
    }

    /// The vault bucket's properties as `template.yaml` resolves them (AES256 locally).
    fn vault_properties() -> Value {
        serde_json::json!({
            "BucketName": "b",
            "ObjectLockEnabled": true,
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": "2555"}}
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": true, "BlockPublicPolicy": "true",
                "IgnorePublicAcls": true, "RestrictPublicBuckets": true
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": [{
                "Id": "AbortIncompleteMultipartUploads", "Status": "Enabled", "Prefix": "",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}
            }]}
        })
    }

    #[test]
    fn bucket_properties_translate_into_the_sdk_settings() {
        let settings =
            BucketSettings::translate(&bucket(vault_properties()), None, Transport::Tls).unwrap();
        assert!(settings.object_lock_enabled);
        let retention = settings
            .object_lock
            .and_then(|lock| lock.rule)
            .and_then(|rule| rule.default_retention)
            .unwrap();
        assert_eq!(retention.mode, Some(ObjectLockRetentionMode::Compliance));
        assert_eq!(retention.days, Some(2555));
        assert_eq!(
            settings.versioning.and_then(|v| v.status),
            Some(BucketVersioningStatus::Enabled)
        );
        let public = settings.public_access.unwrap();
        assert_eq!(public.block_public_policy, Some(true));
        let rule = &settings.lifecycle.unwrap().rules[0];
        assert_eq!(
            rule.abort_incomplete_multipart_upload
                .as_ref()
                .and_then(|a| a.days_after_initiation),
            Some(2)
        );
        assert_eq!(settings.policy_document, None);
    }

    #[test]
    fn every_bucket_policy_and_key_of_the_template_translates() {
        let template = Template::parse(include_str!("../../template.yaml")).unwrap();
        let stack = Stack::local("signal-ledger");
        let buckets = template.buckets(&stack).unwrap();
        let policies = template.bucket_policies(&stack).unwrap();
        let keys = template.kms_keys(&stack).unwrap();
        assert!(!buckets.is_empty() && !policies.is_empty() && !keys.is_empty());
        for bucket in &buckets {
            BucketSettings::translate(bucket, None, Transport::Tls).unwrap();
        }
        for policy in &policies {
            bucket_policy(policy, Transport::Tls).unwrap();
        }
        for key in &keys {
            KeySettings::translate(key).unwrap();
        }
    }

    #[test]
    fn untranslated_bucket_properties_are_errors_at_any_depth() {
        let refused = |mutate: &dyn Fn(&mut Value)| {
            let mut properties = vault_properties();
            mutate(&mut properties);
            match BucketSettings::translate(&bucket(properties), None, Transport::Tls) {
                Ok(_) => panic!("an untranslated property was accepted"),
                Err(error) => error.to_string(),
            }
        };
        // The example, in a bucket: a nested property nobody translates.
        let error = refused(&|p| {
            p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
                ["SSEType"] = "KMS".into();
        });
        assert!(
            error.starts_with(
                "B.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEType: unknown field `SSEType`"
            ),
            "{error}"
        );
        assert!(
            error.ends_with("teach ledgerctl/src/provision.rs to translate it"),
            "{error}"
        );
        let error = refused(&|p| {
            p["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Unknown"] = 1.into();
        });
        assert!(
            error.starts_with(
                "B.ObjectLockConfiguration.Rule.DefaultRetention.Unknown: unknown field `Unknown`"
            ),
            "{error}"
        );
        let error = refused(&|p| {
            p["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] = 30.into();
        });
        assert!(
            error
                .starts_with("B.LifecycleConfiguration.Rules[0].ExpirationInDays: unknown field `ExpirationInDays`"),
            "{error}"
        );
        let error = refused(&|p| p["AccelerateConfiguration"] = serde_json::json!({}));
        assert!(
            error.starts_with("B.AccelerateConfiguration: unknown field `AccelerateConfiguration`"),
            "{error}"
        );
        let error = refused(&|p| {
            p["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] = "many".into();
        });
        assert!(
            error.starts_with(
                "B.ObjectLockConfiguration.Rule.DefaultRetention.Days: \"many\" is not an integer"
            ),
            "{error}"
        );
        let error = refused(&|p| {
            p["VersioningConfiguration"] = serde_json::json!({});
        });
        assert!(
            error.starts_with("B.VersioningConfiguration: missing field `Status`"),
            "{error}"
        );
    }

    #[test]
    fn untranslated_key_and_policy_properties_are_errors() {
        let key = ResourceDefinition {
            logical_id: "K".into(),
            properties: serde_json::json!({
                "KeySpec": "ECC_NIST_P256",
                "KeyUsage": "SIGN_VERIFY",
                "KeyPolicy": {"Version": "2012-10-17", "Statement": []},
                "EnableKeyRotation": true
            }),
        };
        let error = KeySettings::translate(&key).err().unwrap().to_string();
        assert!(
            error.starts_with("K.EnableKeyRotation: unknown field `EnableKeyRotation`"),
            "{error}"
        );
        let policy = ResourceDefinition {
            logical_id: "P".into(),
            properties: serde_json::json!({
                "Bucket": "b",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [], "Extra": 1}
            }),
        };
        let error = bucket_policy(&policy, Transport::Tls)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("P.PolicyDocument.Extra: unknown field `Extra`"),
            "{error}"
        );
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
        let properties = strict::<TableProperties>(&base, "T").unwrap();
        assert!(properties.sse_specification.is_some_and(|s| s.sse_enabled));
        let mut nested = base.clone();
        nested["SSESpecification"]["SSEType"] = "KMS".into();
        let error = strict::<TableProperties>(&nested, "T")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("T.SSESpecification.SSEType: unknown field `SSEType`"),
            "{error}"
        );
        let mut top = base;
        top["TimeToLiveSpecification"] = serde_json::json!({"Enabled": true});
        let error = strict::<TableProperties>(&top, "T")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown field `TimeToLiveSpecification`"),
            "{error}"
        );
    }
}
