//! Parquet encoding settings and one partition file being written on local disk.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{
    BloomFilterPosition, EnabledStatistics, WriterProperties, WriterPropertiesBuilder,
};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, TypePtr};
use rayon::prelude::*;

use crate::LakeError;

/// The only columns with statistics (min, max, nulls; per column chunk, no page index). A row
/// group is one partition's day (or a `--row-group-mb` slice of it): partitions prune account,
/// region and date, `eventTime`'s range prunes the rest of time, and an `=` on a value skips a
/// file through its bloom filter ([`BLOOM_FILTERS`]). The min and max of a string column span
/// nearly the alphabet in such a row group and prune nothing, and the page index has nothing
/// to add to one page per dictionary-encoded chunk; what they cost is in every footer, and
/// every query reads every footer (`union_by_name` reads each file's schema). With statistics
/// on every column and the page index, DuckDB took 0.86-1.07x its time over its own lake for
/// the five benchmark questions; with these alone, 0.85-0.98x (docs/performance.md). The flags
/// and the event category are kept because they can be constant in a row group (a day of data
/// events only), and cost little: two booleans and a column of four values.
const STATISTICS: &[&str] = &["eventTime", "readOnly", "managementEvent", "eventCategory"];

/// Columns with (nearly) one value per row (random IDs, JSON text): no dictionary (it would
/// cost CPU and then be abandoned), and pages of 8 MiB instead of 1 MiB: zstd compresses each
/// page alone, and the JSON text compresses better with more context. `eventID` lookups use
/// its bloom filter.
const NEAR_UNIQUE: &[&str] = &[
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

/// Columns written without a dictionary besides the near-unique ones above: high-cardinality
/// strings where plain values compress better under zstd than dictionary indices plus a large
/// dictionary page (temporary access keys and session creation times: about 10% smaller on
/// the benchmark corpus).
const NO_DICTIONARY: &[&str] = &[
    "userIdentity.accessKeyId",
    "userIdentity.sessionContext.attributes.creationDate",
];

/// Columns CloudTrail is searched by value (an event, a principal, an access key, an address, a
/// resource, an API call or error), each with the distinct values per row group its bloom
/// filter is sized for (1% false positives; a filter is folded to its real distinct count when
/// its row group ends; until then each costs the open row group up to 32 KB, 256 KB for
/// `eventID`: 524 KB in all by the writers' `memory_size`, against 337 KB with `eventID`'s
/// alone, which is why the largest are sized for 16k values and not more: at 32k, an
/// end-to-end test under a 24 MB budget had a partition's row group cut in two). A reader
/// skips the row groups, and so the files, whose filter lacks the value: DuckDB does for `=`.
/// Min/max statistics cannot, for values spread over the alphabet such as ARNs and keys. On
/// the 1 GB benchmark corpus the filters besides `eventID` take 1% of the lake (the largest:
/// `accessKeyId`, `resources[].ARN`, `userIdentity.arn`); `userIdentity.principalId` was left
/// out (another 0.3%; its ARN has one).
const BLOOM_FILTERS: &[(&str, u64)] = &[
    ("eventID", 200_000),
    ("eventName", 2_048),
    ("eventSource", 1_024),
    ("errorCode", 1_024),
    ("recipientAccountId", 1_024),
    ("sourceIPAddress", 16_384),
    ("vpcEndpointId", 1_024),
    ("userIdentity.type", 64),
    ("userIdentity.accountId", 1_024),
    ("userIdentity.arn", 16_384),
    ("userIdentity.userName", 4_096),
    ("userIdentity.accessKeyId", 16_384),
    ("userIdentity.sessionContext.sessionIssuer.arn", 8_192),
    ("userIdentity.sessionContext.sessionIssuer.userName", 8_192),
    ("resources.list.element.ARN", 16_384),
];

/// A column path from its dotted form (a nested column has one part per level).
fn path(dotted: &str) -> ColumnPath {
    ColumnPath::new(dotted.split('.').map(str::to_string).collect())
}

/// Writer properties of every lake file: zstd, dictionaries for low-cardinality columns,
/// statistics where they can prune ([`STATISTICS`]), bloom filters on the columns searched by
/// value ([`BLOOM_FILTERS`]).
pub fn writer_properties(zstd_level: i32) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(zstd_level).unwrap_or_default(),
        ))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_offset_index_disabled(true)
        // pages end at the byte limit (1 MiB, 8 MiB for the near-unique columns), not at
        // 20k rows: a dictionary-encoded column of a 118k-row group is then one page, not
        // six, and DuckDB reads it up to 10% faster (`count(DISTINCT eventName)` over one
        // file: 1.15x -> 1.04x DuckDB's time over its own file); the lake is 0.3% smaller
        .set_data_page_row_count_limit(usize::MAX)
        // 4 MiB, not 1: the dictionaries of `userIdentity.arn` and `resources[].ARN` outgrow
        // 1 MiB in large row groups and fall back to PLAIN for the rest of the chunk
        // (1 GB corpus: lake -0.25%, or -0.65% with one row group per partition; speed
        // unchanged)
        .set_dictionary_page_size_limit(4 << 20)
        .set_coerce_types(true)
        // each row group's filter is written right after it: with `End`, every filter of a
        // file stayed in memory until the file closed, at its unfolded size (256 KiB for
        // 200k values: folding truncates without freeing), so memory grew with row groups
        // per open file and with open files (10k partitions: 436 -> 357 MB peak)
        .set_bloom_filter_position(BloomFilterPosition::AfterRowGroup)
        .set_created_by(format!("trailpipe {}", env!("CARGO_PKG_VERSION")));
    for (c, ndv) in BLOOM_FILTERS {
        b = b
            .set_column_bloom_filter_enabled(path(c), true)
            .set_column_bloom_filter_fpp(path(c), 0.01)
            .set_column_bloom_filter_max_ndv(path(c), *ndv);
    }
    for c in STATISTICS {
        b = b.set_column_statistics_enabled(path(c), EnabledStatistics::Chunk);
    }
    for c in NEAR_UNIQUE {
        b = b
            .set_column_dictionary_enabled(path(c), false)
            .set_column_data_page_size_limit(path(c), 8 << 20);
    }
    for c in NO_DICTIONARY {
        b = b.set_column_dictionary_enabled(path(c), false);
    }
    b.build()
}

/// A Parquet file under construction in the spool folder. A row group is written to disk when
/// it ends, so only the row group in progress is held in memory, in encoded form (its column
/// writers), across as many encodes as it takes; its columns are encoded in parallel on the
/// rayon pool (one task per top-level column).
pub(crate) struct OpenFile {
    // parquet's TrackedWrite buffers already; no extra BufWriter per open file (thousands of
    // partitions may be open at once)
    writer: SerializedFileWriter<File>,
    row_groups: usize,
    temp: PathBuf,
    /// The file's name in errors: its final path in the lake, and where it is being written.
    label: String,
    /// The row group in progress: one writer per leaf column, grouped by top-level field.
    open: Option<Vec<Vec<ArrowColumnWriter>>>,
}

/// Number of Parquet leaf columns under each top-level field of the schema.
fn leaf_counts() -> &'static [usize] {
    static COUNTS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    fn leaves(t: &DataType) -> usize {
        match t {
            DataType::Struct(fields) => fields.iter().map(|f| leaves(f.data_type())).sum(),
            DataType::List(f) | DataType::LargeList(f) => leaves(f.data_type()),
            _ => 1,
        }
    }
    COUNTS.get_or_init(|| {
        trailpipe_record::schema()
            .fields()
            .iter()
            .map(|f| leaves(f.data_type()))
            .collect()
    })
}

/// Row groups written in one go with fewer rows than this get snappy pages, not zstd, and bloom
/// filters sized for this many values.
///
/// parquet makes a zstd compression and decompression context for every column chunk it
/// writes, and creating one runs CPUID (zstd checks for BMI2), which traps to the hypervisor on
/// a VM: 140 contexts cost about 2 ms a row group, more than encoding a few hundred rows. An
/// organization trail (500 accounts x 20 regions, 10k files of a median 7 rows) spent 38% of
/// its CPU there. Snappy keeps no context, and on groups this small zstd saves little: 100
/// rows took that run from 46 to 27 s of user time (34-38 to 24 s wall) for a 0.8% larger
/// lake; under 300 rows, 23 s and +4%; no compression under 1,000 rows, 21 s and +51%. A
/// bloom filter starts at the size for its column's most distinct values (256 KiB for
/// `eventID`) and is folded down when the row group ends; starting small saved another 2 s.
/// See docs/performance.md.
const SMALL_ROW_GROUP_ROWS: usize = 100;

/// Row groups written in one go with fewer rows than this (and at least
/// [`SMALL_ROW_GROUP_ROWS`]) keep zstd only on the [`BULKY`] and [`NEAR_UNIQUE`] columns, and
/// get snappy on the rest, and bloom filters sized for at most this many values. In a group
/// of a few thousand rows the other columns are a few KB each (dictionary indices, nulls),
/// where zstd saves next to nothing and its contexts cost more than the encoding (see
/// [`SMALL_ROW_GROUP_ROWS`]): 23 column chunks get contexts instead of 70. An organization
/// trail (1,591 row groups of 100 to 9,999 rows) took 14% less user CPU for a 0.33% larger
/// lake (docs/performance.md). A daemon's files sealed by age are often row groups of this size.
const MEDIUM_ROW_GROUP_ROWS: usize = 10_000;

/// Columns that hold most of the bytes of a row group besides the [`NEAR_UNIQUE`] ones:
/// principals, keys, resources, times, agents and addresses, with many distinct values.
/// Together with the near-unique columns they held 91% of the compressed bytes of an
/// organization trail's row groups of 100 to 9,999 rows; zstd left the other 47 columns at 87%
/// of their size there.
const BULKY: &[&str] = &[
    "eventTime",
    "userAgent",
    "sourceIPAddress",
    "errorMessage",
    "userIdentity.principalId",
    "userIdentity.arn",
    "userIdentity.accessKeyId",
    "userIdentity.sessionContext.attributes.creationDate",
    "userIdentity.sessionContext.sessionIssuer.principalId",
    "userIdentity.sessionContext.sessionIssuer.arn",
    "resources.list.element.ARN",
    "resources.list.element.ARNPrefix",
    "tlsDetails.clientProvidedHostHeader",
];

/// How every file of a lake is encoded: its writer properties, its Parquet schema (converted
/// from the Arrow schema once, not for every file: an organization trail writes thousands),
/// and column writers for each size of row group (see [`Encoding::writers`]).
pub(crate) struct Encoding {
    props: Arc<WriterProperties>,
    schema: TypePtr,
    /// zstd on every column: row groups fed in parts, or of [`MEDIUM_ROW_GROUP_ROWS`] or more.
    large: ArrowRowGroupWriterFactory,
    medium: ArrowRowGroupWriterFactory,
    small: ArrowRowGroupWriterFactory,
}

impl Encoding {
    pub(crate) fn new(zstd_level: i32) -> Result<Encoding, LakeError> {
        let perr = |e| LakeError::parquet("the lake's Parquet schema", e);
        let props = writer_properties(zstd_level);
        let schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&trailpipe_record::schema())
            .map_err(perr)?
            .root_schema_ptr();
        let factory = |props: WriterProperties| {
            let sink = SerializedFileWriter::new(std::io::sink(), schema.clone(), Arc::new(props))?;
            Ok(ArrowRowGroupWriterFactory::new(
                &sink,
                trailpipe_record::schema(),
            ))
        };
        // a bloom filter starts at the size for its column's most distinct values and is folded
        // down when the row group ends: start at the size these rows can need
        let at_most = |rows: usize, mut b: WriterPropertiesBuilder| {
            for (c, ndv) in BLOOM_FILTERS {
                b = b.set_column_bloom_filter_max_ndv(path(c), (*ndv).min(rows as u64));
            }
            b
        };
        let small = at_most(
            SMALL_ROW_GROUP_ROWS,
            props
                .clone()
                .into_builder()
                .set_compression(Compression::SNAPPY),
        );
        let mut medium = at_most(
            MEDIUM_ROW_GROUP_ROWS,
            props
                .clone()
                .into_builder()
                .set_compression(Compression::SNAPPY),
        );
        for c in NEAR_UNIQUE.iter().chain(BULKY) {
            medium = medium.set_column_compression(path(c), props.compression(&path(c)));
        }
        Ok(Encoding {
            large: factory(props.clone()).map_err(perr)?,
            medium: factory(medium.build()).map_err(perr)?,
            small: factory(small.build()).map_err(perr)?,
            props: Arc::new(props),
            schema,
        })
    }

    /// Column writers for a row group of `rows` rows written in one go (`whole`), or fed in
    /// parts, where its size is not known when it starts.
    fn writers(&self, rows: usize, whole: bool) -> &ArrowRowGroupWriterFactory {
        if !whole || rows >= MEDIUM_ROW_GROUP_ROWS {
            &self.large
        } else if rows >= SMALL_ROW_GROUP_ROWS {
            &self.medium
        } else {
            &self.small
        }
    }
}

impl OpenFile {
    /// A file at `temp` that will be committed as `path` (named in its errors).
    pub(crate) fn create(
        temp: PathBuf,
        path: &str,
        encoding: &Encoding,
    ) -> Result<OpenFile, LakeError> {
        let label = file_label(path, &temp);
        let file = File::create(&temp).map_err(|e| LakeError::file_io(&label, e))?;
        // no ARROW:schema in the footer: the Parquet schema says everything our readers,
        // DuckDB and Athena need, and every query reads every footer again
        let writer =
            SerializedFileWriter::new(file, encoding.schema.clone(), encoding.props.clone())
                .map_err(|e| LakeError::parquet(&label, e))?;
        Ok(OpenFile {
            writer,
            row_groups: 0,
            temp,
            label,
            open: None,
        })
    }

    /// Encodes `batches` into the row group in progress (starting one if there is none), with
    /// the columns in parallel, and leaves it open; returns the memory its column writers now
    /// hold. Encoded rows take about a quarter of their Arrow memory (dictionary indices,
    /// compressed pages), so memory pressure can move rows here without ending the row group:
    /// a partition's rows stay one row group, which is what queries read fastest. `whole` says
    /// that if `batches` start a row group they are all its rows (it ends next), so its column
    /// writers can suit its size ([`Encoding::writers`]).
    pub(crate) fn feed(
        &mut self,
        batches: Vec<RecordBatch>,
        whole: bool,
        encoding: &Encoding,
    ) -> Result<u64, LakeError> {
        let label = &self.label;
        let perr = |e| LakeError::parquet(label, e);
        let groups = match &mut self.open {
            Some(groups) => groups,
            None => {
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                let mut writers = encoding
                    .writers(rows, whole)
                    .create_column_writers(self.row_groups)
                    .map_err(perr)?
                    .into_iter();
                self.open.insert(
                    leaf_counts()
                        .iter()
                        .map(|n| writers.by_ref().take(*n).collect())
                        .collect(),
                )
            }
        };
        // Column by column, each column's arrays owned by its task and dropped as soon as
        // they are written: the rows' Arrow memory is freed while their encoded form grows,
        // not after (docs/performance.md, "The peak is a relief's encode": peak RSS 1 GB
        // 320-347 -> 313-318 MB, 4 GB 404-407 -> 367-380 MB).
        let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::with_capacity(batches.len()); groups.len()];
        for b in batches {
            for (arrays, c) in columns.iter_mut().zip(b.columns()) {
                arrays.push(c.clone());
            }
        }
        let schema = trailpipe_record::schema();
        groups
            .par_iter_mut()
            .zip(columns)
            .enumerate()
            .try_for_each(|(i, (group, arrays))| {
                let field = schema.field(i);
                for a in arrays {
                    let leaves = compute_leaves(field, &a)?;
                    for (w, leaf) in group.iter_mut().zip(leaves) {
                        w.write(&leaf)?;
                    }
                }
                Ok(())
            })
            .map_err(perr)?;
        Ok(groups
            .iter()
            .flatten()
            .map(|w| w.memory_size() as u64)
            .sum())
    }

    /// Ends the row group in progress, if any: closes its columns (in parallel) and writes
    /// them to the file.
    pub(crate) fn finish_row_group(&mut self) -> Result<(), LakeError> {
        let Some(groups) = self.open.take() else {
            return Ok(());
        };
        let perr = |e| LakeError::parquet(&self.label, e);
        let chunks: Vec<Result<Vec<ArrowColumnChunk>, ParquetError>> = groups
            .into_par_iter()
            .map(|group| group.into_iter().map(ArrowColumnWriter::close).collect())
            .collect();
        let mut rg = self.writer.next_row_group().map_err(perr)?;
        for group in chunks {
            for chunk in group.map_err(perr)? {
                chunk.append_to_row_group(&mut rg).map_err(perr)?;
            }
        }
        rg.close().map_err(perr)?;
        self.row_groups += 1;
        self.start_writeback();
        Ok(())
    }

    /// Asks the kernel to start writing the file's data to disk now, without waiting for it.
    /// Otherwise dirty pages wait (30 s by default) for the `fsync` at close, which then
    /// writes the whole file: at the end of an ingest, the fsyncs of every open file came last,
    /// with little CPU work left to overlap them.
    fn start_writeback(&mut self) {
        #[cfg(target_os = "linux")]
        if self.writer.flush().is_ok() {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor; the call only schedules writeback, and a failure
            // is harmless (the fsync at close still makes the file durable)
            unsafe {
                libc::sync_file_range(
                    self.writer.inner().as_raw_fd(),
                    0,
                    0,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
    }

    pub(crate) fn bytes_written(&self) -> u64 {
        self.writer.bytes_written() as u64
    }

    /// Writes the footer with the key-value metadata; returns the spool file and its size.
    /// The file is not synced here: a local lake fsyncs it at commit, beside other commits,
    /// and an S3 lake uploads it and needs no local copy on disk.
    pub(crate) fn close(mut self, metadata: Vec<KeyValue>) -> Result<(PathBuf, u64), LakeError> {
        self.finish_row_group()?;
        for kv in metadata {
            self.writer.append_key_value_metadata(kv);
        }
        let (temp, label) = (self.temp, self.label);
        let file = self
            .writer
            .into_inner()
            .map_err(|e| LakeError::parquet(&label, e))?;
        let size = file
            .metadata()
            .map_err(|e| LakeError::file_io(&label, e))?
            .len();
        Ok((temp, size))
    }

    pub(crate) fn discard(self) {
        let temp = self.temp.clone();
        drop(self.writer);
        let _ = std::fs::remove_file(temp);
    }
}

/// How errors name a file under construction: its final path in the lake (which says the
/// partition), and where it is being written.
fn file_label(path: &str, temp: &std::path::Path) -> String {
    format!("{path} (being written at {})", temp.display())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use parquet::file::properties::ReaderProperties;
    use parquet::file::reader::FileReader;
    use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
    use trailpipe_record::{DecodeOptions, Decoded, Decoder};

    /// The rows of `doc`, a delivery whose records fall in one partition.
    fn batch_of(doc: &[u8]) -> RecordBatch {
        let Ok(Decoded::Records(mut r)) = Decoder::new(DecodeOptions::default()).decode(doc) else {
            panic!("decodes")
        };
        r.partitions.remove(0).batch
    }

    /// Each row group of the Parquet file at `path`: its rows, and the codecs of its column
    /// chunks, sorted, repeats removed (the footer names the codec, not the zstd level).
    pub(crate) fn codecs(path: &std::path::Path) -> Vec<(i64, Vec<&'static str>)> {
        zstd_columns(path)
            .into_iter()
            .map(|(rows, zstd, others)| {
                let mut c = Vec::new();
                if others > 0 {
                    c.push("snappy");
                }
                if !zstd.is_empty() {
                    c.push("zstd");
                }
                (rows, c)
            })
            .collect()
    }

    /// Each row group of the Parquet file at `path`: its rows, its zstd columns (dotted paths,
    /// sorted), and how many columns are snappy. Any other codec fails.
    fn zstd_columns(path: &std::path::Path) -> Vec<(i64, Vec<String>, usize)> {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        reader
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| {
                let (mut zstd, mut snappy) = (Vec::new(), 0);
                for c in rg.columns() {
                    match c.compression() {
                        Compression::SNAPPY => snappy += 1,
                        Compression::ZSTD(_) => zstd.push(c.column_path().string()),
                        other => panic!("{}: {other}", c.column_path().string()),
                    }
                }
                zstd.sort();
                (rg.num_rows(), zstd, snappy)
            })
            .collect()
    }

    /// A lake file of the records of `doc` (one partition), as one row group written in one go
    /// (`whole`: it gets the column writers for its size) or fed: its folder and its path.
    fn written(doc: &[u8], whole: bool) -> (std::path::PathBuf, std::path::PathBuf) {
        let batch = batch_of(doc);
        let dir = crate::writer::tests::tempdir();
        let temp = dir.join("f.tmp");
        let encoding = Encoding::new(2).unwrap();
        let mut f = OpenFile::create(temp.clone(), "p", &encoding).unwrap();
        f.feed(vec![batch], whole, &encoding).unwrap();
        f.close(Vec::new()).unwrap();
        (dir, temp)
    }

    /// The columns CloudTrail is searched by get a bloom filter in every row group, holding the
    /// values written: a reader may skip a row group whose filter lacks the value it looks for.
    #[test]
    fn bloom_filters_cover_the_columns_searched_by_value() {
        let value = |c: &str, i: usize| format!("{}-{i}", c.rsplit('.').next().unwrap());
        let doc_of = |rows: usize| {
            let mut doc = String::from(r#"{"Records":["#);
            for i in 0..rows {
                let v = |c: &str| value(c, i);
                doc.push_str(&format!(
                r#"{}{{"eventTime":"2024-01-01T00:00:00Z","eventID":"{}","eventName":"{}","eventSource":"{}","errorCode":"{}","recipientAccountId":"{}","sourceIPAddress":"{}","vpcEndpointId":"{}","userIdentity":{{"type":"{}","accountId":"{}","arn":"{}","userName":"{}","accessKeyId":"{}","sessionContext":{{"sessionIssuer":{{"arn":"{}","userName":"{}"}}}}}},"resources":[{{"ARN":"{}"}}],"awsRegion":"us-east-1"}}"#,
                if i > 0 { "," } else { "" },
                v("eventID"),
                v("eventName"),
                v("eventSource"),
                v("errorCode"),
                v("recipientAccountId"),
                v("sourceIPAddress"),
                v("vpcEndpointId"),
                v("type"),
                v("accountId"),
                v("arn"),
                v("userName"),
                v("accessKeyId"),
                v("sessionIssuer.arn"),
                v("sessionIssuer.userName"),
                v("ARN"),
            ));
            }
            doc.push_str("]}");
            doc
        };
        // fed, and written in one go (small and medium row groups have writers of their own)
        for (rows, whole) in [(50, false), (50, true), (SMALL_ROW_GROUP_ROWS, true)] {
            let (dir, temp) = written(doc_of(rows).as_bytes(), whole);
            let options = ReadOptionsBuilder::new()
                .with_reader_properties(
                    ReaderProperties::builder()
                        .set_read_bloom_filter(true)
                        .build(),
                )
                .build();
            let reader =
                SerializedFileReader::new_with_options(File::open(&temp).unwrap(), options)
                    .unwrap();
            let rg = reader.get_row_group(0).unwrap();
            let columns = rg.metadata().columns();
            let searched = [
                "eventID",
                "eventName",
                "eventSource",
                "errorCode",
                "recipientAccountId",
                "sourceIPAddress",
                "vpcEndpointId",
                "userIdentity.type",
                "userIdentity.accountId",
                "userIdentity.arn",
                "userIdentity.userName",
                "userIdentity.accessKeyId",
                "userIdentity.sessionContext.sessionIssuer.arn",
                "userIdentity.sessionContext.sessionIssuer.userName",
                "resources.list.element.ARN",
            ];
            let mut with_filters: Vec<String> = columns
                .iter()
                .filter(|m| m.bloom_filter_offset().is_some())
                .map(|m| m.column_path().string())
                .collect();
            with_filters.sort();
            let mut expected = searched.to_vec();
            expected.sort();
            assert_eq!(
                with_filters, expected,
                "the columns with a bloom filter (whole: {whole})"
            );
            for c in searched {
                let i = columns
                    .iter()
                    .position(|m| m.column_path().string() == c)
                    .unwrap_or_else(|| panic!("no column {c}"));
                let filter = rg
                    .get_column_bloom_filter(i)
                    .unwrap_or_else(|| panic!("no bloom filter on {c}"));
                for i in 0..rows {
                    assert!(filter.check(value(c, i).as_str()), "{c}: {}", value(c, i));
                }
                // 1% false positives: a few of 50 absent values may pass, not most
                let passed = (0..50)
                    .filter(|i| filter.check(format!("absent-{i}").as_str()))
                    .count();
                assert!(passed <= 5, "{c}: {passed} of 50 absent values pass");
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// Statistics only where they prune (the time, the flags and the category), none on the
    /// other columns, and no page index: every reader reads every footer.
    #[test]
    fn statistics_only_where_they_prune_and_no_page_index() {
        let doc = r#"{"Records":[
            {"eventTime":"2024-01-01T10:00:00Z","eventName":"B","readOnly":true,"managementEvent":true,"eventCategory":"Management","eventID":"1"},
            {"eventTime":"2024-01-01T09:00:00Z","eventName":"A","readOnly":false,"eventCategory":"Data","eventID":"2"},
            {"eventTime":"2024-01-01T11:00:00Z","eventName":"C","readOnly":true,"managementEvent":false,"eventID":"3"}]}"#;
        for whole in [false, true] {
            let (dir, temp) = written(doc.as_bytes(), whole);
            let reader = SerializedFileReader::new(File::open(&temp).unwrap()).unwrap();
            let meta = reader.metadata();
            let mut with_stats = Vec::new();
            for c in meta.row_group(0).columns() {
                assert!(c.offset_index_offset().is_none(), "{:?}", c.column_path());
                assert!(c.column_index_offset().is_none(), "{:?}", c.column_path());
                if let Some(s) = c.statistics() {
                    with_stats.push((c.column_path().string(), s.null_count_opt()));
                }
            }
            with_stats.sort();
            assert_eq!(
                with_stats,
                vec![
                    ("eventCategory".to_string(), Some(1)),
                    ("eventTime".to_string(), Some(0)),
                    ("managementEvent".to_string(), Some(1)),
                    ("readOnly".to_string(), Some(0)),
                ],
                "whole: {whole}"
            );
            let time = meta
                .row_group(0)
                .columns()
                .iter()
                .find(|c| c.column_path().string() == "eventTime");
            match time.and_then(|c| c.statistics()) {
                Some(parquet::file::statistics::Statistics::Int64(s)) => assert_eq!(
                    (s.min_opt().copied(), s.max_opt().copied()),
                    (Some(1_704_099_600_000), Some(1_704_106_800_000))
                ),
                other => panic!("eventTime statistics: {other:?}"),
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// A row group's codecs follow its size when it is written in one go: snappy under
    /// [`SMALL_ROW_GROUP_ROWS`] rows; zstd on the near-unique and bulky columns only under
    /// [`MEDIUM_ROW_GROUP_ROWS`]; zstd everywhere from there, and on any row group fed in
    /// parts. Every row reads back.
    #[test]
    fn row_groups_written_whole_get_codecs_by_size() {
        let batch = |n: usize, from: usize| {
            let records: Vec<String> = (from..from + n)
                .map(|i| {
                    format!(
                        r#"{{"eventTime":"2024-01-01T00:00:00Z","eventID":"e{i}","eventName":"GetObject","requestParameters":{{"key":"k{i}"}}}}"#
                    )
                })
                .collect();
            batch_of(format!(r#"{{"Records":[{}]}}"#, records.join(",")).as_bytes())
        };
        let small = SMALL_ROW_GROUP_ROWS - 1;
        let dir = crate::writer::tests::tempdir();
        let temp = dir.join("f.tmp");
        let encoding = Encoding::new(2).unwrap();
        let mut f = OpenFile::create(temp.clone(), "p", &encoding).unwrap();
        // whole: small; medium, at both limits; large; then small but fed in two parts
        let mut at = 0;
        for rows in [
            small,
            SMALL_ROW_GROUP_ROWS,
            MEDIUM_ROW_GROUP_ROWS - 1,
            MEDIUM_ROW_GROUP_ROWS,
        ] {
            f.feed(vec![batch(rows, at)], true, &encoding).unwrap();
            f.finish_row_group().unwrap();
            at += rows;
        }
        f.feed(vec![batch(2, at)], false, &encoding).unwrap();
        f.feed(vec![batch(3, at + 2)], false, &encoding).unwrap();
        f.finish_row_group().unwrap();
        f.close(Vec::new()).unwrap();

        let all = leaf_counts().iter().sum::<usize>();
        let mut some: Vec<String> = NEAR_UNIQUE
            .iter()
            .chain(BULKY)
            .map(|c| c.to_string())
            .collect();
        some.sort();
        let reader = SerializedFileReader::new(File::open(&temp).unwrap()).unwrap();
        let mut every: Vec<String> = reader
            .metadata()
            .row_group(0)
            .columns()
            .iter()
            .map(|c| c.column_path().string())
            .collect();
        every.sort();
        assert_eq!(
            zstd_columns(&temp),
            vec![
                (small as i64, Vec::new(), all),
                (SMALL_ROW_GROUP_ROWS as i64, some.clone(), all - some.len()),
                (
                    (MEDIUM_ROW_GROUP_ROWS - 1) as i64,
                    some.clone(),
                    all - some.len()
                ),
                (MEDIUM_ROW_GROUP_ROWS as i64, every.clone(), 0),
                (5, every, 0),
            ]
        );
        // the medium writers keep the lake's other settings: statistics where they prune
        let with_stats = |rg: usize| -> Vec<String> {
            reader
                .metadata()
                .row_group(rg)
                .columns()
                .iter()
                .filter(|c| c.statistics().is_some())
                .map(|c| c.column_path().string())
                .collect()
        };
        assert_eq!(with_stats(1), with_stats(3));
        assert!(with_stats(1).contains(&"eventTime".to_string()));
        let at = at + 5;
        assert_eq!(at, reader.metadata().file_metadata().num_rows() as usize);
        let ids: Vec<String> = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
            File::open(&temp).unwrap(),
            1024,
        )
        .unwrap()
        .flat_map(|b| {
            let b = b.unwrap();
            let ids = b.column_by_name("eventID").unwrap();
            let ids = ids
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>();
            ids
        })
        .collect();
        let expected: Vec<String> = (0..at).map(|i| format!("e{i}")).collect();
        assert_eq!(ids, expected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
