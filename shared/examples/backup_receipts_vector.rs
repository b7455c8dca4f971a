//! Writes the receipts vectors of a backup (`docs/ledger-format.md` §8.6) beside the entries
//! vector: `receipts_backup_20261129.csv`, three delivery receipts of the entries of
//! `signals_backup_20261128.csv` with awkward cells, and `signals_backup_20261129.json`, the
//! format-2 manifest that lists it, chained to the format-1 manifest `signals_backup_20261128.json`.
//!
//! The committed files are the reference (`cargo test -p shared --lib backup` checks them); run
//! this only to change them: `cargo run -p shared --example backup_receipts_vector docs/vectors/backup`

use std::path::PathBuf;

use anyhow::Context;
use shared::domain::backup::{
    CsvObject, IndexRange, Manifest, ManifestFormat, ReceiptsBackup, manifest_key, read_rows,
    receipts_csv_key, write_receipt_row, write_receipts_header,
};
use shared::domain::hash::Hash;
use shared::domain::receipt::{Receipt, ReceiptRequest, StoredReceipt, Subscriber};
use shared::domain::timestamp::Timestamp;

fn main() -> anyhow::Result<()> {
    let folder = PathBuf::from(std::env::args().nth(1).context("usage: OUT_DIR")?);
    let entries = read_rows(&std::fs::read(folder.join("signals_backup_20261128.csv"))?)?;
    let previous_bytes = std::fs::read(folder.join("signals_backup_20261128.json"))?;
    let previous = Manifest::parse(&previous_bytes)?;
    let instant = |text: &str| Timestamp::parse_rfc3339(text).context("timestamp");
    // (entry, subscriber, delivered after generated_at in ms, recorded_at, submitter); in CSV
    // order: by recorded_at, then signal id, then subscriber.
    let cases = [
        (
            0,
            "-pager.ops",
            2_500,
            "2026-11-28T09:30:00.401122Z",
            "=cmd|' /C calc'!A0,\"quoted\"",
        ),
        (
            0,
            "desk-7.ws-gateway",
            380,
            "2026-11-28T09:30:00.401122Z",
            "arn:aws:sts::123456789012:assumed-role/ws-gateway/eu-1",
        ),
        (
            3,
            "mobile:push-2",
            0,
            "2026-11-28T23:59:59.999999Z",
            "anonymous — désk ✓",
        ),
    ];
    let mut rows = Vec::new();
    for (index, subscriber, latency_ms, recorded_at, submitter) in cases {
        let signal = &entries[index];
        let generated = signal.entry.content.generated_at;
        let request = ReceiptRequest {
            subscriber: Subscriber::parse(subscriber)?,
            delivered_at: Timestamp::from_datetime(
                generated.as_datetime() + time::Duration::milliseconds(latency_ms),
            )?,
        };
        rows.push(StoredReceipt::seal(Receipt::assemble(
            signal,
            request,
            instant(recorded_at)?,
            submitter.to_owned(),
        )));
    }
    let mut csv = Vec::new();
    write_receipts_header(&mut csv);
    for row in &rows {
        write_receipt_row(&mut csv, row);
    }
    let backup_id = "20261129".parse()?;
    let manifest = Manifest {
        format: ManifestFormat::V2,
        backup_id,
        created_at: instant("2026-11-29T02:00:01Z")?,
        index_range: IndexRange {
            from: previous.index_range.to,
            to: previous.index_range.to,
        },
        row_count: 0,
        first_previous_hash: previous.last_entry_hash,
        last_entry_hash: previous.last_entry_hash,
        merkle_root: previous.merkle_root,
        compact_range: previous.compact_range.clone(),
        csv: None,
        receipts: Some(ReceiptsBackup {
            recorded_from: None,
            recorded_until: instant("2026-11-29T01:55:00Z")?,
            row_count: rows.len() as u64,
            csv: Some(CsvObject {
                key: receipts_csv_key(&backup_id),
                sha256: Hash::sha256(&csv),
                bytes: csv.len() as u64,
                version_id: "tZ3c8rVq0bLk2NwYpXh5Jd7Ue1GsAo9F".to_owned(),
            }),
        }),
        retain_until: instant("2033-11-27T02:00:01Z")?,
        previous_manifest_sha256: Hash::sha256(&previous_bytes),
    };
    manifest.check()?;
    let name = manifest_key(&backup_id);
    let name = name.rsplit('/').next().context("manifest name")?;
    std::fs::write(folder.join("receipts_backup_20261129.csv"), &csv)?;
    std::fs::write(folder.join(name), manifest.to_bytes())?;
    // The receipt hashes, for the text of §8.6.
    #[allow(clippy::print_stdout)]
    for row in &rows {
        println!("{}", row.receipt_hash);
    }
    Ok(())
}
