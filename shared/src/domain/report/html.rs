//! The report as one self-contained, printable HTML page: inline CSS, inline SVG charts, no
//! script and no external resource.
//!
//! Promise: every text that comes from the inputs (actors, reasons, names, keys) is escaped by
//! the template engine (maud escapes every interpolation); numbers shown under the stable ids
//! (`latency-p95`, …) are formatted from the same values, with the same spelling, as the JSON.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::domain::audit::AuditEventType;
use crate::domain::report::audit_stats::ListedEvents;
use crate::domain::report::sections::{
    AlarmsSection, AuditLogSection, BackupsSection, DayStatus, ImmutabilitySection,
    IntegritySection, LatencySection, Reason,
};
use crate::domain::report::{
    ClientDelivery, ComplianceReport, LATENCY_REQUIREMENT_MS, ObjectLockSeen, Verdict,
};

const CSS: &str = r#"
:root { --ink:#1f2933; --muted:#52606d; --line:#d9dee3; --soft:#f5f7f9;
  --pass:#1d6b45; --pass-bg:#e3f4ea; --warn:#8a5a00; --warn-bg:#fdf1d8; --fail:#a1262d; --fail-bg:#fbe4e4; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--ink); max-width: 64rem; margin: 2rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 0 .5rem 0 0; display: inline-block; }
h3 { font-size: 1rem; margin: 1.25rem 0 .4rem; color: var(--muted); }
.meta { color: var(--muted); margin: 0 0 1.5rem; }
.meta code { color: var(--ink); }
section.part { border-top: 1px solid var(--line); padding-top: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0 .75rem; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; word-break: break-all; }
.badge { display: inline-block; min-width: 3.6rem; text-align: center; font-weight: 700; font-size: .8rem;
  letter-spacing: .04em; padding: .1rem .5rem; border-radius: .25rem; border: 1px solid; }
.badge.pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass); }
.badge.warn { color: var(--warn); background: var(--warn-bg); border-color: var(--warn); }
.badge.fail { color: var(--fail); background: var(--fail-bg); border-color: var(--fail); }
.summary { margin: .5rem 0; }
ul.reasons { margin: .25rem 0 .75rem 1.25rem; padding: 0; }
.stats { display: flex; flex-wrap: wrap; gap: .75rem; margin: .5rem 0 1rem; }
.stat { background: var(--soft); border-radius: .35rem; padding: .4rem .8rem; min-width: 7rem; }
.stat .label { display: block; color: var(--muted); font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; }
.stat .value { font-size: 1.2rem; font-weight: 600; font-variant-numeric: tabular-nums; }
figure { margin: .5rem 0 1rem; }
figcaption { color: var(--muted); font-size: .85rem; }
svg { max-width: 100%; height: auto; }
svg text { font: 10px system-ui, sans-serif; fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1rem; font-size: .8rem; color: var(--muted); margin: .25rem 0; }
.swatch { display: inline-block; width: .75rem; height: .75rem; border-radius: .15rem; margin-right: .3rem; vertical-align: -1px; }
ol.commands li { margin-bottom: .6rem; }
pre { background: var(--soft); padding: .5rem .75rem; border-radius: .3rem; white-space: pre-wrap; word-break: break-all; margin: .25rem 0; }
.muted { color: var(--muted); }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  section.part { break-before: page; page-break-before: always; border-top: none; margin-top: 0; }
  table, figure, pre { break-inside: avoid; page-break-inside: avoid; }
  .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// Calm, distinguishable fills for the audit event types (by declaration order).
const PALETTE: [&str; 13] = [
    "#4c78a8", "#f58518", "#e45756", "#b279a2", "#9d755d", "#bab0ac", "#72b7b2", "#ff9da6",
    "#54a24b", "#eeca3b", "#79706e", "#d67195", "#439894",
];

fn colour(kind: AuditEventType) -> &'static str {
    PALETTE[kind as usize % PALETTE.len()]
}

/// `n/a` for a value the JSON has as `null`, else the value as the JSON spells it.
fn num(value: Option<i64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

fn badge(verdict: Verdict) -> Markup {
    html! { span class=(format!("badge {}", verdict.as_str().to_lowercase())) { (verdict.as_str()) } }
}

fn badge_with_id(verdict: Verdict, id: &str) -> Markup {
    html! {
        span id=(id) class=(format!("badge {}", verdict.as_str().to_lowercase())) { (verdict.as_str()) }
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "—".to_owned(), ToString::to_string)
}

/// The whole report as one HTML document.
pub fn render_html(report: &ComplianceReport) -> String {
    let sections = &report.sections;
    let titles = [
        ("immutability", "Immutability"),
        ("audit_log", "Audit log"),
        ("latency", "Latency"),
        ("backups", "Backups"),
        ("integrity", "Integrity"),
        ("alarms", "Alarms"),
    ];
    let summaries = [
        &sections.immutability.summary,
        &sections.audit_log.summary,
        &sections.latency.summary,
        &sections.backups.summary,
        &sections.integrity.summary,
        &sections.alarms.summary,
    ];
    let verdicts = report.section_verdicts();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Compliance report " (report.period.label()) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "Compliance report" }
                    p.meta {
                        "Period " code { (report.period.from()) } " to " code { (report.period.to()) }
                        " (end exclusive, UTC), generated " code { (report.generated_at) } "." br;
                        "Signals table " code { (report.resources.signals_table) }
                        ", audit table " code { (report.resources.audit_table) }
                        ", vault bucket " code { (report.resources.vault_bucket) } "." br;
                        "Ledger at generation: " (report.ledger.tree_size) " entries, head "
                        code { (opt(&report.ledger.head_hash)) } ". Schema " code { (report.schema) } "."
                    }
                }
                table.verdicts {
                    thead { tr { th { "Section" } th { "Verdict" } th { "Summary" } } }
                    tbody {
                        tr {
                            th { "Overall" }
                            td { (badge_with_id(report.overall_verdict, "verdict-overall")) }
                            td { "The worst of the six section verdicts." }
                        }
                        @for (((key, title), (_, verdict)), summary) in titles.iter().zip(&verdicts).zip(summaries) {
                            tr {
                                td { a href=(format!("#{key}")) { (title) } }
                                td { (badge_with_id(*verdict, &format!("verdict-{key}"))) }
                                td { (summary) }
                            }
                        }
                    }
                }
                (immutability(&sections.immutability))
                (audit_log(&sections.audit_log))
                (latency(&sections.latency))
                (backups(&sections.backups))
                (integrity(&sections.integrity))
                (alarms(&sections.alarms))
                footer.muted {
                    p { "How each section is judged: docs/compliance-report.md in the ledger's repository. This page has no script and loads nothing." }
                }
            }
        }
    };
    page.into_string()
}

fn heading(key: &str, title: &str, verdict: Verdict, summary: &str, reasons: &[Reason]) -> Markup {
    html! {
        h2 id=(key) { (title) } (badge(verdict))
        p.summary { (summary) }
        @if reasons.len() > 1 {
            ul.reasons {
                @for reason in reasons { li { (badge(reason.verdict)) " " (reason.message) } }
            }
        }
    }
}

fn stat(label: &str, id: Option<&str>, value: &str) -> Markup {
    html! {
        div.stat {
            span.label { (label) }
            @match id {
                Some(id) => span.value id=(id) { (value) },
                None => span.value { (value) },
            }
        }
    }
}

fn lock(seen: &ObjectLockSeen) -> Markup {
    html! {
        (opt(&seen.lock_mode)) " until " (opt(&seen.retain_until)) ", " (opt(&seen.server_side_encryption))
    }
}

/// `what` is the plural noun phrase; one event drops its final `s`.
fn events_table(events: &ListedEvents, what: &str) -> Markup {
    let noun = if events.total == 1 {
        what.strip_suffix('s').unwrap_or(what)
    } else {
        what
    };
    html! {
        @if events.total == 0 {
            p.muted { "No " (what) " in the period." }
        } @else {
            p { (events.total) " " (noun) (if events.listed.len() < events.total as usize { format!(", the first {} listed", events.listed.len()) } else { String::new() }) "." }
            table {
                thead { tr { th { "Time" } th { "Type" } th { "Actor" } th { "Signal" } th { "Request" } th { "Reason" } } }
                tbody {
                    @for e in &events.listed {
                        tr {
                            td.mono { (e.occurred_at) } td { (e.event_type) } td.mono { (e.actor) }
                            td.mono { (opt(&e.signal_id)) } td.mono { (e.request_id) } td { (opt(&e.reason)) }
                        }
                    }
                }
            }
        }
    }
}

fn immutability(s: &ImmutabilitySection) -> Markup {
    html! {
        section.part {
            (heading("immutability", "Immutability", s.verdict, &s.summary, &s.reasons))
            h3 { "Tables" }
            table {
                thead { tr { th { "Role" } th { "Table" } th { "Deletion protection" } th { "Point-in-time recovery" } th { "Stream" } th { "Encryption" } } }
                tbody {
                    @for t in &s.tables {
                        tr {
                            td { (t.role.as_str()) } td.mono { (t.table_name) }
                            td { (yes_no(t.deletion_protection)) } td { (yes_no(t.point_in_time_recovery)) }
                            td { (t.stream_view_type.as_deref().unwrap_or("none")) } td { (t.sse) }
                        }
                    }
                }
            }
            h3 { "Refused modification and deletion attempts" }
            p.muted { "Each was answered 405 and recorded: the ledger refusing a change is the control working." }
            (events_table(&s.refused_attempts, "refused attempts"))
            h3 { "Tamper detection" }
            (events_table(&s.tamper_events, "TAMPER_DETECTED events"))
        }
    }
}

/// One drawn bar: its label, total, centre and stacked rectangles `(y, height, fill, value)`.
struct Bar<'a> {
    label: &'a str,
    total: u64,
    x: f64,
    rects: Vec<(f64, f64, &'a str, u64)>,
}

/// A bar chart; each bar is a stack of (value, fill) segments. Labels are drawn for every
/// `every_nth_label`-th bar and the last; totals above bars when there are at most 31.
fn bar_chart(caption: &str, bars: &[(String, Vec<(u64, &str)>)], every_nth_label: usize) -> Markup {
    let (width, height, left, bottom, top) = (720.0_f64, 220.0_f64, 44.0, 34.0, 14.0);
    let plot_height = height - bottom - top;
    let base = top + plot_height;
    let max = bars
        .iter()
        .map(|(_, segments)| segments.iter().map(|(v, _)| v).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (width - left - 8.0) / bars.len().max(1) as f64;
    let bar_width = (slot * 0.75).clamp(1.0, 48.0);
    let scale = |v: u64| v as f64 / max as f64 * plot_height;
    let every = every_nth_label.max(1);
    let drawn: Vec<Bar> = bars
        .iter()
        .enumerate()
        .map(|(i, (label, segments))| {
            let x = left + slot * i as f64 + (slot - bar_width) / 2.0;
            let mut y = base;
            let mut rects = Vec::new();
            for (value, fill) in segments.iter().filter(|(v, _)| *v > 0) {
                let h = scale(*value);
                y -= h;
                rects.push((y, h, *fill, *value));
            }
            Bar {
                label,
                total: segments.iter().map(|(v, _)| v).sum(),
                x,
                rects,
            }
        })
        .collect();
    let last = drawn.len().saturating_sub(1);
    html! {
        figure {
            svg viewBox=(format!("0 0 {width} {height}")) role="img" aria-label=(caption) {
                title { (caption) }
                line x1=(left) y1=(base) x2=(width - 4.0) y2=(base) stroke="#9aa5b1" {}
                text x=(left - 6.0) y=(top + 4.0) text-anchor="end" { (max) }
                text x=(left - 6.0) y=(base) text-anchor="end" { "0" }
                @for (i, bar) in drawn.iter().enumerate() {
                    @for (y, h, fill, value) in &bar.rects {
                        rect x=(format!("{:.1}", bar.x)) y=(format!("{y:.1}")) width=(format!("{bar_width:.1}")) height=(format!("{h:.1}")) fill=(fill) {
                            title { (bar.label) ": " (value) }
                        }
                    }
                    @if bar.total > 0 && drawn.len() <= 31 {
                        text x=(format!("{:.1}", bar.x + bar_width / 2.0)) y=(format!("{:.1}", base - scale(bar.total) - 3.0)) text-anchor="middle" { (bar.total) }
                    }
                    @if i % every == 0 || i == last {
                        text x=(format!("{:.1}", bar.x + bar_width / 2.0)) y=(base + 14.0) text-anchor="middle" { (bar.label) }
                    }
                }
            }
            figcaption { (caption) }
        }
    }
}

fn label_step(count: usize) -> usize {
    count.div_ceil(12).max(1)
}

fn short_date(date: &str) -> String {
    date.get(5..).unwrap_or(date).to_owned()
}

fn audit_log(s: &AuditLogSection) -> Markup {
    let kinds: Vec<AuditEventType> = s.totals_by_type.keys().copied().collect();
    let bars: Vec<(String, Vec<(u64, &str)>)> = s
        .per_day
        .iter()
        .map(|day| {
            let segments = kinds
                .iter()
                .map(|kind| (day.counts.get(kind).copied().unwrap_or(0), colour(*kind)))
                .collect();
            (short_date(&day.date), segments)
        })
        .collect();
    html! {
        section.part {
            (heading("audit_log", "Audit log", s.verdict, &s.summary, &s.reasons))
            div.stats {
                (stat("Events", None, &s.total_events.to_string()))
                (stat("Actors", None, &s.distinct_actors.len().to_string()))
                (stat("Audit write errors", None, &s.audit_write_errors.map_or_else(|| "unknown".to_owned(), |n| n.to_string())))
                (stat("SIGNAL_INSERTED", None, &s.inserts.signal_inserted_events.to_string()))
                (stat("Entries received", None, &s.inserts.entries_in_period.to_string()))
            }
            (bar_chart("Audit events per day, stacked by type", &bars, label_step(bars.len())))
            div.legend {
                @for kind in &kinds { span { span.swatch style=(format!("background:{}", colour(*kind))) {} (kind) } }
            }
            h3 { "Totals by type" }
            table {
                thead { tr { th { "Event type" } th.num { "Count" } } }
                tbody { @for (kind, count) in &s.totals_by_type { tr { td { (kind) } td.num { (count) } } } }
            }
            h3 { "Access review" }
            table {
                thead { tr { th { "Actor" } th { "Access" } th { "Event type" } th.num { "Count" } th { "First" } th { "Last" } } }
                tbody {
                    @for row in &s.access_review {
                        tr class=(format!("access-{}", row.access.as_str())) { td.mono { (row.actor) } td { (row.access.as_str()) } td { (row.event_type) } td.num { (row.count) } td.mono { (row.first) } td.mono { (row.last) } }
                    }
                }
            }
            @if s.access_review_events_not_listed > 0 {
                p.muted { (s.access_review_events_not_listed) " further events of other actor and type pairs are counted above but not listed." }
            }
        }
    }
}

fn latency(s: &LatencySection) -> Markup {
    let histogram: Vec<(String, Vec<(u64, &str)>)> = s
        .histogram
        .iter()
        .map(|b| {
            let within = b.upper_ms.is_some_and(|u| u <= LATENCY_REQUIREMENT_MS);
            (
                b.label.clone(),
                vec![(b.count, if within { "#4c78a8" } else { "#e45756" })],
            )
        })
        .collect();
    let volumes: Vec<(String, Vec<(u64, &str)>)> = s
        .daily_volumes
        .iter()
        .map(|d| (short_date(&d.date), vec![(d.signals, "#72b7b2")]))
        .collect();
    html! {
        section.part {
            (heading("latency", "Latency", s.verdict, &s.summary, &s.reasons))
            div.stats {
                (stat("Signals", Some("latency-count"), &s.count.to_string()))
                (stat("p50 ms", Some("latency-p50"), &num(s.p50_ms)))
                (stat("p95 ms", Some("latency-p95"), &num(s.p95_ms)))
                (stat("p99 ms", Some("latency-p99"), &num(s.p99_ms)))
                (stat("Max ms", Some("latency-max"), &num(s.max_ms)))
                (stat("Min ms", None, &num(s.min_ms)))
                (stat(&format!("% within {} ms", s.requirement_ms), Some("latency-within-share"), s.within_requirement_percent.as_deref().unwrap_or("n/a")))
                (stat("Negative latencies", None, &s.negative_latencies.to_string()))
            }
            p.muted {
                "Percentiles are exact, by the nearest-rank method: the smallest latency such that at least p% of the signals are at or below it. "
                "A negative latency means the producer's clock was ahead of the ledger's."
            }
            (bar_chart("Delivery latency histogram (ms, upper bounds inclusive)", &histogram, 1))
            (bar_chart("Signals received per day", &volumes, label_step(volumes.len())))
            h3 { "Slowest signals" }
            table {
                thead { tr { th { "Signal" } th.num { "Index" } th { "Symbol" } th { "Received" } th.num { "Latency ms" } } }
                tbody {
                    @for w in &s.worst_signals {
                        tr { td.mono { (w.signal_id) } td.num { (w.chain_index) } td { (w.symbol) } td.mono { (w.received_at) } td.num { (w.latency_ms) } }
                    }
                }
            }
            (client_delivery(&s.client_delivery, s.requirement_ms))
        }
    }
}

fn client_delivery(c: &ClientDelivery, requirement_ms: i64) -> Markup {
    html! {
        h3 { "Client delivery (signal generated → subscriber receipt)" }
        @if c.receipts == 0 {
            p.muted { "No delivery receipt was recorded in the period." }
        } @else {
            div.stats {
                (stat("Receipts", Some("client-count"), &c.receipts.to_string()))
                (stat("Subscribers", None, &c.subscribers.to_string()))
                (stat("p50 ms", Some("client-p50"), &num(c.p50_ms)))
                (stat("p95 ms", Some("client-p95"), &num(c.p95_ms)))
                (stat("p99 ms", Some("client-p99"), &num(c.p99_ms)))
                (stat("Max ms", Some("client-max"), &num(c.max_ms)))
                (stat(&format!("% within {requirement_ms} ms"), Some("client-within-share"), c.within_requirement_percent.as_deref().unwrap_or("n/a")))
            }
            p.muted {
                "From the RECEIPT_RECORDED audit events of the period: delivered_at (subscriber clock) − generated_at (producer clock), exact nearest-rank percentiles."
                @if c.receipts_of_untracked_subscribers > 0 {
                    " " (c.receipts_of_untracked_subscribers) " receipts of subscribers beyond the tracked limit count in these figures but not in the table below."
                }
                @if c.unreadable_receipt_events > 0 {
                    " " (c.unreadable_receipt_events) " receipt events could not be read and are not counted."
                }
            }
            h4 { "Slowest subscribers" }
            table {
                thead { tr { th { "Subscriber" } th.num { "Receipts" } th.num { "p95 ms" } th.num { "Max ms" } } }
                tbody {
                    @for row in &c.slowest_subscribers {
                        tr { td.mono { (row.subscriber) } td.num { (row.receipts) } td.num { (row.p95_ms) } td.num { (row.max_ms) } }
                    }
                }
            }
        }
    }
}

fn backups(s: &BackupsSection) -> Markup {
    html! {
        section.part {
            (heading("backups", "Backups", s.verdict, &s.summary, &s.reasons))
            p { (s.coverage.statement) }
            table {
                thead { tr { th { "Day" } th { "Status" } th { "Backup" } th.num { "Rows" } th { "Indexes" } th { "CSV" } th { "Lock, retain until, encryption" } th { "Verifications finished" } } }
                tbody {
                    @for day in &s.days {
                        @let status = match day.status { DayStatus::Backed => "backed up", DayStatus::Missing => "MISSING", DayStatus::Pending => "pending (today)", DayStatus::NotDue => "not due" };
                        @let verifications = html! {
                            @for v in &day.verifications { div { (if v.passed { "passed" } else { "FAILED" }) " " span.mono { (v.run_id) } } }
                        };
                        @if day.backups.is_empty() {
                            tr { td.mono { (day.date) } td { (status) } td colspan="5" { "—" } td { (verifications) } }
                        }
                        @for (i, b) in day.backups.iter().enumerate() {
                            tr {
                                td.mono { (day.date) } td { (status) } td.mono { (b.backup_id) } td.num { (b.rows) }
                                td.mono { (b.index_range.from) "–" (b.index_range.to) } td.mono { (opt(&b.csv_key)) }
                                td { "manifest: " (lock(&b.manifest_object))
                                    @if let Some(csv) = &b.csv_object { br; "csv: " (lock(csv)) } }
                                td { @if i == 0 { (verifications) } }
                            }
                        }
                    }
                }
            }
            @if let Some(v) = &s.latest_verification {
                h3 { "Latest verification" }
                p { span.mono { (v.run_id) } " (" (v.mode) ") finished " span.mono { (v.finished_at) } ": "
                    (if v.passed { "passed" } else { "FAILED" }) ", " (v.manifests_checked) " manifests and " (v.rows_checked) " rows checked, restore drill "
                    (v.restore_drill_matches.map_or("not run", |m| if m { "matches" } else { "DIFFERS" })) "." }
            }
            @if !s.object_problems.is_empty() {
                h3 { "Object problems" }
                ul { @for p in &s.object_problems { li { (p) } } }
            }
        }
    }
}

fn integrity(s: &IntegritySection) -> Markup {
    let sweeps = [
        ("Last incremental sweep", &s.last_incremental),
        ("Last full sweep", &s.last_full),
    ];
    html! {
        section.part {
            (heading("integrity", "Integrity", s.verdict, &s.summary, &s.reasons))
            table {
                thead { tr { th { "Sweep" } th { "Finished" } th { "Result" } th.num { "Entries verified" } th.num { "Tree size" } th { "Root" } } }
                tbody {
                    @for (name, sweep) in sweeps {
                        @match sweep {
                            Some(w) => tr { td { (name) } td.mono { (w.finished_at) } td { (if w.passed { "passed" } else { "FAILED" }) } td.num { (w.entries_verified) } td.num { (w.tree_size) } td.mono { (w.root) } },
                            None => tr { td { (name) } td colspan="5" { "none" } },
                        }
                    }
                }
            }
            p { (s.sweeps_in_period) " sweeps in the period, " (s.failed_sweeps_in_period.len()) " failed." }
            h3 { "Entries of the period" }
            p { (s.period_chain_check.entries_checked) " entries re-hashed and their links checked (indexes "
                (opt(&s.period_chain_check.first_index)) "–" (opt(&s.period_chain_check.last_index)) "): "
                (s.period_chain_check.findings_total) " findings." }
            @if !s.period_chain_check.findings.is_empty() {
                ul { @for f in &s.period_chain_check.findings { li { (f.kind.name()) " at index " (f.index) } } }
            }
            h3 { "Latest checkpoint" }
            @match &s.latest_checkpoint {
                None => p { "No checkpoint." },
                Some(c) => table {
                    tbody {
                        tr { th { "Key" } td.mono { (c.checkpoint.key) } }
                        tr { th { "Tree size" } td { (c.checkpoint.tree_size) } }
                        tr { th { "Root" } td.mono { (c.checkpoint.root) br; (c.root_base64) } }
                        tr { th { "Head entry hash" } td.mono { (c.checkpoint.head_hash) } }
                        tr { th { "Time" } td.mono { (c.checkpoint.time) } }
                        tr { th { "Signed" } td { (yes_no(c.checkpoint.signed)) @if let Some(k) = &c.checkpoint.signing_key_id { " by " span.mono { (k) } } } }
                        tr { th { "Signature valid" } td { (c.checkpoint.signature_valid.map_or("not checked", |v| if v { "yes" } else { "NO" })) } }
                        tr { th { "Lock" } td { (lock(&c.checkpoint.object)) } }
                    }
                },
            }
            h3 { "Check it yourself" }
            p.muted { "Run from a checkout of the ledger's repository with the AWS CLI, OpenSSL and Python 3." }
            ol.commands {
                @for c in &s.auditor_commands { li { (c.purpose) pre { code { (c.command) } } } }
            }
        }
    }
}

fn alarms(s: &AlarmsSection) -> Markup {
    html! {
        section.part {
            (heading("alarms", "Alarms", s.verdict, &s.summary, &s.reasons))
            @if let Some(reason) = &s.unavailable_reason {
                p { "Alarms could not be read: " (reason) }
            } @else {
                table {
                    thead { tr { th { "Alarm" } th { "State" } th { "Since" } th { "Reason" } } }
                    tbody {
                        @for a in &s.alarms { tr { td.mono { (a.name) } td { (a.state) } td.mono { (opt(&a.updated_at)) } td { (opt(&a.reason)) } } }
                    }
                }
                h3 { "State changes in the period" }
                @if let Some(reason) = &s.history_unavailable_reason {
                    p.muted { "The state history could not be read: " (reason) }
                } @else if s.history_in_period.is_empty() {
                    p.muted { "None." }
                } @else {
                    table {
                        thead { tr { th { "Time" } th { "Alarm" } th { "Change" } } }
                        tbody { @for t in &s.history_in_period { tr { td.mono { (t.at) } td.mono { (t.name) } td { (t.summary) } } } }
                    }
                }
            }
        }
    }
}
