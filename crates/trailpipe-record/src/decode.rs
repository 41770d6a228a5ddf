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

/// The rows of one partition from one object.
#[derive(Debug)]
pub struct PartitionBatch {
    /// Where the rows belong.
    pub key: PartitionKey,
    /// The rows, in [`schema()`](crate::schema).
    pub batch: RecordBatch,
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

/// Buffers that grew past this for one object are released afterwards.
const BIG_OBJECT: usize = 32 << 20;

/// Objects with more JSON than this are parsed a slice of whole records at a time, each slice
/// about this size. simd-json's tape and buffers grow with the JSON they parse, and a decoder
/// keeps them for the next object: a 21 MB delivery's tape alone took 57 MB (heaptrack), and
/// ingesting one 25 MB object peaked at 126 MB whole against 84 MB in slices.
const SLICE: usize = 2 << 20;

/// Decodes log objects. Holds reusable buffers; one per thread.
pub struct Decoder {
    options: DecodeOptions,
    json: Vec<u8>,
    /// One slice of a big object's records, as a JSON array (see [`SLICE`]).
    slice: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    extra: String,
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
        }
    }

    /// Decodes one object: gzip (multi-member) or plain JSON bytes.
    pub fn decode(&mut self, raw: &[u8]) -> Result<Decoded, DecodeError> {
        let cap = self.options.max_decompressed;
        let mut json = std::mem::take(&mut self.json);
        json.clear();
        let hint = crate::inflate::inflated_size_hint(raw) as u64;
        json.reserve(hint.min(cap) as usize + simd_json::INPUT_PADDING);
        let mut inflater = Inflater::new(json, cap);
        inflater.push(raw);
        self.decode_json(inflater.finish()?)
    }

    /// Decodes an object already decompressed (by an [`Inflater`] fed as the bytes arrived).
    pub fn decode_json(&mut self, json: Vec<u8>) -> Result<Decoded, DecodeError> {
        if json.len() as u64 > self.options.max_decompressed {
            return Err(DecodeError::TooLarge {
                cap: self.options.max_decompressed,
            });
        }
        let len = json.len();
        let slices = if len > SLICE {
            record_slices(&json, SLICE)
        } else {
            None
        };
        let sliced = slices.and_then(|slices| self.decode_slices(&json, &slices).ok());
        self.json = json;
        // parsed whole when not sliced, and when a slice failed: that reports what is wrong
        let result = match sliced {
            Some(records) => Ok(Decoded::Records(records)),
            None => self.decode_whole(),
        };
        if self.json.capacity() > BIG_OBJECT {
            // an unusually large object: do not keep a buffer of its size for the next one
            *self = Decoder::new(self.options);
        }
        let mut out = result?;
        if let Decoded::Records(r) = &mut out {
            r.json_bytes = len as u64;
        }
        Ok(out)
    }

    /// Parses `self.json` as one document.
    fn decode_whole(&mut self) -> Result<Decoded, DecodeError> {
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
            .and_then(|()| decode_document(&tape.0, extra));
        *tape_slot = Some(tape.reset());
        result
    }

    /// Parses `{"Records":[...]}` a slice of records at a time (`slices` from
    /// [`record_slices`]), into one set of rows: the result is the same as [`decode_whole`]'s.
    fn decode_slices(
        &mut self,
        json: &[u8],
        slices: &[std::ops::Range<usize>],
    ) -> Result<Records, DecodeError> {
        let Decoder {
            slice,
            buffers,
            tape: tape_slot,
            extra,
            ..
        } = self;
        let mut rows = Rows::new(usize::MAX);
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
                .and_then(|()| rows.push(&tape.0, extra));
            *tape_slot = Some(tape.reset());
            result?;
        }
        if slice.capacity() > 4 * SLICE {
            // one huge record made it big
            *slice = Vec::new();
        }
        rows.finish()
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

fn decode_document(nodes: &[Node<'_>], extra: &mut String) -> Result<Decoded, DecodeError> {
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
            return Ok(Decoded::Digest);
        }
        return Err(DecodeError::Shape(format!(
            "no \"Records\" key (top-level keys: {keys:?})"
        )));
    };
    let Node::Array { len, .. } = records[0] else {
        return Err(DecodeError::Shape("\"Records\" is not an array".into()));
    };
    let mut rows = Rows::new(len);
    rows.push(records, extra)?;
    rows.finish().map(Decoded::Records)
}

/// The rows of one object, built from one or more arrays of records.
struct Rows {
    builder: RowBuilder,
    out: Records,
    /// The partitions seen, and each row's index into them.
    keys: Vec<PartitionKey>,
    row_key: Vec<u32>,
}

impl Rows {
    fn new(capacity: usize) -> Rows {
        Rows {
            builder: RowBuilder::new(capacity),
            out: Records::default(),
            keys: Vec::new(),
            row_key: Vec::new(),
        }
    }

    /// Appends the records of the array at `array[0]`.
    fn push(&mut self, array: &[Node<'_>], extra: &mut String) -> Result<(), DecodeError> {
        let Some(&Node::Array { len, .. }) = array.first() else {
            return Err(DecodeError::Shape("\"Records\" is not an array".into()));
        };
        // consecutive records nearly always share their partition
        let mut last: Option<(Route<'_>, u32)> = None;
        let mut p = 1;
        for _ in 0..len {
            let record = &array[p..];
            if !matches!(record[0], Node::Object { .. }) {
                return Err(DecodeError::Shape(format!(
                    "Records[{}] is not an object",
                    self.out.records
                )));
            }
            let route = self.builder.append(record, extra, &mut self.out);
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
            self.out.records += 1;
            p += value_len(record);
        }
        Ok(())
    }

    /// The rows, split by partition.
    fn finish(mut self) -> Result<Records, DecodeError> {
        let batch = self.builder.finish();
        let mut out = self.out;
        out.partitions = if self.keys.len() <= 1 {
            self.keys
                .into_iter()
                .map(|key| PartitionBatch {
                    key,
                    batch: batch.clone(),
                })
                .collect()
        } else {
            let mut parts = Vec::with_capacity(self.keys.len());
            for (slot, key) in self.keys.into_iter().enumerate() {
                let mask: BooleanArray = self
                    .row_key
                    .iter()
                    .map(|k| Some(*k as usize == slot))
                    .collect();
                let part = arrow_select::filter::filter_record_batch(&batch, &mask)
                    .map_err(|e| DecodeError::Shape(format!("splitting by partition: {e}")))?;
                parts.push(PartitionBatch { key, batch: part });
            }
            parts
        };
        Ok(out)
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
        out: &mut Records,
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

    fn sliced(doc: &[u8]) -> Result<Records, DecodeError> {
        let slices = record_slices(doc, SLICE).expect("the CloudTrail shape");
        assert!(slices.len() >= 3, "{} slices", slices.len());
        Decoder::new(DecodeOptions::default()).decode_slices(doc, &slices)
    }

    fn whole(doc: &[u8]) -> Records {
        let mut d = Decoder::new(DecodeOptions::default());
        d.json = doc.to_vec();
        match d.decode_whole() {
            Ok(Decoded::Records(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn assert_same(a: &Records, b: &Records) {
        assert_eq!(a.records, b.records);
        assert_eq!(a.mistyped, b.mistyped);
        assert_eq!(a.unknown_fields, b.unknown_fields);
        assert_eq!(a.partitions.len(), b.partitions.len());
        for (a, b) in a.partitions.iter().zip(&b.partitions) {
            assert_eq!(a.key, b.key);
            assert_eq!(a.batch, b.batch);
        }
    }

    #[test]
    fn big_objects_decode_in_slices_exactly_as_whole() {
        let doc = big_doc(",", false);
        let sliced = sliced(&doc).expect("every slice parses");
        let whole = whole(&doc);
        assert_same(&sliced, &whole);
        assert!(sliced.mistyped > 0 && sliced.unknown_fields > 0);
        assert_eq!(sliced.partitions.len(), 2);
        // and through the public path
        let r = records(&doc);
        assert_same(&r, &whole);
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
}
