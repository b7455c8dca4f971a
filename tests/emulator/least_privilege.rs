//! Least privilege, exercised: on a moto server of its own that enforces IAM (`IAM_MOTO_URL`,
//! started by infra/test.sh; auth is switched on with `/moto-api/reset-auth` once the stack and
//! the users exist), each function's job runs with credentials carrying exactly its template
//! role's statements, translated from template.yaml by `emulator_policy`. Every job succeeds, and
//! the forbidden actions are refused.
//!
//! Where the emulator's copy of a policy must differ from the template (moto's gaps, see
//! ARCHITECTURE.md "Emulator notes"): `dynamodb:TransactWriteItems` is added where a statement
//! allows PutItem and ConditionCheckItem (moto authorises the transaction as an action of its
//! own; AWS has no such action); `s3:object-lock-mode` conditions are dropped (moto has no value
//! for that key and turns a failed condition on an Allow into a Deny); and statements of
//! DynamoDB or KMS actions get `Resource: "*"` (moto checks those actions against `*`, so a
//! statement naming a table or key never matches); and each `cloudwatch:X` action is also
//! granted as `monitoring:X` (moto authorises CloudWatch calls under the service's endpoint
//! prefix, `monitoring:`, where AWS uses `cloudwatch:`). The ingest role's `s3:prefix` condition
//! on its listing is kept, and not evaluated by moto. So on moto DynamoDB and KMS grants are
//! checked by action only — which table a put goes to is not enforced there — while S3 grants
//! are checked by action and key prefix.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use ledgerctl::provision::{CHECKPOINT_SIGNING_KEY, VAULT_BUCKET, provision_stack};
use ledgerctl::template::{Stack, Template};
use serde_json::{Value, json};
use shared::adapters::aws_reads::{AwsReads, KmsKeyReads, S3Reads};
use shared::adapters::cloudwatch::CloudWatchAlarms;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore, DynamoTableInspector};
use shared::adapters::kms::KmsPublicKeys;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::app::proofs::VaultProofs;
use shared::app::report::{ReportJob, ReportSettings, ReportSources};
use shared::app::sweep::SweepMode;
use shared::app::vault::CheckpointTrust;
use shared::app::verify_backup::{VerifyBackupJob, VerifyMode};
use shared::domain::proof::{InclusionProofDocument, verify_inclusion_document};
use shared::ports::Clock;

use crate::support::{TEMPLATE, VaultedStack, required_env, signal};

/// What a function's `!GetAtt`/`!Sub` references resolve to on the emulator.
struct Names {
    stack: String,
    bucket: String,
    key_arn: String,
}

impl Names {
    fn sub(&self, text: &str) -> String {
        let resolved = text
            .replace(
                "${VaultBucket.Arn}",
                &format!("arn:aws:s3:::{}", self.bucket),
            )
            .replace("${AWS::Partition}", "aws")
            .replace("${AWS::Region}", "us-east-1")
            .replace("${AWS::AccountId}", "123456789012")
            .replace("${AWS::StackName}", &self.stack);
        assert!(!resolved.contains("${"), "cannot resolve {text}");
        resolved
    }

    fn attribute(&self, path: &str) -> String {
        match path {
            "SignalsTable.Arn" => {
                self.sub("arn:aws:dynamodb:us-east-1:123456789012:table/${AWS::StackName}-signals")
            }
            "AuditTable.Arn" => {
                self.sub("arn:aws:dynamodb:us-east-1:123456789012:table/${AWS::StackName}-audit")
            }
            "VaultBucket.Arn" => format!("arn:aws:s3:::{}", self.bucket),
            "CheckpointSigningKey.Arn" => self.key_arn.clone(),
            other => panic!("the test cannot resolve !GetAtt {other}"),
        }
    }

    /// `value` with its intrinsics resolved (conditions with the parameters' defaults: the
    /// vault is not KMS-encrypted, no key was rotated out); `None` for `!Ref AWS::NoValue`.
    fn resolve(&self, value: &Value) -> Option<Value> {
        Some(match value {
            Value::Object(map) if map.contains_key("Fn::GetAtt") => {
                json!(self.attribute(map["Fn::GetAtt"].as_str().unwrap()))
            }
            Value::Object(map) if map.contains_key("Fn::Sub") => {
                json!(self.sub(map["Fn::Sub"].as_str().unwrap()))
            }
            Value::Object(map) if map.contains_key("Fn::If") => {
                let branches = map["Fn::If"].as_array().unwrap();
                // Both conditions are false with the parameters' defaults: no vault KMS key, no
                // rotated-out checkpoint keys.
                assert!(
                    ["VaultUsesKms", "HasPreviousCheckpointKeys"]
                        .contains(&branches[0].as_str().unwrap_or_default()),
                    "an unknown condition {}",
                    branches[0]
                );
                return self.resolve(&branches[2]);
            }
            Value::Object(map) if map.get("Ref") == Some(&json!("AWS::NoValue")) => return None,
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().filter_map(|v| self.resolve(v)).collect())
            }
            other => other.clone(),
        })
    }
}

/// The emulator's copy of `function`'s role: the template's statements, resolved, with the
/// adjustments for moto described at the top of this file.
fn emulator_policy(template: &Value, function: &str, names: &Names) -> Value {
    let policies = template["Resources"][function]["Properties"]["Policies"]
        .as_array()
        .unwrap();
    let mut statements = Vec::new();
    for policy in policies {
        for statement in names
            .resolve(&policy["Statement"])
            .unwrap()
            .as_array()
            .unwrap()
        {
            let mut statement = statement.clone();
            if let Some(condition) = statement.get("Condition") {
                // The ingest role's listing is limited to `checkpoints/` by `s3:prefix`: kept
                // as it is (moto grants the listing without evaluating it).
                if condition != &json!({"StringLike": {"s3:prefix": "checkpoints/*"}}) {
                    assert_eq!(
                        condition,
                        &json!({"StringEquals": {"s3:object-lock-mode": "COMPLIANCE"}}),
                        "{function}: a condition the emulator copy does not know how to translate"
                    );
                    statement.as_object_mut().unwrap().remove("Condition");
                }
            }
            let actions: Vec<String> = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
                other => panic!("{other}"),
            };
            if actions
                .iter()
                .all(|a| a.starts_with("dynamodb:") || a.starts_with("kms:"))
            {
                statement["Resource"] = json!("*");
            }
            if actions.iter().any(|a| a.starts_with("cloudwatch:")) {
                let mut extended = actions.clone();
                extended.extend(
                    actions
                        .iter()
                        .filter_map(|a| a.strip_prefix("cloudwatch:"))
                        .map(|a| format!("monitoring:{a}")),
                );
                statement["Action"] = json!(extended);
            }
            if actions.iter().any(|a| a == "dynamodb:PutItem")
                && actions.iter().any(|a| a == "dynamodb:ConditionCheckItem")
            {
                let mut extended = actions.clone();
                extended.push("dynamodb:TransactWriteItems".into());
                statement["Action"] = json!(extended);
            }
            statements.push(statement);
        }
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// One IAM query-API call on the emulator (unsigned: IAM is set up before auth is switched on).
async fn iam(url: &str, params: &[(&str, &str)]) -> String {
    let response = reqwest::Client::new()
        .post(url)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261129/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .form(&[params, &[("Version", "2010-05-08")]].concat())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{params:?}: {}",
        response.status()
    );
    response.text().await.unwrap()
}

fn between<'a>(text: &'a str, tag: &str) -> &'a str {
    let start = text.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>")).unwrap();
    &text[start..start + end]
}

/// An SDK configuration for the emulator with the given credentials.
async fn sdk(url: &str, access_key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            access_key,
            secret,
            None,
            None,
            "moto-user",
        ))
        .load()
        .await
}

/// A user holding exactly `function`'s role; the stack seen with its credentials.
async fn as_function(
    url: &str,
    template: &Value,
    function: &str,
    names: &Names,
    admin: &VaultedStack,
) -> VaultedStack {
    let user = format!("{}-{function}", names.stack);
    iam(url, &[("Action", "CreateUser"), ("UserName", &user)]).await;
    let policy = emulator_policy(template, function, names).to_string();
    iam(
        url,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", &user),
            ("PolicyName", function),
            ("PolicyDocument", &policy),
        ],
    )
    .await;
    let key = iam(url, &[("Action", "CreateAccessKey"), ("UserName", &user)]).await;
    let sdk = sdk(
        url,
        between(&key, "AccessKeyId"),
        between(&key, "SecretAccessKey"),
    )
    .await;
    VaultedStack {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        signals: admin.signals.clone(),
        audit: admin.audit.clone(),
        bucket: admin.bucket.clone(),
        key_arn: admin.key_arn.clone(),
        sdk,
    }
}

fn status<E, R: std::fmt::Debug>(
    result: Result<
        R,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
) -> Option<u16> {
    match result {
        Ok(ok) => panic!("allowed: {ok:?}"),
        Err(error) => error.raw_response().map(|r| r.status().as_u16()),
    }
}

/// The compliance report job, wired as `functions/report` wires it, over `stack`'s adapters.
fn report_job(
    stack: &VaultedStack,
    name: &str,
) -> ReportJob<
    DynamoLedgerStore,
    S3Vault,
    DynamoAuditSink,
    DynamoTableInspector,
    CloudWatchAlarms,
    KmsPublicKeys,
    SystemClock,
    RecordingMetrics,
> {
    let sources = ReportSources {
        store: stack.store(),
        vault: stack.vault(),
        audit: stack.audit_sink(),
        tables: DynamoTableInspector::new(stack.dynamodb.clone()),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&stack.sdk)),
        keys: Some(KmsPublicKeys::new(aws_sdk_kms::Client::new(&stack.sdk))),
    };
    let settings = ReportSettings {
        signals_table: stack.signals.clone(),
        audit_table: stack.audit.clone(),
        vault_bucket: stack.bucket.clone(),
        retention_days: 1,
        metrics_namespace: "SignalLedger".into(),
        url_expiry: Duration::from_secs(600),
        alarm_name_prefix: Some(format!("{name}-")),
        trust: stack.trust(),
    };
    ReportJob::new(sources, SystemClock, RecordingMetrics::default(), settings)
}

/// moto checks IAM for every request after the next `count` ones (`inf`: never).
async fn set_auth_after(url: &str, count: &str) {
    let response = reqwest::Client::new()
        .post(format!("{url}/moto-api/reset-auth"))
        .header("Content-Type", "text/plain")
        .body(count.to_owned())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn each_function_succeeds_with_exactly_its_roles_statements_and_nothing_more() {
    let url = required_env("IAM_MOTO_URL");
    // Auth off while the stack and the users are created (this test is the server's only user;
    // a previous run left auth on).
    set_auth_after(&url, "inf").await;
    let admin_sdk = sdk(&url, "test", "test").await;
    let name = format!("lp-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let template = Template::parse(TEMPLATE).unwrap();
    let provisioned = provision_stack(&admin_sdk, &template, &Stack::local(&name))
        .await
        .unwrap();
    let admin = VaultedStack {
        dynamodb: aws_sdk_dynamodb::Client::new(&admin_sdk),
        signals: format!("{name}-signals"),
        audit: format!("{name}-audit"),
        bucket: provisioned.bucket_name(VAULT_BUCKET).unwrap().to_owned(),
        key_arn: provisioned
            .key_arn(CHECKPOINT_SIGNING_KEY)
            .unwrap()
            .to_owned(),
        sdk: admin_sdk,
    };
    let names = Names {
        stack: name.clone(),
        bucket: admin.bucket.clone(),
        key_arn: admin.key_arn.clone(),
    };
    let json = template.to_json();
    let ingest = as_function(&url, &json, "IngestFunction", &names, &admin).await;
    let sweep = as_function(&url, &json, "IntegritySweepFunction", &names, &admin).await;
    let backup = as_function(&url, &json, "BackupFunction", &names, &admin).await;
    let verify = as_function(&url, &json, "VerifyBackupFunction", &names, &admin).await;
    let report = as_function(&url, &json, "ReportFunction", &names, &admin).await;
    // From here on every request is checked against the caller's policies.
    set_auth_after(&url, "0").await;
    let admin_refused = admin.dynamodb.list_tables().send().await;
    assert!(admin_refused.is_err(), "auth is not enforced");

    // Every job succeeds with its own role.
    let service = Ingest::new(
        ingest.store(),
        ingest.audit_sink(),
        SystemClock,
        RecordingMetrics::default(),
        IngestSettings::default(),
    );
    for id in ["lp-1", "lp-2", "lp-3"] {
        let response = service
            .handle(HttpRequest {
                method: "POST".into(),
                path: "/signals".into(),
                content_type: Some("application/json".into()),
                body: signal(id).to_string().into_bytes(),
                actor: "producer".into(),
                request_id: id.into(),
            })
            .await;
        assert_eq!(
            response.status,
            201,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
    }
    // A delivery receipt: the ingest role writes it (and its audit record) and reads it back.
    let receipt =
        serde_json::json!({"subscriber": "lp-desk", "delivered_at": crate::support::now_rfc3339()});
    for expected in [201, 200] {
        let response = service
            .handle(HttpRequest {
                method: "POST".into(),
                path: "/signals/lp-1/receipts".into(),
                content_type: Some("application/json".into()),
                body: receipt.to_string().into_bytes(),
                actor: "gateway".into(),
                request_id: format!("lp-receipt-{expected}"),
            })
            .await;
        assert_eq!(
            response.status,
            expected,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
    }
    sweep.sweep(SweepMode::Init).await;
    sweep.sweep(SweepMode::Incremental).await;
    // A step of the full pass: it writes its cursor under integrity/full-pass/ (create-only).
    sweep.sweep(SweepMode::Full).await;
    backup.backup().await;
    let verified = VerifyBackupJob::new(
        verify.store(),
        verify.vault(),
        verify.audit_sink(),
        SystemClock,
        RecordingMetrics::default(),
    )
    .run(VerifyMode::All, "t")
    .await
    .unwrap();
    assert_eq!(verified.rows_checked, 3);
    // The proof routes with exactly the ingest role, wired as the function wires them (signed
    // requests, `adapters::aws_reads`; this moto checks every signature): the checkpoint and a
    // signal's proof, read from checkpoints/ and verified with the signing key's public key the
    // role may fetch.
    let origin = shared::config::origin(&ingest.signals);
    let reads = AwsReads::new(
        ingest.sdk.credentials_provider(),
        ingest.sdk.region().map(|region| region.as_ref()),
        ingest.sdk.endpoint_url(),
    )
    .unwrap();
    let proofs = service.with_proofs(VaultProofs::new(
        S3Reads::new(reads.clone(), &ingest.bucket),
        Some(KmsKeyReads::new(reads.clone())),
        CheckpointTrust::new(origin.clone(), Some(&ingest.key_arn), &[]),
    ));
    let get = |path: &str| HttpRequest {
        method: "GET".into(),
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        actor: "auditor".into(),
        request_id: "lp-proof".into(),
    };
    let checkpoint = proofs.handle(get("/checkpoint")).await;
    assert_eq!(checkpoint.status, 200, "{:?}", checkpoint.body_json());
    let proof = proofs.handle(get("/signals/lp-2/proof")).await;
    assert_eq!(proof.status, 200, "{:?}", proof.body_json());
    let document: InclusionProofDocument = serde_json::from_slice(&proof.body).unwrap();
    let public_key = shared::ports::PublicKeys::public_key(
        &KmsPublicKeys::new(aws_sdk_kms::Client::new(&ingest.sdk)),
        &ingest.key_arn,
    )
    .await
    .unwrap();
    verify_inclusion_document(&document, &[public_key], &origin).unwrap();
    let consistency = proofs.handle(get("/proofs/consistency?from=3&to=3")).await;
    assert_eq!(consistency.status, 200, "{:?}", consistency.body_json());
    let reported = report_job(&report, &name)
        .run(
            &serde_json::from_value(json!({"last_days": 1})).unwrap(),
            "t",
        )
        .await
        .unwrap();
    assert!(reported.json.key.starts_with("reports/"), "{reported:?}");
    let stored = shared::ports::VaultReads::get_version(
        &report.vault(),
        &reported.json.key,
        &reported.json.version_id,
    )
    .await
    .unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    // Read with exactly its role: no evidence is missing for want of a permission (the report
    // would still be written, saying the evidence is unavailable).
    let sections = &stored["sections"];
    let tables = sections["immutability"]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "{tables:?}");
    assert!(
        tables
            .iter()
            .all(|t| t["deletion_protection"] == json!(true)
                && t["point_in_time_recovery"] == json!(true)),
        "{tables:?}"
    );
    let alarms = &sections["alarms"];
    assert_eq!(alarms["available"], json!(true), "{alarms}");
    assert!(
        sections["audit_log"]["audit_write_errors"].is_number(),
        "{}",
        sections["audit_log"]
    );
    let checkpoint = &sections["integrity"]["latest_checkpoint"];
    assert_eq!(
        (&checkpoint["tree_size"], &checkpoint["signature_valid"]),
        (&json!(3), &json!(true)),
        "the report read the checkpoint and verified it with the signing key's public key: {checkpoint}"
    );
    // The regulator's production with exactly the report role: the period's entries and audit
    // events, proofs from checkpoints/, the key's public half, stored under productions/.
    let today = SystemClock.now().as_str()[..10].to_owned();
    let produced = Box::pin(shared::app::produce::produce_to_vault(
        &shared::app::produce::Producer::new(
            report.store(),
            report.vault(),
            report.audit_sink(),
            Some(KmsPublicKeys::new(aws_sdk_kms::Client::new(&report.sdk))),
            CheckpointTrust::new(
                shared::config::origin(&report.signals),
                Some(&report.key_arn),
                &[],
            ),
        ),
        &report.vault(),
        &report.audit_sink(),
        &serde_json::from_value(json!({"from": today, "to": today})).unwrap(),
        &shared::app::produce::Requester {
            actor: "report".into(),
            request_id: "lp-produce".into(),
        },
        SystemClock.now(),
        &shared::app::produce::StoreSettings {
            retention_days: 1,
            url_expiry: Duration::from_secs(600),
            spool_dir: std::env::temp_dir(),
        },
    ))
    .await
    .unwrap();
    assert!(produced.key.starts_with("productions/"), "{produced:?}");
    assert_eq!(produced.entries, 3);

    // The forbidden actions are refused.
    let (signals, ingest_db) = (&ingest.signals, &ingest.dynamodb);
    let updated = ingest_db
        .update_item()
        .table_name(signals)
        .key("pk", AttributeValue::S("BUNDLE#0".into()))
        .key("sk", AttributeValue::N("0".into()))
        .update_expression("SET rationale = :r")
        .expression_attribute_values(":r", AttributeValue::S("rewritten".into()))
        .send()
        .await;
    assert_eq!(status(updated), Some(403));
    let deleted = ingest_db
        .delete_item()
        .table_name(signals)
        .key("pk", AttributeValue::S("BUNDLE#0".into()))
        .key("sk", AttributeValue::N("0".into()))
        .send()
        .await;
    assert_eq!(status(deleted), Some(403));
    let audit_deleted = ingest_db
        .delete_item()
        .table_name(&ingest.audit)
        .key("pk", AttributeValue::S("2026-11-29".into()))
        .key("sk", AttributeValue::S("x".into()))
        .send()
        .await;
    assert_eq!(status(audit_deleted), Some(403));
    // The report reads the ledger and appends its audit event, nothing more.
    let rewritten = report
        .dynamodb
        .update_item()
        .table_name(&report.audit)
        .key("pk", AttributeValue::S("2026-11-29".into()))
        .key("sk", AttributeValue::S("x".into()))
        .update_expression("SET actor = :a")
        .expression_attribute_values(":a", AttributeValue::S("someone else".into()))
        .send()
        .await;
    assert_eq!(status(rewritten), Some(403));
    let signed = aws_sdk_kms::Client::new(&report.sdk)
        .sign()
        .key_id(&report.key_arn)
        .message(aws_sdk_kms::primitives::Blob::new(vec![0; 32]))
        .message_type(aws_sdk_kms::types::MessageType::Digest)
        .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    let error = signed.expect_err("the report role signed a checkpoint digest");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));
    // Which table a put goes to is not enforced by moto (see the top of this file): the
    // overwriting put on the other table is covered by the tables' resource policies, checked
    // statically in ledgerctl/tests/template.rs. The vault's prefixes are enforced: each role
    // writes only where its statements say.
    let forged = b"planted".to_vec();
    for (role, key) in [
        (&sweep, "signals/2026/11/planted.csv"),
        (&backup, "checkpoints/planted.txt"),
        (&verify, "manifests/2026/11/planted.json"),
        (&report, "checkpoints/planted.txt"),
        // Only the report writes productions.
        (&sweep, "productions/2026/11/planted.zip"),
        (&backup, "productions/2026/11/planted.zip"),
        // Only the sweep writes full-pass cursors (the bucket policy also denies it to every
        // other principal on AWS; moto ignores that conditional deny).
        (&backup, "integrity/full-pass/00000000000000000099.txt"),
        (&verify, "integrity/full-pass/00000000000000000099.txt"),
        (&report, "integrity/full-pass/00000000000000000099.txt"),
    ] {
        let put = aws_sdk_s3::Client::new(&role.sdk)
            .put_object()
            .bucket(&role.bucket)
            .key(key)
            .body(forged.clone().into())
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .send()
            .await;
        let error = put.expect_err("a write outside the role's prefixes was allowed");
        assert_eq!(
            error.raw_response().map(|r| r.status().as_u16()),
            Some(403),
            "{key}"
        );
    }
    // The ingest role reads checkpoints/ and nothing else of the vault. (Its listing is limited
    // to checkpoints/ by an `s3:prefix` condition, which moto does not evaluate: that part is
    // checked statically in ledgerctl/tests/template.rs.)
    let backup_csv = shared::ports::VaultReads::list_versions(&verify.vault(), "signals/")
        .await
        .unwrap()
        .remove(0);
    let read = aws_sdk_s3::Client::new(&ingest.sdk)
        .get_object()
        .bucket(&ingest.bucket)
        .key(&backup_csv.key)
        .send()
        .await;
    let error = read.expect_err("the ingest role read a backup");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));
    // The same through the function's signed reads: refused, not failed or read.
    let refused = shared::ports::VaultReads::get_version(
        &S3Reads::new(reads.clone(), &ingest.bucket),
        &backup_csv.key,
        &backup_csv.version_id,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, shared::ports::VaultError::Refused { .. }),
        "{refused:?}"
    );
    // No role may delete a vault object.
    let csv = shared::ports::VaultReads::list_versions(&verify.vault(), "signals/")
        .await
        .unwrap()
        .remove(0);
    for role in [&ingest, &backup, &sweep, &verify, &report] {
        let deleted = aws_sdk_s3::Client::new(&role.sdk)
            .delete_object()
            .bucket(&role.bucket)
            .key(&csv.key)
            .version_id(&csv.version_id)
            .send()
            .await;
        let error = deleted.expect_err("a vault object was deleted");
        assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));
    }
}
