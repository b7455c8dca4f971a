//! The nightly backup's pure core: the CSV file entries are backed up to, and the backup manifest
//! with its own hash chain (`docs/ledger-format.md` §8). No I/O beyond the caller's `BufRead`, no
//! clock, no AWS: the backup and verify-backup functions stream through these types.
//!
//! Promises:
//! - **Exact round trip.** [`write_row`] writes every field of a [`StoredEntry`] in its canonical
//!   stored form and [`RowReader`] gives back exactly that entry, so each row re-hashes to its
//!   `entry_hash`. This holds for every `StoredEntry` value, including ones validation would
//!   refuse (an empty present value is spelled `'`).
//! - **One spelling per file.** The reader accepts only what the writer produces: the exact
//!   header, CRLF row ends, quotes exactly where RFC 4180 needs them, the formula escape exactly
//!   where it is needed, canonical values. Anything else is an error naming the row, its line and
//!   the column — never normalised — so `write(read(file)) == file` for every accepted file.
//! - **No formulas.** No cell of a written file starts with `=`, `+`, `-`, `@`, TAB, CR or LF
//!   (nor the full-width `＝` `＋` `－` `＠`): such a value is written with a leading `'`.
//! - **Bounded memory.** Writing appends one row to the caller's buffer; reading holds one row of
//!   at most [`MAX_ROW_BYTES`].
//! - **Manifests are canonical and chained.** [`Manifest::parse`] accepts only the bytes
//!   [`Manifest::to_bytes`] writes for a consistent manifest; [`verify_manifest_chain`] reports
//!   every broken link, gap, overlap or hash mismatch between manifests as data, never a panic.
//!
//! Why a hand-written CSV codec rather than the `csv` crate: the file uses a small, fixed subset
//! of RFC 4180 (20 columns, CRLF, `"` quoting) with one canonical spelling, and the reader must
//! *refuse* every other spelling (needless quotes, bare LF, text after a closing quote, a missing
//! final CRLF). The `csv` reader is deliberately lenient and does not expose whether a field was
//! quoted, so strictness would need a second pass over the raw bytes; the state machine below is
//! short, and `docs/vectors/backup/check_backup.py` cross-checks it with Python's `csv` module.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::domain::decimal::ExactDecimal;
use crate::domain::entry::{Entry, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::merkle::{self, CompactRange};
use crate::domain::signal::{Action, SignalContent, SignalId};
use crate::domain::timestamp::Timestamp;

// ---- CSV ------------------------------------------------------------------------------------

/// The header row: every entry field in canonical tag order (§1), then `entry_hash`.
pub const HEADER: [&str; 20] = [
    "schema_version",
    "chain_index",
    "previous_hash",
    "signal_id",
    "symbol",
    "action",
    "entry_price",
    "target_price",
    "stop_loss",
    "confidence",
    "rationale",
    "generated_at",
    "producer",
    "model",
    "model_version",
    "received_at",
    "delivery_latency_ms",
    "retention_expires_at",
    "submitter",
    "entry_hash",
];

/// A value starting with one of these is written with a leading `'` (see [`escape_cell`]):
/// the OWASP CSV-injection characters, LF, the full-width forms some spreadsheets also treat as
/// formula starts, and `'` itself (so that the escape is reversible).
pub const FORMULA_TRIGGERS: [char; 12] = [
    '=', '+', '-', '@', '\t', '\r', '\n', '\'', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// The reader refuses a row longer than this (a validated entry's row is a few KiB at most), so
/// a damaged file (e.g. an unterminated quote) cannot make it buffer without bound.
pub const MAX_ROW_BYTES: usize = 1 << 20;

const COLUMNS: usize = HEADER.len();
/// How much of a refused value an error quotes.
const EXCERPT_CHARS: usize = 80;

/// Column positions, as in [`HEADER`].
mod col {
    pub const SCHEMA_VERSION: usize = 0;
    pub const CHAIN_INDEX: usize = 1;
    pub const PREVIOUS_HASH: usize = 2;
    pub const SIGNAL_ID: usize = 3;
    pub const SYMBOL: usize = 4;
    pub const ACTION: usize = 5;
    pub const ENTRY_PRICE: usize = 6;
    pub const TARGET_PRICE: usize = 7;
    pub const STOP_LOSS: usize = 8;
    pub const CONFIDENCE: usize = 9;
    pub const RATIONALE: usize = 10;
    pub const GENERATED_AT: usize = 11;
    pub const PRODUCER: usize = 12;
    pub const MODEL: usize = 13;
    pub const MODEL_VERSION: usize = 14;
    pub const RECEIVED_AT: usize = 15;
    pub const DELIVERY_LATENCY_MS: usize = 16;
    pub const RETENTION_EXPIRES_AT: usize = 17;
    pub const SUBMITTER: usize = 18;
    pub const ENTRY_HASH: usize = 19;
}

/// Why a backup CSV (or part of one) was refused.
///
/// Rows are numbered from 1 after the header (the header is row 0); `line` is the 1-based line
/// on which the row starts, counting line breaks inside quoted cells. After a `Syntax`,
/// `RowTooLong` or `Io` error the reader stops (the row boundaries are lost); after a
/// `ColumnCount` or `Cell` error it continues with the next row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error("reading the CSV failed: {0}")]
    Io(String),
    #[error("the file is empty; expected the header row on line 1")]
    MissingHeader,
    #[error("line 1: the header has {found} columns; expected the {COLUMNS} of `{}`", HEADER.join(","))]
    HeaderColumns { found: usize },
    #[error("line 1: header column {column} is {found:?}; expected {expected:?}")]
    Header {
        /// 1-based.
        column: usize,
        found: String,
        expected: &'static str,
    },
    #[error("row {row} (line {line}): {reason}")]
    Syntax {
        row: u64,
        line: u64,
        reason: &'static str,
    },
    #[error("row {row} (line {line}) is longer than {MAX_ROW_BYTES} bytes")]
    RowTooLong { row: u64, line: u64 },
    #[error("row {row} (line {line}) has {found} columns; expected {COLUMNS}")]
    ColumnCount { row: u64, line: u64, found: usize },
    #[error("row {row} (line {line}), column {column}: {reason}")]
    Cell {
        row: u64,
        line: u64,
        column: &'static str,
        reason: String,
    },
}

/// Appends the header row, `schema_version,…,entry_hash` and CRLF.
pub fn write_header(out: &mut Vec<u8>) {
    for (position, name) in HEADER.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one row: the entry's 20 cells in [`HEADER`] order and CRLF. Callers append rows to a
/// buffer and hand full parts to a multipart upload, so memory stays bounded.
pub fn write_row(out: &mut Vec<u8>, stored: &StoredEntry) {
    for (position, value) in values(stored).iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_cell(out, value.as_deref());
    }
    out.extend_from_slice(b"\r\n");
}

/// The stored form of each column; `None` for an absent optional field.
fn values(stored: &StoredEntry) -> [Option<Cow<'_, str>>; COLUMNS] {
    let entry = &stored.entry;
    let content = &entry.content;
    [
        Some(Cow::Owned(entry.schema_version.to_string())),
        Some(Cow::Owned(entry.chain_index.to_string())),
        Some(Cow::Owned(entry.previous_hash.to_hex())),
        text(entry.signal_id.as_str()),
        text(&content.symbol),
        text(content.action.as_str()),
        text(content.entry_price.as_str()),
        optional_text(content.target_price.as_ref().map(ExactDecimal::as_str)),
        optional_text(content.stop_loss.as_ref().map(ExactDecimal::as_str)),
        optional_text(content.confidence.as_ref().map(ExactDecimal::as_str)),
        text(&content.rationale),
        text(content.generated_at.as_str()),
        optional_text(content.producer.as_deref()),
        optional_text(content.model.as_deref()),
        optional_text(content.model_version.as_deref()),
        text(entry.received_at.as_str()),
        Some(Cow::Owned(entry.delivery_latency_ms.to_string())),
        text(entry.retention_expires_at.as_str()),
        text(&entry.submitter),
        Some(Cow::Owned(stored.entry_hash.to_hex())),
    ]
}

fn text(value: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(value))
}

fn optional_text(value: Option<&str>) -> Option<Cow<'_, str>> {
    value.map(Cow::Borrowed)
}

/// The formula escape: a value that is empty or starts with one of [`FORMULA_TRIGGERS`] gets one
/// leading `'`; any other value is unchanged. ([`unescape_cell`] undoes it.)
pub fn escape_cell(value: &str) -> Cow<'_, str> {
    if value.is_empty() || value.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Undoes [`escape_cell`] on a non-empty cell, refusing a cell the writer would not produce: one
/// starting with a trigger character without the `'`, or with a `'` that escapes nothing.
pub fn unescape_cell(cell: &str) -> Result<&str, String> {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.is_empty() || rest.starts_with(FORMULA_TRIGGERS) => Ok(rest),
        Some(_) => Err(
            "has a leading ' that escapes nothing (the writer adds ' only to an empty value or one \
             starting with = + - @ TAB CR LF ' or a full-width ＝＋－＠)"
                .to_owned(),
        ),
        None => match cell.chars().next() {
            Some(first) if FORMULA_TRIGGERS.contains(&first) => Err(format!(
                "starts with {first:?} without the ' escape, so a spreadsheet could run it as a formula"
            )),
            _ => Ok(cell),
        },
    }
}

/// Writes one cell: nothing for an absent value; otherwise the escaped value, in double quotes
/// (its own quotes doubled) exactly when it contains `,` `"` CR or LF.
fn write_cell(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else { return };
    let cell = escape_cell(value);
    if cell
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.push(b'"');
        for byte in cell.bytes() {
            if byte == b'"' {
                out.push(b'"');
            }
            out.push(byte);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(cell.as_bytes());
    }
}

/// Streams entries back out of a backup CSV, one row at a time, checking the header first.
///
/// Yields each row as a [`StoredEntry`] exactly as written (it does not verify hashes or links:
/// feed the entries to a `ChainVerifier`), or a [`BackupError`] naming the row, line and column.
pub struct RowReader<R> {
    input: R,
    /// The current row's unquoted cell bytes, back to back; `ends[i]` is where cell `i` ends.
    buffer: Vec<u8>,
    ends: Vec<usize>,
    /// The number of the row last read (0 = header).
    row: u64,
    /// The line on which the row last read starts.
    row_line: u64,
    /// The line on which the next row starts.
    line: u64,
    done: bool,
}

impl<R> fmt::Debug for RowReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowReader")
            .field("row", &self.row)
            .field("line", &self.line)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a cell.
    CellStart,
    /// Inside an unquoted cell.
    Unquoted,
    /// Inside a quoted cell.
    Quoted,
    /// Just after a `"` inside a quoted cell: a doubled quote or the closing one.
    QuoteInQuoted,
    /// After a CR outside quotes: the row's end, if an LF follows.
    CarriageReturn,
}

impl<R: BufRead> RowReader<R> {
    /// Reads and checks the header row; it must be exactly [`HEADER`].
    pub fn new(input: R) -> Result<RowReader<R>, BackupError> {
        let mut reader = RowReader {
            input,
            buffer: Vec::new(),
            ends: Vec::new(),
            row: 0,
            row_line: 1,
            line: 1,
            done: false,
        };
        if !reader.read_record(0)? {
            return Err(BackupError::MissingHeader);
        }
        if reader.ends.len() != COLUMNS {
            return Err(BackupError::HeaderColumns {
                found: reader.ends.len(),
            });
        }
        for (position, expected) in HEADER.iter().enumerate() {
            let found = reader.cell_bytes(position);
            if found != expected.as_bytes() {
                return Err(BackupError::Header {
                    column: position + 1,
                    found: String::from_utf8_lossy(found).into_owned(),
                    expected,
                });
            }
        }
        Ok(reader)
    }

    /// Data rows read so far (including refused ones).
    pub fn rows_read(&self) -> u64 {
        self.row
    }

    fn cell_bytes(&self, position: usize) -> &[u8] {
        let start = match position {
            0 => 0,
            _ => self.ends[position - 1],
        };
        &self.buffer[start..self.ends[position]]
    }

    /// Reads the next record into `buffer`/`ends`. `Ok(false)` at a clean end of input.
    fn read_record(&mut self, row: u64) -> Result<bool, BackupError> {
        self.buffer.clear();
        self.ends.clear();
        self.row = row;
        self.row_line = self.line;
        let line = self.line;
        let syntax = |reason| BackupError::Syntax { row, line, reason };
        let mut state = State::CellStart;
        // Whether the quoted cell being read contains a byte that needs the quotes.
        let mut needs_quotes = false;
        let mut record_bytes = 0usize;
        loop {
            let chunk = self
                .input
                .fill_buf()
                .map_err(|error| BackupError::Io(error.to_string()))?;
            if chunk.is_empty() {
                return match record_bytes {
                    0 => Ok(false),
                    _ => Err(syntax(
                        "the file ends inside this row (every row, the last included, ends with CRLF)",
                    )),
                };
            }
            let mut used = 0;
            let mut complete = false;
            for &byte in chunk {
                used += 1;
                if record_bytes + used > MAX_ROW_BYTES {
                    return Err(BackupError::RowTooLong { row, line });
                }
                match (state, byte) {
                    (State::CellStart, b'"') => {
                        state = State::Quoted;
                        needs_quotes = false;
                    }
                    (State::CellStart | State::Unquoted, b',') => {
                        self.ends.push(self.buffer.len());
                        state = State::CellStart;
                    }
                    (State::CellStart | State::Unquoted, b'\r') => {
                        self.ends.push(self.buffer.len());
                        state = State::CarriageReturn;
                    }
                    (State::CellStart | State::Unquoted, b'\n') => {
                        return Err(syntax(
                            "a line feed outside quotes without a carriage return (rows end with CRLF)",
                        ));
                    }
                    (State::Unquoted, b'"') => {
                        return Err(syntax(
                            "a double quote inside an unquoted cell (a cell containing quotes is quoted, its quotes doubled)",
                        ));
                    }
                    (State::CellStart | State::Unquoted, _) => {
                        self.buffer.push(byte);
                        state = State::Unquoted;
                    }
                    (State::Quoted, b'"') => state = State::QuoteInQuoted,
                    (State::Quoted, _) => {
                        if byte == b'\n' {
                            self.line += 1;
                        }
                        needs_quotes |= matches!(byte, b',' | b'\r' | b'\n');
                        self.buffer.push(byte);
                    }
                    (State::QuoteInQuoted, b'"') => {
                        needs_quotes = true;
                        self.buffer.push(b'"');
                        state = State::Quoted;
                    }
                    (State::QuoteInQuoted, b',' | b'\r') => {
                        if !needs_quotes {
                            return Err(syntax(
                                "a quoted cell without a comma, quote, CR or LF (cells are quoted only when they must be)",
                            ));
                        }
                        self.ends.push(self.buffer.len());
                        state = match byte {
                            b',' => State::CellStart,
                            _ => State::CarriageReturn,
                        };
                    }
                    (State::QuoteInQuoted, _) => {
                        return Err(syntax(
                            "after a closing quote, expected a comma or the end of the row",
                        ));
                    }
                    (State::CarriageReturn, b'\n') => {
                        self.line += 1;
                        complete = true;
                        break;
                    }
                    (State::CarriageReturn, _) => {
                        return Err(syntax(
                            "a carriage return outside quotes not followed by a line feed",
                        ));
                    }
                }
            }
            self.input.consume(used);
            record_bytes += used;
            if complete {
                return Ok(true);
            }
        }
    }

    /// Turns the record in `buffer`/`ends` into an entry.
    fn parse_row(&self) -> Result<StoredEntry, BackupError> {
        let (row, line) = (self.row, self.row_line);
        if self.ends.len() != COLUMNS {
            return Err(BackupError::ColumnCount {
                row,
                line,
                found: self.ends.len(),
            });
        }
        let mut cells = [""; COLUMNS];
        for (position, cell) in cells.iter_mut().enumerate() {
            *cell =
                std::str::from_utf8(self.cell_bytes(position)).map_err(|_| BackupError::Cell {
                    row,
                    line,
                    column: HEADER[position],
                    reason: "is not valid UTF-8".to_owned(),
                })?;
        }
        Row { row, line, cells }.entry()
    }
}

impl<R: BufRead> Iterator for RowReader<R> {
    type Item = Result<StoredEntry, BackupError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_record(self.row + 1) {
            Ok(true) => Some(self.parse_row()),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

/// Reads a whole backup CSV held in memory; the first error ends it.
pub fn read_rows(bytes: &[u8]) -> Result<Vec<StoredEntry>, BackupError> {
    RowReader::new(bytes)?.collect()
}

/// One row's cells (still escaped), with where it was found, for precise errors.
struct Row<'a> {
    row: u64,
    line: u64,
    cells: [&'a str; COLUMNS],
}

impl<'a> Row<'a> {
    fn error(&self, column: usize, reason: String) -> BackupError {
        BackupError::Cell {
            row: self.row,
            line: self.line,
            column: HEADER[column],
            reason,
        }
    }

    /// The value of an optional column: `None` for an empty cell.
    fn optional(&self, column: usize) -> Result<Option<&'a str>, BackupError> {
        match self.cells[column] {
            "" => Ok(None),
            cell => unescape_cell(cell)
                .map(Some)
                .map_err(|reason| self.error(column, reason)),
        }
    }

    fn required(&self, column: usize) -> Result<&'a str, BackupError> {
        self.optional(column)?.ok_or_else(|| {
            self.error(
                column,
                "is empty, but the field is required (an empty value is written ')".to_owned(),
            )
        })
    }

    fn parsed<T, E: fmt::Display>(
        &self,
        column: usize,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, BackupError> {
        let text = self.required(column)?;
        parse(text).map_err(|error| self.error(column, format!("{:?} {error}", excerpt(text))))
    }

    fn optional_parsed<T, E: fmt::Display>(
        &self,
        column: usize,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, BackupError> {
        match self.optional(column)? {
            None => Ok(None),
            Some(text) => parse(text)
                .map(Some)
                .map_err(|error| self.error(column, format!("{:?} {error}", excerpt(text)))),
        }
    }

    fn text(&self, column: usize) -> Result<String, BackupError> {
        self.required(column).map(str::to_owned)
    }

    fn optional_text(&self, column: usize) -> Result<Option<String>, BackupError> {
        Ok(self.optional(column)?.map(str::to_owned))
    }

    fn entry(&self) -> Result<StoredEntry, BackupError> {
        let decimal = ExactDecimal::parse_canonical;
        let timestamp = Timestamp::parse_canonical;
        let entry = Entry {
            schema_version: self.parsed(col::SCHEMA_VERSION, canonical_integer::<u64>)?,
            chain_index: self.parsed(col::CHAIN_INDEX, canonical_integer::<u64>)?,
            previous_hash: self.parsed(col::PREVIOUS_HASH, Hash::from_str)?,
            signal_id: self.parsed(col::SIGNAL_ID, SignalId::parse)?,
            content: SignalContent {
                symbol: self.text(col::SYMBOL)?,
                action: self.parsed(col::ACTION, |text| {
                    Action::parse(text).ok_or("is not BUY or SELL")
                })?,
                entry_price: self.parsed(col::ENTRY_PRICE, decimal)?,
                target_price: self.optional_parsed(col::TARGET_PRICE, decimal)?,
                stop_loss: self.optional_parsed(col::STOP_LOSS, decimal)?,
                confidence: self.optional_parsed(col::CONFIDENCE, decimal)?,
                rationale: self.text(col::RATIONALE)?,
                generated_at: self.parsed(col::GENERATED_AT, timestamp)?,
                producer: self.optional_text(col::PRODUCER)?,
                model: self.optional_text(col::MODEL)?,
                model_version: self.optional_text(col::MODEL_VERSION)?,
            },
            received_at: self.parsed(col::RECEIVED_AT, timestamp)?,
            delivery_latency_ms: self.parsed(col::DELIVERY_LATENCY_MS, canonical_integer::<i64>)?,
            retention_expires_at: self.parsed(col::RETENTION_EXPIRES_AT, timestamp)?,
            submitter: self.text(col::SUBMITTER)?,
        };
        Ok(StoredEntry {
            entry,
            entry_hash: self.parsed(col::ENTRY_HASH, Hash::from_str)?,
        })
    }
}

/// At most [`EXCERPT_CHARS`] characters of a refused value, so that an error never quotes a
/// whole damaged row.
fn excerpt(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// An integer in its one decimal spelling: digits, `-` only when negative, no `+`, no leading
/// zeros, no `-0`.
fn canonical_integer<T: FromStr + ToString>(text: &str) -> Result<T, &'static str> {
    text.parse::<T>()
        .ok()
        .filter(|value| value.to_string() == text)
        .ok_or("is not a canonical integer (decimal digits, '-' only when negative, no '+' or leading zeros)")
}

// ---- backup ids and object keys ---------------------------------------------------------------

/// Which backup: the UTC day it is for and the run of that day (1, 2, …). Written `YYYYMMDD` for
/// the first run and `YYYYMMDD_N` for run `N ≥ 2`. Orders by day, then run — use this order, not
/// key text, which puts `_10` before `_2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupId {
    date: Date,
    run: u32,
}

/// Why a text is not a backup id or a backup key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupIdError {
    #[error("the run number must be 1 or more")]
    ZeroRun,
    #[error("the year {0} is outside 0000–9999")]
    Year(i32),
    #[error("{0:?} is not a backup id (YYYYMMDD, or YYYYMMDD_N with N ≥ 2 and no leading zeros)")]
    Syntax(String),
    #[error("{0:?} is not a manifest key (manifests/YYYY/MM/signals_backup_<backup id>.json)")]
    Key(String),
}

impl BackupId {
    pub fn new(date: Date, run: u32) -> Result<BackupId, BackupIdError> {
        if run == 0 {
            return Err(BackupIdError::ZeroRun);
        }
        if !(0..=9999).contains(&date.year()) {
            return Err(BackupIdError::Year(date.year()));
        }
        Ok(BackupId { date, run })
    }

    pub fn date(&self) -> Date {
        self.date
    }

    pub fn run(&self) -> u32 {
        self.run
    }

    /// The next run of the same day.
    pub fn next_run(&self) -> Option<BackupId> {
        Some(BackupId {
            date: self.date,
            run: self.run.checked_add(1)?,
        })
    }

    /// The backup id in a key written by [`manifest_key`].
    pub fn from_manifest_key(key: &str) -> Result<BackupId, BackupIdError> {
        let refuse = || BackupIdError::Key(key.to_owned());
        let id: BackupId = key
            .strip_suffix(".json")
            .and_then(|rest| rest.rsplit_once("/signals_backup_"))
            .ok_or_else(refuse)?
            .1
            .parse()
            .map_err(|_| refuse())?;
        match manifest_key(&id) == key {
            true => Ok(id),
            false => Err(refuse()),
        }
    }

    fn path(&self, folder: &str, extension: &str) -> String {
        format!(
            "{folder}/{:04}/{:02}/signals_backup_{self}.{extension}",
            self.date.year(),
            u8::from(self.date.month()),
        )
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = self.date;
        write!(
            f,
            "{:04}{:02}{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )?;
        match self.run {
            1 => Ok(()),
            run => write!(f, "_{run}"),
        }
    }
}

impl FromStr for BackupId {
    type Err = BackupIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || BackupIdError::Syntax(text.to_owned());
        let (day, run) = match text.split_once('_') {
            None => (text, 1),
            Some((day, run)) => {
                let run: u32 = canonical_integer(run).map_err(|_| refuse())?;
                if run < 2 {
                    return Err(refuse());
                }
                (day, run)
            }
        };
        if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        let number = |range: std::ops::Range<usize>| day[range].parse::<u8>().map_err(|_| refuse());
        let year: i32 = day[..4].parse().map_err(|_| refuse())?;
        let month = Month::try_from(number(4..6)?).map_err(|_| refuse())?;
        let date = Date::from_calendar_date(year, month, number(6..8)?).map_err(|_| refuse())?;
        BackupId::new(date, run)
    }
}

impl Serialize for BackupId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BackupId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `signals/YYYY/MM/signals_backup_<id>.csv`, e.g. `signals/2026/11/signals_backup_20261128.csv`
/// or, for the second run that day, `…/signals_backup_20261128_2.csv`.
pub fn csv_key(id: &BackupId) -> String {
    id.path("signals", "csv")
}

/// `manifests/YYYY/MM/signals_backup_<id>.json`, beside the CSV's name.
pub fn manifest_key(id: &BackupId) -> String {
    id.path("manifests", "json")
}

// ---- manifest -------------------------------------------------------------------------------

/// The value of every manifest's `format` field.
pub const MANIFEST_FORMAT: &str = "signal-ledger-backup-manifest/1";

/// The manifest's `format` field: always [`MANIFEST_FORMAT`]; parsing refuses any other value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ManifestFormat;

impl Serialize for ManifestFormat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MANIFEST_FORMAT)
    }
}

impl<'de> Deserialize<'de> for ManifestFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        match text == MANIFEST_FORMAT {
            true => Ok(ManifestFormat),
            false => Err(serde::de::Error::custom(format!(
                "format is {text:?}; expected {MANIFEST_FORMAT:?}"
            ))),
        }
    }
}

/// Chain indexes `[from, to)`: half-open, so an empty backup is `from == to` and `to` is the tree
/// size after the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexRange {
    pub from: u64,
    pub to: u64,
}

impl IndexRange {
    /// The number of entries, or `None` when `from > to`.
    pub fn len(&self) -> Option<u64> {
        self.to.checked_sub(self.from)
    }

    pub fn is_empty(&self) -> bool {
        self.from == self.to
    }
}

/// The CSV object a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvObject {
    /// Always [`csv_key`] of the backup id.
    pub key: String,
    /// SHA-256 of the object's bytes.
    pub sha256: Hash,
    /// The object's size in bytes.
    pub bytes: u64,
    /// The S3 version id the upload created: verification reads exactly this version.
    pub version_id: String,
}

/// What one backup run wrote, chained to the run before it. Fields are serialised in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: ManifestFormat,
    pub backup_id: BackupId,
    /// When the run wrote the manifest.
    pub created_at: Timestamp,
    /// The entries in the CSV; `from` is the previous backup's `to` (0 for the first).
    pub index_range: IndexRange,
    /// `to − from`.
    pub row_count: u64,
    /// The head hash at tree size `from`: the first row's `previous_hash` (64 zeros when
    /// `from = 0`).
    pub first_previous_hash: Hash,
    /// The head hash at tree size `to`: the last row's `entry_hash`; for an empty backup, equal to
    /// `first_previous_hash`.
    pub last_entry_hash: Hash,
    /// RFC 6962 root of entries `0..to` (`SHA-256("")` when `to = 0`).
    pub merkle_root: Hash,
    /// The compact range of entries `0..to` (§5, largest subtree first), so the next run extends
    /// the tree without re-reading older entries; `merkle_root` is its root.
    pub compact_range: Vec<Hash>,
    /// The CSV, or `None` for an empty backup (no CSV object is written).
    pub csv: Option<CsvObject>,
    /// The Object Lock retain-until of the CSV and the manifest: at least the latest
    /// `retention_expires_at` of the rows.
    pub retain_until: Timestamp,
    /// SHA-256 of the previous manifest's exact bytes; 64 zeros for the first manifest.
    pub previous_manifest_sha256: Hash,
}

/// Why manifest bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not JSON of the expected shape: {0}")]
    Json(String),
    #[error(
        "the manifest is not in canonical form (two-space indented JSON, fields in order, no extra whitespace, one final LF)"
    )]
    NotCanonical,
    #[error("the manifest is inconsistent: {0}")]
    Inconsistent(String),
}

impl Manifest {
    /// The canonical bytes: `serde_json` pretty JSON (two-space indent, fields in declaration
    /// order) and one final LF.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers into memory cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// `SHA-256` of the canonical bytes: the next manifest's `previous_manifest_sha256`.
    pub fn sha256(&self) -> Hash {
        Hash::sha256(&self.to_bytes())
    }

    /// Parses stored bytes strictly: the format must match, unknown or missing fields are refused,
    /// the manifest must be consistent ([`check`](Self::check)) and the bytes must be exactly
    /// [`to_bytes`](Self::to_bytes) of the result.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|error| ManifestError::Json(error.to_string()))?;
        manifest.check()?;
        if manifest.to_bytes() != bytes {
            return Err(ManifestError::NotCanonical);
        }
        Ok(manifest)
    }

    /// The tree of entries `0..to`, to resume from (e.g. with `ChainVerifier::resume`).
    pub fn tree(&self) -> Result<CompactRange, ManifestError> {
        CompactRange::from_parts(self.index_range.to, self.compact_range.clone())
            .map_err(|error| ManifestError::Inconsistent(format!("compact_range: {error}")))
    }

    /// Checks that the fields agree with each other (not with the CSV or the ledger).
    pub fn check(&self) -> Result<(), ManifestError> {
        let refuse = |reason: String| Err(ManifestError::Inconsistent(reason));
        let IndexRange { from, to } = self.index_range;
        if self.index_range.len() != Some(self.row_count) {
            return refuse(format!(
                "row_count {} is not to − from for index_range [{from}, {to})",
                self.row_count
            ));
        }
        let root = self.tree()?.root();
        if root != self.merkle_root {
            return refuse(format!(
                "merkle_root {} is not the root of compact_range ({root})",
                self.merkle_root
            ));
        }
        if (from == 0) != (self.first_previous_hash == Hash::ZERO) {
            return refuse(format!(
                "first_previous_hash must be 64 zeros exactly when from is 0 (from {from})"
            ));
        }
        if (to == 0) != (self.last_entry_hash == Hash::ZERO) {
            return refuse(format!(
                "last_entry_hash must be 64 zeros exactly when to is 0 (to {to})"
            ));
        }
        if !to.is_multiple_of(2) && self.compact_range.last() != Some(&self.last_entry_hash) {
            return refuse(format!(
                "for odd to ({to}) the last compact_range hash is the last entry's hash"
            ));
        }
        match &self.csv {
            None if self.row_count > 0 => {
                return refuse("a backup with rows must name its csv".to_owned());
            }
            Some(_) if self.row_count == 0 => {
                return refuse("an empty backup has no csv (csv must be null)".to_owned());
            }
            None if self.last_entry_hash != self.first_previous_hash => {
                return refuse(
                    "an empty backup's last_entry_hash must equal its first_previous_hash"
                        .to_owned(),
                );
            }
            None => {}
            Some(csv) => {
                let expected = csv_key(&self.backup_id);
                if csv.key != expected {
                    return refuse(format!("csv.key {:?} is not {expected:?}", csv.key));
                }
                if csv.bytes <= header_len() {
                    return refuse(format!(
                        "csv.bytes {} is too small for a header and a row",
                        csv.bytes
                    ));
                }
                if csv.version_id.is_empty()
                    || csv.version_id.len() > 1024
                    || !csv.version_id.bytes().all(|b| (0x21..=0x7E).contains(&b))
                {
                    return refuse(format!(
                        "csv.version_id {:?} is not 1–1024 printable ASCII characters without spaces",
                        csv.version_id
                    ));
                }
            }
        }
        if self.retain_until <= self.created_at {
            return refuse(format!(
                "retain_until {} is not after created_at {}",
                self.retain_until, self.created_at
            ));
        }
        Ok(())
    }
}

fn header_len() -> u64 {
    let mut header = Vec::new();
    write_header(&mut header);
    header.len() as u64
}

// ---- manifest chain -------------------------------------------------------------------------

/// A problem with one manifest of a chain. `position` is its place in the slice given to
/// [`verify_manifest_chain`] (0 = first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFinding {
    pub position: usize,
    pub backup_id: BackupId,
    #[serde(flatten)]
    pub kind: ManifestFindingKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ManifestFindingKind {
    /// The stored bytes are not the canonical form of the manifest, or its fields disagree.
    Invalid { reason: String },
    /// `previous_manifest_sha256` is not the SHA-256 of the previous manifest's bytes (zeros for
    /// the first).
    BrokenLink { expected: Hash, found: Hash },
    /// The backup id is not after the previous manifest's.
    OutOfOrder { previous: BackupId },
    /// Entries `[expected_from, found_from)` are in no backup.
    Gap { expected_from: u64, found_from: u64 },
    /// Entries `[found_from, expected_from)` are also in an earlier backup.
    Overlap { expected_from: u64, found_from: u64 },
    /// `first_previous_hash` is not the previous manifest's `last_entry_hash` (zeros for the
    /// first).
    EntryLinkMismatch { expected: Hash, found: Hash },
    /// The tree did not grow, yet its root differs from the previous manifest's.
    RootChanged { expected: Hash, found: Hash },
}

impl ManifestFindingKind {
    /// A short stable name, as in the JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            ManifestFindingKind::Invalid { .. } => "invalid",
            ManifestFindingKind::BrokenLink { .. } => "broken_link",
            ManifestFindingKind::OutOfOrder { .. } => "out_of_order",
            ManifestFindingKind::Gap { .. } => "gap",
            ManifestFindingKind::Overlap { .. } => "overlap",
            ManifestFindingKind::EntryLinkMismatch { .. } => "entry_link_mismatch",
            ManifestFindingKind::RootChanged { .. } => "root_changed",
        }
    }
}

/// Verifies a whole manifest chain, from the first backup, in run order: each manifest's exact
/// stored bytes and its parsed form. Reports every finding and keeps going (after a gap or
/// overlap it continues from the manifest's own range). An empty slice has no findings.
pub fn verify_manifest_chain(manifests: &[(Vec<u8>, Manifest)]) -> Vec<ManifestFinding> {
    let mut findings = Vec::new();
    let mut previous_sha256 = Hash::ZERO;
    let mut previous_id: Option<BackupId> = None;
    let mut expected_from = 0;
    let mut head = Hash::ZERO;
    let mut root = merkle::root(&[]);
    for (position, (bytes, manifest)) in manifests.iter().enumerate() {
        let mut report = |kind| {
            findings.push(ManifestFinding {
                position,
                backup_id: manifest.backup_id,
                kind,
            })
        };
        if let Err(error) = manifest.check() {
            report(ManifestFindingKind::Invalid {
                reason: error.to_string(),
            });
        }
        if manifest.to_bytes() != *bytes {
            report(ManifestFindingKind::Invalid {
                reason: "the stored bytes are not the canonical form of this manifest".to_owned(),
            });
        }
        if manifest.previous_manifest_sha256 != previous_sha256 {
            report(ManifestFindingKind::BrokenLink {
                expected: previous_sha256,
                found: manifest.previous_manifest_sha256,
            });
        }
        if let Some(previous) = previous_id
            && manifest.backup_id <= previous
        {
            report(ManifestFindingKind::OutOfOrder { previous });
        }
        let IndexRange { from, to } = manifest.index_range;
        if from > expected_from {
            report(ManifestFindingKind::Gap {
                expected_from,
                found_from: from,
            });
        } else if from < expected_from {
            report(ManifestFindingKind::Overlap {
                expected_from,
                found_from: from,
            });
        } else if manifest.first_previous_hash != head {
            report(ManifestFindingKind::EntryLinkMismatch {
                expected: head,
                found: manifest.first_previous_hash,
            });
        }
        if to == expected_from && manifest.merkle_root != root {
            report(ManifestFindingKind::RootChanged {
                expected: root,
                found: manifest.merkle_root,
            });
        }
        previous_sha256 = Hash::sha256(bytes);
        previous_id = Some(manifest.backup_id);
        expected_from = to;
        head = manifest.last_entry_hash;
        root = manifest.merkle_root;
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::chain::verify_chain;
    use crate::domain::test_support::{chain, decimal, timestamp};

    fn file(entries: &[StoredEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out);
        for entry in entries {
            write_row(&mut out, entry);
        }
        out
    }

    fn cell(value: &str) -> String {
        let mut out = Vec::new();
        write_cell(&mut out, Some(value));
        String::from_utf8(out).unwrap()
    }

    fn header_line() -> String {
        format!("{}\r\n", HEADER.join(","))
    }

    /// A row's encoded cells (as `write_row` would write them), for a test to edit.
    fn encoded_cells(stored: &StoredEntry) -> Vec<String> {
        values(stored)
            .iter()
            .map(|value| {
                let mut out = Vec::new();
                write_cell(&mut out, value.as_deref());
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    /// The file of `entries` with data row `row` (1-based) replaced by `edit`ed cells.
    fn file_with(
        entries: &[StoredEntry],
        row: usize,
        mut edit: impl FnMut(&mut Vec<String>),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out);
        for (position, entry) in entries.iter().enumerate() {
            if position + 1 == row {
                let mut cells = encoded_cells(entry);
                edit(&mut cells);
                out.extend_from_slice(cells.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
            } else {
                write_row(&mut out, entry);
            }
        }
        out
    }

    /// The raw cells a spreadsheet would see (quotes removed, escapes kept), row by row.
    fn raw_cells(bytes: &[u8]) -> Vec<Vec<String>> {
        let mut reader = RowReader::new(bytes).unwrap();
        let mut rows = Vec::new();
        while reader.read_record(reader.row + 1).unwrap() {
            rows.push(
                (0..reader.ends.len())
                    .map(|i| String::from_utf8(reader.cell_bytes(i).to_vec()).unwrap())
                    .collect(),
            );
        }
        rows
    }

    /// Four chained entries with awkward values: the known-answer vector's entries.
    fn awkward_entries() -> Vec<StoredEntry> {
        let mut entries: Vec<Entry> = chain(4).into_iter().map(|s| s.entry).collect();
        {
            let e = &mut entries[0];
            e.signal_id = SignalId::parse("-sig.0:a_b").unwrap();
            e.content.symbol = "BRK.B".into();
            e.content.rationale =
                "=HYPERLINK(\"http://evil.example\",\"click\"), then \"quoted\", and a comma"
                    .into();
            e.content.producer = Some("@risk-desk".into());
            e.content.model = Some("+gbm".into());
            e.content.model_version = Some("'2026.11".into());
            // The producer's clock 52 ms ahead of the ledger's: latency −12 ms (§1.2).
            e.content.generated_at = timestamp("2026-11-28T09:00:00.052000Z");
            e.delivery_latency_ms = e.received_at.millis_since(&e.content.generated_at);
            assert_eq!(e.delivery_latency_ms, -12);
        }
        {
            let e = &mut entries[1];
            e.content.symbol = "EUR/USD".into();
            e.content.rationale =
                "Line one\r\nline two\nline three\twith a tab; Ünïcødé — 株式 📈".into();
            e.content.target_price = None;
            e.content.stop_loss = None;
            e.content.confidence = None;
            e.content.producer = None;
            e.content.model = None;
            e.content.model_version = None;
        }
        {
            let e = &mut entries[2];
            e.content.rationale = "'quoted at the start, ''twice'' inside".into();
            e.content.entry_price = decimal("999999999999.99999999");
            e.content.target_price = Some(decimal("0.00000001"));
            e.content.stop_loss = Some(decimal("0"));
            e.content.confidence = Some(decimal("1"));
            e.content.producer = Some("\ttab-led".into());
            e.content.model = Some("\rcr-led".into());
            e.content.model_version = Some("＝full-width".into());
        }
        {
            let e = &mut entries[3];
            e.content.rationale = "-12 ms is the latency; + and @ are harmless inside".into();
            e.content.confidence = Some(decimal("0"));
            // The latest instant of the format: the most negative latency a valid entry can hold.
            e.content.generated_at = timestamp("9999-12-31T23:59:59.999999Z");
            e.delivery_latency_ms = e.received_at.millis_since(&e.content.generated_at);
            e.submitter = "anonymous".into();
        }
        let mut previous = Hash::ZERO;
        entries
            .into_iter()
            .map(|mut entry| {
                entry.previous_hash = previous;
                let stored = StoredEntry::seal(entry);
                previous = stored.entry_hash;
                stored
            })
            .collect()
    }

    fn day(text: &str) -> Date {
        BackupId::from_str(text).unwrap().date()
    }

    /// A consistent manifest for `entries[range]` of a chain, chained after `previous`.
    fn manifest_for(
        entries: &[StoredEntry],
        range: std::ops::Range<usize>,
        id: &str,
        previous: Option<&[u8]>,
    ) -> (Vec<u8>, Manifest) {
        let backup_id: BackupId = id.parse().unwrap();
        let mut tree = CompactRange::new();
        for entry in &entries[..range.end] {
            tree.append(entry.entry_hash);
        }
        let head = |size: usize| match size {
            0 => Hash::ZERO,
            n => entries[n - 1].entry_hash,
        };
        let rows = &entries[range.clone()];
        let csv = (!rows.is_empty()).then(|| {
            let bytes = file(rows);
            CsvObject {
                key: csv_key(&backup_id),
                sha256: Hash::sha256(&bytes),
                bytes: bytes.len() as u64,
                version_id: format!("v-{id}"),
            }
        });
        let manifest = Manifest {
            format: ManifestFormat,
            backup_id,
            created_at: timestamp("2026-11-29T02:00:00.5Z"),
            index_range: IndexRange {
                from: range.start as u64,
                to: range.end as u64,
            },
            row_count: rows.len() as u64,
            first_previous_hash: head(range.start),
            last_entry_hash: head(range.end),
            merkle_root: tree.root(),
            compact_range: tree.hashes().to_vec(),
            csv,
            retain_until: rows
                .iter()
                .map(|row| row.entry.retention_expires_at)
                .max()
                .unwrap_or(timestamp("2033-11-29T00:00:00Z")),
            previous_manifest_sha256: previous.map_or(Hash::ZERO, Hash::sha256),
        };
        (manifest.to_bytes(), manifest)
    }

    // ---- CSV ----

    #[test]
    fn escaping_table() {
        let cases = [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-12", "'-12"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
            ("\nx", "\"'\nx\""),
            ("'quoted", "''quoted"),
            ("''", "'''"),
            ("'", "''"),
            ("", "'"),
            ("plain", "plain"),
            ("1-2=3", "1-2=3"),
            (" =1", " =1"),
            ("＝1", "'＝1"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=\"x\",y", "\"'=\"\"x\"\",y\""),
            ("a\r\nb", "\"a\r\nb\""),
        ];
        for (value, expected) in cases {
            assert_eq!(cell(value), expected, "value {value:?}");
            assert!(
                !expected
                    .trim_start_matches('"')
                    .starts_with(['=', '+', '-', '@', '\t', '\r'])
            );
        }
        // Every case round-trips through a whole row.
        let mut stored = chain(1).remove(0);
        for (value, _) in cases {
            stored.entry.content.rationale = value.to_owned();
            stored.entry.content.model = Some(value.to_owned());
            let back = read_rows(&file(std::slice::from_ref(&stored))).unwrap();
            assert_eq!(back, vec![stored.clone()], "value {value:?}");
        }
    }

    #[test]
    fn unescaping_refuses_what_the_writer_never_writes() {
        assert_eq!(unescape_cell("'=1"), Ok("=1"));
        assert_eq!(unescape_cell("''x"), Ok("'x"));
        assert_eq!(unescape_cell("'"), Ok(""));
        assert!(
            unescape_cell("=1")
                .unwrap_err()
                .contains("without the ' escape")
        );
        assert!(unescape_cell("-12").is_err());
        assert!(
            unescape_cell("'abc")
                .unwrap_err()
                .contains("escapes nothing")
        );
    }

    #[test]
    fn header_and_layout() {
        let entries = chain(2);
        let text = String::from_utf8(file(&entries)).unwrap();
        assert!(text.starts_with(&header_line()));
        assert_eq!(text.matches("\r\n").count(), 3);
        assert!(!text.replace("\r\n", "").contains('\n'));
        // Empty cells for absent fields; a negative latency escaped; hashes in hex.
        let mut entry = entries[1].clone();
        entry.entry.content.target_price = None;
        entry.entry.delivery_latency_ms = -12;
        let rows = raw_cells(&file(std::slice::from_ref(&entry)));
        let cells = &rows[0];
        assert_eq!(cells.len(), 20);
        assert_eq!(cells[col::TARGET_PRICE], "");
        assert_eq!(cells[col::DELIVERY_LATENCY_MS], "'-12");
        assert_eq!(
            cells[col::PREVIOUS_HASH],
            entry.entry.previous_hash.to_hex()
        );
        assert_eq!(cells[col::ENTRY_HASH], entry.entry_hash.to_hex());
    }

    #[test]
    fn header_mismatches_are_refused() {
        let rows = &file(&chain(1))[header_line().len()..];
        let with_header = |header: &str| [header.as_bytes(), rows].concat();
        assert_eq!(read_rows(b""), Err(BackupError::MissingHeader));
        let mut swapped = HEADER;
        swapped.swap(6, 7);
        assert_eq!(
            read_rows(&with_header(&format!("{}\r\n", swapped.join(",")))),
            Err(BackupError::Header {
                column: 7,
                found: "target_price".into(),
                expected: "entry_price"
            })
        );
        let extra = format!("{},extra\r\n", HEADER.join(","));
        assert_eq!(
            read_rows(&with_header(&extra)),
            Err(BackupError::HeaderColumns { found: 21 })
        );
        let bom = format!("\u{FEFF}{}", header_line());
        assert!(matches!(
            read_rows(&with_header(&bom)),
            Err(BackupError::Header { column: 1, .. })
        ));
        let upper = header_line().to_uppercase();
        assert!(read_rows(&with_header(&upper)).is_err());
        // A header alone is a file with no rows.
        assert_eq!(read_rows(header_line().as_bytes()), Ok(vec![]));
    }

    #[test]
    fn a_wrong_column_count_names_the_row_and_reading_goes_on() {
        let entries = chain(3);
        let short = file_with(&entries, 1, |cells| drop(cells.pop()));
        let results: Vec<_> = RowReader::new(&short[..]).unwrap().collect();
        assert_eq!(
            results[0],
            Err(BackupError::ColumnCount {
                row: 1,
                line: 2,
                found: 19
            })
        );
        assert_eq!(
            results[1..],
            [Ok(entries[1].clone()), Ok(entries[2].clone())]
        );
        let long = file_with(&entries, 2, |cells| cells.push(String::new()));
        let error = read_rows(&long).unwrap_err();
        assert_eq!(
            error,
            BackupError::ColumnCount {
                row: 2,
                line: 3,
                found: 21
            }
        );
        assert_eq!(
            error.to_string(),
            "row 2 (line 3) has 21 columns; expected 20"
        );
    }

    #[test]
    fn non_canonical_values_name_row_and_column() {
        let entries = chain(3);
        let check = |row: usize, column: usize, cell: &str, words: &str| {
            let tampered = file_with(&entries, row, |cells| cells[column] = cell.to_owned());
            match read_rows(&tampered) {
                Err(BackupError::Cell {
                    row: r,
                    line,
                    column: c,
                    reason,
                }) => {
                    assert_eq!((r, line, c), (row as u64, row as u64 + 1, HEADER[column]));
                    assert!(reason.contains(words), "{reason}");
                }
                other => panic!("{cell:?} in column {column}: {other:?}"),
            }
        };
        let price = entries[1].entry.content.entry_price.as_str().to_owned();
        check(
            2,
            col::ENTRY_PRICE,
            &format!("{price}0"),
            "not in canonical form",
        );
        check(
            1,
            col::ENTRY_PRICE,
            "",
            "is empty, but the field is required",
        );
        check(1, col::RATIONALE, "", "is empty, but the field is required");
        check(1, col::TARGET_PRICE, "'", "is not a decimal");
        check(1, col::CONFIDENCE, "1.5e-1", "not in canonical form");
        check(
            1,
            col::GENERATED_AT,
            "2026-11-28T09:00:00Z",
            "not in canonical form",
        );
        check(3, col::CHAIN_INDEX, "02", "not a canonical integer");
        check(
            1,
            col::DELIVERY_LATENCY_MS,
            "'-0",
            "not a canonical integer",
        );
        check(
            1,
            col::DELIVERY_LATENCY_MS,
            "'+5",
            "not a canonical integer",
        );
        check(1, col::DELIVERY_LATENCY_MS, "-5", "without the ' escape");
        check(2, col::ENTRY_HASH, &"A".repeat(64), "64 lowercase hex");
        check(
            2,
            col::PREVIOUS_HASH,
            &"a".repeat(100_000),
            "…\" expected 64 lowercase hex",
        );
        check(2, col::ACTION, "buy", "is not BUY or SELL");
        check(2, col::SIGNAL_ID, "a b", "may contain only");
        check(1, col::SYMBOL, "'AAPL", "escapes nothing");
        check(
            1,
            col::SUBMITTER,
            "=cmd|' /C calc'!A0",
            "without the ' escape",
        );
        let tampered = file_with(&entries, 2, |cells| {
            cells[col::ENTRY_PRICE] = "150.50".to_owned()
        });
        assert_eq!(
            read_rows(&tampered).unwrap_err().to_string(),
            "row 2 (line 3), column entry_price: \"150.50\" is not in canonical form (expected 150.5)"
        );
        // Not UTF-8.
        let mut bytes = file(&entries);
        let at = bytes.windows(4).position(|w| w == b"BUY,").unwrap();
        bytes[at] = 0xFF;
        assert!(matches!(
            read_rows(&bytes),
            Err(BackupError::Cell { column: "action", ref reason, .. }) if reason == "is not valid UTF-8"
        ));
    }

    #[test]
    fn quoted_line_breaks_are_cell_content_and_count_as_lines() {
        let mut entries = chain(3);
        entries[0].entry.content.rationale = "a\r\nb\nc, \"d\"\r".into();
        entries[0] = StoredEntry::seal(entries[0].entry.clone());
        let bytes = file(&entries);
        assert_eq!(read_rows(&bytes), Ok(entries.clone()));
        assert_eq!(raw_cells(&bytes)[0][col::RATIONALE], "a\r\nb\nc, \"d\"\r");
        // Row 2 starts on line 5: the header, then row 1 spanning lines 2–4.
        let mut rows = file_with(&entries[1..], 1, |cells| {
            cells[col::ACTION] = "HOLD".to_owned()
        });
        rows.drain(..header_line().len());
        let mut first = Vec::new();
        write_header(&mut first);
        write_row(&mut first, &entries[0]);
        let tampered = [first, rows].concat();
        let error = read_rows(&tampered).unwrap_err();
        assert_eq!(
            error.to_string(),
            "row 2 (line 5), column action: \"HOLD\" is not BUY or SELL"
        );
    }

    #[test]
    fn framing_errors_end_the_reading() {
        let entries = chain(2);
        let syntax = |tampered: &[u8], row: u64, words: &str| {
            let results: Vec<_> = RowReader::new(tampered).unwrap().collect();
            assert_eq!(results.len(), row as usize, "reading stops at the error");
            match results.last() {
                Some(Err(BackupError::Syntax { row: r, reason, .. })) => {
                    assert_eq!(*r, row);
                    assert!(reason.contains(words), "{reason}");
                }
                other => panic!("{words}: {other:?}"),
            }
        };
        let bytes = file(&entries);
        syntax(&bytes[..bytes.len() - 2], 2, "ends inside this row");
        syntax(&bytes[..bytes.len() - 1], 2, "ends inside this row");
        let edited = |edit: &dyn Fn(&mut Vec<String>)| file_with(&entries, 1, edit);
        syntax(
            &edited(&|c| c[col::SYMBOL] = "\"AAPL\"".into()),
            1,
            "quoted only when they must be",
        );
        syntax(
            &edited(&|c| c[col::SYMBOL] = "AA\"PL".into()),
            1,
            "double quote inside an unquoted cell",
        );
        syntax(
            &edited(&|c| c[col::SYMBOL] = "\"a,b\"x".into()),
            1,
            "after a closing quote",
        );
        syntax(
            &edited(&|c| c[col::SYMBOL] = "\r".into()),
            1,
            "carriage return outside quotes",
        );
        syntax(
            &edited(&|c| c[col::SYMBOL] = "\n".into()),
            1,
            "line feed outside quotes",
        );
        let unterminated = file_with(&entries, 2, |c| {
            c[col::ENTRY_HASH] = "\"unterminated".into()
        });
        syntax(&unterminated, 2, "ends inside this row");
        let mut bare_lf = edited(&|_| ());
        let end = bare_lf.windows(2).rposition(|w| w == b"\r\n").unwrap();
        bare_lf.remove(end);
        syntax(&bare_lf, 2, "line feed outside quotes");
        let huge = format!("{}\"{}", header_line(), ",".repeat(MAX_ROW_BYTES + 1));
        assert_eq!(
            read_rows(huge.as_bytes()),
            Err(BackupError::RowTooLong { row: 1, line: 2 })
        );
    }

    #[test]
    fn the_reader_streams_through_small_buffers() {
        let entries = awkward_entries();
        let bytes = file(&entries);
        for capacity in [1, 2, 3, 7, 64] {
            let reader = RowReader::new(BufReader::with_capacity(capacity, &bytes[..])).unwrap();
            let back: Vec<StoredEntry> = reader.map(Result::unwrap).collect();
            assert_eq!(back, entries, "capacity {capacity}");
        }
    }

    // ---- known-answer vector ----

    const VECTOR_CSV: &[u8] =
        include_bytes!("../../../docs/vectors/backup/signals_backup_20261128.csv");
    const VECTOR_MANIFEST: &[u8] =
        include_bytes!("../../../docs/vectors/backup/signals_backup_20261128.json");

    #[test]
    fn known_answer_backup_vector() {
        let expected = awkward_entries();
        assert_eq!(
            file(&expected),
            VECTOR_CSV,
            "the writer reproduces the vector"
        );
        let read = read_rows(VECTOR_CSV).unwrap();
        assert_eq!(read, expected);
        let hashes: Vec<String> = read
            .iter()
            .map(|s| s.entry.compute_hash().to_hex())
            .collect();
        assert_eq!(
            hashes,
            [
                "b88ec595bd10497f9f1ce98b8d6268f3276607507466f35f4883606c87e6a85f",
                "231e0e8ae42fbf6b9b36ed1fd567ae1b06e82e9363dbc1e6f1a35b9ba5f19f30",
                "8922cabda806460f2d7d1a4da9a011f9b51c1b55eb63bfd09df833786c1c500a",
                "c300f3c64d58bca6430246459bb2897269a047ee636db5f900f716ef1eef3ff2",
            ]
        );
        assert!(verify_chain(&read, Some(4)).is_intact());
        let manifest = Manifest::parse(VECTOR_MANIFEST).unwrap();
        let (bytes, built) = manifest_for(&expected, 0..4, "20261128", None);
        let built = Manifest {
            csv: built.csv.map(|csv| CsvObject {
                version_id: manifest.csv.as_ref().unwrap().version_id.clone(),
                ..csv
            }),
            ..built
        };
        assert_eq!(manifest, built);
        assert_eq!(built.to_bytes(), VECTOR_MANIFEST);
        assert_ne!(bytes, VECTOR_MANIFEST, "only the version id differs");
        let csv = manifest.csv.as_ref().unwrap();
        assert_eq!(csv.sha256, Hash::sha256(VECTOR_CSV));
        assert_eq!(csv.bytes, VECTOR_CSV.len() as u64);
    }

    // ---- keys and ids ----

    #[test]
    fn backup_ids_and_keys() {
        let first = BackupId::new(day("20261128"), 1).unwrap();
        assert_eq!(first.to_string(), "20261128");
        assert_eq!(
            csv_key(&first),
            "signals/2026/11/signals_backup_20261128.csv"
        );
        assert_eq!(
            manifest_key(&first),
            "manifests/2026/11/signals_backup_20261128.json"
        );
        let second = first.next_run().unwrap();
        assert_eq!(
            csv_key(&second),
            "signals/2026/11/signals_backup_20261128_2.csv"
        );
        let tenth = BackupId::new(day("20261128"), 10).unwrap();
        assert!(first < second && second < tenth);
        assert!(tenth < BackupId::new(day("20261129"), 1).unwrap());
        for id in [first, second, tenth] {
            assert_eq!(id.to_string().parse(), Ok(id));
            assert_eq!(BackupId::from_manifest_key(&manifest_key(&id)), Ok(id));
        }
        for bad in [
            "2026112",
            "20261128_1",
            "20261128_02",
            "20261128_",
            "20261131",
            "2026-11-28",
            "20261128_2x",
        ] {
            assert!(bad.parse::<BackupId>().is_err(), "{bad}");
        }
        assert_eq!(
            BackupId::new(day("20261128"), 0),
            Err(BackupIdError::ZeroRun)
        );
        for bad in [
            "manifests/2026/12/signals_backup_20261128.json",
            "signals/2026/11/signals_backup_20261128.csv",
            "manifests/2026/11/signals_backup_20261128.json.bak",
        ] {
            assert!(BackupId::from_manifest_key(bad).is_err(), "{bad}");
        }
    }

    // ---- manifest ----

    #[test]
    fn manifest_round_trips_and_parses_strictly() {
        let entries = chain(5);
        let (bytes, manifest) = manifest_for(&entries, 2..5, "20261128_2", None);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("{\n  \"format\": \"signal-ledger-backup-manifest/1\",\n  \"backup_id\": \"20261128_2\",\n"));
        assert!(text.ends_with("}\n"));
        assert_eq!(Manifest::parse(&bytes), Ok(manifest.clone()));
        assert_eq!(manifest.sha256(), Hash::sha256(&bytes));
        assert_eq!(manifest.tree().unwrap().root(), manifest.merkle_root);

        let json = |edit: &dyn Fn(&str) -> String| Manifest::parse(edit(&text).as_bytes());
        let is_json_error = |result: Result<Manifest, ManifestError>, words: &str| match result {
            Err(ManifestError::Json(message)) => assert!(message.contains(words), "{message}"),
            other => panic!("{other:?}"),
        };
        is_json_error(
            json(&|t| t.replace("manifest/1", "manifest/2")),
            "expected \"signal-ledger-backup-manifest/1\"",
        );
        is_json_error(
            json(&|t| t.replacen("{\n", "{\n  \"extra\": 1,\n", 1)),
            "unknown field `extra`",
        );
        is_json_error(
            json(&|t| t.replace("  \"row_count\": 3,\n", "")),
            "missing field `row_count`",
        );
        is_json_error(
            json(&|t| {
                t.replace(
                    "\"created_at\": \"2026-11-29T02:00:00.500000Z\"",
                    "\"created_at\": \"2026-11-29T02:00:00.5Z\"",
                )
            }),
            "not in canonical form",
        );
        assert_eq!(
            json(&|t| t.replace("\n  ", "\n    ")),
            Err(ManifestError::NotCanonical)
        );
        assert_eq!(
            json(&|t| t.trim_end().to_owned()),
            Err(ManifestError::NotCanonical)
        );
        let created = "  \"created_at\": \"2026-11-29T02:00:00.500000Z\",\n";
        let id = "  \"backup_id\": \"20261128_2\",\n";
        assert_eq!(
            json(&|t| t.replace(&format!("{id}{created}"), &format!("{created}{id}"))),
            Err(ManifestError::NotCanonical)
        );

        let inconsistent = |edit: &dyn Fn(&mut Manifest), words: &str| {
            let mut edited = manifest.clone();
            edit(&mut edited);
            match Manifest::parse(&edited.to_bytes()) {
                Err(ManifestError::Inconsistent(reason)) => {
                    assert!(reason.contains(words), "{reason}")
                }
                other => panic!("{words}: {other:?}"),
            }
        };
        inconsistent(&|m| m.row_count = 2, "row_count 2 is not to − from");
        inconsistent(&|m| m.index_range.from = 6, "row_count");
        inconsistent(
            &|m| m.merkle_root = Hash([1; 32]),
            "is not the root of compact_range",
        );
        inconsistent(
            &|m| {
                m.compact_range.pop();
            },
            "compact_range",
        );
        inconsistent(&|m| m.csv = None, "must name its csv");
        inconsistent(
            &|m| m.csv.as_mut().unwrap().key = "signals/x.csv".into(),
            "csv.key",
        );
        inconsistent(
            &|m| m.csv.as_mut().unwrap().version_id = String::new(),
            "version_id",
        );
        inconsistent(
            &|m| m.first_previous_hash = Hash::ZERO,
            "first_previous_hash",
        );
        inconsistent(&|m| m.last_entry_hash = Hash([2; 32]), "odd to");
        inconsistent(&|m| m.retain_until = m.created_at, "retain_until");
    }

    #[test]
    fn an_empty_backup_has_no_csv_and_keeps_the_head() {
        let entries = chain(4);
        let (bytes, empty) = manifest_for(&entries, 4..4, "20261129", None);
        assert_eq!(empty.csv, None);
        assert!(
            String::from_utf8(bytes.clone())
                .unwrap()
                .contains("\"csv\": null")
        );
        assert_eq!(empty.first_previous_hash, entries[3].entry_hash);
        assert_eq!(empty.last_entry_hash, entries[3].entry_hash);
        assert_eq!(Manifest::parse(&bytes), Ok(empty.clone()));
        let mut with_csv = empty.clone();
        with_csv.csv = manifest_for(&entries, 0..4, "20261129", None).1.csv;
        assert!(matches!(
            Manifest::parse(&with_csv.to_bytes()),
            Err(ManifestError::Inconsistent(_))
        ));
        // The genesis backup of an empty ledger.
        let (bytes, genesis) = manifest_for(&entries, 0..0, "20261127", None);
        assert_eq!(genesis.merkle_root, merkle::root(&[]));
        assert_eq!(Manifest::parse(&bytes), Ok(genesis));
    }

    fn finding_kinds(findings: &[ManifestFinding]) -> Vec<(usize, &'static str)> {
        findings
            .iter()
            .map(|f| (f.position, f.kind.name()))
            .collect()
    }

    /// Day 1: entries 0..4; day 2 run 1: none; day 2 run 2: 4..7; day 3: 7..10.
    fn manifest_chain(entries: &[StoredEntry]) -> Vec<(Vec<u8>, Manifest)> {
        let plan = [
            (0..4, "20261128"),
            (4..4, "20261129"),
            (4..7, "20261129_2"),
            (7..10, "20261130"),
        ];
        let mut out: Vec<(Vec<u8>, Manifest)> = Vec::new();
        for (range, id) in plan {
            let previous = out.last().map(|(bytes, _)| bytes.as_slice());
            out.push(manifest_for(entries, range, id, previous));
        }
        out
    }

    /// Replaces manifest `at` and re-links the ones after it, as a careful forger would.
    fn relink(chain: &mut [(Vec<u8>, Manifest)], at: usize, edit: impl Fn(&mut Manifest)) {
        edit(&mut chain[at].1);
        chain[at].0 = chain[at].1.to_bytes();
        for next in at + 1..chain.len() {
            chain[next].1.previous_manifest_sha256 = Hash::sha256(&chain[next - 1].0);
            chain[next].0 = chain[next].1.to_bytes();
        }
    }

    #[test]
    fn manifest_chain_findings() {
        let entries = chain(10);
        let clean = manifest_chain(&entries);
        assert_eq!(verify_manifest_chain(&clean), vec![]);
        assert_eq!(verify_manifest_chain(&[]), vec![]);

        // A manifest rewritten in place (e.g. a new version): the next link breaks.
        let mut tampered = clean.clone();
        tampered[1].1.created_at = timestamp("2026-11-30T03:00:00Z");
        tampered[1].0 = tampered[1].1.to_bytes();
        let findings = verify_manifest_chain(&tampered);
        assert_eq!(finding_kinds(&findings), vec![(2, "broken_link")]);
        assert_eq!(
            findings[0].kind,
            ManifestFindingKind::BrokenLink {
                expected: Hash::sha256(&tampered[1].0),
                found: Hash::sha256(&clean[1].0),
            }
        );
        assert_eq!(findings[0].backup_id.to_string(), "20261129_2");

        // A missing manifest: a gap in the range and a broken link.
        let mut missing = clean.clone();
        missing.remove(2);
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&missing)),
            vec![(2, "broken_link"), (2, "gap")]
        );
        let findings = verify_manifest_chain(&missing);
        assert_eq!(
            findings[1].kind,
            ManifestFindingKind::Gap {
                expected_from: 4,
                found_from: 7
            }
        );

        // Re-linked but with a range that skips entries, or repeats them.
        let mut gap = clean.clone();
        relink(&mut gap, 3, |m| {
            let (_, other) = manifest_for(&entries, 8..10, "20261130", None);
            *m = Manifest {
                previous_manifest_sha256: m.previous_manifest_sha256,
                ..other
            };
        });
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&gap)),
            vec![(3, "gap")]
        );
        let mut overlap = clean.clone();
        relink(&mut overlap, 3, |m| {
            let (_, other) = manifest_for(&entries, 6..10, "20261130", None);
            *m = Manifest {
                previous_manifest_sha256: m.previous_manifest_sha256,
                ..other
            };
        });
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&overlap)),
            vec![(3, "overlap")]
        );

        // Contiguous indexes, but the first row does not link to the previous backup's last.
        let mut forged = clean.clone();
        relink(&mut forged, 2, |m| m.first_previous_hash = Hash([9; 32]));
        let findings = verify_manifest_chain(&forged);
        assert_eq!(finding_kinds(&findings), vec![(2, "entry_link_mismatch")]);
        assert_eq!(
            findings[0].kind,
            ManifestFindingKind::EntryLinkMismatch {
                expected: entries[3].entry_hash,
                found: Hash([9; 32]),
            }
        );

        // An empty backup whose root differs from the previous one.
        let mut rerooted = clean.clone();
        relink(&mut rerooted, 1, |m| {
            m.compact_range = vec![Hash([5; 32])];
            m.merkle_root = Hash([5; 32]);
        });
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&rerooted)),
            vec![(1, "root_changed")]
        );

        // The first manifest must start the chain; ids must increase; bytes must be canonical.
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&clean[1..])),
            vec![(0, "broken_link"), (0, "gap")]
        );
        let mut reordered = clean.clone();
        relink(&mut reordered, 2, |m| {
            m.backup_id = "20261127".parse().unwrap();
            m.csv.as_mut().unwrap().key = csv_key(&m.backup_id);
        });
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&reordered)),
            vec![(2, "out_of_order")]
        );
        let mut spaced = clean.clone();
        spaced[3].0.insert(1, b' ');
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&spaced)),
            vec![(3, "invalid")]
        );
        let mut inconsistent = clean;
        relink(&mut inconsistent, 0, |m| m.row_count = 9);
        assert_eq!(
            finding_kinds(&verify_manifest_chain(&inconsistent)),
            vec![(0, "invalid")]
        );
    }

    // ---- round trip property ----

    /// Text that likes the characters CSV and spreadsheets care about, at the start and inside.
    fn awkward_text() -> impl Strategy<Value = String> {
        let start = prop::sample::select(vec![
            "", "=", "+", "-", "@", "\t", "\r", "\n", "'", "''", "\"", ",", "＝", "＠", " ",
        ]);
        let middle = prop_oneof![any::<String>(), "[a-z ,\"'\r\n\t=+@é株📈-]{0,24}",];
        (start, middle).prop_map(|(start, middle)| format!("{start}{middle}"))
    }

    fn arb_decimal() -> impl Strategy<Value = ExactDecimal> {
        (0u64..1_000_000_000_000, 0u64..100_000_000)
            .prop_map(|(integer, fraction)| decimal(&format!("{integer}.{fraction:08}")))
    }

    fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
        (-62_167_219_200i64..253_402_300_800, 0i64..1_000_000).prop_map(|(seconds, micros)| {
            let instant = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                + time::Duration::microseconds(micros);
            Timestamp::from_datetime(instant).unwrap()
        })
    }

    fn arb_entry() -> impl Strategy<Value = StoredEntry> {
        let numbers = (
            any::<u64>(),
            any::<u64>(),
            any::<[u8; 32]>(),
            "[A-Za-z0-9._:-]{1,40}",
            any::<i64>(),
        );
        let content = (
            awkward_text(),
            any::<bool>(),
            arb_decimal(),
            prop::option::of(arb_decimal()),
            prop::option::of(arb_decimal()),
            prop::option::of(arb_decimal()),
            awkward_text(),
            prop::option::of(awkward_text()),
            prop::option::of(awkward_text()),
            prop::option::of(awkward_text()),
        );
        let times = (
            arb_timestamp(),
            arb_timestamp(),
            arb_timestamp(),
            awkward_text(),
        );
        (numbers, content, times).prop_map(
            |(
                (schema_version, chain_index, previous, signal_id, latency),
                (
                    symbol,
                    buy,
                    entry_price,
                    target_price,
                    stop_loss,
                    confidence,
                    rationale,
                    producer,
                    model,
                    model_version,
                ),
                (generated_at, received_at, retention_expires_at, submitter),
            )| {
                StoredEntry::seal(Entry {
                    schema_version,
                    chain_index,
                    previous_hash: Hash(previous),
                    signal_id: SignalId::parse(&signal_id).unwrap(),
                    content: SignalContent {
                        symbol,
                        action: if buy { Action::Buy } else { Action::Sell },
                        entry_price,
                        target_price,
                        stop_loss,
                        confidence,
                        rationale,
                        generated_at,
                        producer,
                        model,
                        model_version,
                    },
                    received_at,
                    delivery_latency_ms: latency,
                    retention_expires_at,
                    submitter,
                })
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn rows_round_trip_exactly(entries in prop::collection::vec(arb_entry(), 0..6), capacity in 1usize..80) {
            let bytes = file(&entries);
            let reader = RowReader::new(BufReader::with_capacity(capacity, &bytes[..])).unwrap();
            let back: Vec<StoredEntry> = reader.collect::<Result<_, _>>().unwrap();
            for stored in &back {
                prop_assert_eq!(stored.entry.compute_hash(), stored.entry_hash);
            }
            prop_assert_eq!(&back, &entries);
            // No cell a spreadsheet sees starts with a formula character.
            for row in raw_cells(&bytes) {
                for cell in row {
                    prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']), "{:?}", cell);
                }
            }
        }

        #[test]
        fn the_reader_accepts_only_what_the_writer_writes(entries in prop::collection::vec(arb_entry(), 1..4), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            // Change one byte: the file is refused, or it reads back to entries that re-write to
            // exactly the changed bytes (one spelling per file).
            let mut bytes = file(&entries);
            let position = at.index(bytes.len());
            bytes[position] = byte;
            if let Ok(back) = read_rows(&bytes) {
                prop_assert_eq!(file(&back), bytes);
            }
        }
    }
}
