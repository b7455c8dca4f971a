//! template.yaml against the emulator: the tables and alarms `ledgerctl provision` creates from it
//! are exactly the template's, and the adapters write the key types it declares. The checks that
//! need no emulator are in `ledgerctl/tests/template.rs`.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use ledgerctl::provision::{Provisioned, create_tables};
use ledgerctl::template::{Stack, Template};
use shared::adapters::dynamodb::commit::{commit_items, pending_item};
use shared::adapters::dynamodb::{audit_item, claim_item};

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
    // Every item of layout 2 (docs/ledger-format.md §9): commit record, entry bundle, claim,
    // pending, insert audit bundle; and a standalone audit event.
    let items = commit_items(
        0,
        "",
        std::slice::from_ref(&entry),
        std::slice::from_ref(&event),
    );
    let pending = shared::ports::Pending {
        signal_id: entry.entry.signal_id.clone(),
        content: entry.entry.content.clone(),
        received_at: entry.entry.received_at,
        submitter: entry.entry.submitter.clone(),
        request_id: "layout".into(),
        event_id: event.event_id.clone(),
    };
    for (logical_id, item) in [
        ("SignalsTable", items.commit),
        ("SignalsTable", items.bundle),
        ("SignalsTable", claim_item(&entry)),
        ("SignalsTable", pending_item(7, &pending)),
        ("AuditTable", items.audit_bundle.unwrap()),
        ("AuditTable", audit_item(&event)),
    ] {
        for (name, kind) in declared(logical_id) {
            assert_eq!(attribute_type(&item[&name]), kind, "{logical_id}.{name}");
        }
    }
}

/// Local provisioning puts every alarm of the template, as the template defines it, so a local
/// compliance report reads the same alarm set a deployed stack has.
#[tokio::test]
async fn provisioned_alarms_are_exactly_the_templates() {
    use aws_sdk_cloudwatch::types::StateValue;
    let stack = crate::support::VaultedStack::new("al").await;
    let name = stack.signals.trim_end_matches("-signals").to_owned();
    let defined = Template::parse(TEMPLATE)
        .unwrap()
        .alarms(&Stack::local(&name))
        .unwrap();
    assert!(defined.len() >= 10, "only {} alarms", defined.len());
    let described = aws_sdk_cloudwatch::Client::new(&stack.sdk)
        .describe_alarms()
        .alarm_name_prefix(format!("{name}-"))
        .send()
        .await
        .unwrap();
    let alarms = described.metric_alarms();
    let names: BTreeSet<&str> = alarms.iter().filter_map(|a| a.alarm_name()).collect();
    let expected: BTreeSet<String> = defined
        .iter()
        .map(|a| a.string("AlarmName").unwrap())
        .collect();
    assert_eq!(
        names,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    for definition in &defined {
        let alarm = alarms
            .iter()
            .find(|a| a.alarm_name() == Some(&definition.string("AlarmName").unwrap()))
            .unwrap();
        let p = &definition.properties;
        assert_eq!(alarm.metric_name(), p["MetricName"].as_str());
        assert_eq!(alarm.namespace(), p["Namespace"].as_str());
        assert_eq!(
            alarm.threshold(),
            p["Threshold"].as_f64(),
            "{}",
            definition.logical_id
        );
        assert_eq!(
            alarm.comparison_operator().map(|c| c.as_str()),
            p["ComparisonOperator"].as_str()
        );
        assert_eq!(
            alarm.evaluation_periods(),
            p["EvaluationPeriods"].as_i64().map(|n| n as i32)
        );
        assert_ne!(alarm.state_value(), Some(&StateValue::Alarm));
    }
}
