//! The order a log file's records become rows in: by `eventSource`, `eventName`,
//! `userIdentity.arn`, then `eventTime`, nulls first, ties in the file's order. The rows of
//! one object stay one run (its rows are only reordered among themselves), so the engine's
//! per-object bookkeeping ([`ObjectRows`](crate::ObjectRows)) is unchanged.
//!
//! Why: the rows of one API call by one principal look alike (the same `requestParameters`
//! keys, identity and resources), so side by side they compress better: the benchmark's 1 GB
//! lake is 7.6% smaller than in arrival order (91.4 against 99.0 MB), DuckDB reads less for
//! the five benchmark questions, and an ingest takes 2% fewer instructions, not more: Parquet
//! encodes sorted columns faster (docs/performance.md, "Call order from the tape"). Why here,
//! from the tape, and not over the Arrow rows: the records are appended to the builders in
//! this order, so nothing is copied; reordering the built rows (arrow's `take` over every
//! column, as the seventeenth session did per decode job) was 7% of an ingest's instructions.
//! Why per object (or per 2 MB slice of a big one): sorting a whole decode job's rows needs
//! every object's tape kept until the job ends; the lake is 2.3% larger this way.
//!
//! Pure CPU.

use simd_json::Node;

use crate::json::value_len;
use crate::partition::parse_event_time;

/// What a record is sorted by: `eventSource`, `eventName`, `userIdentity.arn`, `eventTime`.
/// `None` where the column will hold null (absent, or not of the column's type), which sorts
/// first.
type CallKey<'t> = (
    Option<&'t str>,
    Option<&'t str>,
    Option<&'t str>,
    Option<i64>,
);

/// The tape positions of the records of the array at `nodes[0]` (`len` records, each an
/// object: checked by the caller), in call order.
pub(crate) fn call_order(nodes: &[Node<'_>], len: usize) -> Vec<usize> {
    let mut keyed = Vec::with_capacity(len);
    let mut p = 1;
    for _ in 0..len {
        let record = &nodes[p..];
        keyed.push((call_key(record), p));
        p += value_len(record);
    }
    if !keyed.is_sorted_by(|a, b| a.0 <= b.0) {
        // records with equal keys keep the file's order (positions are distinct, so the
        // unstable sort, which needs no buffer, is deterministic)
        keyed.sort_unstable();
    }
    keyed.into_iter().map(|(_, p)| p).collect()
}

/// The key of the record at `record[0]`. As in the columns, the first of repeated keys counts.
fn call_key<'t>(record: &[Node<'t>]) -> CallKey<'t> {
    let Node::Object { len, .. } = record[0] else {
        return (None, None, None, None);
    };
    let (mut source, mut name, mut arn, mut time) = (None, None, None, None);
    let mut seen = 0u8;
    let mut p = 1;
    for _ in 0..len {
        let value = &record[p + 1..];
        let bit = match record[p] {
            Node::String("eventSource") => 1,
            Node::String("eventName") => 2,
            Node::String("eventTime") => 4,
            Node::String("userIdentity") => 8,
            _ => 0,
        };
        // a key of the four, met for the first time
        if bit != 0 && seen & bit == 0 {
            seen |= bit;
            match bit {
                1 => source = string(value),
                2 => name = string(value),
                4 => time = string(value).and_then(parse_event_time),
                8 => arn = identity_arn(value),
                _ => {}
            }
            if seen == 15 {
                // CloudTrail writes these four first: the rest of the record is not read
                break;
            }
        }
        p += 1 + value_len(value);
    }
    (source, name, arn, time)
}

fn string<'t>(value: &[Node<'t>]) -> Option<&'t str> {
    match value[0] {
        Node::String(s) => Some(s),
        _ => None,
    }
}

/// `arn` of the `userIdentity` object at `value[0]`; none under anything else.
fn identity_arn<'t>(value: &[Node<'t>]) -> Option<&'t str> {
    let Node::Object { len, .. } = value[0] else {
        return None;
    };
    let mut p = 1;
    for _ in 0..len {
        let v = &value[p + 1..];
        if let Node::String("arn") = value[p] {
            return string(v);
        }
        p += 1 + value_len(v);
    }
    None
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::RecordBatch;

    use crate::{rebuild_record, DecodeOptions, Decoded, Decoder};

    /// The one batch of a document of `records`.
    fn batch(records: &[String]) -> RecordBatch {
        let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let Ok(Decoded::Records(mut r)) =
            Decoder::new(DecodeOptions::default()).decode(doc.as_bytes())
        else {
            panic!("decodes")
        };
        assert_eq!(r.partitions.len(), 1);
        r.partitions.remove(0).batch
    }

    fn record(source: &str, name: &str, arn: Option<&str>, second: u32, id: &str) -> String {
        let identity = match arn {
            Some(a) => format!(r#","userIdentity":{{"type":"IAMUser","arn":"{a}"}}"#),
            None => String::new(),
        };
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:{second:02}Z","eventSource":"{source}","eventName":"{name}","eventID":"{id}"{identity}}}"#
        )
    }

    fn ids(batch: &RecordBatch) -> Vec<String> {
        let ids = batch.column_by_name("eventID").unwrap().as_string::<i32>();
        ids.iter().map(|v| v.unwrap().to_string()).collect()
    }

    /// The rows of a document of `records` (whose IDs are "a", "b", ... in the file's order)
    /// have the IDs `expected`, and every column moved with its row: each rebuilds to its
    /// record.
    fn assert_rows(records: &[String], expected: &[&str]) {
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        let b = batch(records);
        assert_eq!(ids(&b), expected);
        for (row, id) in ids(&b).iter().enumerate() {
            let original = &records[(id.as_bytes()[0] - b'a') as usize];
            assert_eq!(json(&rebuild_record(&b, row).unwrap()), json(original));
        }
    }

    #[test]
    fn rows_follow_source_name_principal_time_with_ties_in_the_files_order() {
        let s3 = "s3.amazonaws.com";
        let records = [
            record(s3, "GetObject", Some("arn:b"), 2, "a"),
            record("iam.amazonaws.com", "DeleteRole", Some("arn:a"), 9, "b"),
            record(s3, "GetObject", Some("arn:a"), 5, "c"),
            record(s3, "GetObject", None, 7, "d"),
            record(s3, "GetObject", Some("arn:a"), 1, "e"),
            record(s3, "GetObject", Some("arn:b"), 2, "f"),
            record(s3, "CopyObject", Some("arn:z"), 0, "g"),
        ];
        // iam before s3; CopyObject before GetObject; no principal first, then arn:a by time,
        // then arn:b, where equal keys ("a" and "f") keep the file's order
        assert_rows(&records, &["b", "g", "d", "e", "c", "a", "f"]);
    }

    #[test]
    fn keys_the_columns_hold_as_null_sort_first() {
        let s3 = "s3.amazonaws.com";
        let records = [
            record(s3, "GetObject", Some("arn:a"), 1, "a"),
            // a source that is not a string: null in the column, kept in `_extra`
            r#"{"eventSource":7,"eventName":"GetObject","eventTime":"2024-01-01T00:00:02Z","eventID":"b"}"#.to_string(),
            // an identity that is not an object has no ARN
            format!(
                r#"{{"eventSource":"{s3}","eventName":"GetObject","userIdentity":"arn:0","eventTime":"2024-01-01T00:00:03Z","eventID":"c"}}"#
            ),
            // a time not in CloudTrail's form is null (its date still partitions it), and sorts
            // before any time
            format!(
                r#"{{"eventSource":"{s3}","eventName":"GetObject","userIdentity":{{"arn":"arn:a"}},"eventTime":"2024-01-01 00:00:30","eventID":"d"}}"#
            ),
            // the first of repeated keys counts, as in the columns
            format!(
                r#"{{"eventSource":"{s3}","eventName":"AbortMultipartUpload","eventName":"ZZZ","eventTime":"2024-01-01T00:00:04Z","eventID":"e"}}"#
            ),
            // no name at all
            format!(r#"{{"eventSource":"{s3}","eventTime":"2024-01-01T00:00:05Z","eventID":"f"}}"#),
        ];
        assert_rows(&records, &["b", "f", "e", "c", "d", "a"]);
    }

    #[test]
    fn each_objects_rows_are_sorted_among_themselves() {
        let s3 = "s3.amazonaws.com";
        let mut d = Decoder::new(DecodeOptions::default());
        for names in [["PutObject", "GetObject"], ["HeadObject", "CopyObject"]] {
            let records: Vec<String> = names
                .iter()
                .map(|n| record(s3, n, None, 0, &n[..1]))
                .collect();
            let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
            d.add(doc.as_bytes()).unwrap();
        }
        let parts = d.take_rows().unwrap();
        assert_eq!(parts.len(), 1);
        // each object is still one run of rows, in the order the objects were added
        assert_eq!(ids(&parts[0].batch), ["G", "P", "C", "H"]);
        let runs: Vec<(u32, u32)> = parts[0]
            .objects
            .iter()
            .map(|o| (o.object, o.rows))
            .collect();
        assert_eq!(runs, [(0, 2), (1, 2)]);
    }
}
