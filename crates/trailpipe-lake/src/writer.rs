//! Partition buffers: rows wait here until a partition's file is big enough, the memory budget
//! is reached, or the rows are old enough; then the file is sealed and handed to a [`Store`]
//! for commit.
//!
//! [`Store`]: crate::Store

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow_array::{Array, RecordBatch};
use arrow_data::ArrayData;
use parquet::file::metadata::KeyValue;
use rayon::prelude::*;
use trailpipe_record::PartitionKey;

use crate::encode::{Encoding, OpenFile};
use crate::LakeError;

/// What one Arrow buffer costs besides the capacity `get_array_memory_size` reports: the
/// allocator's header and 64-byte alignment padding (~80 bytes), the `Bytes`/`Arc` that owns
/// it (~80), and a share of its array's `ArrayData` (~100). Measured on a trail with 7,033
/// active partitions (10,000 small objects, default budget), peak RSS went from 647 MiB
/// (none) to 598 (64), 549 (160) and 487 MiB (256); a 1 GB corpus of few partitions kept its
/// speed and lake size.
const BUFFER_OVERHEAD: u64 = 256;

/// Memory a buffered batch holds: its Arrow buffers plus [`BUFFER_OVERHEAD`] for each. A batch
/// of a few rows has hundreds of small buffers, and with thousands of active partitions that
/// overhead is as large as the data: a budget blind to it is overrun.
fn batch_memory(batch: &RecordBatch) -> u64 {
    fn buffers(d: &ArrayData) -> u64 {
        (d.buffers().len() + usize::from(d.nulls().is_some())) as u64
            + d.child_data().iter().map(buffers).sum::<u64>()
    }
    let count: u64 = batch.columns().iter().map(|c| buffers(&c.to_data())).sum();
    batch.get_array_memory_size() as u64 + count * BUFFER_OVERHEAD
}

/// Open files beyond which memory pressure ends row groups and seals their files rather than
/// keeping them open.
const MAX_OPEN_FILES: usize = 256;

/// A partition is settled (its row group in progress is ended at the next memory relief) once
/// the rows of this many objects have been appended to other partitions since its last rows.
/// In key order (`ingest`, `backfill`) a day's late events arrive in the next day's first 3
/// objects (benchmark corpus: its last 1% of rows spans the last 7-14 objects of the day and
/// those 3). Counted in objects, not appends: an append holds one object's rows or a group's.
const SETTLED_AFTER_OBJECTS: u64 = 64;

/// Sizes and ages that decide when rows are encoded and files are sealed.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Seal a partition's file once its Parquet size reaches this (bytes), checked when a row
    /// group ends: a file may pass it by up to one row group.
    pub target_file_bytes: u64,
    /// End a partition's row group once its rows (buffered and already encoded into it) have
    /// taken this much memory as Arrow arrays.
    pub row_group_bytes: u64,
    /// Upper bound on the rows held in memory across partitions: buffered Arrow rows and the
    /// column writers of row groups in progress. Over it, the largest buffers are encoded into
    /// their row groups in progress, which stay open (a partition's rows normally stay one row
    /// group); then settled row groups are ended, and the largest others if the row groups in
    /// progress hold over half the budget.
    pub memory_budget: u64,
    /// Seal a file whose first rows are this old, so no rows (and acks) wait longer.
    pub max_file_age: Duration,
    /// Folder for files under construction. For a local lake it must be on the lake's
    /// filesystem (the commit is a rename).
    pub spool_dir: PathBuf,
    /// zstd level of the Parquet pages. 2, not zstd's usual 3: on CloudTrail's JSON text
    /// and dictionary indices, level 3's `dfast` matcher takes about 9% more ingest time and
    /// gives a lake 0.6% *larger* than level 2's `fast` one (1 GB corpus: 99.3 against
    /// 98.6 MB; organization trail: 108.7 against 107.9 MB).
    pub zstd_level: i32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            target_file_bytes: 128 << 20,
            row_group_bytes: 512 << 20,
            memory_budget: 512 << 20,
            max_file_age: Duration::from_secs(300),
            spool_dir: std::env::temp_dir().join("trailpipe-spool"),
            zstd_level: 2,
        }
    }
}

/// A finished Parquet file in the spool folder, ready to be committed at `path`.
#[derive(Debug)]
pub struct SealedFile {
    /// Final path relative to the lake root: `<partition>/part-<uuid>.parquet`.
    pub path: String,
    /// The file on local disk.
    pub temp: PathBuf,
    /// The partition it belongs to.
    pub partition: PartitionKey,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Caller-defined ids of the work units whose rows the file holds (deduplicated).
    pub units: Vec<u64>,
    /// Earliest claim deadline of the rows in the file (ms since epoch), if claims were used.
    pub claim_deadline_ms: Option<u64>,
    /// When the file's first rows arrived.
    pub opened_at: Instant,
}

/// Rows for one partition, decoded from the work units in `sources`, to append.
#[derive(Debug)]
pub struct Rows {
    /// The partition.
    pub key: PartitionKey,
    /// The rows.
    pub batch: RecordBatch,
    /// (unit, source object) of the objects the rows come from, in order.
    pub sources: Vec<(u64, String)>,
    /// Earliest claim deadline of the rows (ms since the epoch), if claims are used.
    pub claim_deadline_ms: Option<u64>,
}

struct Partition {
    /// Final path of the file this partition's rows currently go to.
    path: String,
    file: Option<OpenFile>,
    pending: Vec<RecordBatch>,
    pending_bytes: u64,
    /// Arrow memory of the rows already encoded into the row group in progress: they count
    /// toward its size (`row_group_bytes`).
    fed_bytes: u64,
    /// Memory the row group in progress's column writers hold now (their `memory_size`).
    writer_bytes: u64,
    rows: u64,
    units: Vec<u64>,
    sources: Vec<String>,
    claim_deadline_ms: Option<u64>,
    opened_at: Instant,
    /// The writer's count of objects appended when this partition last got rows (see
    /// [`SETTLED_AFTER_OBJECTS`]).
    last_append: u64,
}

/// The file's source objects as `{"suffix": S, "sources": {G: [K, ...], ...}}`, each source
/// being G + K + S: sorted, one group G per folder, which also takes the start that the
/// folder's file names share. CloudTrail names a delivery `<account>_CloudTrail_<region>_
/// <YYYYMMDDTHHMM>Z_<random>.json.gz`, so a key is about 22 characters (`0440Z_elEDyjIVs6vi1zP0`)
/// instead of a full path of 130 or more. The list was the largest part of a file's footer,
/// which DuckDB reads for every query: as full paths under one common folder, `count(*)` over
/// the benchmark lake took 1.02-1.03x DuckDB's time over its own lake, grouped 1.00-1.02x
/// (docs/performance.md, "Reading our footers").
fn sources_json(sources: &[String]) -> String {
    let mut sorted: Vec<&str> = sources.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    // the end all share, within the file name (after the last '/')
    let first = sorted.first().copied().unwrap_or("");
    let mut common = first.len();
    for s in &sorted {
        common = first
            .bytes()
            .rev()
            .zip(s.bytes().rev())
            .take(common)
            .take_while(|(a, b)| a == b)
            .count();
    }
    let mut start = first.len() - common;
    while !first.is_char_boundary(start) {
        start += 1;
    }
    let suffix = &first[start..];
    let suffix = &suffix[suffix.rfind('/').map_or(0, |i| i + 1)..];
    // each folder's file names, without the suffix (a folder's names need not be adjacent
    // in sorted order: `d/a3/z` sorts between `d/a2` and `d/a4`)
    let mut folders: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for s in &sorted {
        let folder = &s[..s.rfind('/').map_or(0, |i| i + 1)];
        folders
            .entry(folder)
            .or_default()
            .push(&s[folder.len()..s.len() - suffix.len()]);
    }
    // a group's key is its folder and the start its names share: no two folders give the same
    // key, since the folder is the key up to its last '/'
    let mut groups = serde_json::Map::new();
    for (folder, names) in folders {
        let mut shared = names[0].len();
        for name in &names {
            shared = names[0]
                .bytes()
                .zip(name.bytes())
                .take(shared)
                .take_while(|(a, b)| a == b)
                .count();
        }
        while !names[0].is_char_boundary(shared) {
            shared -= 1;
        }
        let keys = names.iter().map(|n| serde_json::Value::from(&n[shared..]));
        groups.insert(
            format!("{folder}{}", &names[0][..shared]),
            serde_json::Value::Array(keys.collect()),
        );
    }
    serde_json::json!({ "suffix": suffix, "sources": groups }).to_string()
}

impl Partition {
    /// Writes the footer (with the file's metadata) of a partition whose rows are all encoded;
    /// the file is not synced yet (the store does it at commit, if it keeps the file).
    fn close(self, key: PartitionKey) -> Result<Option<SealedFile>, LakeError> {
        let Some(file) = self.file else {
            return Ok(None);
        };
        let metadata = vec![
            KeyValue::new(
                "trailpipe.version".into(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            KeyValue::new("trailpipe.sources".into(), sources_json(&self.sources)),
            KeyValue::new("trailpipe.rows".into(), self.rows.to_string()),
        ];
        let (temp, bytes) = file.close(metadata)?;
        let sealed = SealedFile {
            path: self.path,
            temp,
            partition: key,
            rows: self.rows,
            bytes,
            units: self.units,
            claim_deadline_ms: self.claim_deadline_ms,
            opened_at: self.opened_at,
        };
        Ok(Some(sealed))
    }

    /// Ends the row group in progress with the pending rows (opening the spool file on first
    /// use); returns the file's size so far. The caller moves `pending_bytes` and
    /// `writer_bytes` out of its totals (both are 0 after).
    fn encode_pending(
        &mut self,
        spool: &std::path::Path,
        encoding: &Encoding,
    ) -> Result<u64, LakeError> {
        // a row group that starts here ends here: these are all its rows
        self.feed_pending(spool, encoding, true)?;
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        file.finish_row_group()?;
        self.fed_bytes = 0;
        self.writer_bytes = 0;
        Ok(file.bytes_written())
    }

    /// Encodes the pending rows into the row group in progress, which stays open (opening the
    /// spool file on first use). The caller updates its totals by the change in
    /// `pending_bytes` and `writer_bytes`.
    fn feed_pending(
        &mut self,
        spool: &std::path::Path,
        encoding: &Encoding,
        whole: bool,
    ) -> Result<(), LakeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let temp = spool.join(format!("{}.tmp", uuid::Uuid::now_v7().simple()));
            self.file = Some(OpenFile::create(temp, &self.path, encoding)?);
        }
        let batches = std::mem::take(&mut self.pending);
        self.fed_bytes += self.pending_bytes;
        self.pending_bytes = 0;
        let file = self.file.as_mut().expect("opened above");
        self.writer_bytes = file.feed(batches, whole, encoding)?;
        Ok(())
    }
}

/// What relief does to a partition's buffered rows.
#[derive(Clone, Copy)]
enum Relief {
    /// Encode them into the row group in progress, which stays open.
    Feed,
    /// Encode them and end the row group, writing it to the file.
    End,
}

/// What a partition held (bytes), for the writer's totals.
struct Held {
    pending: u64,
    writer: u64,
}

impl Held {
    fn of(p: &Partition) -> Held {
        Held {
            pending: p.pending_bytes,
            writer: p.writer_bytes,
        }
    }
}

/// Buffers rows by partition and seals Parquet files. CPU and local disk only; the commit
/// (rename or upload) is the caller's, through a [`Store`](crate::Store).
///
/// After an error, the writer's state (its totals, a half-encoded row group) is not
/// consistent: the caller must [`discard_all`](LakeWriter::discard_all) and retry the units.
pub struct LakeWriter {
    config: WriterConfig,
    encoding: Encoding,
    partitions: HashMap<PartitionKey, Partition>,
    pending_bytes: u64,
    /// Memory of the row groups in progress (their column writers), across partitions.
    writer_bytes: u64,
    /// Objects whose rows were appended so far, to any partition (see
    /// [`SETTLED_AFTER_OBJECTS`]).
    objects_appended: u64,
}

impl LakeWriter {
    /// A writer; creates the spool folder.
    pub fn new(config: WriterConfig) -> Result<LakeWriter, LakeError> {
        std::fs::create_dir_all(&config.spool_dir)
            .map_err(|e| LakeError::io(&config.spool_dir, e))?;
        let encoding = Encoding::new(config.zstd_level)?;
        Ok(LakeWriter {
            config,
            encoding,
            partitions: HashMap::new(),
            pending_bytes: 0,
            writer_bytes: 0,
            objects_appended: 0,
        })
    }

    /// The final path that rows appended to `key` now will be committed under. Stable until
    /// that file is sealed, so a claim can name it before the rows are appended.
    pub fn file_for(&mut self, key: &PartitionKey) -> &str {
        &self.partition(key).path
    }

    fn partition(&mut self, key: &PartitionKey) -> &mut Partition {
        let now = self.objects_appended;
        self.partitions
            .entry(key.clone())
            .or_insert_with(|| Partition {
                path: format!(
                    "{}/part-{}.parquet",
                    key.path(),
                    uuid::Uuid::now_v7().simple()
                ),
                file: None,
                pending: Vec::new(),
                pending_bytes: 0,
                fed_bytes: 0,
                writer_bytes: 0,
                rows: 0,
                units: Vec::new(),
                sources: Vec::new(),
                claim_deadline_ms: None,
                opened_at: Instant::now(),
                last_append: now,
            })
    }

    /// Buffers `batch` for `key`, on behalf of work unit `unit` reading `source`. Returns the
    /// files this sealed (size limit reached).
    pub fn append(
        &mut self,
        key: &PartitionKey,
        batch: RecordBatch,
        unit: u64,
        source: &str,
        claim_deadline_ms: Option<u64>,
    ) -> Result<Vec<SealedFile>, LakeError> {
        self.append_all(vec![Rows {
            key: key.clone(),
            batch,
            sources: vec![(unit, source.to_string())],
            claim_deadline_ms,
        }])
    }

    /// Buffers every batch of `rows`, in order, and only then ends row groups and seals files
    /// (size limits, memory budget). Returns the files this sealed. Until then no file is
    /// sealed, so every batch goes to the file [`file_for`](LakeWriter::file_for) named
    /// before the call, whatever the others do: the claims of a whole round of decoded rows,
    /// which name those files, are made together before it.
    pub fn append_all(&mut self, rows: Vec<Rows>) -> Result<Vec<SealedFile>, LakeError> {
        let row_group_bytes = self.config.row_group_bytes;
        let mut full: Vec<PartitionKey> = Vec::new();
        for r in rows {
            let bytes = batch_memory(&r.batch);
            self.objects_appended += r.sources.len() as u64;
            let now = self.objects_appended;
            let p = self.partition(&r.key);
            if p.rows == 0 && p.pending.is_empty() {
                p.opened_at = Instant::now();
            }
            p.last_append = now;
            p.rows += r.batch.num_rows() as u64;
            p.pending.push(r.batch);
            p.pending_bytes += bytes;
            for (unit, source) in r.sources {
                if p.units.last() != Some(&unit) && !p.units.contains(&unit) {
                    p.units.push(unit);
                }
                if p.sources.last() != Some(&source) {
                    p.sources.push(source);
                }
            }
            if let Some(d) = r.claim_deadline_ms {
                p.claim_deadline_ms = Some(p.claim_deadline_ms.map_or(d, |x| x.min(d)));
            }
            if p.pending_bytes + p.fed_bytes >= row_group_bytes && !full.contains(&r.key) {
                full.push(r.key);
            }
            self.pending_bytes += bytes;
        }
        let mut sealed = Vec::new();
        for key in full {
            if let Some(f) = self.encode(&key)? {
                sealed.push(f);
            }
        }
        sealed.extend(self.enforce_budget()?);
        Ok(sealed)
    }

    /// Ends the row group of `key` with its pending rows; seals the file if it is big enough.
    fn encode(&mut self, key: &PartitionKey) -> Result<Option<SealedFile>, LakeError> {
        let Some(p) = self.partitions.get_mut(key) else {
            return Ok(None);
        };
        self.pending_bytes -= p.pending_bytes;
        self.writer_bytes -= p.writer_bytes;
        let written = p.encode_pending(&self.config.spool_dir, &self.encoding)?;
        if written >= self.config.target_file_bytes {
            return self.seal(key);
        }
        Ok(None)
    }

    /// Keeps the rows held in memory (buffered Arrow rows and row groups in progress) within
    /// the budget, in two steps. First, buffered rows are encoded into their partition's row
    /// group in progress, which stays open: encoded rows take a fraction of their Arrow memory
    /// (dictionary indices, compressed pages), and the partition's rows stay one row group.
    /// Second, settled row groups (complete days) are ended and written to their files, and
    /// the largest others too if the row groups in progress hold over half the budget.
    fn enforce_budget(&mut self) -> Result<Vec<SealedFile>, LakeError> {
        let budget = self.config.memory_budget;
        if self.pending_bytes + self.writer_bytes <= budget {
            return Ok(Vec::new());
        }
        // With very many open files (an organization trail's accounts x regions), relieved
        // partitions' row groups are ended and their files sealed instead of held open: memory
        // and open files stay bounded at the price of smaller files.
        let seal = self
            .partitions
            .values()
            .filter(|p| p.file.is_some())
            .count()
            > MAX_OPEN_FILES;
        let mut full = self.relieve_pending(seal)?;
        full.extend(self.end_row_groups(budget / 2, seal)?);
        self.seal_keys(full)
    }

    /// Encodes the largest buffers into their row groups in progress until the rows taken
    /// bring rows and row groups under half the budget (fewer, larger encodes than relieving
    /// everything; the writers' growth is measured after, and the next step bounds it). A
    /// buffer of a few rows ends its row group instead, and with `seal` every relieved row
    /// group is ended. Returns the partitions whose files are now to be sealed.
    fn relieve_pending(&mut self, seal: bool) -> Result<Vec<PartitionKey>, LakeError> {
        let budget = self.config.memory_budget;
        let mut order: Vec<(u64, &PartitionKey)> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.pending_bytes > 0)
            .map(|(k, p)| (p.pending_bytes, k))
            .collect();
        order.sort_unstable_by_key(|o| std::cmp::Reverse(o.0));
        let mut left = self.pending_bytes + self.writer_bytes;
        let mut chosen = HashMap::new();
        for (bytes, key) in order {
            if left <= budget / 2 {
                break;
            }
            left -= bytes;
            // a row group in progress costs its 70 column writers about 520 KB by their
            // `memory_size` before any rows (bloom filters, mostly), 1.6 MB of RSS measured: a
            // few rows are cheaper ended than kept open
            let p = &self.partitions[key];
            let feed = p.writer_bytes > 0 || bytes >= budget / 64;
            let how = if seal || !feed {
                Relief::End
            } else {
                Relief::Feed
            };
            chosen.insert(key.clone(), how);
        }
        self.relieve(&chosen, seal)
    }

    /// Ends every settled row group in progress (no rows while [`SETTLED_AFTER_OBJECTS`]
    /// objects went to others: a day past its late events, whose row group is
    /// complete), then the largest others until the row groups in progress hold at most
    /// `limit` bytes. Returns the partitions whose files are now to be sealed (all of them
    /// with `seal`).
    fn end_row_groups(&mut self, limit: u64, seal: bool) -> Result<Vec<PartitionKey>, LakeError> {
        let mut order: Vec<(bool, u64, &PartitionKey)> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.writer_bytes > 0)
            .map(|(k, p)| {
                let settled = self.objects_appended - p.last_append >= SETTLED_AFTER_OBJECTS;
                (settled, p.writer_bytes, k)
            })
            .collect();
        order.sort_unstable_by_key(|o| std::cmp::Reverse((o.0, o.1)));
        let mut left = self.writer_bytes;
        let mut chosen = HashMap::new();
        for (settled, bytes, key) in order {
            if left <= limit && !settled {
                break;
            }
            left -= bytes;
            chosen.insert(key.clone(), Relief::End);
        }
        self.relieve(&chosen, seal)
    }

    /// Relieves the `chosen` partitions in parallel and updates the totals; returns the
    /// partitions whose row groups were ended and whose files are now to be sealed: at the
    /// target size, or all with `seal`. The totals take every partition relieved, also when
    /// another failed.
    fn relieve(
        &mut self,
        chosen: &HashMap<PartitionKey, Relief>,
        seal: bool,
    ) -> Result<Vec<PartitionKey>, LakeError> {
        let (spool, encoding) = (&self.config.spool_dir, &self.encoding);
        /// A partition relieved: what it held before and after, and the file's size if its
        /// row group was ended.
        type Relieved = (PartitionKey, Held, Held, Result<Option<u64>, LakeError>);
        let relieved: Vec<Relieved> = self
            .partitions
            .par_iter_mut()
            .filter_map(|(k, p)| chosen.get(k).map(|how| (k, p, *how)))
            .map(|(k, p, how)| {
                let before = Held::of(p);
                let size = match how {
                    Relief::End => p.encode_pending(spool, encoding).map(Some),
                    Relief::Feed => p.feed_pending(spool, encoding, false).map(|()| None),
                };
                (k.clone(), before, Held::of(p), size)
            })
            .collect();
        let (mut full, mut error) = (Vec::new(), None);
        for (key, before, after, size) in relieved {
            self.pending_bytes = self.pending_bytes - before.pending + after.pending;
            self.writer_bytes = self.writer_bytes - before.writer + after.writer;
            match size {
                Ok(Some(size)) if seal || size >= self.config.target_file_bytes => full.push(key),
                Ok(_) => {}
                Err(e) => error = error.or(Some(e)),
            }
        }
        error.map_or(Ok(full), Err)
    }

    /// Seals the file of `key` (encoding what is pending) and forgets the partition.
    fn seal(&mut self, key: &PartitionKey) -> Result<Option<SealedFile>, LakeError> {
        Ok(self.seal_keys(vec![key.clone()])?.pop())
    }

    /// Seals every file whose first rows are older than the configured maximum age.
    pub fn seal_aged(&mut self, now: Instant) -> Result<Vec<SealedFile>, LakeError> {
        let max = self.config.max_file_age;
        let due: Vec<PartitionKey> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.rows > 0 && now.duration_since(p.opened_at) >= max)
            .map(|(k, _)| k.clone())
            .collect();
        self.seal_keys(due)
    }

    /// Seals every open file (end of input, shutdown).
    pub fn seal_all(&mut self) -> Result<Vec<SealedFile>, LakeError> {
        let keys: Vec<PartitionKey> = self.partitions.keys().cloned().collect();
        self.seal_keys(keys)
    }

    /// Seals the files of `keys`, encoding and closing them in parallel across partitions.
    fn seal_keys(&mut self, mut keys: Vec<PartitionKey>) -> Result<Vec<SealedFile>, LakeError> {
        keys.sort();
        let parts: Vec<(PartitionKey, Partition)> = keys
            .into_iter()
            .filter_map(|k| self.partitions.remove(&k).map(|p| (k, p)))
            .collect();
        for (_, p) in &parts {
            self.pending_bytes -= p.pending_bytes;
            self.writer_bytes -= p.writer_bytes;
        }
        let (spool, encoding) = (&self.config.spool_dir, &self.encoding);
        let closed: Vec<Result<Option<SealedFile>, LakeError>> = parts
            .into_par_iter()
            .map(|(key, mut p)| {
                p.encode_pending(spool, encoding)?;
                p.close(key)
            })
            .collect();
        closed.into_iter().filter_map(Result::transpose).collect()
    }

    /// When the oldest buffered rows reach the maximum age (for a timer), if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.partitions
            .values()
            .filter(|p| p.rows > 0)
            .map(|p| p.opened_at + self.config.max_file_age)
            .min()
    }

    /// Whether `path` is the file some partition's rows currently go to.
    pub fn is_open(&self, path: &str) -> bool {
        self.partitions.values().any(|p| p.path == path)
    }

    /// Rows held in memory and not yet written to a file: buffered Arrow rows, and the
    /// column writers of the row groups in progress.
    pub fn buffered_bytes(&self) -> u64 {
        self.pending_bytes + self.writer_bytes
    }

    /// Partitions with an open file or buffered rows.
    pub fn open_partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Throws away everything buffered and every file under construction (their units must
    /// then be retried). Returns the units affected.
    pub fn discard_all(&mut self) -> Vec<u64> {
        let mut units = Vec::new();
        for (_, p) in self.partitions.drain() {
            units.extend(p.units);
            if let Some(f) = p.file {
                f.discard();
            }
        }
        self.pending_bytes = 0;
        self.writer_bytes = 0;
        units.sort_unstable();
        units.dedup();
        units
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use trailpipe_record::{DecodeOptions, Decoded, Decoder};

    /// One object's batches: `n` records of ~`pad` bytes each on one partition.
    pub(crate) fn batch(n: usize, day: u32, pad: usize) -> (PartitionKey, RecordBatch) {
        batch_in(123456789012, n, day, pad)
    }

    /// [`batch`] in another account.
    fn batch_in(account: u64, n: usize, day: u32, pad: usize) -> (PartitionKey, RecordBatch) {
        let mut doc = String::from("{\"Records\":[");
        for i in 0..n {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str(&format!(
                r#"{{"eventTime":"2024-01-{day:02}T00:00:{:02}Z","eventID":"{day}-{i}","recipientAccountId":"{account:012}","awsRegion":"us-east-1","requestParameters":{{"p":"{}"}}}}"#,
                i % 60,
                noise(pad, (day as u64) << 32 | i as u64)
            ));
        }
        doc.push_str("]}");
        let Ok(Decoded::Records(mut r)) =
            Decoder::new(DecodeOptions::default()).decode(doc.as_bytes())
        else {
            panic!("decodes")
        };
        let p = r.partitions.remove(0);
        (p.key, p.batch)
    }

    /// Incompressible hex text, so that file sizes grow with rows.
    fn noise(len: usize, seed: u64) -> String {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b"0123456789abcdef"[(x & 15) as usize])
            })
            .collect()
    }

    fn config(dir: &std::path::Path) -> WriterConfig {
        WriterConfig {
            spool_dir: dir.to_path_buf(),
            ..WriterConfig::default()
        }
    }

    fn read_rows(path: &std::path::Path) -> usize {
        let f = std::fs::File::open(path).unwrap();
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        r.map(|b| b.unwrap().num_rows()).sum()
    }

    #[test]
    fn seal_all_writes_one_file_per_partition_with_metadata() {
        let dir = tempdir();
        let mut w = LakeWriter::new(config(&dir)).unwrap();
        let (k1, b1) = batch(10, 1, 10);
        let (k2, b2) = batch(5, 2, 10);
        let path1 = w.file_for(&k1).to_string();
        assert!(path1
            .starts_with("cloudtrail/account=123456789012/region=us-east-1/date=2024-01-01/part-"));
        assert!(path1.ends_with(".parquet"));
        assert!(w
            .append(&k1, b1.clone(), 1, "s3://b/one", None)
            .unwrap()
            .is_empty());
        assert!(w
            .append(&k1, b1, 2, "s3://b/two", Some(5))
            .unwrap()
            .is_empty());
        assert!(w.append(&k2, b2, 2, "s3://b/two", None).unwrap().is_empty());
        assert_eq!(w.open_partitions(), 2);
        let sealed = w.seal_all().unwrap();
        assert_eq!(sealed.len(), 2);
        let f1 = sealed.iter().find(|f| f.partition == k1).unwrap();
        assert_eq!(f1.path, path1);
        assert_eq!(
            (f1.rows, f1.units.clone(), f1.claim_deadline_ms),
            (20, vec![1, 2], Some(5))
        );
        assert!(!f1.temp.to_string_lossy().ends_with(".parquet"));
        assert_eq!(read_rows(&f1.temp), 20);
        let meta = parquet::file::reader::FileReader::metadata(
            &parquet::file::serialized_reader::SerializedFileReader::new(
                std::fs::File::open(&f1.temp).unwrap(),
            )
            .unwrap(),
        )
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap();
        let get = |k: &str| {
            meta.iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.clone())
        };
        assert_eq!(
            get("trailpipe.sources").as_deref(),
            Some(r#"{"sources":{"s3://b/":["one","two"]},"suffix":""}"#)
        );
        assert_eq!(
            get("trailpipe.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        // the partition is forgotten: new rows go to a new file
        let (k1b, b1b) = batch(1, 1, 1);
        assert_ne!(w.file_for(&k1b), path1);
        drop(b1b);
    }

    #[test]
    fn sources_are_listed_by_folder_and_shared_name_start() {
        // the sources a list stands for
        fn expand(j: &serde_json::Value) -> Vec<String> {
            let suffix = j["suffix"].as_str().unwrap();
            let mut out = Vec::new();
            for (group, keys) in j["sources"].as_object().unwrap() {
                for k in keys.as_array().unwrap() {
                    out.push(format!("{group}{}{suffix}", k.as_str().unwrap()));
                }
            }
            out
        }
        let check = |v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            let text = sources_json(&v);
            let j: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut want = v.clone();
            want.sort();
            want.dedup();
            let mut got = expand(&j);
            got.sort();
            assert_eq!(got, want, "{text}");
            j
        };
        let ct = |day: &str, t: &str| {
            format!("s3://t/AWSLogs/1/CloudTrail/us-east-1/2024/03/{day}/1_CloudTrail_us-east-1_202403{day}T{t}Z_aBcD.json.gz")
        };
        let (a, b, c) = (ct("01", "0005"), ct("01", "2355"), ct("02", "0010"));
        let j = check(&[&b, &a, &c, &a]);
        assert_eq!(j["suffix"], "Z_aBcD.json.gz");
        assert_eq!(
            j["sources"],
            serde_json::json!({
                "s3://t/AWSLogs/1/CloudTrail/us-east-1/2024/03/01/1_CloudTrail_us-east-1_20240301T": ["0005", "2355"],
                "s3://t/AWSLogs/1/CloudTrail/us-east-1/2024/03/02/1_CloudTrail_us-east-1_20240302T0010": [""],
            })
        );
        check(&["/in/a.json.gz"]);
        check(&["a.json", "ä/b.json", "ä/bb.json", "ä/c/b.json", "b.json"]);
        check(&["x/y.gz", "z/x/y.gz", "x/", "x/é", "x/è", "é"]);
        // a folder's files around a subfolder named like them
        check(&["d/a1", "d/a2", "d/a3/z", "d/a4", "d/a5"]);
        check(&["s3://b/k"; 3]);
        assert_eq!(check(&[]), serde_json::json!({"suffix": "", "sources": {}}));
        // a day of one account's deliveries: under a quarter of the full paths
        let day: Vec<String> = (0..288)
            .map(|i| {
                format!(
                    "s3://my-trail-bucket/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/03/01/123456789012_CloudTrail_eu-west-1_20240301T{:02}{:02}Z_{:016x}.json.gz",
                    i / 12,
                    i % 12 * 5,
                    (i as u64).wrapping_mul(0x9e3779b97f4a7c15)
                )
            })
            .collect();
        let full: usize = day.iter().map(|s| s.len() + 3).sum();
        let refs: Vec<&str> = day.iter().map(String::as_str).collect();
        check(&refs);
        assert!(
            sources_json(&day).len() * 4 < full,
            "{} of {full}",
            sources_json(&day).len()
        );
    }

    /// Appends `n` objects of ~280 KB of Arrow rows, alternating over `days` days, checking the
    /// budget after each; returns the files sealed (how many before the end) and whether
    /// relief took rows, and checks that every row was written.
    fn appended(config: WriterConfig, n: u32, days: u32) -> (Vec<SealedFile>, usize, bool) {
        let budget = config.memory_budget;
        let mut w = LakeWriter::new(config).unwrap();
        let (mut sealed, mut total, mut relieved) = (Vec::new(), 0, false);
        for i in 0..n {
            // incompressible payload so files grow
            let (k, b) = batch(100, 1 + i % days, 300);
            total += b.num_rows();
            let before = w.pending_bytes + batch_memory(&b);
            sealed.extend(w.append(&k, b, i.into(), "src", None).unwrap());
            relieved |= w.pending_bytes < before;
            assert!(w.buffered_bytes() <= budget, "budget holds");
        }
        let during = sealed.len();
        sealed.extend(w.seal_all().unwrap());
        let rows: u64 = sealed.iter().map(|f| f.rows).sum();
        assert_eq!(rows as usize, total);
        for f in &sealed {
            assert_eq!(read_rows(&f.temp) as u64, f.rows);
        }
        (sealed, during, relieved)
    }

    #[test]
    fn size_limits_end_row_groups_and_seal_files_within_the_budget() {
        let dir = tempdir();
        let (_, during, relieved) = appended(
            WriterConfig {
                target_file_bytes: 100_000,
                row_group_bytes: 1 << 20,
                memory_budget: 3 << 19,
                ..config(&dir)
            },
            40,
            2,
        );
        assert!(relieved, "the budget was reached");
        // files sealed by size before the end: at least one per day
        assert!(during >= 2, "{during}");
    }

    /// Every batch of one `append_all` goes to the file `file_for` named before it, even when
    /// the first batch alone fills the file: the claims of a round name those files. Sealing
    /// after each batch put the second batch's rows in a new file, and a claim naming the
    /// sealed one would have told a redelivery that they were committed.
    #[test]
    fn append_all_puts_every_batch_in_the_file_named_before() {
        let dir = tempdir();
        let mut w = LakeWriter::new(WriterConfig {
            target_file_bytes: 10_000,
            row_group_bytes: 50_000,
            ..config(&dir)
        })
        .unwrap();
        let (k, b1) = batch(100, 1, 300);
        let (k2, b2) = batch(100, 2, 300);
        assert!(batch_memory(&b1) >= 50_000, "one batch fills a row group");
        let (named, named2) = (w.file_for(&k).to_string(), w.file_for(&k2).to_string());
        let rows = |key: &PartitionKey, batch: &RecordBatch, unit: u64| Rows {
            key: key.clone(),
            batch: batch.clone(),
            sources: vec![(unit, format!("s3://b/{unit}"))],
            claim_deadline_ms: None,
        };
        let sealed = w
            .append_all(vec![rows(&k, &b1, 1), rows(&k2, &b2, 2), rows(&k, &b1, 3)])
            .unwrap();
        let f = sealed
            .iter()
            .find(|f| f.partition == k)
            .expect("k's file is full");
        assert_eq!((f.path.as_str(), f.rows), (named.as_str(), 200));
        assert_eq!(f.units, vec![1, 3]);
        assert_eq!(read_rows(&f.temp), 200);
        let f2 = sealed
            .iter()
            .find(|f| f.partition == k2)
            .expect("k2's file");
        assert_eq!((f2.path.as_str(), f2.rows), (named2.as_str(), 100));
        assert!(!w.is_open(&named), "the next rows of k go to a new file");
    }

    /// Rows encoded under pressure count toward the row group's size: it ends at
    /// `row_group_bytes` of rows, not at the budget.
    #[test]
    fn fed_rows_count_toward_the_row_group_size() {
        let dir = tempdir();
        let (sealed, _, relieved) = appended(
            WriterConfig {
                row_group_bytes: 3 << 20,
                memory_budget: 2 << 20,
                ..config(&dir)
            },
            40,
            1,
        );
        assert!(relieved, "the budget was reached");
        let per_group = (3u64 << 20).div_ceil(batch_memory(&batch(100, 1, 300).1)) as i64 * 100;
        let groups = row_groups(&sealed[0].temp);
        assert!(groups.len() > 2, "{groups:?}");
        let (last, full) = groups.split_last().unwrap();
        assert!(
            full.iter().all(|&n| n == per_group),
            "{groups:?} {per_group}"
        );
        assert!(*last <= per_group);
    }

    /// The row groups in progress are part of the budget: when they outgrow half of it, the
    /// largest is ended even though it still grows.
    #[test]
    fn row_groups_in_progress_stay_within_the_budget() {
        let dir = tempdir();
        let (sealed, _, relieved) = appended(
            WriterConfig {
                memory_budget: 4 << 20,
                ..config(&dir)
            },
            60,
            1,
        );
        assert!(relieved);
        let groups = row_groups(&sealed[0].temp);
        assert!(groups.len() > 1, "{groups:?}");
    }

    #[test]
    fn age_seals_only_old_files() {
        let dir = tempdir();
        let mut w = LakeWriter::new(WriterConfig {
            max_file_age: Duration::from_millis(50),
            ..config(&dir)
        })
        .unwrap();
        let (k, b) = batch(3, 1, 1);
        w.append(&k, b, 1, "s", None).unwrap();
        assert!(w.seal_aged(Instant::now()).unwrap().is_empty());
        assert!(w.next_deadline().is_some());
        std::thread::sleep(Duration::from_millis(60));
        let (k2, b2) = batch(3, 2, 1);
        w.append(&k2, b2, 2, "s", None).unwrap();
        let sealed = w.seal_aged(Instant::now()).unwrap();
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].partition, k);
        assert_eq!(w.discard_all(), vec![2]);
    }

    #[test]
    fn a_dictionary_column_of_a_row_group_is_one_page() {
        use parquet::file::reader::FileReader;
        use parquet::file::serialized_reader::SerializedFileReader;
        let dir = tempdir();
        let mut w = LakeWriter::new(config(&dir)).unwrap();
        let (k, b) = batch(50_000, 1, 0);
        w.append(&k, b, 1, "s3://b/one", None).unwrap();
        let sealed = w.seal_all().unwrap();
        let r = SerializedFileReader::new(std::fs::File::open(&sealed[0].temp).unwrap()).unwrap();
        let meta = r.metadata();
        let column = (0..meta.file_metadata().schema_descr().num_columns())
            .find(|&i| {
                meta.file_metadata()
                    .schema_descr()
                    .column(i)
                    .path()
                    .string()
                    == "eventTime"
            })
            .unwrap();
        assert_eq!(meta.num_row_groups(), 1);
        // 50k rows of 60 distinct times: dictionary indices far under the 1 MiB page limit
        // (parquet's default row limit would cut three pages)
        let mut pages = r
            .get_row_group(0)
            .unwrap()
            .get_column_page_reader(column)
            .unwrap();
        let mut data_pages = 0;
        while let Some(page) = pages.get_next_page().unwrap() {
            if page.page_type() != parquet::basic::PageType::DICTIONARY_PAGE {
                data_pages += 1;
            }
        }
        assert_eq!(data_pages, 1);
    }

    fn row_groups(path: &std::path::Path) -> Vec<i64> {
        let r = parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(path).unwrap(),
        )
        .unwrap();
        parquet::file::reader::FileReader::metadata(&r)
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect()
    }

    /// eventIDs of `batches` that start with `prefix`, in order.
    fn ids(batches: &[RecordBatch], prefix: &str) -> Vec<String> {
        let mut v = Vec::new();
        for b in batches {
            let col = b.column_by_name("eventID").unwrap();
            let col = col
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            v.extend(
                col.iter()
                    .flatten()
                    .filter(|s| s.starts_with(prefix))
                    .map(str::to_string),
            );
        }
        v
    }

    /// Under memory pressure, buffered rows are encoded into their partition's row group in
    /// progress, which stays open: each partition is still one row group (encoding early used
    /// to cut a row group at every relief).
    #[test]
    fn memory_pressure_keeps_each_partition_one_row_group() {
        let dir = tempdir();
        const BUDGET: u64 = 4 << 20;
        let mut w = LakeWriter::new(WriterConfig {
            memory_budget: BUDGET,
            ..config(&dir)
        })
        .unwrap();
        let (mut sent, mut sealed, mut relieved) = (Vec::new(), Vec::new(), false);
        // 21 objects alternating over two days: 1.4x the budget
        for i in 0..21u32 {
            let (k, b) = batch(100, 1 + i % 2, 300);
            sent.push(b.clone());
            let before = w.pending_bytes + batch_memory(&b);
            sealed.extend(w.append(&k, b, i.into(), "src", None).unwrap());
            relieved |= w.pending_bytes < before;
            assert!(w.buffered_bytes() <= BUDGET, "budget holds");
            // fed, not ended
            assert!(w.writer_bytes > 0 || !relieved);
        }
        assert!(relieved, "the budget was reached");
        sealed.extend(w.seal_all().unwrap());
        assert_eq!(sealed.len(), 2);
        let mut read = Vec::new();
        for f in &sealed {
            assert_eq!(row_groups(&f.temp), vec![f.rows as i64], "{}", f.path);
            let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&f.temp).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
            read.extend(r.map(|b| b.unwrap()));
        }
        // the same rows, in the order appended
        for day in ["1-", "2-"] {
            assert_eq!(ids(&read, day), ids(&sent, day));
        }
    }

    /// When the row groups in progress hold too much, a settled partition's (a day that no
    /// longer takes rows) is ended before larger ones that still grow: those would otherwise
    /// be cut in two.
    #[test]
    fn settled_row_groups_are_ended_first() {
        let dir = tempdir();
        let mut w = LakeWriter::new(config(&dir)).unwrap();
        let (a, rows) = batch(200, 1, 300);
        w.append(&a, rows, 0, "src", None).unwrap();
        let mut active = Vec::new();
        for i in 0..SETTLED_AFTER_OBJECTS + 2 {
            let (k, b) = batch(100, 2 + (i % 2) as u32, 300);
            active.push(k.clone());
            w.append(&k, b, i + 1, "src", None).unwrap();
        }
        let all = every_partition(&w, Relief::Feed);
        assert!(w.relieve(&all, false).unwrap().is_empty(), "fed, not ended");
        let held = |w: &LakeWriter, k: &PartitionKey| w.partitions[k].writer_bytes;
        let (b, c) = (active[0].clone(), active[1].clone());
        assert!(held(&w, &a) < held(&w, &b).min(held(&w, &c)));
        // a target that one of the larger two can meet alone
        let target = held(&w, &b) + held(&w, &c) - 1;
        w.end_row_groups(target, false).unwrap();
        assert_eq!(held(&w, &a), 0, "the settled day was ended");
        assert!(held(&w, &b).max(held(&w, &c)) > 0, "one growing day kept");
        assert_eq!(
            w.writer_bytes,
            w.partitions.values().map(|p| p.writer_bytes).sum::<u64>()
        );
        for f in w.seal_all().unwrap() {
            assert_eq!(row_groups(&f.temp), vec![f.rows as i64], "{}", f.path);
        }
    }

    /// A row group memory pressure fed in parts is zstd however small; one written in one go
    /// under the small-group limit is snappy (see `encode::SMALL_ROW_GROUP_ROWS`).
    #[test]
    fn only_small_row_groups_written_in_one_go_skip_zstd() {
        let dir = tempdir();
        let mut w = LakeWriter::new(config(&dir)).unwrap();
        let (fed, b) = batch(5, 1, 10);
        w.append(&fed, b, 0, "src", None).unwrap();
        w.relieve(&every_partition(&w, Relief::Feed), false)
            .unwrap();
        let (_, b) = batch(5, 1, 10);
        w.append(&fed, b, 1, "src", None).unwrap();
        let (whole, b) = batch(5, 2, 10);
        w.append(&whole, b, 2, "src", None).unwrap();
        let mut codecs: Vec<(u64, Vec<&str>)> = w
            .seal_all()
            .unwrap()
            .iter()
            .map(|f| {
                let mut groups = crate::encode::tests::codecs(&f.temp);
                assert_eq!(groups.len(), 1);
                (f.rows, groups.remove(0).1)
            })
            .collect();
        codecs.sort();
        assert_eq!(
            codecs,
            vec![(5, vec!["snappy"]), (10, vec!["zstd"])],
            "(rows, codecs)"
        );
    }

    /// Every partition of `w`, each to be relieved `how` (for `LakeWriter::relieve`).
    fn every_partition(w: &LakeWriter, how: Relief) -> HashMap<PartitionKey, Relief> {
        w.partitions.keys().map(|k| (k.clone(), how)).collect()
    }

    /// A file that cannot be written names its partition, not only a spool file's uuid.
    #[test]
    fn errors_name_the_partitions_file() {
        let dir = tempdir();
        let mut w = LakeWriter::new(config(&dir)).unwrap();
        let (k, b) = batch(3, 1, 1);
        let path = w.file_for(&k).to_string();
        w.append(&k, b, 1, "s", None).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let err = w.seal_all().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{path} (being written at ")),
            "{err}"
        );
        assert!(err.contains(&dir.display().to_string()), "{err}");
    }

    /// Relief encodes a buffer of a few rows and ends its row group at once rather than open
    /// one (a row group in progress costs its writers more than such rows), and keeps the
    /// larger buffers' row groups open.
    #[test]
    fn relief_ends_a_few_rows_row_group_instead_of_opening_one() {
        let dir = tempdir();
        let mut w = LakeWriter::new(config(&dir)).unwrap();
        // open row groups that relief cannot shrink, so it takes every buffer
        for day in [3, 4, 5] {
            let (k, b) = batch(3000, day, 300);
            w.append(&k, b, day.into(), "src", None).unwrap();
        }
        let all = every_partition(&w, Relief::Feed);
        w.relieve(&all, false).unwrap();
        let (large, lb) = batch(20, 1, 300);
        let (small, sb) = batch(1, 2, 1);
        // a budget whose 1/64 is between the two buffers' sizes
        let budget = 32 * (batch_memory(&sb) + batch_memory(&lb));
        assert!(64 * batch_memory(&sb) < budget && budget <= 64 * batch_memory(&lb));
        assert!(w.writer_bytes > budget / 2, "{} {budget}", w.writer_bytes);
        w.append(&large, lb, 1, "src", None).unwrap();
        w.append(&small, sb, 2, "src", None).unwrap();
        w.config.memory_budget = budget;
        assert!(w.relieve_pending(false).unwrap().is_empty());
        let written = |k: &PartitionKey| w.partitions[k].file.as_ref().unwrap().bytes_written();
        let (l, s) = (&w.partitions[&large], &w.partitions[&small]);
        assert_eq!((l.pending_bytes, s.pending_bytes), (0, 0), "both relieved");
        assert!(
            l.writer_bytes > 0 && written(&large) <= 4,
            "large rows fed, not ended"
        );
        assert!(
            s.writer_bytes == 0 && written(&small) > 4,
            "a few rows ended"
        );
        assert_eq!(
            w.writer_bytes,
            w.partitions.values().map(|p| p.writer_bytes).sum::<u64>()
        );
    }

    /// With more open files than [`MAX_OPEN_FILES`], a relieved partition's file is sealed
    /// instead of kept open (so relief opens no more files); at the limit, it is kept open.
    #[test]
    fn past_the_open_files_limit_relief_seals_files() {
        /// `open` files, each with a row group written, then a partition over the budget:
        /// the files sealed, and the files open after.
        fn relieved_with(open: u64) -> (Vec<SealedFile>, usize) {
            let dir = tempdir();
            let mut w = LakeWriter::new(config(&dir)).unwrap();
            for a in 0..open {
                let (k, b) = batch_in(a, 2, 1, 1);
                w.append(&k, b, a, "src", None).unwrap();
            }
            let all = every_partition(&w, Relief::End);
            assert!(
                w.relieve(&all, false).unwrap().is_empty(),
                "none sealed yet"
            );
            let (k, b) = batch_in(open, 200, 1, 300);
            w.config.memory_budget = batch_memory(&b) - 1;
            let sealed = w.append(&k, b, open, "src", None).unwrap();
            let after = w.partitions.values().filter(|p| p.file.is_some()).count();
            let rest = w.seal_all().unwrap();
            let rows: u64 = sealed.iter().chain(&rest).map(|f| f.rows).sum();
            assert_eq!(rows, 2 * open + 200);
            for f in sealed.iter().chain(&rest) {
                assert_eq!(read_rows(&f.temp) as u64, f.rows);
            }
            assert!(
                sealed.iter().all(|f| f.partition == k),
                "only the relieved one"
            );
            (sealed, after)
        }
        let limit = MAX_OPEN_FILES as u64;
        let (sealed, open) = relieved_with(limit);
        assert!(
            sealed.is_empty(),
            "at the limit the relieved file stays open"
        );
        assert_eq!(open, MAX_OPEN_FILES + 1);
        let (sealed, open) = relieved_with(limit + 1);
        assert_eq!(
            sealed.len(),
            1,
            "past the limit the relieved file is sealed"
        );
        assert_eq!(sealed[0].rows, 200);
        assert_eq!(open, MAX_OPEN_FILES + 1, "no file opened");
    }

    pub(crate) fn tempdir() -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("trailpipe-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
