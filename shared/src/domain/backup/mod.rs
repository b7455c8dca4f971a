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

mod csv;
mod id;
mod manifest;
mod receipts;

pub use csv::*;
pub use id::*;
pub use manifest::*;
pub use receipts::*;

#[cfg(test)]
mod tests;
