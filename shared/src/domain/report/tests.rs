//! The report's verdict rules (one case per rule), its JSON form and its HTML page, from the
//! healthy scenario with one thing broken at a time.

use super::fixtures::{Scenario, alarm, backup, healthy, locked, sweep, verification};
use super::*;
use crate::domain::audit::AuditEventType;
use crate::domain::test_support::{decimal, timestamp};

fn section_verdict(report: &ComplianceReport, name: &str) -> Verdict {
    report
        .section_verdicts()
        .into_iter()
        .find(|(section, _)| *section == name)
        .map(|(_, verdict)| verdict)
        .unwrap()
}

fn json(report: &ComplianceReport) -> serde_json::Value {
    serde_json::from_slice(&report.to_json()).unwrap()
}

#[test]
fn the_healthy_scenario_passes_every_section() {
    let report = healthy().build();
    for (name, verdict) in report.section_verdicts() {
        assert_eq!(
            verdict,
            Verdict::Pass,
            "{name}: {}",
            json(&report)["sections"][name]
        );
    }
    assert_eq!(report.overall_verdict(), Verdict::Pass);
    let value = json(&report);
    for name in [
        "immutability",
        "audit_log",
        "latency",
        "backups",
        "integrity",
        "alarms",
    ] {
        assert_eq!(
            value["sections"][name]["reasons"],
            serde_json::json!([]),
            "{name}"
        );
    }
}

#[test]
fn verdicts_are_ordered_so_the_worst_wins() {
    assert!(Verdict::Pass < Verdict::Warn && Verdict::Warn < Verdict::Fail);
    assert_eq!(Verdict::Pass.worst(Verdict::Warn), Verdict::Warn);
    assert_eq!(Verdict::Fail.worst(Verdict::Warn), Verdict::Fail);
    assert_eq!(Verdict::worst_of([]), Verdict::Pass);
    assert_eq!(
        serde_json::to_value(Verdict::Warn).unwrap(),
        serde_json::json!("WARN")
    );
}

/// One rule: an edit of the healthy scenario, the section it must affect, the verdict it must
/// give that section, and a phrase of the reason.
type Rule = (
    &'static str,
    fn(&mut Scenario),
    &'static str,
    Verdict,
    &'static str,
);

fn refused(kind: AuditEventType, actor: &str) -> crate::domain::audit::AuditEvent {
    let mut event =
        crate::domain::test_support::insert_event(&crate::domain::test_support::chain(1)[0]);
    event.event_type = kind;
    event.actor = actor.into();
    event.occurred_at = timestamp("2026-11-28T12:00:00Z");
    event.reason = Some("signals are immutable".into());
    event
}

const RULES: &[Rule] = &[
    // ---- immutability
    (
        "no deletion protection",
        |s| s.inputs.tables[0].deletion_protection = false,
        "immutability",
        Verdict::Fail,
        "no deletion protection",
    ),
    (
        "no point-in-time recovery",
        |s| s.inputs.tables[1].point_in_time_recovery = false,
        "immutability",
        Verdict::Fail,
        "ledger-audit has point-in-time recovery off",
    ),
    (
        "no stream on the signals table",
        |s| s.inputs.tables[0].stream_view_type = None,
        "immutability",
        Verdict::Fail,
        "has no stream",
    ),
    (
        "table settings missing",
        |s| drop(s.inputs.tables.remove(1)),
        "immutability",
        Verdict::Fail,
        "audit table ledger-audit were not available",
    ),
    (
        "a tamper event",
        |s| {
            s.events
                .push(refused(AuditEventType::TamperDetected, "tamper-watch"))
        },
        "immutability",
        Verdict::Fail,
        "1 TAMPER_DETECTED event",
    ),
    (
        "refused attempts alone pass",
        |s| {
            s.events
                .push(refused(AuditEventType::DeleteAttempt, "mallory"));
            s.events
                .push(refused(AuditEventType::ModificationAttempt, "mallory"));
        },
        "immutability",
        Verdict::Pass,
        "2 modification or deletion attempts were refused",
    ),
    // ---- audit log
    (
        "audit write errors",
        |s| s.inputs.audit_write_errors = Some(3),
        "audit_log",
        Verdict::Fail,
        "3 audit records could not be written",
    ),
    (
        "audit write errors unknown",
        |s| s.inputs.audit_write_errors = None,
        "audit_log",
        Verdict::Warn,
        "could not be read",
    ),
    (
        "inserts and entries differ",
        |s| drop(s.events.pop()),
        "audit_log",
        Verdict::Warn,
        "19 SIGNAL_INSERTED events but 20 entries",
    ),
    // ---- latency
    (
        "no signals",
        |s| {
            s.entries.clear();
            s.events.clear();
        },
        "latency",
        Verdict::Warn,
        "No signal was received",
    ),
    (
        "p95 above the requirement",
        |s| {
            for entry in s.entries.iter_mut().skip(1) {
                entry.entry.delivery_latency_ms = 501;
            }
        },
        "latency",
        Verdict::Fail,
        "95th percentile delivery latency is 501 ms",
    ),
    // ---- backups
    (
        "a past day without backup",
        |s| {
            s.inputs.period = Period::new(
                timestamp("2026-11-26T00:00:00Z"),
                timestamp("2026-11-29T00:00:00Z"),
            )
            .unwrap();
        },
        "backups",
        Verdict::Fail,
        "No backup for 1 day of the period: 2026-11-26",
    ),
    (
        "today without backup is pending",
        |s| {
            s.inputs.generated_at = timestamp("2026-11-28T01:00:00Z");
            s.inputs.backups.pop();
            s.inputs.verifications.pop();
            s.inputs.period = Period::new(
                timestamp("2026-11-27T00:00:00Z"),
                timestamp("2026-11-29T00:00:00Z"),
            )
            .unwrap();
        },
        "backups",
        Verdict::Pass,
        "Every past day",
    ),
    (
        "a failed verification in the period",
        |s| {
            s.inputs
                .verifications
                .insert(1, verification("2026-11-28T01:00:00Z", false));
        },
        "backups",
        Verdict::Fail,
        "A backup verification (verify-2026-11-28T01:00:00Z",
    ),
    (
        "the latest verification failed",
        |s| {
            s.inputs.verifications = vec![verification("2026-11-27T02:30:00Z", false)];
        },
        "backups",
        Verdict::Fail,
        "The latest backup verification",
    ),
    (
        "an older failure before the period is history",
        |s| {
            s.inputs.verifications[0] = verification("2026-11-27T02:30:00Z", false);
        },
        "backups",
        Verdict::Pass,
        "latest verification passed",
    ),
    (
        "a restore drill that differs",
        |s| {
            s.inputs.verifications[1].restore_drill_matches = Some(false);
        },
        "backups",
        Verdict::Fail,
        "restore drill did not reproduce",
    ),
    (
        "an object not in COMPLIANCE mode",
        |s| {
            s.inputs.backups[1].manifest_object.lock_mode = Some("GOVERNANCE".into());
        },
        "backups",
        Verdict::Fail,
        "is locked in GOVERNANCE mode",
    ),
    (
        "an unencrypted CSV",
        |s| {
            if let Some(csv) = &mut s.inputs.backups[1].csv_object {
                csv.server_side_encryption = None;
            }
        },
        "backups",
        Verdict::Fail,
        "is not encrypted",
    ),
    (
        "a missing CSV object",
        |s| s.inputs.backups[1].csv_object = None,
        "backups",
        Verdict::Fail,
        "was not found",
    ),
    (
        "no verification at all",
        |s| s.inputs.verifications.clear(),
        "backups",
        Verdict::Warn,
        "No backup verification has run",
    ),
    // ---- integrity
    (
        "a failed sweep in the period",
        |s| {
            s.inputs
                .sweeps
                .push(sweep("incremental", "2026-11-28T23:30:00Z", false))
        },
        "integrity",
        Verdict::Fail,
        "1 integrity sweep failed",
    ),
    (
        "a tampered entry in the period",
        |s| s.entries[4].entry.content.entry_price = decimal("999"),
        "integrity",
        Verdict::Fail,
        "hash_mismatch at index 4",
    ),
    (
        "an invalid checkpoint signature",
        |s| {
            if let Some(c) = &mut s.inputs.latest_checkpoint {
                c.signature_valid = Some(false);
            }
        },
        "integrity",
        Verdict::Fail,
        "does not verify",
    ),
    (
        "a checkpoint larger than the ledger",
        |s| s.inputs.ledger.tree_size = 12,
        "integrity",
        Verdict::Fail,
        "entries were removed",
    ),
    (
        "a checkpoint not locked",
        |s| {
            if let Some(c) = &mut s.inputs.latest_checkpoint {
                c.object.lock_mode = None;
            }
        },
        "integrity",
        Verdict::Fail,
        "has no Object Lock",
    ),
    (
        "no sweep in the period",
        |s| s.inputs.sweeps.truncate(1),
        "integrity",
        Verdict::Warn,
        "No integrity sweep ran in the period",
    ),
    (
        "an unsigned checkpoint",
        |s| {
            if let Some(c) = &mut s.inputs.latest_checkpoint {
                c.signed = false;
                c.signing_key_id = None;
                c.signature_valid = None;
            }
        },
        "integrity",
        Verdict::Warn,
        "is unsigned",
    ),
    (
        "no checkpoint",
        |s| s.inputs.latest_checkpoint = None,
        "integrity",
        Verdict::Warn,
        "No checkpoint exists",
    ),
    // ---- alarms
    (
        "alarms unavailable",
        |s| {
            s.inputs.alarms = AlarmsEvidence::Unavailable {
                reason: "AccessDenied on DescribeAlarms".into(),
            }
        },
        "alarms",
        Verdict::Warn,
        "AccessDenied on DescribeAlarms",
    ),
    (
        "no alarms",
        |s| {
            s.inputs.alarms = AlarmsEvidence::Available {
                alarms: vec![],
                history: vec![],
            }
        },
        "alarms",
        Verdict::Warn,
        "No alarm was found",
    ),
    (
        "an alarm firing now",
        |s| {
            s.inputs.alarms = AlarmsEvidence::Available {
                alarms: vec![
                    alarm("ledger-p95-latency", "ALARM"),
                    alarm("ledger-backup-missing", "OK"),
                ],
                history: vec![],
            }
        },
        "alarms",
        Verdict::Fail,
        "1 alarm in ALARM now: ledger-p95-latency",
    ),
    (
        "a transition to ALARM in the period",
        |s| {
            s.inputs.alarms = AlarmsEvidence::Available {
                alarms: vec![alarm("ledger-p95-latency", "OK")],
                history: vec![
                    AlarmTransition {
                        name: "ledger-p95-latency".into(),
                        at: timestamp("2026-11-28T10:00:00Z"),
                        summary: "Alarm updated from OK to ALARM".into(),
                    },
                    AlarmTransition {
                        name: "ledger-p95-latency".into(),
                        at: timestamp("2026-11-28T10:05:00Z"),
                        summary: "Alarm updated from ALARM to OK".into(),
                    },
                ],
            }
        },
        "alarms",
        Verdict::Warn,
        "1 transition to ALARM in the period",
    ),
    (
        "a transition before the period is not counted",
        |s| {
            s.inputs.alarms = AlarmsEvidence::Available {
                alarms: vec![alarm("ledger-p95-latency", "OK")],
                history: vec![AlarmTransition {
                    name: "ledger-p95-latency".into(),
                    at: timestamp("2026-11-27T10:00:00Z"),
                    summary: "Alarm updated from OK to ALARM".into(),
                }],
            }
        },
        "alarms",
        Verdict::Pass,
        "none went to ALARM",
    ),
];

#[test]
fn verdict_rules() {
    for (name, edit, section, expected, phrase) in RULES {
        let mut scenario = healthy();
        edit(&mut scenario);
        let report = scenario.build();
        let value = json(&report);
        let judged = &value["sections"][*section];
        assert_eq!(
            section_verdict(&report, section),
            *expected,
            "{name}: {judged}"
        );
        let text = format!("{} {}", judged["summary"], judged["reasons"]);
        assert!(text.contains(phrase), "{name}: {phrase:?} not in {text}");
        assert!(report.overall_verdict() >= *expected, "{name}");
        if *expected != Verdict::Pass {
            assert_eq!(judged["reasons"][0]["verdict"], expected.as_str(), "{name}");
        }
    }
}

#[test]
fn backup_days_and_coverage() {
    let mut scenario = healthy();
    scenario.inputs.generated_at = timestamp("2026-11-28T01:00:00Z");
    scenario.inputs.period = Period::new(
        timestamp("2026-11-27T00:00:00Z"),
        timestamp("2026-11-30T00:00:00Z"),
    )
    .unwrap();
    scenario.inputs.backups.pop();
    scenario
        .inputs
        .backups
        .push(backup(&scenario.entries, 0, 20, "20261127_2"));
    let value = json(&scenario.build());
    let days = &value["sections"]["backups"]["days"];
    let statuses: Vec<&str> = days
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["backed", "pending", "not_due"]);
    assert_eq!(days[0]["backups"].as_array().unwrap().len(), 2);
    assert_eq!(days[0]["backups"][1]["backup_id"], "20261127_2");
    assert_eq!(
        days[0]["backups"][1]["csv_key"],
        "signals/2026/11/signals_backup_20261127_2.csv"
    );
    assert_eq!(
        days[0]["verifications"][0]["run_id"],
        "verify-2026-11-27T02:30:00Z"
    );
    let coverage = &value["sections"]["backups"]["coverage"];
    assert_eq!(coverage["verified_covered_to"], 20);
    assert_eq!(
        coverage["statement"],
        "Entries 0..19 are in a verified backup; the ledger holds 20 entries."
    );
}

#[test]
fn the_json_has_the_schema_the_sections_and_exact_latency_figures() {
    let mut scenario = healthy();
    let latencies = [
        120, 80, 640, -4, 300, 45, 45, 2500, 90, 499, 500, 501, 10, 20, 30, 40, 60, 70, 700, 3,
    ];
    for (entry, latency) in scenario.entries.iter_mut().zip(latencies) {
        entry.entry.delivery_latency_ms = latency;
        *entry = crate::domain::entry::StoredEntry::seal(entry.entry.clone());
    }
    // Re-link the re-sealed chain so the integrity section stays clean.
    for i in 1..scenario.entries.len() {
        scenario.entries[i].entry.previous_hash = scenario.entries[i - 1].entry_hash;
        scenario.entries[i] =
            crate::domain::entry::StoredEntry::seal(scenario.entries[i].entry.clone());
    }
    let report = scenario.build();
    let bytes = report.to_json();
    assert_eq!(bytes, scenario.build().to_json(), "deterministic");
    assert!(bytes.ends_with(b"}\n"));
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["schema"], REPORT_SCHEMA);
    assert_eq!(
        value["period"],
        serde_json::json!({
            "from": "2026-11-28T00:00:00.000000Z", "to": "2026-11-29T00:00:00.000000Z", "label": "2026-11-28"
        })
    );
    let keys: Vec<&String> = value["sections"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec![
            "alarms",
            "audit_log",
            "backups",
            "immutability",
            "integrity",
            "latency"
        ]
    );
    for key in keys {
        let section = &value["sections"][key];
        assert!(
            ["PASS", "WARN", "FAIL"].contains(&section["verdict"].as_str().unwrap()),
            "{key}"
        );
        assert!(section["summary"].as_str().unwrap().ends_with('.'), "{key}");
    }
    let text = String::from_utf8(bytes).unwrap();
    let order: Vec<usize> = [
        "\"immutability\"",
        "\"audit_log\"",
        "\"latency\"",
        "\"backups\"",
        "\"integrity\"",
        "\"alarms\"",
    ]
    .iter()
    .map(|key| text.find(key).unwrap())
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "sections in report order"
    );
    let latency = &value["sections"]["latency"];
    assert_eq!(latency["method"], "nearest-rank");
    // Sorted: -4 3 10 20 30 40 45 45 60 70 80 90 120 300 499 500 501 640 700 2500.
    assert_eq!(
        (
            &latency["count"],
            &latency["p50_ms"],
            &latency["p95_ms"],
            &latency["p99_ms"],
            &latency["max_ms"],
            &latency["min_ms"]
        ),
        (
            &serde_json::json!(20),
            &serde_json::json!(70),
            &serde_json::json!(700),
            &serde_json::json!(2500),
            &serde_json::json!(2500),
            &serde_json::json!(-4)
        )
    );
    assert_eq!(latency["within_requirement"], 16);
    assert_eq!(latency["within_requirement_percent"], "80.00");
    assert_eq!(latency["negative_latencies"], 1);
    assert_eq!(latency["verdict"], "FAIL");
    assert_eq!(latency["worst_signals"][0]["latency_ms"], 2500);
    assert_eq!(latency["worst_signals"].as_array().unwrap().len(), 10);
    let histogram_total: u64 = latency["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(histogram_total, 20);
    assert_eq!(
        latency["daily_volumes"],
        serde_json::json!([{ "date": "2026-11-28", "signals": 20 }])
    );
    assert_eq!(
        value["sections"]["audit_log"]["totals_by_type"],
        serde_json::json!({ "SIGNAL_INSERTED": 20 })
    );
    assert_eq!(
        value["sections"]["integrity"]["period_chain_check"]["findings_total"],
        0
    );
    assert_eq!(value["overall_verdict"], "FAIL");
}

#[test]
fn auditor_commands_name_the_real_resources_and_existing_scripts() {
    let report = healthy().build();
    let commands = &report.sections.integrity.auditor_commands;
    let all: String = commands.iter().map(|c| c.command.clone() + "\n").collect();
    for needle in [
        "aws s3api list-object-versions --bucket ledger-vault-123456789012 --prefix checkpoints/",
        "aws s3api get-object --bucket ledger-vault-123456789012 --key checkpoints/00000000000000000020-20261128T230000000000Z.txt checkpoint.txt",
        "aws kms get-public-key --key-id arn:aws:kms:eu-west-1:123456789012:key/abcd",
        "openssl dgst -sha256 -verify key.pem -signature sig.der body.txt",
        "--key signals/2026/11/signals_backup_20261128.csv --version-id v-20261128 signals_backup_20261128.csv",
        "python3 docs/vectors/backup/check_backup.py signals_backup_20261128.csv signals_backup_20261128.json",
        "aws dynamodb describe-continuous-backups --table-name ledger-signals",
        "aws dynamodb describe-table --table-name ledger-audit",
        "ledgerctl restore --bucket ledger-vault-123456789012",
        "ledgerctl trace sig-0000",
    ] {
        assert!(all.contains(needle), "{needle:?} not in\n{all}");
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for word in all.split_whitespace().filter(|w| w.starts_with("docs/")) {
        assert!(root.join(word).is_file(), "{word} does not exist");
    }
}

/// The text content of the element with `id` (no nested elements expected).
fn text_of<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no id {id}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    &html[start..end]
}

#[test]
fn the_html_shows_the_json_figures_under_stable_ids() {
    let mut scenario = healthy();
    scenario.inputs.audit_write_errors = None;
    let report = scenario.build();
    let value = json(&report);
    let html = render_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for (id, key) in [
        ("latency-count", "count"),
        ("latency-p50", "p50_ms"),
        ("latency-p95", "p95_ms"),
        ("latency-p99", "p99_ms"),
        ("latency-max", "max_ms"),
    ] {
        assert_eq!(
            text_of(&html, id),
            value["sections"]["latency"][key].to_string(),
            "{id}"
        );
    }
    assert_eq!(
        text_of(&html, "latency-within-share"),
        value["sections"]["latency"]["within_requirement_percent"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        text_of(&html, "verdict-overall"),
        value["overall_verdict"].as_str().unwrap()
    );
    assert_eq!(text_of(&html, "verdict-overall"), "WARN");
    for (name, verdict) in report.section_verdicts() {
        assert_eq!(
            text_of(&html, &format!("verdict-{name}")),
            verdict.as_str(),
            "{name}"
        );
    }
    for heading in [
        "Immutability",
        "Audit log",
        "Latency",
        "Backups",
        "Integrity",
        "Alarms",
    ] {
        assert!(html.contains(&format!(">{heading}</h2>")), "{heading}");
    }
    assert!(html.contains("@media print"));
    assert!(html.contains("<svg"));
}

/// The access review puts an auditor's reads beside the producers' writes, marked as reads.
#[test]
fn the_access_review_shows_reads_beside_writes() {
    let mut scenario = healthy();
    let mut read = scenario.events[0].clone();
    read.event_type = AuditEventType::RecordsRead;
    read.actor = "arn:aws:iam::123456789012:user/auditor".into();
    read.details = serde_json::json!({"route": "GET /signals/{signal_id}/proof"});
    scenario.events.push(read);
    let report = scenario.build();
    let rows = &json(&report)["sections"]["audit_log"]["access_review"];
    let accesses: Vec<(&str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["actor"].as_str().unwrap(), r["access"].as_str().unwrap()))
        .collect();
    assert!(
        accesses.contains(&("arn:aws:iam::123456789012:user/auditor", "read")),
        "{accesses:?}"
    );
    assert!(
        accesses.iter().any(|(_, access)| *access == "write"),
        "{accesses:?}"
    );
    let html = render_html(&report);
    assert!(html.contains("<th>Access</th>"));
    let row = html
        .split("<tr class=\"access-read\">")
        .nth(1)
        .expect("a row marked as a read");
    assert!(row.starts_with("<td class=\"mono\">arn:aws:iam::123456789012:user/auditor</td><td>read</td><td>RECORDS_READ</td>"), "{row}");
}

#[test]
fn the_html_escapes_input_text_and_loads_nothing() {
    let mut scenario = healthy();
    let mut attempt = refused(
        AuditEventType::DeleteAttempt,
        "<script>alert('actor')</script>",
    );
    attempt.reason =
        Some("<script>alert(\"rationale\")</script> & <img src=x onerror=alert(1)>".into());
    scenario.events.push(attempt);
    scenario.inputs.alarms = AlarmsEvidence::Unavailable {
        reason: "<script>document.write('x')</script>".into(),
    };
    scenario.entries[3].entry.content.symbol = "<b>AAPL</b>".into();
    let html = render_html(&scenario.build());
    assert!(html.contains("&lt;script&gt;alert('actor')&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("&amp;"));
    let lower = html.to_lowercase();
    for forbidden in [
        "<script",
        "http://",
        "https://",
        "<img",
        "<link",
        "@import",
        "url(",
        " src=\"",
        " href=\"http",
    ] {
        assert!(!lower.contains(forbidden), "{forbidden} found");
    }
}

#[test]
fn a_report_without_signals_renders() {
    let mut scenario = healthy();
    scenario.entries.clear();
    scenario.events.clear();
    scenario.inputs.backups.clear();
    scenario.inputs.sweeps.clear();
    scenario.inputs.verifications.clear();
    scenario.inputs.latest_checkpoint = None;
    let report = scenario.build();
    let value = json(&report);
    assert_eq!(
        value["sections"]["latency"]["p95_ms"],
        serde_json::Value::Null
    );
    assert_eq!(
        value["sections"]["latency"]["within_requirement_percent"],
        serde_json::Value::Null
    );
    let html = render_html(&report);
    assert_eq!(text_of(&html, "latency-p95"), "n/a");
    assert_eq!(text_of(&html, "latency-count"), "0");
    assert_eq!(
        report.overall_verdict(),
        Verdict::Fail,
        "a past day without backup"
    );
}

#[test]
fn a_long_period_renders_every_day() {
    let mut scenario = healthy();
    scenario.inputs.generated_at = timestamp("2026-12-01T06:00:00Z");
    scenario.inputs.period = PeriodRequest {
        month: Some("2026-11".into()),
        ..PeriodRequest::default()
    }
    .resolve(scenario.inputs.generated_at)
    .unwrap();
    scenario.inputs.backups[1].manifest_object = locked("AES256");
    let report = scenario.build();
    let value = json(&report);
    assert_eq!(value["period"]["label"], "2026-11");
    assert_eq!(
        value["sections"]["backups"]["days"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    assert_eq!(
        value["sections"]["audit_log"]["per_day"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    assert_eq!(
        value["sections"]["latency"]["daily_volumes"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    assert_eq!(section_verdict(&report, "backups"), Verdict::Fail);
    let html = render_html(&report);
    assert!(html.contains("MISSING"));
}

fn receipt_event(subscriber: &str, latency_ms: i64) -> crate::domain::audit::AuditEvent {
    crate::domain::audit::AuditEvent {
        event_id: format!("receipt-{subscriber}-{latency_ms}"),
        occurred_at: timestamp("2026-11-28T12:00:00Z"),
        event_type: AuditEventType::ReceiptRecorded,
        actor: "arn:aws:iam::123456789012:role/gateway".into(),
        request_id: "r".into(),
        signal_id: Some("s-1".into()),
        chain_index: Some(1),
        reason: None,
        excerpt: None,
        details: serde_json::json!({"subscriber": subscriber, "client_latency_ms": latency_ms}),
    }
}

#[test]
fn client_delivery_latency_is_reported_and_a_slow_p95_warns() {
    let mut scenario = healthy();
    for latency in [120, 180, 240] {
        scenario.events.push(receipt_event("desk-fast", latency));
    }
    let report = scenario.build();
    assert_eq!(section_verdict(&report, "latency"), Verdict::Pass);
    let client = &json(&report)["sections"]["latency"]["client_delivery"];
    assert_eq!(client["receipts"], 3);
    assert_eq!(client["p95_ms"], 240);
    assert_eq!(client["slowest_subscribers"][0]["subscriber"], "desk-fast");

    scenario.events.push(receipt_event("desk-slow", 2_400));
    scenario.events.push(receipt_event("desk-slow", 900));
    let report = scenario.build();
    assert_eq!(section_verdict(&report, "latency"), Verdict::Warn);
    let value = json(&report);
    let latency = &value["sections"]["latency"];
    assert!(
        latency["reasons"]
            .to_string()
            .contains("client delivery latency"),
        "{latency}"
    );
    let client = &latency["client_delivery"];
    assert_eq!(client["receipts"], 5);
    assert_eq!(client["p95_ms"], 2_400);
    assert_eq!(client["within_requirement_percent"], "60.00");
    assert_eq!(client["slowest_subscribers"][0]["subscriber"], "desk-slow");
    assert_eq!(client["slowest_subscribers"][0]["p95_ms"], 2_400);
    let html = render_html(&report);
    for (id, key) in [
        ("client-count", "receipts"),
        ("client-p50", "p50_ms"),
        ("client-p95", "p95_ms"),
        ("client-max", "max_ms"),
    ] {
        assert_eq!(text_of(&html, id), client[key].to_string(), "{id}");
    }
    assert!(html.contains("desk-slow"));
}
