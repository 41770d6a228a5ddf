//! # trailpipe-lake
//!
//! The lake side of trailpipe: partition buffers, Parquet encoding, atomic commit, and the
//! claims that make delivery effectively once.
//!
//! * [`LakeWriter`] buffers Arrow batches per partition
//!   (`<table>/account=<id>/region=<r>/date=<YYYY-MM-DD>`) and encodes them into the
//!   partition's row group in progress: under memory pressure (largest buffers first; the row
//!   group stays open, so a partition's rows normally stay one row group), and when the row
//!   group reaches its size. If the row groups in progress hold too much, settled ones are
//!   ended first. A file is sealed at the target size, at the maximum age, or at the end.
//!   Files are built in a spool folder under a name that does not end in `.parquet`, so no
//!   reader ever sees a partial file.
//! * [`Store`] makes a sealed file visible whole (local fsync and `rename`; S3 single PUT or
//!   completed multipart upload, implemented in `trailpipe-aws`) and holds bookkeeping under
//!   `_trailpipe/`, which Athena (hidden `_` prefix) and `account=*` globs ignore.
//! * [`ledger`] claims a source object's rows per partition before they are buffered, so
//!   that redelivery, crashes and overlapping backfills neither lose nor duplicate rows.
//!
//! Rows are written batch by batch, in the order given (the decoder gives each object's rows
//! in call order, which makes the files about 8% smaller).
//! Files are zstd Parquet (a row group written in one go: snappy under 100 rows; under
//! 10,000 rows zstd only on its bulky columns, snappy on the rest), with dictionaries on
//! low-cardinality columns, statistics on the columns whose range can prune (`eventTime`, the
//! flags, the event category), bloom filters on the columns CloudTrail is searched by value, no
//! page index, and key-value metadata naming the trailpipe version and the source objects the
//! file holds.

mod encode;
pub mod ledger;
mod store;
mod writer;

use std::path::Path;

pub use encode::writer_properties;
pub use store::{LocalStore, Store, StoreError};
pub use writer::{LakeWriter, Rows, SealedFile, WriterConfig};

/// A lake operation that failed, naming the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// Local file I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Parquet encoding.
    #[error("{path}: parquet: {source}")]
    Parquet {
        /// The file.
        path: String,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LakeError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> LakeError {
        LakeError::Io {
            path: path.display().to_string(),
            source,
        }
    }
    /// An I/O error of a file under construction, named by its label (`encode::file_label`).
    pub(crate) fn file_io(file: &str, source: std::io::Error) -> LakeError {
        LakeError::Io {
            path: file.to_string(),
            source,
        }
    }
    /// A Parquet error of a file under construction, named by its label.
    pub(crate) fn parquet(file: &str, source: parquet::errors::ParquetError) -> LakeError {
        LakeError::Parquet {
            path: file.to_string(),
            source,
        }
    }
}
