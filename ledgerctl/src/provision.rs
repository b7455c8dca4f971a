//! Creates the template's DynamoDB tables on an emulator (or any endpoint the SDK is pointed at),
//! property by property, so local tables are what `sam deploy` would create.
//!
//! Promise: a template property this code does not translate is an error naming it — a new
//! setting in `template.yaml` can never be silently missing locally. Re-running is harmless:
//! existing tables are left as they are.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, SseSpecification, StreamSpecification, StreamViewType,
};
use serde_json::Value;

use crate::template::TableDefinition;

const TRANSLATED: [&str; 9] = [
    "TableName",
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "PointInTimeRecoverySpecification",
    "DeletionProtectionEnabled",
    "StreamSpecification",
    "SSESpecification",
    "ResourcePolicy",
];

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
    let properties = table
        .properties
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("{}: Properties is not a mapping", table.logical_id))?;
    if let Some(unknown) = properties
        .keys()
        .find(|key| !TRANSLATED.contains(&key.as_str()))
    {
        anyhow::bail!(
            "{}: property {unknown} of template.yaml is not provisioned locally; teach ledgerctl/src/provision.rs to translate it",
            table.logical_id
        );
    }
    let name = table.table_name.clone();
    let exists = client.describe_table().table_name(&name).send().await;
    if exists.is_ok() {
        return Ok(Provisioned::AlreadyExisted(name));
    }

    let mut request = client.create_table().table_name(&name);
    for (attribute, kind) in table.attribute_definitions() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()?,
        );
    }
    for (attribute, kind) in table.key_schema() {
        request = request.key_schema(
            KeySchemaElement::builder()
                .attribute_name(attribute)
                .key_type(KeyType::from(kind.as_str()))
                .build()?,
        );
    }
    if let Some(mode) = properties.get("BillingMode").and_then(Value::as_str) {
        request = request.billing_mode(BillingMode::from(mode));
    }
    if let Some(protected) = properties
        .get("DeletionProtectionEnabled")
        .and_then(Value::as_bool)
    {
        request = request.deletion_protection_enabled(protected);
    }
    if let Some(view) = properties
        .get("StreamSpecification")
        .and_then(|s| s["StreamViewType"].as_str())
    {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()?,
        );
    }
    if let Some(enabled) = properties
        .get("SSESpecification")
        .and_then(|s| s["SSEEnabled"].as_bool())
    {
        request = request.sse_specification(SseSpecification::builder().enabled(enabled).build());
    }
    if let Some(policy) = properties
        .get("ResourcePolicy")
        .map(|p| &p["PolicyDocument"])
    {
        request = request.resource_policy(policy.to_string());
    }
    request.send().await.map_err(|e| {
        anyhow::anyhow!(
            "creating table {name}: {}",
            shared::app::ingest::error_chain(&e)
        )
    })?;

    let pitr = properties
        .get("PointInTimeRecoverySpecification")
        .and_then(|s| s["PointInTimeRecoveryEnabled"].as_bool())
        .unwrap_or(false);
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
