//! The store's errors: each names the database file and what to do.

use std::path::PathBuf;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or created.
    #[error(
        "cannot open the database {}: {source}; check that the directory exists and that the \
         user running sunfill may write it (SQLite also writes {0}-wal and {0}-shm next to it)",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's answer.
        source: rusqlite::Error,
    },
    /// There is no file to read (`sunfill simulate --store`).
    #[error(
        "there is no database at {}: give the file of `path` in the `[store]` section of \
         sunfill's config (default {})",
        path.display(),
        crate::config::DEFAULT_STORE_PATH
    )]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// A SQLite file without sunfill's schema.
    #[error(
        "{} is a SQLite file without sunfill's tables; give the database of `path` in the \
         `[store]` section of sunfill's config",
        path.display()
    )]
    NotOurs {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but is not a SQLite database, or is damaged.
    #[error(
        "the database {} is not a SQLite database or is damaged ({source}); stop sunfill, move \
         the file (and its -wal and -shm files) away and start again: sunfill then creates a new, \
         empty database",
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's answer.
        source: rusqlite::Error,
    },
    /// The file may not be written (read-only file, directory or file system, full disk).
    #[error(
        "cannot write the database {}: {source}; check the permissions of the file and its \
         directory and the free space on the disk",
        path.display()
    )]
    NotWritable {
        /// The database file.
        path: PathBuf,
        /// SQLite's answer.
        source: rusqlite::Error,
    },
    /// The file was written by a newer sunfill.
    #[error(
        "the database {} has schema version {found}, but this sunfill knows only up to version \
         {known}; upgrade sunfill, or move the file away to start a new one",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// Any other SQLite failure, with what the store was doing.
    #[error("database {}: {doing} failed: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing ("saving a session", ...).
        doing: &'static str,
        /// SQLite's answer.
        source: rusqlite::Error,
    },
    /// The recorder's thread ended unexpectedly.
    #[error("the store's recorder for {} stopped unexpectedly: {why}", path.display())]
    Recorder {
        /// The database file.
        path: PathBuf,
        /// What happened.
        why: String,
    },
}

impl Error {
    /// Classifies a SQLite error met while `doing` something with `path`.
    pub(crate) fn sqlite(path: &std::path::Path, doing: &'static str, e: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode as C;
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(C::NotADatabase | C::DatabaseCorrupt) => Error::Corrupt { path, source: e },
            Some(C::ReadOnly | C::DiskFull | C::PermissionDenied) => {
                Error::NotWritable { path, source: e }
            }
            Some(C::CannotOpen) => Error::Open { path, source: e },
            _ => Error::Sqlite {
                path,
                doing,
                source: e,
            },
        }
    }
}
