//! The receipts CSV of a backup (`docs/ledger-format.md` §8.6): the delivery receipts recorded in
//! the backup's window, one row per receipt with its `receipt_hash`, in the entries CSV's cell
//! syntax; and the row-by-row checks a verifier makes of it.
//!
//! Promises: [`write_receipt_row`] and [`read_receipt_rows`] round-trip every [`StoredReceipt`]
//! exactly, and the reader accepts only the bytes the writer produces (the same record syntax
//! and formula escape as the entries CSV, refused spellings named by row, line and column);
//! [`check_receipt_rows`] reports every row whose hash, latency, window, order or signal is
//! wrong as a finding naming the row — never a panic.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::hash::Hash;
use crate::domain::receipt::{Receipt, StoredReceipt, Subscriber};
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;

use super::csv::{BackupError, RowReader, canonical_integer, unescape_cell, write_cell};
use super::{BackupId, ReceiptsBackup};

/// The receipts CSV's header row: the receipt fields in tag order (§10), then `receipt_hash`.
pub const RECEIPTS_HEADER: [&str; 9] = [
    "signal_id",
    "chain_index",
    "subscriber",
    "generated_at",
    "delivered_at",
    "recorded_at",
    "client_latency_ms",
    "submitter",
    "receipt_hash",
];

const RECEIPT_COLUMNS: usize = RECEIPTS_HEADER.len();

/// `signals/YYYY/MM/receipts_backup_<id>.csv`, beside the entries CSV of the same backup.
pub fn receipts_csv_key(id: &BackupId) -> String {
    let date = id.date();
    format!(
        "signals/{:04}/{:02}/receipts_backup_{id}.csv",
        date.year(),
        u8::from(date.month())
    )
}

/// Appends the header row and CRLF.
pub fn write_receipts_header(out: &mut Vec<u8>) {
    out.extend_from_slice(RECEIPTS_HEADER.join(",").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The size of the header row with its CRLF: a receipts CSV with a row is larger.
pub fn receipts_header_len() -> u64 {
    let mut header = Vec::new();
    write_receipts_header(&mut header);
    header.len() as u64
}

/// Appends one row: the receipt's 9 cells in [`RECEIPTS_HEADER`] order and CRLF.
pub fn write_receipt_row(out: &mut Vec<u8>, stored: &StoredReceipt) {
    let receipt = &stored.receipt;
    let cells: [Cow<'_, str>; RECEIPT_COLUMNS] = [
        Cow::Borrowed(receipt.signal_id.as_str()),
        Cow::Owned(receipt.chain_index.to_string()),
        Cow::Borrowed(receipt.subscriber.as_str()),
        Cow::Borrowed(receipt.generated_at.as_str()),
        Cow::Borrowed(receipt.delivered_at.as_str()),
        Cow::Borrowed(receipt.recorded_at.as_str()),
        Cow::Owned(receipt.client_latency_ms.to_string()),
        Cow::Borrowed(receipt.submitter.as_str()),
        Cow::Owned(stored.receipt_hash.to_hex()),
    ];
    for (position, cell) in cells.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_cell(out, Some(cell));
    }
    out.extend_from_slice(b"\r\n");
}

/// Why a receipts CSV was refused. Rows are numbered from 1 after the header; `line` is the
/// line the row starts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptsCsvError {
    /// The record syntax is broken (the same rules as the entries CSV, §8.1).
    #[error(transparent)]
    Syntax(BackupError),
    #[error("the file is empty; expected the header row on line 1")]
    MissingHeader,
    #[error("line 1: the header is not `{}`", RECEIPTS_HEADER.join(","))]
    Header,
    #[error("row {row} (line {line}) has {found} columns; expected {RECEIPT_COLUMNS}")]
    ColumnCount { row: u64, line: u64, found: usize },
    #[error("row {row} (line {line}), column {column}: {reason}")]
    Cell {
        row: u64,
        line: u64,
        column: &'static str,
        reason: String,
    },
}

/// Reads a whole receipts CSV held in memory, strictly; the first error ends it.
pub fn read_receipt_rows(bytes: &[u8]) -> Result<Vec<StoredReceipt>, ReceiptsCsvError> {
    let mut reader = RowReader::records(bytes);
    if !reader.read_record(0).map_err(ReceiptsCsvError::Syntax)? {
        return Err(ReceiptsCsvError::MissingHeader);
    }
    let header_matches = reader.ends.len() == RECEIPT_COLUMNS
        && RECEIPTS_HEADER
            .iter()
            .enumerate()
            .all(|(position, name)| reader.cell_bytes(position) == name.as_bytes());
    if !header_matches {
        return Err(ReceiptsCsvError::Header);
    }
    let mut rows = Vec::new();
    let mut row = 0;
    loop {
        row += 1;
        if !reader.read_record(row).map_err(ReceiptsCsvError::Syntax)? {
            return Ok(rows);
        }
        rows.push(parse_receipt_row(&reader, row)?);
    }
}

fn parse_receipt_row<R: BufRead>(
    reader: &RowReader<R>,
    row: u64,
) -> Result<StoredReceipt, ReceiptsCsvError> {
    let line = reader.record_line();
    if reader.ends.len() != RECEIPT_COLUMNS {
        return Err(ReceiptsCsvError::ColumnCount {
            row,
            line,
            found: reader.ends.len(),
        });
    }
    let cell = |column: usize| -> Result<&str, ReceiptsCsvError> {
        let error = |reason: String| ReceiptsCsvError::Cell {
            row,
            line,
            column: RECEIPTS_HEADER[column],
            reason,
        };
        let text = std::str::from_utf8(reader.cell_bytes(column))
            .map_err(|_| error("is not valid UTF-8".to_owned()))?;
        if text.is_empty() {
            return Err(error(
                "is empty, but every receipt field is required".to_owned(),
            ));
        }
        unescape_cell(text).map_err(error)
    };
    fn parsed<T, E: fmt::Display>(
        row: u64,
        line: u64,
        column: usize,
        text: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, ReceiptsCsvError> {
        parse(text).map_err(|error| ReceiptsCsvError::Cell {
            row,
            line,
            column: RECEIPTS_HEADER[column],
            reason: format!("{:?} {error}", text.chars().take(80).collect::<String>()),
        })
    }
    let timestamp = Timestamp::parse_canonical;
    let receipt = Receipt {
        signal_id: parsed(row, line, 0, cell(0)?, SignalId::parse)?,
        chain_index: parsed(row, line, 1, cell(1)?, canonical_integer::<u64>)?,
        subscriber: parsed(row, line, 2, cell(2)?, Subscriber::parse)?,
        generated_at: parsed(row, line, 3, cell(3)?, timestamp)?,
        delivered_at: parsed(row, line, 4, cell(4)?, timestamp)?,
        recorded_at: parsed(row, line, 5, cell(5)?, timestamp)?,
        client_latency_ms: parsed(row, line, 6, cell(6)?, canonical_integer::<i64>)?,
        submitter: cell(7)?.to_owned(),
    };
    Ok(StoredReceipt {
        receipt,
        receipt_hash: parsed(row, line, 8, cell(8)?, Hash::from_str)?,
    })
}

/// The order of rows in a receipts CSV: by `recorded_at`, then signal id, then subscriber
/// (byte order); no two rows share a signal and subscriber.
pub fn receipt_order(receipt: &Receipt) -> (Timestamp, &str, &str) {
    (
        receipt.recorded_at,
        receipt.signal_id.as_str(),
        receipt.subscriber.as_str(),
    )
}

/// One row of a receipts CSV that does not verify. `row` is 1-based after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRowFinding {
    pub row: u64,
    /// `receipt_hash_mismatch`, `receipt_latency_mismatch`, `receipt_outside_window`,
    /// `receipt_out_of_order` or `receipt_signal_not_backed_up`.
    pub kind: &'static str,
    pub message: String,
}

/// Checks the rows of a receipts CSV against §10 and the manifest that lists it: each row's
/// `receipt_hash` is the hash of its fields, its `client_latency_ms` is `delivered_at −
/// generated_at`, its `recorded_at` lies in the manifest's window, the rows are in
/// [`receipt_order`] without repeats, and its signal is in the backups (`chain_index <
/// entries_to`, the manifest's `index_range.to`). The row count is the caller's to compare.
pub fn check_receipt_rows(
    rows: &[StoredReceipt],
    window: &ReceiptsBackup,
    entries_to: u64,
) -> Vec<ReceiptRowFinding> {
    let mut findings = Vec::new();
    let mut previous: Option<&Receipt> = None;
    for (position, stored) in rows.iter().enumerate() {
        let row = position as u64 + 1;
        let receipt = &stored.receipt;
        let mut report = |kind, message| {
            findings.push(ReceiptRowFinding { row, kind, message });
        };
        let recomputed = receipt.compute_hash();
        if recomputed != stored.receipt_hash {
            report(
                "receipt_hash_mismatch",
                format!(
                    "signal {} subscriber {}: the fields hash to {recomputed}, the row says {}",
                    receipt.signal_id, receipt.subscriber, stored.receipt_hash
                ),
            );
        }
        let latency = receipt.delivered_at.millis_since(&receipt.generated_at);
        if latency != receipt.client_latency_ms || latency < 0 {
            report(
                "receipt_latency_mismatch",
                format!(
                    "client_latency_ms is {}; delivered_at − generated_at is {latency} (never negative)",
                    receipt.client_latency_ms
                ),
            );
        }
        if !window.contains(&receipt.recorded_at) {
            report(
                "receipt_outside_window",
                format!(
                    "recorded_at {} is outside the manifest's window {}",
                    receipt.recorded_at, window
                ),
            );
        }
        if let Some(previous) = previous
            && receipt_order(previous) >= receipt_order(receipt)
        {
            report(
                "receipt_out_of_order",
                "the row is not after the row before it (rows are ordered by recorded_at, signal_id, subscriber, without repeats)".to_owned(),
            );
        }
        if receipt.chain_index >= entries_to {
            report(
                "receipt_signal_not_backed_up",
                format!(
                    "signal {} has chain index {}, beyond the backed-up entries [0, {entries_to})",
                    receipt.signal_id, receipt.chain_index
                ),
            );
        }
        previous = Some(receipt);
    }
    findings
}

impl ReceiptsBackup {
    /// Whether `recorded_at` lies in `[recorded_from, recorded_until)` (no lower bound when
    /// `recorded_from` is null).
    pub fn contains(&self, recorded_at: &Timestamp) -> bool {
        self.recorded_from.is_none_or(|from| from <= *recorded_at)
            && *recorded_at < self.recorded_until
    }
}

impl fmt::Display for ReceiptsBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.recorded_from {
            Some(from) => write!(f, "[{from}, {})", self.recorded_until),
            None => write!(f, "[start, {})", self.recorded_until),
        }
    }
}
