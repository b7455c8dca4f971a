//! Backup ids (`YYYYMMDD`, `YYYYMMDD-N` for later runs of a day) and the object keys they name.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use super::csv::canonical_integer;

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
