//! Parquet encoding settings and one partition file being written on local disk.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{BloomFilterPosition, EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::LakeError;

/// Columns with (nearly) one value per row: a dictionary would cost CPU and then be abandoned.
const NO_DICTIONARY: &[&str] = &[
    "eventID",
    "requestID",
    "sharedEventID",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "edgeDeviceDetails",
    "insightDetails",
    "_extra",
];

/// Writer properties of every lake file: zstd, dictionaries for low-cardinality columns,
/// page-level statistics (the page index), a bloom filter on `eventID` for point lookups.
pub fn writer_properties(zstd_level: i32) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(zstd_level).unwrap_or_default(),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_coerce_types(true)
        .set_bloom_filter_position(BloomFilterPosition::End)
        .set_created_by(format!("trailpipe {}", env!("CARGO_PKG_VERSION")))
        .set_column_bloom_filter_enabled(ColumnPath::from("eventID"), true)
        .set_column_bloom_filter_fpp(ColumnPath::from("eventID"), 0.01)
        .set_column_bloom_filter_max_ndv(ColumnPath::from("eventID"), 200_000);
    for c in NO_DICTIONARY {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*c), false);
    }
    b.build()
}

/// A Parquet file under construction in the spool folder. Row groups are written to disk as
/// they are encoded, so only the row group in progress is held in memory.
pub(crate) struct OpenFile {
    writer: ArrowWriter<BufWriter<File>>,
    temp: PathBuf,
}

impl OpenFile {
    pub(crate) fn create(temp: PathBuf, props: &WriterProperties) -> Result<OpenFile, LakeError> {
        let file = File::create(&temp).map_err(|e| LakeError::io(&temp, e))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            trailpipe_record::schema(),
            Some(props.clone()),
        )
        .map_err(|e| LakeError::parquet(&temp, e))?;
        Ok(OpenFile { writer, temp })
    }

    /// Encodes `batches` as one row group.
    pub(crate) fn write_row_group(&mut self, batches: &[RecordBatch]) -> Result<(), LakeError> {
        for b in batches {
            self.writer
                .write(b)
                .map_err(|e| LakeError::parquet(&self.temp, e))?;
        }
        self.writer
            .flush()
            .map_err(|e| LakeError::parquet(&self.temp, e))
    }

    pub(crate) fn bytes_written(&self) -> u64 {
        self.writer.bytes_written() as u64
    }

    /// Writes the footer with the key-value metadata and syncs the file to disk.
    pub(crate) fn close(mut self, metadata: Vec<KeyValue>) -> Result<(PathBuf, u64), LakeError> {
        for kv in metadata {
            self.writer.append_key_value_metadata(kv);
        }
        let temp = self.temp;
        let inner = self
            .writer
            .into_inner()
            .map_err(|e| LakeError::parquet(&temp, e))?;
        let file = inner
            .into_inner()
            .map_err(|e| LakeError::io(&temp, e.into_error()))?;
        file.sync_all().map_err(|e| LakeError::io(&temp, e))?;
        let size = file.metadata().map_err(|e| LakeError::io(&temp, e))?.len();
        Ok((temp, size))
    }

    pub(crate) fn discard(self) {
        let temp = self.temp.clone();
        drop(self.writer);
        let _ = std::fs::remove_file(temp);
    }
}
