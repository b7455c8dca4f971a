//! The backup CSV: RFC 4180 with one canonical spelling, reversible formula escaping, and a
//! strict streaming reader (see the promises of [`super`]).

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use crate::domain::decimal::ExactDecimal;
use crate::domain::entry::{Entry, EntryFields, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::signal::{Action, SignalContent, SignalId};
use crate::domain::timestamp::Timestamp;

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
pub(super) mod col {
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
        /// The stable refusal code (§8.5), e.g. `bare_line_feed`.
        code: &'static str,
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
        /// The stable refusal code (§8.5), e.g. `not_canonical`.
        code: &'static str,
        reason: String,
    },
}

impl BackupError {
    /// The stable refusal code of `docs/ledger-format.md` §8.5, the same in every verifier
    /// (`docs/vectors/failing/backups.json` has a vector for each).
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::Io(_) => "io",
            BackupError::MissingHeader => "missing_header",
            BackupError::HeaderColumns { .. } | BackupError::Header { .. } => "header_mismatch",
            BackupError::Syntax { code, .. } | BackupError::Cell { code, .. } => code,
            BackupError::RowTooLong { .. } => "row_too_long",
            BackupError::ColumnCount { .. } => "column_count",
        }
    }

    /// Where the refusal is: (row, line), the header being row 0 on line 1; `None` for a
    /// failed read.
    pub fn position(&self) -> Option<(u64, u64)> {
        match *self {
            BackupError::Io(_) => None,
            BackupError::MissingHeader
            | BackupError::HeaderColumns { .. }
            | BackupError::Header { .. } => Some((0, 1)),
            BackupError::Syntax { row, line, .. }
            | BackupError::RowTooLong { row, line }
            | BackupError::ColumnCount { row, line, .. }
            | BackupError::Cell { row, line, .. } => Some((row, line)),
        }
    }

    /// The column of a refused cell.
    pub fn column(&self) -> Option<&'static str> {
        match self {
            BackupError::Cell { column, .. } => Some(column),
            _ => None,
        }
    }
}

/// A framing rule a byte broke: its stable code and the reason an error states.
type SyntaxRule = (&'static str, &'static str);

const BARE_LINE_FEED: SyntaxRule = (
    "bare_line_feed",
    "a line feed outside quotes without a carriage return (rows end with CRLF)",
);
const QUOTE_IN_UNQUOTED_CELL: SyntaxRule = (
    "quote_in_unquoted_cell",
    "a double quote inside an unquoted cell (a cell containing quotes is quoted, its quotes doubled)",
);
const NEEDLESS_QUOTES: SyntaxRule = (
    "needless_quotes",
    "a quoted cell without a comma, quote, CR or LF (cells are quoted only when they must be)",
);
const TEXT_AFTER_QUOTE: SyntaxRule = (
    "text_after_quote",
    "after a closing quote, expected a comma or the end of the row",
);
const BARE_CARRIAGE_RETURN: SyntaxRule = (
    "bare_carriage_return",
    "a carriage return outside quotes not followed by a line feed",
);
const UNTERMINATED_ROW: SyntaxRule = (
    "unterminated_row",
    "the file ends inside this row (every row, the last included, ends with CRLF)",
);

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
pub(super) fn values(stored: &StoredEntry) -> [Option<Cow<'_, str>>; COLUMNS] {
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
    unescape(cell).map_err(|(_, reason)| reason)
}

/// [`unescape_cell`] with the refusal's code: `needless_escape` or `unescaped_formula`.
pub(super) fn unescape(cell: &str) -> Result<&str, (&'static str, String)> {
    // Most cells start with an ASCII character that escapes nothing and needs no escape (every
    // full-width trigger starts with a non-ASCII byte): such a cell is its own value.
    if cell
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii() && !b"=+-@\t\r\n'".contains(b))
    {
        return Ok(cell);
    }
    unescape_any(cell)
}

/// [`unescape`] for any cell, character by character.
pub(super) fn unescape_any(cell: &str) -> Result<&str, (&'static str, String)> {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.is_empty() || rest.starts_with(FORMULA_TRIGGERS) => Ok(rest),
        Some(_) => Err((
            "needless_escape",
            "has a leading ' that escapes nothing (the writer adds ' only to an empty value or one \
             starting with = + - @ TAB CR LF ' or a full-width ＝＋－＠)"
                .to_owned(),
        )),
        None => match cell.chars().next() {
            Some(first) if FORMULA_TRIGGERS.contains(&first) => Err((
                "unescaped_formula",
                format!(
                    "starts with {first:?} without the ' escape, so a spreadsheet could run it as a formula"
                ),
            )),
            _ => Ok(cell),
        },
    }
}

/// Writes one cell: nothing for an absent value; otherwise the escaped value, in double quotes
/// (its own quotes doubled) exactly when it contains `,` `"` CR or LF.
pub(super) fn write_cell(out: &mut Vec<u8>, value: Option<&str>) {
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
    pub(super) ends: Vec<usize>,
    /// The number of the row last read (0 = header).
    pub(super) row: u64,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The state machine reading one record, a byte at a time.
#[derive(Debug, Clone, Copy)]
struct RecordScan {
    state: State,
    /// Whether the quoted cell being read contains a byte that needs the quotes.
    needs_quotes: bool,
}

impl Default for RecordScan {
    fn default() -> Self {
        RecordScan {
            state: State::CellStart,
            needs_quotes: false,
        }
    }
}

/// What one byte did to the record.
#[derive(Debug, Clone, Copy, Default)]
struct ByteRead {
    /// A line feed was read (inside a quoted cell, or ending the row).
    line_feed: bool,
    /// The row ended with this byte (the LF of its CRLF).
    row_complete: bool,
}

impl RecordScan {
    /// Feeds one byte: its cell content goes to `buffer`, a cell's end to `ends`. `Err` is the
    /// reason the byte breaks the format.
    #[inline]
    fn feed(
        &mut self,
        byte: u8,
        buffer: &mut Vec<u8>,
        ends: &mut Vec<usize>,
    ) -> Result<ByteRead, SyntaxRule> {
        let mut read = ByteRead::default();
        match (self.state, byte) {
            (State::CellStart, b'"') => {
                self.state = State::Quoted;
                self.needs_quotes = false;
            }
            (State::CellStart | State::Unquoted, b',') => {
                ends.push(buffer.len());
                self.state = State::CellStart;
            }
            (State::CellStart | State::Unquoted, b'\r') => {
                ends.push(buffer.len());
                self.state = State::CarriageReturn;
            }
            (State::CellStart | State::Unquoted, b'\n') => {
                return Err(BARE_LINE_FEED);
            }
            (State::Unquoted, b'"') => {
                return Err(QUOTE_IN_UNQUOTED_CELL);
            }
            (State::CellStart | State::Unquoted, _) => {
                buffer.push(byte);
                self.state = State::Unquoted;
            }
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, _) => {
                read.line_feed = byte == b'\n';
                self.needs_quotes |= matches!(byte, b',' | b'\r' | b'\n');
                buffer.push(byte);
            }
            (State::QuoteInQuoted, b'"') => {
                self.needs_quotes = true;
                buffer.push(b'"');
                self.state = State::Quoted;
            }
            (State::QuoteInQuoted, b',' | b'\r') => {
                if !self.needs_quotes {
                    return Err(NEEDLESS_QUOTES);
                }
                ends.push(buffer.len());
                self.state = match byte {
                    b',' => State::CellStart,
                    _ => State::CarriageReturn,
                };
            }
            (State::QuoteInQuoted, _) => {
                return Err(TEXT_AFTER_QUOTE);
            }
            (State::CarriageReturn, b'\n') => {
                read.line_feed = true;
                read.row_complete = true;
            }
            (State::CarriageReturn, _) => {
                return Err(BARE_CARRIAGE_RETURN);
            }
        }
        Ok(read)
    }
}

impl<R: BufRead> RowReader<R> {
    /// A reader at the start of `input` that has read nothing, not even the header: the
    /// receipts CSV (`receipts.rs`) reads its own header and rows with the same record syntax.
    pub(super) fn records(input: R) -> RowReader<R> {
        RowReader {
            input,
            buffer: Vec::new(),
            ends: Vec::new(),
            row: 0,
            row_line: 1,
            line: 1,
            done: false,
        }
    }

    /// The line on which the record last read starts.
    pub(super) fn record_line(&self) -> u64 {
        self.row_line
    }

    /// Reads and checks the header row; it must be exactly [`HEADER`].
    pub fn new(input: R) -> Result<RowReader<R>, BackupError> {
        let mut reader = RowReader::records(input);
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

    /// The next row's chain index and stored entry hash, without parsing its other cells: for a
    /// second reading of a file whose rows all parsed the first time. `None` at the end of the
    /// input, and from a row that does not give both on (which a full reading refuses).
    pub fn next_index_and_hash(&mut self) -> Option<(u64, Hash)> {
        if self.done {
            return None;
        }
        let read = match self.read_record(self.row + 1) {
            Ok(true) if self.ends.len() == COLUMNS => {
                let cell = |position| std::str::from_utf8(self.cell_bytes(position)).ok();
                let index = cell(col::CHAIN_INDEX).and_then(|c| c.parse::<u64>().ok());
                let hash = cell(col::ENTRY_HASH).and_then(|c| c.parse::<Hash>().ok());
                index.zip(hash)
            }
            _ => None,
        };
        self.done = read.is_none();
        read
    }

    pub(super) fn cell_bytes(&self, position: usize) -> &[u8] {
        let start = match position {
            0 => 0,
            _ => self.ends[position - 1],
        };
        &self.buffer[start..self.ends[position]]
    }

    /// Reads the next record into `buffer`/`ends`. `Ok(false)` at a clean end of input.
    pub(super) fn read_record(&mut self, row: u64) -> Result<bool, BackupError> {
        self.buffer.clear();
        self.ends.clear();
        self.row = row;
        self.row_line = self.line;
        let line = self.line;
        let syntax = |(code, reason): SyntaxRule| BackupError::Syntax {
            row,
            line,
            code,
            reason,
        };
        if self.read_plain_record()? {
            return Ok(true);
        }
        let mut scan = RecordScan::default();
        let mut record_bytes = 0usize;
        loop {
            let chunk = self
                .input
                .fill_buf()
                .map_err(|error| BackupError::Io(error.to_string()))?;
            if chunk.is_empty() {
                return match record_bytes {
                    0 => Ok(false),
                    _ => Err(syntax(UNTERMINATED_ROW)),
                };
            }
            let mut used = 0;
            let mut complete = false;
            for &byte in chunk {
                used += 1;
                if record_bytes + used > MAX_ROW_BYTES {
                    return Err(BackupError::RowTooLong { row, line });
                }
                let read = scan
                    .feed(byte, &mut self.buffer, &mut self.ends)
                    .map_err(syntax)?;
                if read.line_feed {
                    self.line += 1;
                }
                if read.row_complete {
                    complete = true;
                    break;
                }
            }
            self.input.consume(used);
            record_bytes += used;
            if complete {
                return Ok(true);
            }
        }
    }

    /// The next row's fields, borrowed from the reader, and its stored entry hash: the same
    /// rows and refusals as the iterator, without copying any value out (verification reads a
    /// row, hashes it and moves on). `None` at the end, and after a refusal that ends reading.
    pub fn next_fields(&mut self) -> Option<Result<(EntryFields<'_>, Hash), BackupError>> {
        if self.done {
            return None;
        }
        match self.read_record(self.row + 1) {
            Ok(true) => Some(self.cells().and_then(|row| row.fields())),
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

    /// Reads the next record at once when it is plain — wholly in the input's buffer, ending
    /// with its only CR and LF, with no double quote — which is what the byte-at-a-time reading
    /// would make of it: its cells split at each comma, one line. Any other record (quoted
    /// cells, a stray CR or LF, one cut by the buffer's end, too long, or the end of input) is
    /// left untouched (`false`) for the byte-at-a-time reading, which also says what is wrong.
    fn read_plain_record(&mut self) -> Result<bool, BackupError> {
        let chunk = self
            .input
            .fill_buf()
            .map_err(|error| BackupError::Io(error.to_string()))?;
        let Some(line_feed) = memchr::memchr(b'\n', chunk) else {
            return Ok(false);
        };
        let Some((b'\r', cells)) = chunk
            .get(..line_feed)
            .and_then(|record| record.split_last())
            .map(|(last, cells)| (*last, cells))
        else {
            return Ok(false);
        };
        if line_feed >= MAX_ROW_BYTES || memchr::memchr2(b'"', b'\r', cells).is_some() {
            return Ok(false);
        }
        let mut start = 0;
        for comma in memchr::memchr_iter(b',', cells).chain([cells.len()]) {
            self.buffer
                .extend_from_slice(cells.get(start..comma).unwrap_or_default());
            self.ends.push(self.buffer.len());
            start = comma + 1;
        }
        self.input.consume(line_feed + 1);
        self.line += 1;
        Ok(true)
    }

    /// Turns the record in `buffer`/`ends` into an entry.
    fn parse_row(&self) -> Result<StoredEntry, BackupError> {
        self.cells()?.entry()
    }

    /// The record in `buffer`/`ends` as a row's cells: exactly [`COLUMNS`] of UTF-8 text.
    fn cells(&self) -> Result<Row<'_>, BackupError> {
        let (row, line) = (self.row, self.row_line);
        if self.ends.len() != COLUMNS {
            return Err(BackupError::ColumnCount {
                row,
                line,
                found: self.ends.len(),
            });
        }
        let mut cells = [""; COLUMNS];
        // The record's text checked once: when it is UTF-8 and every cell ends on a character
        // boundary, each cell is UTF-8 (the usual case); otherwise each cell is checked, which
        // names the first that is not.
        if let Ok(text) = std::str::from_utf8(&self.buffer) {
            let mut start = 0;
            let whole = self.ends.iter().zip(cells.iter_mut()).all(|(&end, cell)| {
                let slice = text.get(start..end);
                start = end;
                slice.map(|slice| *cell = slice).is_some()
            });
            if whole {
                return Ok(Row { row, line, cells });
            }
        }
        for (position, cell) in cells.iter_mut().enumerate() {
            *cell =
                std::str::from_utf8(self.cell_bytes(position)).map_err(|_| BackupError::Cell {
                    row,
                    line,
                    column: HEADER[position],
                    code: "invalid_utf8",
                    reason: "is not valid UTF-8".to_owned(),
                })?;
        }
        Ok(Row { row, line, cells })
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
    fn error(&self, column: usize, code: &'static str, reason: String) -> BackupError {
        BackupError::Cell {
            row: self.row,
            line: self.line,
            column: HEADER[column],
            code,
            reason,
        }
    }

    /// The value of an optional column: `None` for an empty cell.
    fn optional(&self, column: usize) -> Result<Option<&'a str>, BackupError> {
        match self.cells[column] {
            "" => Ok(None),
            cell => unescape(cell)
                .map(Some)
                .map_err(|(code, reason)| self.error(column, code, reason)),
        }
    }

    fn required(&self, column: usize) -> Result<&'a str, BackupError> {
        self.optional(column)?.ok_or_else(|| {
            self.error(
                column,
                "required_empty",
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
        parse(text).map_err(|error| {
            self.error(
                column,
                "not_canonical",
                format!("{:?} {error}", excerpt(text)),
            )
        })
    }

    /// A text cell that must pass `check`, borrowed.
    fn checked<E: fmt::Display>(
        &self,
        column: usize,
        check: impl Fn(&str) -> Result<(), E>,
    ) -> Result<&'a str, BackupError> {
        let text = self.required(column)?;
        self.judged(column, text, check)
    }

    /// An optional text cell that, when present, must pass `check`, borrowed.
    fn optional_checked<E: fmt::Display>(
        &self,
        column: usize,
        check: impl Fn(&str) -> Result<(), E>,
    ) -> Result<Option<&'a str>, BackupError> {
        match self.optional(column)? {
            None => Ok(None),
            Some(text) => self.judged(column, text, check).map(Some),
        }
    }

    fn judged<E: fmt::Display>(
        &self,
        column: usize,
        text: &'a str,
        check: impl Fn(&str) -> Result<(), E>,
    ) -> Result<&'a str, BackupError> {
        check(text).map(|()| text).map_err(|error| {
            self.error(
                column,
                "not_canonical",
                format!("{:?} {error}", excerpt(text)),
            )
        })
    }

    /// The row's fields, borrowed from its cells, and its stored entry hash: every cell checked
    /// as [`Row::entry`] checks it (the same refusals, column by column in the same order),
    /// without copying a value.
    fn fields(&self) -> Result<(EntryFields<'a>, Hash), BackupError> {
        let decimal = ExactDecimal::check_canonical;
        let timestamp = Timestamp::parse_canonical;
        let fields = EntryFields {
            schema_version: self.parsed(col::SCHEMA_VERSION, canonical_integer::<u64>)?,
            chain_index: self.parsed(col::CHAIN_INDEX, canonical_integer::<u64>)?,
            previous_hash: self.parsed(col::PREVIOUS_HASH, Hash::from_str)?,
            signal_id: self.checked(col::SIGNAL_ID, SignalId::check)?,
            symbol: self.required(col::SYMBOL)?,
            action: self.parsed(col::ACTION, |text| {
                Action::parse(text).ok_or("is not BUY or SELL")
            })?,
            entry_price: self.checked(col::ENTRY_PRICE, decimal)?,
            target_price: self.optional_checked(col::TARGET_PRICE, decimal)?,
            stop_loss: self.optional_checked(col::STOP_LOSS, decimal)?,
            confidence: self.optional_checked(col::CONFIDENCE, decimal)?,
            rationale: self.required(col::RATIONALE)?,
            generated_at: self.parsed(col::GENERATED_AT, timestamp)?,
            producer: self.optional(col::PRODUCER)?,
            model: self.optional(col::MODEL)?,
            model_version: self.optional(col::MODEL_VERSION)?,
            received_at: self.parsed(col::RECEIVED_AT, timestamp)?,
            delivery_latency_ms: self.parsed(col::DELIVERY_LATENCY_MS, canonical_integer::<i64>)?,
            retention_expires_at: self.parsed(col::RETENTION_EXPIRES_AT, timestamp)?,
            submitter: self.required(col::SUBMITTER)?,
        };
        Ok((fields, self.parsed(col::ENTRY_HASH, Hash::from_str)?))
    }

    /// The row as an owned entry: [`Row::fields`], then each value copied into its type.
    fn entry(&self) -> Result<StoredEntry, BackupError> {
        let (fields, entry_hash) = self.fields()?;
        // The cells passed the checks: these parse.
        let decimal = |column, text: &str| {
            self.judged(column, text, ExactDecimal::check_canonical)?;
            ExactDecimal::parse_canonical(text).map_err(|error| {
                self.error(
                    column,
                    "not_canonical",
                    format!("{:?} {error}", excerpt(text)),
                )
            })
        };
        let optional_decimal =
            |column, text: Option<&str>| text.map(|text| decimal(column, text)).transpose();
        let entry = Entry {
            schema_version: fields.schema_version,
            chain_index: fields.chain_index,
            previous_hash: fields.previous_hash,
            signal_id: self.parsed(col::SIGNAL_ID, SignalId::parse)?,
            content: SignalContent {
                symbol: fields.symbol.to_owned(),
                action: fields.action,
                entry_price: decimal(col::ENTRY_PRICE, fields.entry_price)?,
                target_price: optional_decimal(col::TARGET_PRICE, fields.target_price)?,
                stop_loss: optional_decimal(col::STOP_LOSS, fields.stop_loss)?,
                confidence: optional_decimal(col::CONFIDENCE, fields.confidence)?,
                rationale: fields.rationale.to_owned(),
                generated_at: fields.generated_at,
                producer: fields.producer.map(str::to_owned),
                model: fields.model.map(str::to_owned),
                model_version: fields.model_version.map(str::to_owned),
            },
            received_at: fields.received_at,
            delivery_latency_ms: fields.delivery_latency_ms,
            retention_expires_at: fields.retention_expires_at,
            submitter: fields.submitter.to_owned(),
        };
        Ok(StoredEntry { entry, entry_hash })
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
/// A text of that shape that parses is exactly what the integer's `to_string` gives back, so the
/// shape is checked instead of formatting the value.
pub(super) fn canonical_integer<T: FromStr>(text: &str) -> Result<T, &'static str> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical_shape = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && if digits.len() == text.len() {
            digits == "0" || !digits.starts_with('0')
        } else {
            !digits.starts_with('0')
        };
    canonical_shape
        .then(|| text.parse::<T>().ok())
        .flatten()
        .ok_or("is not a canonical integer (decimal digits, '-' only when negative, no '+' or leading zeros)")
}
