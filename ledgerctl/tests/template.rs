//! template.yaml is the one source of truth, checked statically (no emulator; these run with
//! `cargo test -p ledgerctl`): every function reads exactly the variables the template sets; every
//! schedule is the DESIGN's, in UTC, with its event fixture; alarms and the dashboard use the
//! metrics the code emits; no role may update or delete ledger items or shorten an object's
//! retention; and the tables' and keys' policies hold against administrators.

// This whole file is tests: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use ledgerctl::template::{Stack, Template};
use serde_json::{Value, json};
use shared::config::{BackupConfig, ConfigError, IngestConfig, ReportConfig, SweepConfig};

const TEMPLATE: &str = include_str!("../../template.yaml");

/// The template as CloudFormation JSON (nothing resolved).
fn template_json() -> Value {
    Template::parse(TEMPLATE).unwrap().to_json()
}

/// `(logical id, resource)` of every resource of `resource_type`, in template order.
fn resources_of_type(template: &Value, resource_type: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == resource_type)
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect()
}

const FUNCTION: &str = "AWS::Serverless::Function";

/// Each function of the template, its binary (DESIGN: one crate and binary each) and the
/// configuration it parses.
type ParseConfig = fn(&dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError>;
const FUNCTIONS: [(&str, &str, ParseConfig); 5] = [
    ("IngestFunction", "ingest", |l| {
        IngestConfig::from_lookup(l).map(drop)
    }),
    ("IntegritySweepFunction", "integrity-sweep", |l| {
        SweepConfig::from_lookup(l).map(drop)
    }),
    ("BackupFunction", "backup", |l| {
        BackupConfig::from_lookup(l).map(drop)
    }),
    ("VerifyBackupFunction", "verify-backup", |l| {
        BackupConfig::from_lookup(l).map(drop)
    }),
    ("ReportFunction", "report", |l| {
        ReportConfig::from_lookup(l).map(drop)
    }),
];

#[test]
fn every_function_reads_exactly_what_the_template_sets() {
    let template = Template::parse(TEMPLATE).unwrap();
    let json = template.to_json();
    let functions: BTreeSet<String> = resources_of_type(&json, FUNCTION)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let known: BTreeSet<String> = FUNCTIONS.iter().map(|(id, ..)| id.to_string()).collect();
    assert_eq!(functions, known, "a function without a config check?");
    for (logical_id, _, parse) in FUNCTIONS {
        let environment = template.function_environment(logical_id);
        // The value a deployed function would see: a parameter's default, or a stand-in name.
        let variables = &json["Resources"][logical_id]["Properties"]["Environment"]["Variables"];
        let value_of = |name: &str| -> Option<String> {
            let value = variables.get(name)?;
            let parameter = value["Ref"].as_str().unwrap_or_default();
            Some(match &json["Parameters"][parameter]["Default"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => format!("{name}-value"),
            })
        };
        // Everything the configuration asks for, recorded while it parses from only the
        // template's variables.
        let asked = RefCell::new(BTreeSet::new());
        let lookup = |name: &str| {
            asked.borrow_mut().insert(name.to_owned());
            value_of(name)
        };
        parse(&lookup).unwrap_or_else(|e| panic!("{logical_id}: {e}"));
        let set: BTreeSet<String> = environment.into_keys().collect();
        assert_eq!(asked.into_inner(), set, "{logical_id}");
    }
}

#[test]
fn the_report_gets_its_alarm_prefix_expiry_and_keys() {
    let json = template_json();
    let variables = &json["Resources"]["ReportFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        variables["ALARM_NAME_PREFIX"],
        json!({"Fn::Sub": "${AWS::StackName}-"})
    );
    assert_eq!(
        variables["REPORT_URL_EXPIRY_SECONDS"],
        json!({"Ref": "ReportUrlExpirySeconds"})
    );
    assert_eq!(
        json["Parameters"]["ReportUrlExpirySeconds"]["Default"],
        3600
    );
    let sweep =
        &json["Resources"]["IntegritySweepFunction"]["Properties"]["Environment"]["Variables"];
    for name in ["CHECKPOINT_KMS_KEY_ID", "VAULT_KMS_KEY_ID"] {
        assert_eq!(variables[name], sweep[name], "{name}");
    }
    // The vault key is optional: its id is empty (unset for the config) unless chosen.
    assert_eq!(
        variables["VAULT_KMS_KEY_ID"],
        json!({"Fn::If": ["VaultUsesKms", {"Fn::GetAtt": "VaultKey.Arn"}, ""]})
    );
    assert_eq!(json["Resources"]["VaultKey"]["Condition"], "VaultUsesKms");
}

#[test]
fn every_function_is_built_and_run_the_same_way() {
    let json = template_json();
    let globals = &json["Globals"]["Function"];
    let setting = |function: &Value, key: &str| {
        let own = &function["Properties"][key];
        if own.is_null() {
            globals[key].clone()
        } else {
            own.clone()
        }
    };
    for (logical_id, binary, _) in FUNCTIONS {
        let function = &json["Resources"][logical_id];
        assert_eq!(function["Type"], FUNCTION, "{logical_id}");
        assert_eq!(
            function["Metadata"],
            json!({"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": binary}}),
            "{logical_id}"
        );
        assert_eq!(function["Properties"]["CodeUri"], ".", "{logical_id}");
        assert_eq!(
            setting(function, "Runtime"),
            "provided.al2023",
            "{logical_id}"
        );
        assert_eq!(
            setting(function, "Architectures"),
            json!(["arm64"]),
            "{logical_id}"
        );
        assert_eq!(setting(function, "Handler"), "bootstrap", "{logical_id}");
        assert_eq!(
            setting(function, "LoggingConfig")["LogFormat"],
            "JSON",
            "{logical_id}"
        );
        // Chosen per function (and explained in the template), never the defaults.
        let memory = function["Properties"]["MemorySize"].as_u64().unwrap();
        let timeout = function["Properties"]["Timeout"].as_u64().unwrap();
        assert!((128..=10_240).contains(&memory), "{logical_id}");
        assert!((1..=900).contains(&timeout), "{logical_id}");
    }
    let url = &json["Resources"]["IngestFunction"]["Properties"]["FunctionUrlConfig"];
    assert_eq!(url["AuthType"], "AWS_IAM");
}

/// The DESIGN's schedules: (function, cron expression, payload).
const SCHEDULES: [(&str, &str, &str); 6] = [
    (
        "IntegritySweepFunction",
        "cron(0 * * * ? *)",
        r#"{"mode": "incremental"}"#,
    ),
    (
        "IntegritySweepFunction",
        "cron(0 3 * * ? *)",
        r#"{"mode": "full"}"#,
    ),
    // The resumable full pass: steps of the open pass between the nightly runs.
    (
        "IntegritySweepFunction",
        "cron(30 * * * ? *)",
        r#"{"mode": "full-continue"}"#,
    ),
    ("BackupFunction", "cron(0 2 * * ? *)", "{}"),
    (
        "VerifyBackupFunction",
        "cron(30 2 * * ? *)",
        r#"{"mode": "latest"}"#,
    ),
    ("ReportFunction", "cron(0 4 * * ? *)", "{}"),
];

/// Fixtures for runs by hand, which no schedule sends.
const MANUAL_FIXTURES: [&str; 5] = [
    "backup-date.json",
    "integrity-sweep-init.json",
    "verify-backup-all.json",
    "report-period.json",
    "report-produce.json",
];

/// `(function, schedule expression, payload)` of every EventBridge Scheduler event, checking
/// each is in UTC.
fn template_schedules(json: &Value) -> Vec<(String, String, Value)> {
    let mut schedules = Vec::new();
    for (logical_id, function) in resources_of_type(json, FUNCTION) {
        let Some(events) = function["Properties"]["Events"].as_object() else {
            continue;
        };
        for (name, event) in events {
            match event["Type"].as_str().unwrap() {
                "ScheduleV2" => {}
                "DynamoDB" => continue,
                other => {
                    panic!("{logical_id}.{name}: event type {other}: schedules are ScheduleV2")
                }
            }
            let properties = &event["Properties"];
            assert_eq!(
                properties["ScheduleExpressionTimezone"], "UTC",
                "{logical_id}.{name}"
            );
            let input: Value = serde_json::from_str(properties["Input"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("{logical_id}.{name}: Input is not JSON: {e}"));
            schedules.push((
                logical_id.clone(),
                properties["ScheduleExpression"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                input,
            ));
        }
    }
    schedules
}

#[test]
fn schedules_are_the_designs_in_utc() {
    let json = template_json();
    let mut actual = template_schedules(&json);
    let mut expected: Vec<(String, String, Value)> = SCHEDULES
        .iter()
        .map(|(f, cron, input)| {
            (
                f.to_string(),
                cron.to_string(),
                serde_json::from_str(input).unwrap(),
            )
        })
        .collect();
    let key = |s: &(String, String, Value)| format!("{}{}{}", s.0, s.1, s.2);
    actual.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(actual, expected);
}

#[test]
fn every_schedule_has_its_fixture_and_every_fixture_is_a_payload() {
    let json = template_json();
    let binary_of: BTreeMap<&str, &str> = FUNCTIONS.iter().map(|(id, b, _)| (*id, *b)).collect();
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events");
    let mut fixtures: BTreeMap<String, Value> = BTreeMap::new();
    for file in std::fs::read_dir(&directory).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let payload: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        fixtures.insert(name, payload);
    }
    let mut scheduled = BTreeSet::new();
    for (function, cron, input) in template_schedules(&json) {
        let binary = binary_of[function.as_str()];
        let fixture = fixtures
            .iter()
            .find(|(name, payload)| name.starts_with(&format!("{binary}-")) && **payload == input)
            .map(|(name, _)| name.clone())
            .or_else(|| {
                // `backup.json` style: the function's only scheduled payload.
                let plain = format!("{binary}.json");
                (fixtures.get(&plain) == Some(&input)).then_some(plain)
            });
        let fixture = fixture.unwrap_or_else(|| {
            panic!("{function} {cron}: no fixture in infra/events/ with the payload {input}")
        });
        scheduled.insert(fixture);
    }
    for name in fixtures.keys() {
        assert!(
            binary_of.values().any(|b| name.starts_with(b)),
            "{name}: names no function"
        );
        assert!(
            scheduled.contains(name) || MANUAL_FIXTURES.contains(&name.as_str()),
            "{name} is no schedule's payload; if it is for runs by hand, list it in MANUAL_FIXTURES"
        );
    }
    for manual in MANUAL_FIXTURES {
        assert!(fixtures.contains_key(manual), "{manual} is missing");
    }
}

/// Every metric name the code emits (the `metric` modules of `shared::app`).
fn emitted_metrics() -> BTreeSet<&'static str> {
    use shared::app::{backup, ingest, sweep, tamper_watch, verify_backup};
    [
        ingest::metric::SIGNAL_DELIVERY_LATENCY,
        ingest::metric::SIGNALS_INGESTED,
        ingest::metric::SIGNALS_REJECTED,
        ingest::metric::MODIFICATION_ATTEMPTS,
        ingest::metric::AUDIT_WRITE_ERRORS,
        ingest::metric::APPEND_RETRIES,
        ingest::metric::SIGNAL_CLIENT_DELIVERY_LATENCY,
        ingest::metric::RECEIPTS_RECORDED,
        ingest::metric::RECEIPTS_REJECTED,
        backup::metric::BACKUP_SUCCEEDED,
        backup::metric::BACKUP_FAILED,
        backup::metric::BACKUP_ROWS,
        backup::metric::BACKUP_BYTES,
        backup::metric::BACKUP_DURATION,
        backup::metric::BACKUP_CONFLICTS,
        verify_backup::metric::BACKUP_VERIFIED,
        verify_backup::metric::BACKUP_VERIFICATION_FAILED,
        sweep::metric::INTEGRITY_VERIFIED,
        sweep::metric::INTEGRITY_FAILED_VERIFICATIONS,
        sweep::metric::SWEEP_DURATION,
        sweep::metric::ENTRIES_VERIFIED,
        sweep::metric::FULL_SWEEP_PASS_AGE_HOURS,
        tamper_watch::metric::TAMPER_EVENTS,
    ]
    .into()
}

const ALARM: &str = "AWS::CloudWatch::Alarm";

#[test]
fn alarms_watch_metrics_the_code_emits_and_notify_the_topic() {
    let json = template_json();
    let emitted = emitted_metrics();
    // The code's EMF lines declare one empty dimension set: alarms on them name no dimensions.
    let emf = shared::adapters::system::EmfStdout::new("SignalLedger", "test")
        .document(&[shared::ports::Metric::count("X", 1)], 0);
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );

    let alarms = resources_of_type(&json, ALARM);
    let mut ledger_metrics = BTreeSet::new();
    let mut lambda_alarms = BTreeSet::new();
    for (logical_id, alarm) in &alarms {
        let p = &alarm["Properties"];
        let name = p["AlarmName"]["Fn::Sub"].as_str().unwrap_or_default();
        assert!(
            name.starts_with("${AWS::StackName}-"),
            "{logical_id}: AlarmName must start with the stack name and a dash"
        );
        assert_eq!(
            p["AlarmActions"],
            json!([{"Ref": "AlarmTopic"}]),
            "{logical_id}"
        );
        assert_eq!(
            p["OKActions"],
            json!([{"Ref": "AlarmTopic"}]),
            "{logical_id}"
        );
        let metric = p["MetricName"].as_str().unwrap();
        if p["Namespace"] == json!({"Ref": "MetricsNamespace"}) {
            assert!(
                emitted.contains(metric),
                "{logical_id}: the code never emits {metric}"
            );
            assert!(
                p["Dimensions"].is_null(),
                "{logical_id}: EMF metrics have no dimensions"
            );
            ledger_metrics.insert(metric.to_owned());
        } else if p["Namespace"] == "AWS/SQS" {
            // The tamper watch's failure queue: any message is a batch it gave up on.
            assert_eq!(logical_id, "TamperWatchFailedAlarm");
            assert_eq!(
                p["Dimensions"],
                json!([{"Name": "QueueName", "Value": template_json()["Resources"]["TamperWatchFailureQueue"]["Properties"]["QueueName"]}])
            );
            assert_eq!(p["MetricName"], "ApproximateNumberOfMessagesVisible");
        } else {
            assert_eq!(p["Namespace"], "AWS/Lambda", "{logical_id}");
            let function = p["Dimensions"][0]["Value"]["Ref"].as_str().unwrap();
            lambda_alarms.insert((function.to_owned(), metric.to_owned()));
        }
        // CloudWatch's limit on the evaluation range.
        let range = p["Period"].as_u64().unwrap() * p["EvaluationPeriods"].as_u64().unwrap();
        assert!(range <= 604_800, "{logical_id}");
        if p["Period"].as_u64().unwrap() < 3600 {
            assert!(range <= 86_400, "{logical_id}");
        }
    }
    let names: BTreeSet<String> = alarms
        .iter()
        .map(|(_, a)| a["Properties"]["AlarmName"]["Fn::Sub"].to_string())
        .collect();
    assert_eq!(names.len(), alarms.len(), "alarm names are unique");
    // The seed's alerts.
    for metric in [
        "SignalDeliveryLatency",
        "SignalClientDeliveryLatency",
        "IntegrityFailedVerifications",
        "TamperEvents",
        "BackupFailed",
        "BackupSucceeded",
        "BackupVerificationFailed",
        "AuditWriteErrors",
    ] {
        assert!(ledger_metrics.contains(metric), "no alarm on {metric}");
    }
    for (function, ..) in FUNCTIONS {
        for metric in ["Errors", "Throttles"] {
            assert!(
                lambda_alarms.contains(&(function.to_owned(), metric.to_owned())),
                "no {metric} alarm for {function}"
            );
        }
    }
    for alarm in ["DeliveryLatencyP95Alarm", "ClientDeliveryLatencyP95Alarm"] {
        let latency = &json["Resources"][alarm]["Properties"];
        assert_eq!(latency["ExtendedStatistic"], "p95", "{alarm}");
        assert_eq!(latency["Threshold"], 500, "{alarm}");
        assert_eq!(
            latency["ComparisonOperator"], "GreaterThanThreshold",
            "{alarm}"
        );
    }
    // No successful backup in 26 h, missing data breaching: every one of the hourly periods
    // of the 26 h range must breach.
    let missing = &json["Resources"]["BackupMissingAlarm"]["Properties"];
    assert_eq!(missing["MetricName"], "BackupSucceeded");
    assert_eq!(missing["TreatMissingData"], "breaching");
    assert_eq!(missing["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(missing["Threshold"], 1);
    assert_eq!(missing["Statistic"], "Sum");
    let period = missing["Period"].as_u64().unwrap();
    let periods = missing["EvaluationPeriods"].as_u64().unwrap();
    assert_eq!(period * periods, 26 * 3600);
    assert_eq!(missing["DatapointsToAlarm"].as_u64(), Some(periods));
}

/// The seed's dashboard panels: delivery latency, ingest volume and rejections, modification
/// attempts, integrity failures and tamper events, backup status, audit errors, function health.
const SEED_PANELS: [&str; 12] = [
    "SignalDeliveryLatency",
    "SignalClientDeliveryLatency",
    "SignalsIngested",
    "SignalsRejected",
    "ModificationAttempts",
    "IntegrityFailedVerifications",
    "TamperEvents",
    "BackupSucceeded",
    "BackupFailed",
    "AuditWriteErrors",
    "AWS/Lambda Errors",
    "AWS/Lambda Throttles",
];

#[test]
fn the_dashboard_shows_the_seeds_panels_from_emitted_metrics() {
    let json = template_json();
    let body = json["Resources"]["ComplianceDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    // Substitute the `${...}` references, then read it as the JSON CloudWatch will get.
    let mut text = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        text.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').unwrap();
        let name = &rest[start + 2..end];
        let resolved = match name {
            "MetricsNamespace" => "LEDGER-NAMESPACE".to_owned(),
            other => {
                let id = other.split('.').next().unwrap();
                assert!(
                    id.starts_with("AWS::") || !json["Resources"][id].is_null(),
                    "dashboard references unknown {other}"
                );
                format!("resolved-{other}")
            }
        };
        text.push_str(&resolved);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let emitted = emitted_metrics();
    let mut shown = BTreeSet::new();
    let mut stats = BTreeSet::new();
    let mut client_stats = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let parts = metric.as_array().unwrap();
            if parts[0] == "LEDGER-NAMESPACE" {
                let name = parts[1].as_str().unwrap();
                assert!(emitted.contains(name), "the code never emits {name}");
                assert!(
                    parts[2..].iter().all(Value::is_object),
                    "{name}: EMF metrics have no dimensions"
                );
                if name == "SignalDeliveryLatency" {
                    stats.insert(parts[2]["stat"].as_str().unwrap().to_owned());
                }
                if name == "SignalClientDeliveryLatency" {
                    client_stats.insert(parts[2]["stat"].as_str().unwrap().to_owned());
                }
                shown.insert(name.to_owned());
            } else {
                assert_eq!(parts[0], "AWS/Lambda");
                shown.insert(format!("AWS/Lambda {}", parts[1].as_str().unwrap()));
            }
        }
    }
    for panel in SEED_PANELS {
        assert!(shown.contains(panel), "the dashboard does not show {panel}");
    }
    assert_eq!(stats, ["p50", "p95", "p99"].map(String::from).into());
    assert_eq!(client_stats, stats);
    // The alarm panel shows every alarm.
    let alarm_panel: BTreeSet<String> = dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let alarms: BTreeSet<String> = resources_of_type(&json, ALARM)
        .into_iter()
        .map(|(id, _)| format!("resolved-{id}.Arn"))
        .collect();
    assert_eq!(alarm_panel, alarms);
}

#[test]
fn the_grafana_dashboard_has_the_same_panels() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/grafana/compliance-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let emitted = emitted_metrics();
    let variables: BTreeSet<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for variable in ["datasource", "namespace", "region"] {
        assert!(variables.contains(variable), "no ${variable} variable");
    }
    let mut shown = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" || panel["type"] == "text" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            let name = target["metricName"].as_str().unwrap();
            if target["namespace"] == "$namespace" {
                assert!(emitted.contains(name), "the code never emits {name}");
                assert_eq!(target["dimensions"], json!({}), "{name}");
                shown.insert(name.to_owned());
            } else {
                assert_eq!(target["namespace"], "AWS/Lambda");
                shown.insert(format!("AWS/Lambda {name}"));
            }
        }
    }
    for panel in SEED_PANELS {
        assert!(
            shown.contains(panel),
            "the Grafana dashboard does not show {panel}"
        );
    }
}

#[test]
fn data_is_retained_and_the_vault_is_locked_tls_only_and_aborts_stale_uploads() {
    let json = template_json();
    for (logical_id, resource) in json["Resources"].as_object().unwrap() {
        let kind = resource["Type"].as_str().unwrap();
        if ["AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key"].contains(&kind) {
            assert_eq!(resource["DeletionPolicy"], "Retain", "{logical_id}");
            assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{logical_id}");
        }
    }
    let stack = Stack::local("policy");
    let template = Template::parse(TEMPLATE).unwrap();
    let bucket = template.buckets(&stack).unwrap().remove(0).properties;
    assert_eq!(bucket["ObjectLockEnabled"], true);
    assert_eq!(
        bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"],
        json!({"Mode": "COMPLIANCE", "Days": 2555})
    );
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    assert_eq!(
        rules.len(),
        1,
        "the vault's only lifecycle rule aborts stale uploads"
    );
    assert_eq!(
        rules[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
        2
    );
    // With the default parameters: AES256, as in the seed.
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"],
        json!([{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}])
    );

    let policy = template
        .bucket_policies(&stack)
        .unwrap()
        .remove(0)
        .properties;
    let statements: BTreeMap<String, Value> = policy["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    let objects = "arn:aws:s3:::policy-vault-123456789012/*";
    assert_eq!(
        statements["RequireTls"]["Condition"],
        json!({"Bool": {"aws:SecureTransport": "false"}})
    );
    assert_eq!(
        statements["NoGovernanceBypass"],
        json!({"Sid": "NoGovernanceBypass", "Effect": "Deny", "Principal": "*",
               "Action": "s3:BypassGovernanceRetention", "Resource": objects})
    );
    assert_eq!(
        statements["RetentionOnlyInComplianceMode"],
        json!({"Sid": "RetentionOnlyInComplianceMode", "Effect": "Deny", "Principal": "*",
               "Action": "s3:PutObjectRetention", "Resource": objects,
               "Condition": {"StringNotEquals": {"s3:object-lock-mode": "COMPLIANCE"}}})
    );
}

#[test]
fn both_tables_deny_updates_and_deletes_to_everyone() {
    let stack = Stack::local("policy");
    let tables = Template::parse(TEMPLATE).unwrap().tables(&stack).unwrap();
    assert_eq!(tables.len(), 2);
    for table in &tables {
        let statements = table.properties["ResourcePolicy"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let arn = format!(
            "arn:aws:dynamodb:us-east-1:123456789012:table/{}",
            table.table_name
        );
        let denied: BTreeSet<String> = statements
            .iter()
            .filter(|s| {
                s["Effect"] == "Deny"
                    && s["Principal"] == "*"
                    && s["Condition"].is_null()
                    && s["Resource"] == arn.as_str()
            })
            .flat_map(|s| actions(&s["Action"]))
            .collect();
        for action in [
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:PartiQLUpdate",
            "dynamodb:PartiQLDelete",
        ] {
            assert!(
                denied.contains(action),
                "{} does not deny {action}",
                table.logical_id
            );
        }
    }
}

fn actions(value: &Value) -> Vec<String> {
    match value {
        Value::String(action) => vec![action.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|a| a.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Actions no role may be granted, even through a wildcard: they update or delete ledger items
/// (or lift the tables' protections), or delete vault objects or weaken their locks.
const FORBIDDEN: [&str; 22] = [
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjects",
    "s3:DeleteBucket",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutObjectLegalHold",
    "s3:PutBucketVersioning",
    "kms:ScheduleKeyDeletion",
];

/// IAM action patterns: `*` matches any run of characters, `?` one; case-insensitive.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn glob(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], a) || (!a.is_empty() && glob(p, &a[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => glob(&p[1..], &a[1..]),
            _ => false,
        }
    }
    glob(pattern.as_bytes(), action.as_bytes())
}

/// Every IAM statement of every role, inline or managed policy in the CloudFormation JSON, each
/// branch of an `Fn::If` included, as `(where, statement)`. A policy the test cannot read (a SAM
/// policy template, a managed policy ARN) is returned as a problem.
fn iam_statements(template: &Value) -> (Vec<(String, Value)>, Vec<String>) {
    fn documents(
        value: &Value,
        at: &str,
        out: &mut Vec<(String, Value)>,
        problems: &mut Vec<String>,
    ) {
        match value {
            Value::Object(map) if map.contains_key("Fn::If") => {
                let branches = map["Fn::If"].as_array().unwrap();
                for branch in &branches[1..] {
                    documents(branch, at, out, problems);
                }
            }
            Value::Object(map) if map.contains_key("Ref") => {
                if map["Ref"] != "AWS::NoValue" {
                    problems.push(format!(
                        "{at}: a policy by reference ({value}) cannot be checked here"
                    ));
                }
            }
            Value::Object(map) if map.contains_key("Statement") => match &map["Statement"] {
                Value::Array(statements) => {
                    for statement in statements {
                        documents(statement, at, out, problems);
                    }
                }
                single => documents(single, at, out, problems),
            },
            Value::Object(map) if map.contains_key("Effect") => {
                out.push((at.to_owned(), value.clone()))
            }
            other => problems.push(format!("{at}: a policy this test cannot read: {other}")),
        }
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let p = &resource["Properties"];
        match resource["Type"].as_str().unwrap() {
            "AWS::Serverless::Function" => {
                for policy in p["Policies"].as_array().into_iter().flatten() {
                    documents(policy, id, &mut out, &mut problems);
                }
                if !p["Role"].is_null() {
                    problems.push(format!(
                        "{id}: a role from elsewhere cannot be checked here"
                    ));
                }
            }
            "AWS::IAM::Role" => {
                for policy in p["Policies"].as_array().into_iter().flatten() {
                    documents(&policy["PolicyDocument"], id, &mut out, &mut problems);
                }
                for arn in p["ManagedPolicyArns"].as_array().into_iter().flatten() {
                    documents(arn, id, &mut out, &mut problems);
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                documents(&p["PolicyDocument"], id, &mut out, &mut problems);
            }
            _ => {}
        }
    }
    (out, problems)
}

/// What each Allow statement may do that it must not.
fn forbidden_grants(template: &Value) -> Vec<String> {
    let (statements, mut problems) = iam_statements(template);
    for (at, statement) in &statements {
        if statement["Effect"] != "Allow" {
            continue;
        }
        if !statement["NotAction"].is_null() {
            problems.push(format!(
                "{at}: an Allow with NotAction grants nearly everything"
            ));
        }
        for pattern in actions(&statement["Action"]) {
            for action in FORBIDDEN {
                if action_matches(&pattern, action) {
                    problems.push(format!("{at}: {pattern} allows {action}"));
                }
            }
            // Retention may only be set in COMPLIANCE mode, which can never be shortened.
            if action_matches(&pattern, "s3:PutObjectRetention") {
                let mode = &statement["Condition"]["StringEquals"]["s3:object-lock-mode"];
                let other_conditions = statement["Condition"]
                    .as_object()
                    .is_some_and(|c| c.keys().any(|k| k != "StringEquals"));
                if mode != "COMPLIANCE" || other_conditions {
                    problems.push(format!(
                        "{at}: {pattern} allows s3:PutObjectRetention without requiring s3:object-lock-mode COMPLIANCE"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn no_role_may_update_or_delete_items_or_shorten_a_retention() {
    let template = template_json();
    let (statements, _) = iam_statements(&template);
    let allowed: Vec<_> = statements
        .iter()
        .filter(|(_, s)| s["Effect"] == "Allow")
        .collect();
    assert!(
        allowed.len() > 20,
        "the template grants hardly anything? {}",
        allowed.len()
    );
    // Every function's role is read (each function has its own inline policy).
    let roles: BTreeSet<&str> = allowed.iter().map(|(at, _)| at.as_str()).collect();
    for (function, ..) in FUNCTIONS {
        assert!(
            roles.contains(function),
            "{function} has no readable policy"
        );
    }
    assert_eq!(forbidden_grants(&template), Vec::<String>::new());
}

#[test]
fn the_policy_check_finds_what_it_looks_for() {
    let check = |statement: Value| {
        forbidden_grants(
            &json!({"Resources": {"F": {"Type": "AWS::Serverless::Function",
            "Properties": {"Policies": [{"Version": "2012-10-17", "Statement": [statement]}]}}}}),
        )
    };
    let allow = |action: Value| json!({"Effect": "Allow", "Action": action, "Resource": "*"});
    for bad in [
        allow(json!("dynamodb:UpdateItem")),
        allow(json!(["dynamodb:GetItem", "dynamodb:deleteitem"])),
        allow(json!("dynamodb:*")),
        allow(json!("dynamodb:*Item")),
        allow(json!("dynamodb:PartiQL*")),
        allow(json!("*")),
        allow(json!("s3:*")),
        allow(json!("s3:Put*")),
        allow(json!("s3:DeleteObjectVersion")),
        allow(json!("s3:BypassGovernanceRetention")),
        allow(json!("s3:PutObjectRetention")),
        json!({"Effect": "Allow", "Action": "s3:PutObjectRetention", "Resource": "*",
               "Condition": {"StringEquals": {"s3:object-lock-mode": "GOVERNANCE"}}}),
        json!({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}),
    ] {
        assert!(!check(bad.clone()).is_empty(), "not caught: {bad}");
    }
    // Hidden behind a condition's branch, a SAM policy template or a managed policy.
    let hidden = json!({"Resources": {
        "F": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [
            {"Fn::If": ["C", {"Statement": [{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"}]},
                        {"Ref": "AWS::NoValue"}]}]}},
        "G": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [{"DynamoDBCrudPolicy": {"TableName": "t"}}]}},
        "M": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement":
            {"Effect": "Allow", "Action": "dynamodb:BatchWriteItem", "Resource": "*"}}}}}});
    assert_eq!(
        forbidden_grants(&hidden).len(),
        3,
        "{:?}",
        forbidden_grants(&hidden)
    );
    for good in [
        allow(json!([
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "s3:PutObject",
            "s3:GetObject*"
        ])),
        json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectRetention"], "Resource": "*",
               "Condition": {"StringEquals": {"s3:object-lock-mode": "COMPLIANCE"}}}),
        json!({"Effect": "Deny", "Action": "*", "Resource": "*"}),
    ] {
        assert_eq!(check(good.clone()), Vec::<String>::new(), "{good}");
    }
}

#[test]
fn samconfig_overrides_only_template_parameters_with_allowed_values() {
    let json = template_json();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samconfig.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut environments = 0;
    for line in text.lines() {
        let Some(overrides) = line.strip_prefix("parameter_overrides = ") else {
            continue;
        };
        environments += 1;
        for pair in overrides.trim_matches('"').split_whitespace() {
            let (name, value) = pair.split_once('=').unwrap();
            let parameter = &json["Parameters"][name];
            assert!(
                !parameter.is_null(),
                "samconfig.toml overrides unknown parameter {name}"
            );
            if let Some(allowed) = parameter["AllowedValues"].as_array() {
                assert!(allowed.iter().any(|a| a == value), "{name}={value}");
            }
            if let (Some(min), Ok(number)) = (parameter["MinValue"].as_f64(), value.parse::<f64>())
            {
                assert!(
                    number >= min && number <= parameter["MaxValue"].as_f64().unwrap(),
                    "{name}={value}"
                );
            }
        }
    }
    assert_eq!(environments, 2, "default and production");
    assert!(
        text.contains("[production.deploy.parameters]")
            && text.contains("confirm_changeset = true")
    );
}

// ---- guards that hold against administrators ------------------------------------------------

/// What only the break-glass role may do to a table.
const TABLE_ADMIN_ACTIONS: [&str; 6] = [
    "dynamodb:UpdateTable",
    "dynamodb:DeleteTable",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:UpdateTimeToLive",
];

/// What only the break-glass role may do to a KMS key.
const KEY_ADMIN_ACTIONS: [&str; 3] = [
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:PutKeyPolicy",
];

/// Which functions must (and alone may) put items into each table.
const TABLE_WRITERS: [(&str, &[&str]); 2] = [
    ("SignalsTable", &["IngestFunction"]),
    (
        "AuditTable",
        &[
            "IngestFunction",
            "IntegritySweepFunction",
            "BackupFunction",
            "VerifyBackupFunction",
            "ReportFunction",
        ],
    ),
];

/// The only function that may sign checkpoints.
const SIGNER: &str = "IntegritySweepFunction";

/// `{"Fn::Sub": text}` → `text`; anything else → its JSON text (so it never matches a pattern).
fn sub_text(value: &Value) -> String {
    value["Fn::Sub"]
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// The ARN pattern of `function`'s role, from its `RolePath` (`/${AWS::StackName}/<binary>/`);
/// `None` when the function has no such path.
fn role_pattern(template: &Value, function: &str) -> Option<String> {
    let resource = &template["Resources"][function];
    let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str()?;
    let path = sub_text(&resource["Properties"]["RolePath"]);
    (path == format!("/${{AWS::StackName}}/{binary}/")).then(|| {
        format!(
            "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{AWS::StackName}}/{binary}/*"
        )
    })
}

/// The one condition `{operator: {"aws:PrincipalArn": value}}` of a statement; `None` when it
/// has another shape (a second operator or key would narrow a deny: conditions are ANDed).
fn principal_condition<'a>(statement: &'a Value, operator: &str) -> Option<&'a Value> {
    let condition = statement["Condition"].as_object()?;
    let keys = condition.get(operator)?.as_object()?;
    (condition.len() == 1 && keys.len() == 1)
        .then(|| keys.get("aws:PrincipalArn"))
        .flatten()
}

/// The deny statements of a policy document that apply to every principal.
fn denies_to_everyone(document: &Value) -> Vec<&Value> {
    let statements = match &document["Statement"] {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    statements
        .into_iter()
        .filter(|s| {
            s["Effect"] == "Deny"
                && (s["Principal"] == "*" || s["Principal"] == json!({"AWS": "*"}))
        })
        .collect()
}

/// Whether a deny to everyone covers `action` on `resource` except for exactly the principals
/// `exempt` (under `operator`).
fn denied_except(
    document: &Value,
    action: &str,
    resource: &Value,
    operator: &str,
    exempt: &Value,
) -> bool {
    let same = |a: &Value, b: &Value| {
        let set = |v: &Value| -> BTreeSet<String> {
            match v {
                Value::Array(items) => items.iter().map(Value::to_string).collect(),
                other => BTreeSet::from([other.to_string()]),
            }
        };
        set(a) == set(b)
    };
    denies_to_everyone(document).into_iter().any(|s| {
        s["NotAction"].is_null()
            && actions(&s["Action"])
                .iter()
                .any(|p| action_matches(p, action))
            && (&s["Resource"] == resource || s["Resource"] == "*")
            && principal_condition(s, operator).is_some_and(|value| same(value, exempt))
    })
}

/// Every way the tables' resource policies and the keys' policies fail to hold against an
/// administrator: puts only by the writers, table changes and key deletion only by the
/// break-glass role, signing only by the sweep.
fn administrator_guard_problems(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let parameter = &template["Parameters"]["BreakGlassRoleArn"];
    if parameter.is_null() || !parameter["Default"].is_null() {
        problems.push("BreakGlassRoleArn must be a parameter without a default".to_owned());
    }
    let break_glass = json!({"Ref": "BreakGlassRoleArn"});
    let (statements, _) = iam_statements(template);
    let functions: Vec<String> = resources_of_type(template, FUNCTION)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut patterns = BTreeMap::new();
    for function in &functions {
        match role_pattern(template, function) {
            Some(pattern) => {
                if patterns.values().any(|p| p == &pattern) {
                    problems.push(format!("{function}: its RolePath is another function's"));
                }
                patterns.insert(function.clone(), pattern);
            }
            None => problems.push(format!(
                "{function}: no RolePath /${{AWS::StackName}}/<binary>/"
            )),
        }
    }
    let grants = |function: &str, action: &str, resource: &Value| {
        statements.iter().any(|(at, s)| {
            at == function
                && s["Effect"] == "Allow"
                && actions(&s["Action"])
                    .iter()
                    .any(|p| action_matches(p, action))
                && match &s["Resource"] {
                    Value::Array(items) => items.iter().any(|r| r == resource || r == "*"),
                    single => single == resource || single == "*",
                }
        })
    };
    for (table, expected_writers) in TABLE_WRITERS {
        let arn = json!({"Fn::GetAtt": format!("{table}.Arn")});
        let writers: BTreeSet<&str> = functions
            .iter()
            .filter(|f| grants(f, "dynamodb:PutItem", &arn))
            .map(String::as_str)
            .collect();
        if writers != expected_writers.iter().copied().collect() {
            problems.push(format!(
                "{table}: written by {writers:?}, must be {expected_writers:?}"
            ));
        }
        let properties = &template["Resources"][table]["Properties"];
        let name = sub_text(&properties["TableName"]);
        let own = json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/{name}")});
        let document = &properties["ResourcePolicy"]["PolicyDocument"];
        let exempt = Value::Array(
            expected_writers
                .iter()
                .filter_map(|f| patterns.get(*f))
                .map(|p| json!({"Fn::Sub": p}))
                .collect(),
        );
        if !denied_except(document, "dynamodb:PutItem", &own, "ArnNotLike", &exempt) {
            problems.push(format!(
                "{table}: PutItem is not denied to every role but {expected_writers:?}"
            ));
        }
        for action in TABLE_ADMIN_ACTIONS {
            if !denied_except(document, action, &own, "ArnNotEquals", &break_glass) {
                problems.push(format!(
                    "{table}: {action} is not denied to all but the break-glass role"
                ));
            }
        }
    }
    for (key, resource) in resources_of_type(template, "AWS::KMS::Key") {
        let document = &resource["Properties"]["KeyPolicy"];
        for action in KEY_ADMIN_ACTIONS {
            if !denied_except(document, action, &json!("*"), "ArnNotEquals", &break_glass) {
                problems.push(format!(
                    "{key}: {action} is not denied to all but the break-glass role"
                ));
            }
        }
        if resource["Properties"]["KeyUsage"] == "SIGN_VERIFY" {
            let signer = patterns.get(SIGNER).map(|p| json!({"Fn::Sub": p}));
            if !signer
                .is_some_and(|s| denied_except(document, "kms:Sign", &json!("*"), "ArnNotLike", &s))
            {
                problems.push(format!(
                    "{key}: kms:Sign is not denied to every role but the sweep's"
                ));
            }
        }
    }
    // The full pass's cursors (`integrity/full-pass/`): only the sweep's role may write them.
    let bucket_policy = &template["Resources"]["VaultBucketPolicy"]["Properties"]["PolicyDocument"];
    let cursors = json!({"Fn::Sub": "${VaultBucket.Arn}/integrity/full-pass/*"});
    let sweep_only = patterns.get(SIGNER).map(|p| json!({"Fn::Sub": p}));
    if !sweep_only
        .is_some_and(|s| denied_except(bucket_policy, "s3:PutObject", &cursors, "ArnNotLike", &s))
    {
        problems.push(
            "VaultBucketPolicy: s3:PutObject under integrity/full-pass/ is not denied to every role but the sweep's"
                .to_owned(),
        );
    }
    for (at, statement) in &statements {
        let signs = actions(&statement["Action"])
            .iter()
            .any(|p| action_matches(p, "kms:Sign"));
        if statement["Effect"] == "Allow" && signs && at != SIGNER {
            problems.push(format!("{at}: allows kms:Sign, which only {SIGNER} may"));
        }
    }
    problems
}

#[test]
fn tables_and_keys_hold_against_administrators() {
    assert_eq!(
        administrator_guard_problems(&template_json()),
        Vec::<String>::new()
    );
}

#[test]
fn the_administrator_guard_check_catches_each_violation() {
    let template = template_json();
    let statement_index = |policy: &Value, sid: &str| {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .position(|s| s["Sid"] == sid)
            .unwrap()
    };
    let signals_policy = "/Resources/SignalsTable/Properties/ResourcePolicy/PolicyDocument";
    let audit_policy = "/Resources/AuditTable/Properties/ResourcePolicy/PolicyDocument";
    let remove_statement = |t: &mut Value, at: &str, sid: &str| {
        let policy = t.pointer_mut(at).unwrap();
        let i = statement_index(policy, sid);
        policy["Statement"].as_array_mut().unwrap().remove(i);
    };
    type Mutation<'a> = Box<dyn Fn(&mut Value) + 'a>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "signals PutItem deny removed",
            Box::new(move |t| remove_statement(t, signals_policy, "OnlyIngestAppends")),
        ),
        (
            "backup exempted from the signals PutItem deny",
            Box::new(move |t| {
                let p = t.pointer_mut(signals_policy).unwrap();
                let i = statement_index(p, "OnlyIngestAppends");
                p["Statement"][i]["Condition"]["ArnNotLike"]["aws:PrincipalArn"].as_array_mut().unwrap()
                .push(json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}/backup/*"}));
            }),
        ),
        (
            "a second condition narrows the signals PutItem deny",
            Box::new(move |t| {
                let p = t.pointer_mut(signals_policy).unwrap();
                let i = statement_index(p, "OnlyIngestAppends");
                p["Statement"][i]["Condition"]["Bool"] = json!({"aws:SecureTransport": "false"});
            }),
        ),
        (
            "the backup role may put signals",
            Box::new(|t| {
                t["Resources"]["BackupFunction"]["Properties"]["Policies"][0]["Statement"].as_array_mut().unwrap()
                .push(json!({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": {"Fn::GetAtt": "SignalsTable.Arn"}}));
            }),
        ),
        (
            "a function's role may not audit",
            Box::new(move |t| {
                let p = t.pointer_mut(audit_policy).unwrap();
                let i = statement_index(p, "OnlyTheFunctionsAudit");
                p["Statement"][i]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
        ),
        (
            "UpdateTimeToLive not denied on the audit table",
            Box::new(move |t| {
                let p = t.pointer_mut(audit_policy).unwrap();
                let i = statement_index(p, "OnlyBreakGlassChangesTheTable");
                p["Statement"][i]["Action"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|a| a != "dynamodb:UpdateTimeToLive");
            }),
        ),
        (
            "another principal may change the signals table",
            Box::new(move |t| {
                let p = t.pointer_mut(signals_policy).unwrap();
                let i = statement_index(p, "OnlyBreakGlassChangesTheTable");
                p["Statement"][i]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] =
                    json!("arn:aws:iam::123456789012:role/admin");
            }),
        ),
        (
            "the table deny names another table",
            Box::new(move |t| {
                let p = t.pointer_mut(audit_policy).unwrap();
                let i = statement_index(p, "OnlyBreakGlassChangesTheTable");
                p["Statement"][i]["Resource"] = json!({"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/other"});
            }),
        ),
        (
            "DisableKey not denied on the vault key",
            Box::new(|t| {
                let p = &mut t["Resources"]["VaultKey"]["Properties"]["KeyPolicy"];
                let i = statement_index(p, "OnlyBreakGlassDisablesDeletesOrRepoliciesTheKey");
                p["Statement"][i]["Action"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|a| a != "kms:DisableKey");
            }),
        ),
        (
            "ScheduleKeyDeletion open on the signing key",
            Box::new(|t| {
                let p = &mut t["Resources"]["CheckpointSigningKey"]["Properties"]["KeyPolicy"];
                let i = statement_index(p, "OnlyBreakGlassDisablesDeletesOrRepoliciesTheKey");
                p["Statement"].as_array_mut().unwrap().remove(i);
            }),
        ),
        (
            "anyone may sign",
            Box::new(|t| {
                let p = &mut t["Resources"]["CheckpointSigningKey"]["Properties"]["KeyPolicy"];
                let i = statement_index(p, "OnlyTheSweepSigns");
                p["Statement"].as_array_mut().unwrap().remove(i);
            }),
        ),
        (
            "the report may sign",
            Box::new(|t| {
                t["Resources"]["ReportFunction"]["Properties"]["Policies"][0]["Statement"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"Effect": "Allow", "Action": "kms:Sign", "Resource": "*"}));
            }),
        ),
        (
            "the ingest role shares the sweep's path",
            Box::new(|t| {
                t["Resources"]["IngestFunction"]["Properties"]["RolePath"] =
                    json!({"Fn::Sub": "/${AWS::StackName}/integrity-sweep/"});
            }),
        ),
        (
            "a role without a path",
            Box::new(|t| {
                t["Resources"]["ReportFunction"]["Properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("RolePath");
            }),
        ),
        (
            "anyone may write a full-pass cursor",
            Box::new(|t| {
                let p = &mut t["Resources"]["VaultBucketPolicy"]["Properties"]["PolicyDocument"];
                let i = statement_index(p, "OnlyTheSweepWritesFullPassCursors");
                p["Statement"].as_array_mut().unwrap().remove(i);
            }),
        ),
        (
            "the report may write a full-pass cursor",
            Box::new(|t| {
                let p = &mut t["Resources"]["VaultBucketPolicy"]["Properties"]["PolicyDocument"];
                let i = statement_index(p, "OnlyTheSweepWritesFullPassCursors");
                p["Statement"][i]["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = json!([
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}/integrity-sweep/*"},
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}/report/*"}
                ]);
            }),
        ),
        (
            "a default break-glass role",
            Box::new(|t| {
                t["Parameters"]["BreakGlassRoleArn"]["Default"] =
                    json!("arn:aws:iam::123456789012:role/x");
            }),
        ),
    ];
    for (name, mutate) in mutations {
        let mut bad = template.clone();
        mutate(&mut bad);
        assert_ne!(
            administrator_guard_problems(&bad),
            Vec::<String>::new(),
            "not caught: {name}"
        );
    }
}

/// Issue 14, who read what: every read (and write) of a vault object straight from S3 is a
/// CloudTrail data event, delivered to a COMPLIANCE-locked bucket of its own with log-file
/// integrity validation.
#[test]
fn reads_straight_from_the_vault_are_recorded_by_a_validated_trail_into_a_locked_bucket() {
    let json = template_json();
    let trails = resources_of_type(&json, "AWS::CloudTrail::Trail");
    assert_eq!(trails.len(), 1, "one trail for the vault's data events");
    let (trail_id, trail) = &trails[0];
    let properties = &trail["Properties"];
    assert_eq!(properties["IsLogging"], true, "{trail_id}");
    assert_eq!(properties["EnableLogFileValidation"], true, "{trail_id}");
    assert_eq!(
        properties["S3BucketName"],
        json!({"Ref": "VaultAccessLogBucket"})
    );
    assert_eq!(trail["DependsOn"], "VaultAccessLogBucketPolicy");
    let selectors = properties["AdvancedEventSelectors"].as_array().unwrap();
    assert_eq!(selectors.len(), 1);
    let fields: BTreeMap<String, Value> = selectors[0]["FieldSelectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["Field"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    assert_eq!(fields["eventCategory"]["Equals"], json!(["Data"]));
    assert_eq!(
        fields["resources.type"]["Equals"],
        json!(["AWS::S3::Object"])
    );
    assert_eq!(
        fields["resources.ARN"]["StartsWith"],
        json!([{"Fn::Sub": "${VaultBucket.Arn}/"}])
    );
    assert!(
        !fields.contains_key("readOnly"),
        "a readOnly selector would drop reads or writes"
    );

    let stack = Stack::local("trail");
    let template = Template::parse(TEMPLATE).unwrap();
    let log_bucket = template
        .buckets(&stack)
        .unwrap()
        .into_iter()
        .find(|b| b.logical_id == "VaultAccessLogBucket")
        .unwrap();
    assert_eq!(log_bucket.bucket_name, "trail-trail-123456789012");
    let bucket = log_bucket.properties;
    assert_eq!(
        bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"],
        json!({"Mode": "COMPLIANCE", "Days": 2555})
    );
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    let policy = template
        .bucket_policies(&stack)
        .unwrap()
        .into_iter()
        .find(|p| p.properties["Bucket"] == log_bucket.bucket_name.as_str())
        .unwrap()
        .properties;
    let writers: Vec<&Value> = policy["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert!(
        writers
            .iter()
            .all(|s| s["Principal"] == json!({"Service": "cloudtrail.amazonaws.com"})),
        "only CloudTrail is allowed in: {writers:?}"
    );
}
/// The 409 of a proof for an entry not yet checkpointed says when the next incremental sweep
/// runs; it reads the schedule from `SWEEP_SCHEDULE`, which must be the template's.
#[test]
fn the_proof_routes_know_the_incremental_sweep_schedule() {
    let json = template_json();
    let events = &json["Resources"]["IntegritySweepFunction"]["Properties"]["Events"];
    let incremental = events
        .as_object()
        .unwrap()
        .values()
        .find(|event| event["Properties"]["Input"] == r#"{"mode": "incremental"}"#)
        .expect("an incremental schedule");
    assert_eq!(
        incremental["Properties"]["ScheduleExpression"],
        shared::app::ingest::SWEEP_SCHEDULE
    );
    assert_eq!(
        incremental["Properties"]["ScheduleExpressionTimezone"],
        "UTC"
    );
}

/// The ingest function reads the vault only for the proof routes: list and read `checkpoints/`,
/// fetch the trusted keys' public keys, nothing else of the vault and no write (moto does not
/// evaluate the listing's `s3:prefix` condition, so this is where it is checked).
#[test]
fn the_ingest_role_reads_only_checkpoints_of_the_vault() {
    let json = template_json();
    let statements = json["Resources"]["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
        .as_array()
        .unwrap();
    let s3: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Action"].to_string().contains("s3:"))
        .collect();
    assert_eq!(s3.len(), 2, "{s3:?}");
    assert_eq!(s3[0]["Action"], json!(["s3:ListBucketVersions"]));
    assert_eq!(s3[0]["Resource"], json!({"Fn::GetAtt": "VaultBucket.Arn"}));
    assert_eq!(
        s3[0]["Condition"],
        json!({"StringLike": {"s3:prefix": "checkpoints/*"}})
    );
    assert_eq!(
        s3[1]["Action"],
        json!(["s3:GetObject", "s3:GetObjectVersion"])
    );
    assert_eq!(
        s3[1]["Resource"],
        json!({"Fn::Sub": "${VaultBucket.Arn}/checkpoints/*"})
    );
    let kms: Vec<String> = statements
        .iter()
        .filter_map(|s| s["Action"].as_array())
        .flatten()
        .filter_map(|a| a.as_str())
        .filter(|a| a.starts_with("kms:"))
        .map(str::to_owned)
        .collect();
    assert!(
        kms.iter()
            .all(|a| a == "kms:GetPublicKey" || a == "kms:Decrypt"),
        "{kms:?}"
    );
    let actions = statements
        .iter()
        .map(|s| s["Action"].to_string())
        .collect::<Vec<_>>()
        .join(" ");
    for forbidden in [
        "s3:PutObject",
        "s3:DeleteObject",
        "kms:Sign",
        "s3:ListBucket\"",
    ] {
        assert!(!actions.contains(forbidden), "{forbidden} in {actions}");
    }
}

/// The report function writes to the vault only its reports and the regulator's productions:
/// every statement of its role that may write an object names exactly `reports/*` or
/// `productions/*`, and productions may be written (a multipart upload may be aborted) there.
#[test]
fn the_report_role_writes_only_reports_and_productions() {
    let json = template_json();
    let statements = json["Resources"]["ReportFunction"]["Properties"]["Policies"][0]["Statement"]
        .as_array()
        .unwrap();
    let writes = [
        "s3:PutObject",
        "s3:PutObjectRetention",
        "s3:AbortMultipartUpload",
    ];
    let mut written = BTreeSet::new();
    for statement in statements {
        let granted = actions(&statement["Action"]);
        if !granted
            .iter()
            .any(|a| writes.iter().any(|w| action_matches(a, w)))
        {
            continue;
        }
        let resource = statement["Resource"]["Fn::Sub"]
            .as_str()
            .unwrap_or_default();
        assert!(
            resource == "${VaultBucket.Arn}/reports/*"
                || resource == "${VaultBucket.Arn}/productions/*",
            "the report may write {}: {statement}",
            statement["Resource"]
        );
        assert!(
            !granted
                .iter()
                .any(|a| a.contains("Delete") || a.contains('*')),
            "{statement}"
        );
        for action in granted {
            written.insert((resource.to_owned(), action));
        }
    }
    for action in writes {
        assert!(
            written.contains(&(
                "${VaultBucket.Arn}/productions/*".to_owned(),
                action.to_owned()
            )),
            "productions/ lacks {action}: {written:?}"
        );
    }
}
