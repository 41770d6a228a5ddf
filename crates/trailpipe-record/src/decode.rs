//! The hot path: one log object's bytes → gunzip → simd-json tape → Arrow batches by partition.

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use simd_json::{Buffers, Node, Tape};

use crate::columns::StructColumns;
use crate::inflate::Inflater;
use crate::json::{value_len, write_str, write_value};
use crate::partition::{event_date, parse_event_time, PartitionKey, Table};
use crate::schema::{schema, RECORD};

/// Why an object could not be decoded. The whole object is rejected: no row of it is kept.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The gzip stream is corrupt or truncated.
    #[error("gzip: {0}")]
    Gzip(std::io::Error),
    /// Neither gzip nor a JSON object.
    #[error("not gzip and not a JSON object (first bytes {0:02x?})")]
    NotGzipOrJson(Vec<u8>),
    /// Decompressed size over the cap (a gzip bomb or a file that is not a CloudTrail delivery).
    #[error("decompressed size exceeds the cap of {cap} bytes")]
    TooLarge {
        /// The cap in bytes.
        cap: u64,
    },
    /// Not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// JSON, but not `{"Records":[...]}` and not a digest.
    #[error("{0}")]
    Shape(String),
}

/// Decoder settings.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// Largest decompressed object accepted, in bytes.
    pub max_decompressed: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_decompressed: 1 << 30,
        }
    }
}

/// The rows of one partition from one or more objects.
#[derive(Debug)]
pub struct PartitionBatch {
    /// Where the rows belong.
    pub key: PartitionKey,
    /// The rows, in [`schema()`](crate::schema).
    pub batch: RecordBatch,
    /// Whose rows they are, in row order: each object's rows are one run.
    pub objects: Vec<ObjectRows>,
}

impl PartitionBatch {
    /// Keeps only the rows of the objects for which `keep` is true (a writer that finds some
    /// objects already in the lake drops their rows and writes the others').
    pub fn retain_objects(&mut self, keep: impl Fn(u32) -> bool) -> Result<(), DecodeError> {
        if self.objects.iter().all(|o| keep(o.object)) {
            return Ok(());
        }
        let mask: BooleanArray = self
            .objects
            .iter()
            .flat_map(|o| std::iter::repeat_n(Some(keep(o.object)), o.rows as usize))
            .collect();
        self.batch = arrow_select::filter::filter_record_batch(&self.batch, &mask)
            .map_err(|e| DecodeError::Shape(format!("dropping rows: {e}")))?;
        self.objects.retain(|o| keep(o.object));
        Ok(())
    }
}

/// A run of rows from one object in a [`PartitionBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRows {
    /// The object: its position among the [`Decoder::add`] calls since the last
    /// [`Decoder::take_rows`] (0 for [`Decoder::decode`]).
    pub object: u32,
    /// How many consecutive rows of the batch are its.
    pub rows: u32,
}

/// What one object held, counted while it was decoded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Number of records.
    pub records: u64,
    /// Decompressed JSON bytes.
    pub json_bytes: u64,
    /// Values kept in `_extra` because their type did not fit their column.
    pub mistyped: u64,
    /// Top-level keys the schema does not know, kept in `_extra`.
    pub unknown_fields: u64,
}

/// What [`Decoder::add`] made of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A log file: its rows are held for [`Decoder::take_rows`].
    Records(Counts),
    /// A CloudTrail digest file: recognised, nothing to keep.
    Digest,
}

/// What an object held.
#[derive(Debug)]
pub enum Decoded {
    /// A log file: its rows, split by partition.
    Records(Records),
    /// A CloudTrail digest file (integrity chain, no events): recognised and skipped.
    Digest,
}

/// The rows of a log file.
#[derive(Debug, Default)]
pub struct Records {
    /// One batch per partition the object's events fall into (usually one).
    pub partitions: Vec<PartitionBatch>,
    /// Number of records.
    pub records: u64,
    /// Decompressed JSON bytes.
    pub json_bytes: u64,
    /// Values kept in `_extra` because their type did not fit their column.
    pub mistyped: u64,
    /// Top-level keys the schema does not know, kept in `_extra`.
    pub unknown_fields: u64,
}

impl Records {
    fn new(partitions: Vec<PartitionBatch>, c: Counts) -> Records {
        Records {
            partitions,
            records: c.records,
            json_bytes: c.json_bytes,
            mistyped: c.mistyped,
            unknown_fields: c.unknown_fields,
        }
    }
}

/// Buffers that grew past this for one object are released afterwards.
const BIG_OBJECT: usize = 32 << 20;

/// Objects with more JSON than this are parsed a slice of whole records at a time, each slice
/// about this size. simd-json's tape and buffers grow with the JSON they parse, and a decoder
/// keeps them for the next object: a 21 MB delivery's tape alone took 57 MB (heaptrack), and
/// ingesting one 25 MB object peaked at 126 MB whole against 84 MB in slices.
const SLICE: usize = 2 << 20;

/// Decodes log objects. Holds reusable buffers; one per thread.
///
/// Several objects can be decoded into one set of rows ([`add`](Decoder::add), then
/// [`take_rows`](Decoder::take_rows)): a delivery is typically a few hundred KB, and each batch
/// costs the same fixed work however few rows it has (70 Arrow builders to allocate and
/// finish; levels, statistics and dictionary lookups set up per batch and per column when it is
/// encoded; a message and an append in the engine). Decoding 8 deliveries at a time took a
/// sixth off the CPU time of an ingest (docs/performance.md).
pub struct Decoder {
    options: DecodeOptions,
    json: Vec<u8>,
    /// One slice of a big object's records, as a JSON array (see [`SLICE`]).
    slice: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    extra: String,
    /// The rows of the objects added since the last [`take_rows`](Decoder::take_rows).
    rows: Option<Rows>,
    /// Rows of big objects (decoded alone, in slices), waiting for `take_rows` too.
    alone: Vec<PartitionBatch>,
    /// [`add`](Decoder::add) calls since the last `take_rows`.
    added: u32,
}

impl Decoder {
    /// A decoder with the given options.
    pub fn new(options: DecodeOptions) -> Decoder {
        Decoder {
            options,
            json: Vec::new(),
            slice: Vec::new(),
            buffers: Buffers::default(),
            tape: Some(Tape::null()),
            extra: String::new(),
            rows: None,
            alone: Vec::new(),
            added: 0,
        }
    }

    /// Decodes one object: gzip (multi-member) or plain JSON bytes.
    pub fn decode(&mut self, raw: &[u8]) -> Result<Decoded, DecodeError> {
        let added = self.add(raw);
        self.decoded(added)
    }

    /// Decodes an object already decompressed (by an [`Inflater`] fed as the bytes arrived).
    pub fn decode_json(&mut self, json: Vec<u8>) -> Result<Decoded, DecodeError> {
        let added = self.add_json(json);
        self.decoded(added)
    }

    fn decoded(&mut self, added: Result<Added, DecodeError>) -> Result<Decoded, DecodeError> {
        debug_assert_eq!(self.added, 1, "decode() with rows of add() not taken");
        let partitions = self.take_rows();
        match added? {
            Added::Digest => Ok(Decoded::Digest),
            Added::Records(c) => Ok(Decoded::Records(Records::new(partitions?, c))),
        }
    }

    /// Adds one object (gzip or plain JSON bytes) to the rows in progress. On an error nothing
    /// of the object is kept, and the rows of the other objects are untouched. Every call counts
    /// as an object, failed or not: [`ObjectRows::object`] is the call's position.
    pub fn add(&mut self, raw: &[u8]) -> Result<Added, DecodeError> {
        let cap = self.options.max_decompressed;
        let mut json = std::mem::take(&mut self.json);
        json.clear();
        let hint = crate::inflate::inflated_size_hint(raw) as u64;
        json.reserve(hint.min(cap) as usize + simd_json::INPUT_PADDING);
        let mut inflater = Inflater::new(json, cap);
        inflater.push(raw);
        match inflater.finish() {
            Ok(json) => self.add_json(json),
            Err(e) => {
                self.added += 1;
                Err(e)
            }
        }
    }

    /// Adds an object already decompressed; see [`add`](Decoder::add).
    pub fn add_json(&mut self, json: Vec<u8>) -> Result<Added, DecodeError> {
        let object = self.added;
        self.added += 1;
        if json.len() as u64 > self.options.max_decompressed {
            return Err(DecodeError::TooLarge {
                cap: self.options.max_decompressed,
            });
        }
        let len = json.len();
        let result = if len > SLICE {
            self.add_alone(json, object)
        } else {
            self.json = json;
            let mut rows = self.rows.take().unwrap_or_else(Rows::new);
            let result = self.parse_whole(&mut rows, object);
            self.rows = Some(rows);
            result
        };
        if self.json.capacity() > BIG_OBJECT {
            // an unusually large object: do not keep a buffer of its size for the next one
            self.json = Vec::new();
            self.buffers = Buffers::default();
            self.tape = Some(Tape::null());
        }
        let mut added = result?;
        if let Added::Records(c) = &mut added {
            c.json_bytes = len as u64;
        }
        Ok(added)
    }

    /// The rows of the objects added since the last call, one batch per partition (a big
    /// object's rows come in batches of their own).
    pub fn take_rows(&mut self) -> Result<Vec<PartitionBatch>, DecodeError> {
        // all taken before anything can fail: the next objects start afresh either way
        self.added = 0;
        let alone = std::mem::take(&mut self.alone);
        let mut out = match self.rows.take() {
            Some(rows) => rows.finish()?,
            None => Vec::new(),
        };
        out.extend(alone);
        Ok(out)
    }

    /// A big object: its own rows, parsed in slices (or whole when it cannot be sliced).
    fn add_alone(&mut self, json: Vec<u8>, object: u32) -> Result<Added, DecodeError> {
        let mut rows = Rows::new();
        let sliced = record_slices(&json, SLICE)
            .and_then(|slices| self.parse_slices(&json, &slices, &mut rows, object).ok());
        self.json = json;
        let added = match sliced {
            Some(added) => added,
            // parsed whole when not sliced, and when a slice failed: that reports what is wrong
            None => {
                rows = Rows::new();
                self.parse_whole(&mut rows, object)?
            }
        };
        let mut parts = rows.finish()?;
        for p in &mut parts {
            // numbered as the caller numbers it, like the rows in progress
            p.objects.iter_mut().for_each(|o| o.object = object);
        }
        self.alone.append(&mut parts);
        Ok(added)
    }

    /// Parses `self.json` as one document into `rows`.
    fn parse_whole(&mut self, rows: &mut Rows, object: u32) -> Result<Added, DecodeError> {
        let len = self.json.len();
        self.json.resize(len + simd_json::INPUT_PADDING, 0);
        let Decoder {
            json,
            buffers,
            tape: tape_slot,
            extra,
            ..
        } = self;
        let mut tape = tape_slot.take().unwrap_or_else(Tape::null).reset();
        let result = simd_json::fill_tape_padded(json, len, buffers, &mut tape)
            .map_err(|e| DecodeError::Json(e.to_string()))
            .and_then(|()| decode_document(&tape.0, rows, object, extra));
        *tape_slot = Some(tape.reset());
        result
    }

    /// Parses `{"Records":[...]}` a slice of records at a time (`slices` from
    /// [`record_slices`]) into `rows`: the result is the same as [`parse_whole`]'s. On an
    /// error `rows` holds part of the object.
    fn parse_slices(
        &mut self,
        json: &[u8],
        slices: &[std::ops::Range<usize>],
        rows: &mut Rows,
        object: u32,
    ) -> Result<Added, DecodeError> {
        let Decoder {
            slice,
            buffers,
            tape: tape_slot,
            extra,
            ..
        } = self;
        let mut counts = Counts::default();
        for range in slices {
            slice.clear();
            slice.push(b'[');
            slice.extend_from_slice(&json[range.clone()]);
            slice.push(b']');
            let len = slice.len();
            slice.resize(len + simd_json::INPUT_PADDING, 0);
            let mut tape = tape_slot.take().unwrap_or_else(Tape::null).reset();
            let result = simd_json::fill_tape_padded(slice, len, buffers, &mut tape)
                .map_err(|e| DecodeError::Json(e.to_string()))
                .and_then(|()| {
                    let records = records_of(&tape.0, counts.records)?;
                    rows.push(records, object, extra, &mut counts);
                    Ok(())
                });
            *tape_slot = Some(tape.reset());
            result?;
        }
        if slice.capacity() > 4 * SLICE {
            // one huge record made it big
            *slice = Vec::new();
        }
        Ok(Added::Records(counts))
    }
}

/// Byte ranges of `json`'s records, each a comma-separated run of whole records of about
/// `target` bytes, if `json` is `{"Records":[...]}` (whitespace allowed): the shape of every
/// CloudTrail delivery. Anything else gives `None`, and the object is parsed whole.
///
/// Cuts are found by jumping `target` bytes and looking for the next `},{"<key>":`, where
/// `<key>` is the first record's first key: a writer keeps its key order (CloudTrail starts
/// every record with `eventVersion`), so that is where a record starts, and the bytes in
/// between are not scanned. The pattern cannot lie inside a string (its `"` would be escaped);
/// a nested object starting with the same key gives a cut inside a record, and then a slice
/// that is not an array of whole values, which fails to parse: [`Decoder::decode_json`] then
/// parses the object whole. Slices that all parse join, with the commas between them, into
/// the same array as the whole document's.
fn record_slices(json: &[u8], target: usize) -> Option<Vec<std::ops::Range<usize>>> {
    let ws = |b: &u8| b.is_ascii_whitespace();
    let mut i = json.iter().position(|b| !ws(b))?;
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        i += json[i..].iter().position(|b| !ws(b))?;
        if !json[i..].starts_with(token) {
            return None;
        }
        i += token.len();
    }
    // the end: `]`, then `}`, then nothing but whitespace
    let mut end = json.len() - json.iter().rev().position(|b| !ws(b))?;
    if json[end - 1] != b'}' {
        return None;
    }
    end -= 1;
    end = end.checked_sub(json[..end].iter().rev().position(|b| !ws(b))?)?;
    if end <= i || json[end - 1] != b']' {
        return None;
    }
    let end = end - 1; // the array's content is json[i..end]
    if json[i..end].iter().all(ws) {
        return Some(Vec::new());
    }
    // the first record's first key: `{"key":`
    let first = i + json[i..end].iter().position(|b| !ws(b))?;
    let key_len = json.get(first + 2..end)?.iter().position(|&b| b == b'"')?;
    let mut pattern = b"},".to_vec();
    pattern.extend_from_slice(json.get(first..first + 2 + key_len + 2)?);
    if !pattern.starts_with(b"},{\"") || !pattern.ends_with(b"\":") {
        return None;
    }
    let next = memchr::memmem::Finder::new(&pattern);
    let mut slices = Vec::new();
    let mut start = i;
    while start + target < end {
        match next.find(&json[start + target..end]) {
            Some(at) => {
                let cut = start + target + at + 1; // after the `}`
                slices.push(start..cut);
                start = cut + 1; // at the `{`
            }
            None => break,
        }
    }
    slices.push(start..end);
    Some(slices)
}

/// Adds the records of `{"Records":[...]}` to `rows`, after checking the whole document's
/// shape: nothing is added from a document that is not a log file.
fn decode_document(
    nodes: &[Node<'_>],
    rows: &mut Rows,
    object: u32,
    extra: &mut String,
) -> Result<Added, DecodeError> {
    let Some(&Node::Object { len, .. }) = nodes.first() else {
        return Err(DecodeError::Shape(
            "the document is not a JSON object".into(),
        ));
    };
    let mut records = None;
    let mut keys = Vec::new();
    let mut p = 1;
    for _ in 0..len {
        let key = match nodes[p] {
            Node::String(k) => k,
            _ => "",
        };
        let value = &nodes[p + 1..];
        if key == "Records" {
            records = Some(value);
        } else if keys.len() < 8 {
            keys.push(key);
        }
        p += 1 + value_len(value);
    }
    let Some(records) = records else {
        if keys
            .iter()
            .any(|k| *k == "logFiles" || *k == "digestPublicKeyFingerprint")
        {
            return Ok(Added::Digest);
        }
        return Err(DecodeError::Shape(format!(
            "no \"Records\" key (top-level keys: {keys:?})"
        )));
    };
    let records = records_of(records, 0)?;
    let mut counts = Counts::default();
    rows.push(records, object, extra, &mut counts);
    Ok(Added::Records(counts))
}

/// The array of records at `nodes[0]`, checked: every element is an object. `first` is the
/// index of its first record in the whole object, for the error.
fn records_of<'a, 't>(
    nodes: &'a [Node<'t>],
    first: u64,
) -> Result<CheckedRecords<'a, 't>, DecodeError> {
    let Some(&Node::Array { len, .. }) = nodes.first() else {
        return Err(DecodeError::Shape("\"Records\" is not an array".into()));
    };
    let mut p = 1;
    for i in 0..len {
        if !matches!(nodes[p], Node::Object { .. }) {
            return Err(DecodeError::Shape(format!(
                "Records[{}] is not an object",
                first + i as u64
            )));
        }
        p += value_len(&nodes[p..]);
    }
    Ok(CheckedRecords { nodes, len })
}

/// An array of records whose elements are all objects (see [`records_of`]).
#[derive(Clone, Copy)]
struct CheckedRecords<'a, 't> {
    nodes: &'a [Node<'t>],
    len: usize,
}

/// Rows being built from the arrays of records of one or more objects.
struct Rows {
    builder: Option<RowBuilder>,
    /// The partitions seen, and each row's index into them.
    keys: Vec<PartitionKey>,
    row_key: Vec<u32>,
    /// Each object's run of rows, in row order.
    objects: Vec<ObjectRows>,
}

impl Rows {
    fn new() -> Rows {
        Rows {
            builder: None,
            keys: Vec::new(),
            row_key: Vec::new(),
            objects: Vec::new(),
        }
    }

    /// Appends the records of object `object` (which may come in several arrays), each array's
    /// in call order ([`crate::order`]).
    fn push(
        &mut self,
        records: CheckedRecords<'_, '_>,
        object: u32,
        extra: &mut String,
        counts: &mut Counts,
    ) {
        let builder = self
            .builder
            .get_or_insert_with(|| RowBuilder::new(records.len));
        // consecutive records nearly always share their partition
        let mut last: Option<(Route<'_>, u32)> = None;
        for p in crate::order::call_order(records.nodes, records.len) {
            let record = &records.nodes[p..];
            let route = builder.append(record, extra, counts);
            let slot = match &last {
                Some((r, slot)) if *r == route => *slot,
                _ => {
                    let key = route.key();
                    let slot = match self.keys.iter().position(|k| *k == key) {
                        Some(s) => s as u32,
                        None => {
                            self.keys.push(key);
                            self.keys.len() as u32 - 1
                        }
                    };
                    last = Some((route, slot));
                    slot
                }
            };
            self.row_key.push(slot);
        }
        let n = records.len as u32;
        counts.records += u64::from(n);
        match self.objects.last_mut() {
            Some(o) if o.object == object => o.rows += n,
            _ if n > 0 => self.objects.push(ObjectRows { object, rows: n }),
            _ => {}
        }
    }

    /// The rows, split by partition.
    fn finish(self) -> Result<Vec<PartitionBatch>, DecodeError> {
        let Some(mut builder) = self.builder else {
            return Ok(Vec::new());
        };
        let batch = builder.finish();
        if self.keys.len() <= 1 {
            return Ok(self
                .keys
                .into_iter()
                .map(|key| PartitionBatch {
                    key,
                    batch: batch.clone(),
                    objects: self.objects.clone(),
                })
                .collect());
        }
        let mut parts = Vec::with_capacity(self.keys.len());
        for (slot, key) in self.keys.into_iter().enumerate() {
            let slot = slot as u32;
            let mask: BooleanArray = self.row_key.iter().map(|k| Some(*k == slot)).collect();
            let part = arrow_select::filter::filter_record_batch(&batch, &mask)
                .map_err(|e| DecodeError::Shape(format!("splitting by partition: {e}")))?;
            let mut objects = Vec::new();
            let mut start = 0;
            for o in &self.objects {
                let end = start + o.rows as usize;
                let rows = self.row_key[start..end]
                    .iter()
                    .filter(|k| **k == slot)
                    .count();
                if rows > 0 {
                    objects.push(ObjectRows {
                        object: o.object,
                        rows: rows as u32,
                    });
                }
                start = end;
            }
            parts.push(PartitionBatch {
                key,
                batch: part,
                objects,
            });
        }
        Ok(parts)
    }
}

/// The raw values that route a record, borrowed from the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Route<'a> {
    account: Option<&'a str>,
    region: Option<&'a str>,
    time: Option<&'a str>,
    insight: bool,
}

impl Route<'_> {
    fn key(&self) -> PartitionKey {
        let table = if self.insight {
            Table::Insights
        } else {
            Table::CloudTrail
        };
        let date = event_date(self.time.and_then(parse_event_time), self.time);
        PartitionKey::from_values(table, self.account, self.region, date)
    }
}

/// Positions in [`RECORD`] of the fields that route a record.
const EVENT_TIME: usize = 2;
const AWS_REGION: usize = 5;
const EVENT_TYPE: usize = 17;
const RECIPIENT_ACCOUNT: usize = 20;
const EVENT_CATEGORY: usize = 25;

/// Builds the rows of one object.
struct RowBuilder {
    record: StructColumns,
    extra: StringBuilder,
}

impl RowBuilder {
    fn new(capacity: usize) -> RowBuilder {
        let capacity = capacity.min(4096);
        RowBuilder {
            record: StructColumns::new(RECORD, capacity),
            extra: StringBuilder::with_capacity(capacity, 0),
        }
    }

    /// Appends one record; returns the values that route it (captured on the way, by field
    /// position, so routing costs no extra pass and no string comparison).
    fn append<'t>(
        &mut self,
        record: &[Node<'t>],
        extra: &mut String,
        out: &mut Counts,
    ) -> Route<'t> {
        let Node::Object { len, .. } = record[0] else {
            unreachable!("checked by the caller")
        };
        extra.clear();
        let mut route = Route::default();
        let mut seen: u64 = 0;
        let mut p = 1;
        self.record.reset_prediction();
        for _ in 0..len {
            let key = match record[p] {
                Node::String(k) => k,
                _ => "",
            };
            let value = &record[p + 1..];
            let found = self.record.lookup(key);
            if let (Some(i), Node::String(v)) = (found, value[0]) {
                match i {
                    EVENT_TIME => route.time = Some(v),
                    AWS_REGION => route.region = Some(v),
                    RECIPIENT_ACCOUNT => route.account = Some(v),
                    EVENT_TYPE => route.insight |= v == "AwsCloudTrailInsight",
                    EVENT_CATEGORY => route.insight |= v == "Insight",
                    _ => {}
                }
            }
            let kept = match found {
                Some(i) if seen & (1 << i) == 0 => {
                    seen |= 1 << i;
                    let fits = self.record.column(i).append(value);
                    if !fits {
                        out.mistyped += 1;
                    }
                    fits
                }
                _ => {
                    out.unknown_fields += 1;
                    false
                }
            };
            if !kept {
                extra.push(if extra.is_empty() { '{' } else { ',' });
                write_str(extra, key);
                extra.push(':');
                write_value(extra, value);
            }
            p += 1 + value_len(value);
        }
        self.record.fill_unseen(seen);
        if extra.is_empty() {
            self.extra.append_null();
        } else {
            extra.push('}');
            self.extra.append_value(extra.as_str());
        }
        route
    }

    fn finish(&mut self) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = self.record.finish_columns();
        columns.push(std::sync::Arc::new(self.extra.finish()));
        RecordBatch::try_new(schema(), columns).expect("columns follow the schema")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const DOC: &[u8] = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"a","recipientAccountId":"123456789012","awsRegion":"us-east-1"}]}"#;

    fn decode(raw: &[u8]) -> Result<Decoded, DecodeError> {
        Decoder::new(DecodeOptions::default()).decode(raw)
    }

    fn records(raw: &[u8]) -> Records {
        match decode(raw) {
            Ok(Decoded::Records(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gzip_plain_and_multi_member() {
        assert_eq!(records(&gz(DOC)).records, 1);
        assert_eq!(records(DOC).records, 1);
        // two gzip members forming one document
        let (a, b) = DOC.split_at(40);
        let mut multi = gz(a);
        multi.extend(gz(b));
        let r = records(&multi);
        assert_eq!(r.records, 1);
        assert_eq!(r.json_bytes, DOC.len() as u64);
    }

    #[test]
    fn bad_input_is_an_error_with_a_reason() {
        let full = gz(DOC);
        let truncated = &full[..full.len() / 2];
        assert!(
            matches!(decode(truncated), Err(DecodeError::Gzip(_))),
            "truncated"
        );
        let mut corrupt = full.clone();
        corrupt[12] ^= 0xff;
        corrupt[20] ^= 0xff;
        assert!(decode(&corrupt).is_err(), "corrupt");
        assert!(matches!(
            decode(b"PK\x03\x04zip"),
            Err(DecodeError::NotGzipOrJson(_))
        ));
        assert!(matches!(decode(b""), Err(DecodeError::NotGzipOrJson(_))));
        let e = decode(&gz(br#"{"Records":[{"a":1},]}"#)).unwrap_err();
        assert!(matches!(e, DecodeError::Json(_)), "{e}");
        let e = decode(&gz(br#"{"records":[]}"#)).unwrap_err();
        assert!(e.to_string().contains("no \"Records\""), "{e}");
        let e = decode(br#"{"Records":{}}"#).unwrap_err();
        assert!(e.to_string().contains("not an array"), "{e}");
        let e = decode(br#"{"Records":[1]}"#).unwrap_err();
        assert!(e.to_string().contains("Records[0]"), "{e}");
        let e = decode(b"[1,2]").unwrap_err();
        assert!(matches!(e, DecodeError::NotGzipOrJson(_)), "{e}");
    }

    #[test]
    fn size_cap_stops_gzip_bombs() {
        let big = vec![b' '; 10_000];
        let mut doc = b"{\"Records\":[]".to_vec();
        doc.extend(&big);
        doc.push(b'}');
        let mut d = Decoder::new(DecodeOptions {
            max_decompressed: 5_000,
        });
        assert!(matches!(
            d.decode(&gz(&doc)),
            Err(DecodeError::TooLarge { cap: 5_000 })
        ));
        assert!(matches!(d.decode(&doc), Err(DecodeError::TooLarge { .. })));
        // the same decoder still works after an error
        assert!(matches!(d.decode(&gz(DOC)), Ok(Decoded::Records(_))));
    }

    #[test]
    fn digest_files_are_recognised() {
        let digest = br#"{"awsAccountId":"123456789012","digestStartTime":"2024-01-01T00:00:00Z","digestPublicKeyFingerprint":"ab","logFiles":[]}"#;
        assert!(matches!(decode(&gz(digest)), Ok(Decoded::Digest)));
    }

    #[test]
    fn routing_positions_match_the_schema() {
        for (i, name) in [
            (EVENT_TIME, "eventTime"),
            (AWS_REGION, "awsRegion"),
            (EVENT_TYPE, "eventType"),
            (RECIPIENT_ACCOUNT, "recipientAccountId"),
            (EVENT_CATEGORY, "eventCategory"),
        ] {
            assert_eq!(RECORD[i].name, name);
        }
    }

    #[test]
    fn trailing_garbage_after_a_member_is_an_error() {
        let mut raw = gz(DOC);
        raw.extend_from_slice(b"junk");
        assert!(matches!(decode(&raw), Err(DecodeError::Gzip(_))));
    }

    /// A delivery over [`SLICE`]: records of two days, strings holding brackets, quotes and
    /// escapes, nested values, unknown and mistyped fields. Records are joined by `sep`; with
    /// `trap`, a nested object looks like the start of a record.
    fn big_doc(sep: &str, trap: bool) -> Vec<u8> {
        let mut doc = b"{ \"Records\" :\n [".to_vec();
        let mut i = 0;
        let nested = if trap { r#",{"eventVersion":"x"}"# } else { "" };
        while doc.len() < 3 * SLICE + 1000 {
            if i > 0 {
                doc.extend_from_slice(sep.as_bytes());
            }
            let day = if i % 7 == 0 { "02" } else { "01" };
            doc.extend_from_slice(
                format!(
                    r#"{{"eventVersion":"1.08","eventTime":"2024-01-{day}T00:00:{:02}Z","eventID":"id-{i}","recipientAccountId":"123456789012","awsRegion":"us-east-1","eventName":"n\"}},{{\"eventVersion\":]\\{i}","requestParameters":{{"list":[1,{{"k":"]}}"}}{nested},[2,3]],"s":"\u00e9"}},"readOnly":{},"surprise":{{"x":[{i}]}}}}"#,
                    i % 60,
                    if i % 5 == 0 { "\"yes\"" } else { "true" },
                )
                .as_bytes(),
            );
            i += 1;
        }
        doc.extend_from_slice(b"]\n}\n");
        doc
    }

    fn records_from(added: Added, partitions: Vec<PartitionBatch>) -> Records {
        let Added::Records(c) = added else {
            panic!("not records")
        };
        Records::new(partitions, c)
    }

    fn sliced(doc: &[u8]) -> Result<Records, DecodeError> {
        let slices = record_slices(doc, SLICE).expect("the CloudTrail shape");
        assert!(slices.len() >= 3, "{} slices", slices.len());
        let mut rows = Rows::new();
        let added =
            Decoder::new(DecodeOptions::default()).parse_slices(doc, &slices, &mut rows, 0)?;
        Ok(records_from(added, rows.finish()?))
    }

    fn whole(doc: &[u8]) -> Records {
        let mut d = Decoder::new(DecodeOptions::default());
        d.json = doc.to_vec();
        let mut rows = Rows::new();
        let added = d.parse_whole(&mut rows, 0).expect("parses");
        records_from(added, rows.finish().expect("finishes"))
    }

    fn assert_same(a: &Records, b: &Records) {
        assert_same_after(a, b, RecordBatch::clone);
    }

    /// `a` and `b` hold the same rows, whatever their order within each partition (the rows
    /// of a big object are in call order slice by slice, those of a whole one all together).
    fn assert_same_rows(a: &Records, b: &Records) {
        let by_event_id = |batch: &RecordBatch| {
            let ids = batch.column(crate::column_index("eventID").unwrap());
            let ids = ids
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            let mut rows: Vec<u32> = (0..batch.num_rows() as u32).collect();
            rows.sort_by_key(|&r| ids.value(r as usize));
            let rows = arrow_array::UInt32Array::from(rows);
            arrow_select::take::take_record_batch(batch, &rows).unwrap()
        };
        assert_same_after(a, b, by_event_id);
    }

    /// `a` and `b` are the same, their batches compared after `f`.
    fn assert_same_after(a: &Records, b: &Records, f: impl Fn(&RecordBatch) -> RecordBatch) {
        assert_eq!(a.records, b.records);
        assert_eq!(a.mistyped, b.mistyped);
        assert_eq!(a.unknown_fields, b.unknown_fields);
        assert_eq!(a.partitions.len(), b.partitions.len());
        for (a, b) in a.partitions.iter().zip(&b.partitions) {
            assert_eq!(a.key, b.key);
            assert_eq!(f(&a.batch), f(&b.batch));
            assert_eq!(a.objects, b.objects);
        }
    }

    #[test]
    fn big_objects_decode_in_slices_as_whole() {
        let doc = big_doc(",", false);
        let sliced = sliced(&doc).expect("every slice parses");
        let whole = whole(&doc);
        assert_same_rows(&sliced, &whole);
        assert!(sliced.mistyped > 0 && sliced.unknown_fields > 0);
        assert_eq!(sliced.partitions.len(), 2);
        // and through the public path
        let r = records(&doc);
        assert_same_rows(&r, &whole);
        assert_eq!(r.json_bytes, doc.len() as u64);
    }

    #[test]
    fn a_cut_that_is_not_a_record_boundary_falls_back_to_the_whole_document() {
        // every candidate cut is inside a record (records joined by ",\n" are never cut)
        let doc = big_doc(",\n", true);
        assert!(
            sliced(&doc).is_err(),
            "a slice starting mid-record does not parse"
        );
        assert_same(&records(&doc), &whole(&doc));
        // pretty-printed deliveries have no cut at all: one slice, the whole array
        assert_eq!(
            record_slices(&big_doc(",\n", false), SLICE).unwrap().len(),
            1
        );
    }

    #[test]
    fn big_objects_of_another_shape_or_broken_are_parsed_whole_with_the_same_errors() {
        let doc = big_doc(",", false);
        // broken JSON inside one record of a later slice
        let mut bad = doc.clone();
        let at = bad.len() - 5000;
        let at = at + bad[at..].windows(4).position(|w| w == b"true").unwrap();
        bad[at..at + 4].copy_from_slice(b"tru ");
        assert!(matches!(decode(&bad), Err(DecodeError::Json(_))));
        // a record that is not an object: named
        let mut odd = doc[..doc.len() - 4].to_vec();
        odd.extend_from_slice(b",7]}");
        let e = decode(&odd).unwrap_err();
        assert!(e.to_string().contains("is not an object"), "{e}");
        // another top-level key after Records: valid, parsed whole
        let mut more = doc[..doc.len() - 4].to_vec();
        more.extend_from_slice(br#"],"x":1}"#);
        assert!(record_slices(&more, SLICE).is_none());
        assert_eq!(records(&more).records, records(&doc).records);
        // trailing garbage and a truncated document
        let mut tail = doc.clone();
        tail.extend_from_slice(b"x");
        assert!(record_slices(&tail, SLICE).is_none());
        assert!(decode(&tail).is_err());
        assert!(decode(&doc[..doc.len() / 2]).is_err());
        assert_eq!(
            record_slices(br#" {"Records" : [ ] } "#, 1),
            Some(vec![]),
            "no records, no slices"
        );
        assert_eq!(record_slices(br#"{"Records":[}"#, 1), None);
    }

    #[test]
    fn empty_records_give_no_partitions() {
        let r = records(br#"{"Records":[]}"#);
        assert_eq!(r.records, 0);
        assert!(r.partitions.is_empty());
    }

    fn record(day: &str, hour: u32, account: &str, id: usize) -> String {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"2024-01-{day}T{hour:02}:59:59Z","eventID":"id-{id}","recipientAccountId":"{account}","awsRegion":"us-east-1","requestParameters":{{"n":{id}}},"odd":{id}}}"#
        )
    }

    fn doc(records: &[String]) -> Vec<u8> {
        format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes()
    }

    /// Objects added one after another decode into shared rows: each partition's batch holds,
    /// run by run, exactly the rows each object gives alone, and an object that fails or is a
    /// digest leaves nothing behind, wherever in the group it comes.
    #[test]
    fn objects_added_together_give_each_objects_rows_as_alone() {
        let a = "123456789012";
        let b = "210987654321";
        let objects: Vec<Vec<u8>> = vec![
            gz(&doc(&(0..5).map(|i| record("01", 10, a, i)).collect::<Vec<_>>())),
            // across midnight, and an account of its own
            doc(&[
                record("01", 23, a, 10),
                record("02", 0, a, 11),
                record("01", 23, b, 12),
            ]),
            gz(br#"{"awsAccountId":"123456789012","digestPublicKeyFingerprint":"ab","logFiles":[]}"#),
            // valid records before one that is not an object: nothing of it is kept
            doc(&[record("01", 9, a, 20), record("01", 9, a, 21), "7".into()]),
            gz(DOC)[..20].to_vec(),
            br#"{"Records":[{"eventTime":"x",]}"#.to_vec(),
            doc(&[]),
            big_doc(",", false),
            gz(&doc(&[record("02", 1, b, 30), record("01", 22, a, 31)])),
        ];
        let alone: Vec<Result<Decoded, DecodeError>> = objects.iter().map(|o| decode(o)).collect();
        let mut d = Decoder::new(DecodeOptions::default());
        for (o, alone) in objects.iter().zip(&alone) {
            match (d.add(o), alone) {
                (Ok(Added::Digest), Ok(Decoded::Digest)) => {}
                (Ok(Added::Records(c)), Ok(Decoded::Records(r))) => {
                    assert_eq!(
                        (c.records, c.json_bytes, c.mistyped, c.unknown_fields),
                        (r.records, r.json_bytes, r.mistyped, r.unknown_fields)
                    );
                }
                (Err(e), Err(f)) => assert_eq!(e.to_string(), f.to_string()),
                (together, alone) => panic!("{together:?} against {alone:?}"),
            }
        }
        let parts = d.take_rows().expect("rows");
        // every row of every object, found again in its run
        let mut seen = 0;
        for p in &parts {
            let mut offset = 0;
            for run in &p.objects {
                let Ok(Decoded::Records(r)) = &alone[run.object as usize] else {
                    panic!("rows of object {} that has none", run.object)
                };
                let own = r
                    .partitions
                    .iter()
                    .find(|q| q.key == p.key)
                    .expect("the object has rows in this partition");
                assert_eq!(own.batch.num_rows(), run.rows as usize);
                assert_eq!(p.batch.slice(offset, run.rows as usize), own.batch);
                offset += run.rows as usize;
                seen += run.rows as u64;
            }
            assert_eq!(offset, p.batch.num_rows(), "the runs cover the batch");
        }
        let expected: u64 = alone
            .iter()
            .map(|r| match r {
                Ok(Decoded::Records(r)) => r.records,
                _ => 0,
            })
            .sum();
        assert_eq!(seen, expected);
        // four partitions for the small objects, and the big object's two of its own
        assert_eq!(parts.len(), 6);
        assert_eq!(
            parts[0].objects,
            vec![
                ObjectRows { object: 0, rows: 5 },
                ObjectRows { object: 1, rows: 1 },
                ObjectRows { object: 8, rows: 1 }
            ]
        );
        // dropping one object's rows keeps the others' in place
        let mut p = parts.into_iter().next().expect("a partition");
        let last = p.batch.slice(6, 1);
        p.retain_objects(|o| o == 8).expect("filters");
        assert_eq!(p.objects, vec![ObjectRows { object: 8, rows: 1 }]);
        assert_eq!(p.batch, last);
        // the decoder starts afresh
        assert!(d.take_rows().expect("nothing").is_empty());
        assert_eq!(records(DOC).records, 1);
        match d.decode(DOC) {
            Ok(Decoded::Records(r)) => assert_eq!(r.partitions[0].objects[0].object, 0),
            other => panic!("{other:?}"),
        }
    }
}
