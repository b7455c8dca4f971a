//! template.yaml is the one source of truth: the tables provisioned from it are what the adapters
//! expect, the function reads exactly the variables the template sets, and no role may update or
//! delete ledger items.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use ledgerctl::provision::{Provisioned, create_tables};
use ledgerctl::template::{Stack, Template};
use shared::adapters::dynamodb::{audit_item, claim_item, entry_item};
use shared::config::{IngestConfig, SweepConfig};

use crate::support::{TEMPLATE, TestStack, client};

fn attribute_type(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        _ => "other",
    }
}

#[tokio::test]
async fn provisioned_tables_are_exactly_the_templates() {
    let client = client().await;
    let stack = Stack::local(format!("d-{}", uuid::Uuid::now_v7().simple()));
    let tables = Template::parse(TEMPLATE).unwrap().tables(&stack).unwrap();
    assert_eq!(tables.len(), 2);
    let outcomes = create_tables(&client, &tables).await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Provisioned::Created(_)))
    );
    // Provisioning is idempotent.
    let again = create_tables(&client, &tables).await.unwrap();
    assert!(
        again
            .iter()
            .all(|o| matches!(o, Provisioned::AlreadyExisted(_)))
    );

    for table in &tables {
        let described = client
            .describe_table()
            .table_name(&table.table_name)
            .send()
            .await
            .unwrap();
        let described = described.table().unwrap();
        let keys: Vec<(String, String)> = described
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(keys, table.key_schema(), "{}", table.logical_id);
        let mut attributes: Vec<(String, String)> = described
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        attributes.sort();
        let mut expected = table.attribute_definitions();
        expected.sort();
        assert_eq!(attributes, expected, "{}", table.logical_id);
        let props = &table.properties;
        assert_eq!(
            described
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map(|m| m.as_str()),
            props["BillingMode"].as_str()
        );
        assert_eq!(
            described.deletion_protection_enabled(),
            props["DeletionProtectionEnabled"].as_bool()
        );
        let stream = described.stream_specification().unwrap();
        assert!(stream.stream_enabled());
        assert_eq!(
            stream.stream_view_type().map(|v| v.as_str()),
            props["StreamSpecification"]["StreamViewType"].as_str()
        );
        assert!(described.latest_stream_arn().is_some());
        let backups = client
            .describe_continuous_backups()
            .table_name(&table.table_name)
            .send()
            .await
            .unwrap();
        let pitr = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str().to_owned());
        assert_eq!(pitr.as_deref(), Some("ENABLED"), "{}", table.logical_id);
        // Deletion protection is real on the emulator too.
        assert!(
            client
                .delete_table()
                .table_name(&table.table_name)
                .send()
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn the_adapters_write_the_key_types_the_template_declares() {
    let stack = Stack::local("layout");
    let tables = Template::parse(TEMPLATE).unwrap().tables(&stack).unwrap();
    let declared = |logical_id: &str| {
        tables
            .iter()
            .find(|t| t.logical_id == logical_id)
            .unwrap()
            .attribute_definitions()
    };
    // A real stored entry and audit event, written through the service.
    let test_stack = TestStack::new().await;
    let service = test_stack.service(Default::default());
    let body = crate::support::signal("layout-1").to_string();
    let response = service
        .handle(shared::app::http::HttpRequest {
            method: "POST".into(),
            path: "/signals".into(),
            content_type: Some("application/json".into()),
            body: body.into_bytes(),
            actor: "anonymous".into(),
            request_id: "layout".into(),
        })
        .await;
    assert_eq!(response.status, 201);
    let entry = test_stack.entries().await.remove(0);
    let event = test_stack.audit_events().await.remove(0);
    for (logical_id, item) in [
        ("SignalsTable", entry_item(&entry)),
        ("SignalsTable", claim_item(&entry)),
        ("AuditTable", audit_item(&event)),
    ] {
        for (name, kind) in declared(logical_id) {
            assert_eq!(attribute_type(&item[&name]), kind, "{logical_id}.{name}");
        }
    }
}

#[test]
fn the_function_reads_exactly_what_the_template_sets() {
    let template = Template::parse(TEMPLATE).unwrap();
    let variables: BTreeSet<String> = template
        .function_environment("IngestFunction")
        .into_keys()
        .collect();
    let expected: BTreeSet<String> = [
        "SIGNALS_TABLE",
        "AUDIT_TABLE",
        "RETENTION_DAYS",
        "MIN_RATIONALE_CHARS",
        "METRICS_NAMESPACE",
    ]
    .map(String::from)
    .into();
    assert_eq!(variables, expected);
    // With only the template's variables (and valid values), configuration parses.
    IngestConfig::from_lookup(|name| variables.contains(name).then(|| "7".to_owned())).unwrap();
}

#[test]
fn the_sweep_reads_exactly_what_the_template_sets() {
    let template = Template::parse(TEMPLATE).unwrap();
    let variables: BTreeSet<String> = template
        .function_environment("IntegritySweepFunction")
        .into_keys()
        .collect();
    let expected: BTreeSet<String> = [
        "SIGNALS_TABLE",
        "AUDIT_TABLE",
        "VAULT_BUCKET",
        "RETENTION_DAYS",
        "METRICS_NAMESPACE",
        "CHECKPOINT_KMS_KEY_ID",
    ]
    .map(String::from)
    .into();
    assert_eq!(variables, expected);
    let config =
        SweepConfig::from_lookup(|name| variables.contains(name).then(|| "7".to_owned())).unwrap();
    assert_eq!(config.checkpoint_kms_key_id.as_deref(), Some("7"));
}

#[test]
fn no_role_may_update_or_delete_items() {
    let template = Template::parse(TEMPLATE).unwrap().to_json();
    let mut allowed = Vec::new();
    collect_allowed_actions(&template, &mut allowed);
    assert!(
        !allowed.is_empty(),
        "the template grants no actions at all?"
    );
    for action in &allowed {
        let lower = action.to_ascii_lowercase();
        assert!(
            ![
                "dynamodb:updateitem",
                "dynamodb:deleteitem",
                "dynamodb:*",
                "*",
                "dynamodb:batchwriteitem"
            ]
            .contains(&lower.as_str())
                && !lower.starts_with("dynamodb:partiql"),
            "a role is allowed {action}"
        );
    }
}

/// Every action of every `Effect: Allow` statement, anywhere in the document.
fn collect_allowed_actions(node: &serde_json::Value, out: &mut Vec<String>) {
    match node {
        serde_json::Value::Object(map) => {
            if map.get("Effect").and_then(|e| e.as_str()) == Some("Allow") {
                match &map["Action"] {
                    serde_json::Value::String(action) => out.push(action.clone()),
                    serde_json::Value::Array(actions) => {
                        out.extend(actions.iter().filter_map(|a| a.as_str().map(String::from)));
                    }
                    _ => {}
                }
            }
            map.values().for_each(|v| collect_allowed_actions(v, out));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| collect_allowed_actions(v, out))
        }
        _ => {}
    }
}
