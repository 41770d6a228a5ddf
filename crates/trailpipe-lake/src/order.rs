//! The order rows are written in: within each batch (a decode job's rows of one partition:
//! consecutive deliveries), by `eventSource`, `eventName`, `userIdentity.arn`, then `eventTime`,
//! nulls first, ties in arrival order.
//!
//! Why: the rows of one API call by one principal look alike (the same `requestParameters`
//! keys, identity and resources), so side by side they compress better: the benchmark's 1 GB
//! lake is 9.7% smaller, and DuckDB reads 6-28% less for the five benchmark questions, for
//! 6-10% more CPU (docs/performance.md, "Rows in call order"). Why within a batch and not the
//! whole row group: a batch's arrays are a few MB, so the copy into the new order mostly hits
//! the cache (the profile puts it and the sort at 6-7% of the CPU); gathering each value from
//! all of a row group's batches missed the cache every time (12%), for a lake 3% smaller still.
//!
//! Pure CPU. Keys are ranked once per column from their distinct values, so the sort compares
//! integers, not strings.

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, PrimitiveArray, StringArray, StructArray, UInt32Array};

/// The rows of a batch (its columns, in the lake schema's order) in the order they are to be
/// written, as indices for arrow's `take`; `None` if that is the order they are in (or the
/// columns are not the lake's).
pub(crate) fn rows(columns: &[ArrayRef]) -> Option<UInt32Array> {
    let keys = Keys::of(columns)?;
    let source = ranks(keys.source, |_| true);
    let name = ranks(keys.name, |_| true);
    // an ARN under a null `userIdentity` is no value
    let arn = ranks(keys.arn, |r| keys.identity.is_valid(r));
    let mut rows: Vec<(u32, u32, u32, Option<i64>, u32)> = (0..keys.time.len())
        .map(|r| {
            let t = keys.time.is_valid(r).then(|| keys.time.value(r));
            // a batch is a decode job's rows: far fewer than 2^32
            (source[r], name[r], arn[r], t, r as u32)
        })
        .collect();
    if rows.is_sorted() {
        return None;
    }
    // the row number last: equal keys keep arrival order, so the unstable sort is deterministic
    rows.sort_unstable();
    Some(UInt32Array::from_iter_values(rows.into_iter().map(|k| k.4)))
}

/// A batch's sort key columns; `None` if the columns are not the lake schema's.
struct Keys<'a> {
    source: &'a StringArray,
    name: &'a StringArray,
    identity: &'a StructArray,
    arn: &'a StringArray,
    time: &'a PrimitiveArray<TimestampMillisecondType>,
}

impl<'a> Keys<'a> {
    fn of(columns: &'a [ArrayRef]) -> Option<Keys<'a>> {
        let column = |name| columns.get(trailpipe_record::column_index(name)?);
        let identity = column("userIdentity")?.as_struct_opt()?;
        Some(Keys {
            source: column("eventSource")?.as_string_opt()?,
            name: column("eventName")?.as_string_opt()?,
            arn: identity.column_by_name("arn")?.as_string_opt()?,
            identity,
            time: column("eventTime")?.as_primitive_opt()?,
        })
    }
}

/// Each row's rank among the distinct values of a string column: 0 for null (or where `valid`
/// says there is no value), then 1.. in byte order.
fn ranks(array: &StringArray, valid: impl Fn(usize) -> bool) -> Vec<u32> {
    // foldhash: SipHash was a third of the ordering's cost
    let mut ids: foldhash::HashMap<&str, u32> = Default::default();
    let mut distinct: Vec<&str> = Vec::new();
    let ids_of_rows: Vec<u32> = (0..array.len())
        .map(|r| {
            if array.is_null(r) || !valid(r) {
                return 0;
            }
            let v = array.value(r);
            *ids.entry(v).or_insert_with(|| {
                distinct.push(v);
                distinct.len() as u32
            })
        })
        .collect();
    // ids are 1.. in first-seen order: rank them in byte order
    let mut by_value: Vec<u32> = (1..=distinct.len() as u32).collect();
    by_value.sort_unstable_by_key(|id| distinct[*id as usize - 1]);
    let mut rank = vec![0u32; distinct.len() + 1];
    for (i, id) in by_value.into_iter().enumerate() {
        rank[id as usize] = i as u32 + 1;
    }
    ids_of_rows
        .into_iter()
        .map(|id| rank[id as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::RecordBatch;

    fn batch(records: &[String]) -> RecordBatch {
        let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        crate::encode::tests::batch_of(doc.as_bytes())
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
        let c = trailpipe_record::column_index("eventID").unwrap();
        let ids = batch.column(c).as_string::<i32>();
        (0..ids.len()).map(|r| ids.value(r).to_string()).collect()
    }

    #[test]
    fn rows_follow_source_name_principal_time_with_ties_in_arrival_order() {
        let s3 = "s3.amazonaws.com";
        let b = batch(&[
            record(s3, "GetObject", Some("arn:b"), 2, "a"),
            record("iam.amazonaws.com", "DeleteRole", Some("arn:a"), 9, "b"),
            record(s3, "GetObject", Some("arn:a"), 5, "c"),
            record(s3, "GetObject", None, 7, "d"),
            record(s3, "GetObject", Some("arn:a"), 1, "e"),
            record(s3, "GetObject", Some("arn:b"), 2, "f"),
            record(s3, "CopyObject", Some("arn:z"), 0, "g"),
        ]);
        let order = rows(b.columns()).expect("not in order");
        let sorted: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &order, None).unwrap())
            .collect();
        let sorted = RecordBatch::try_new(b.schema(), sorted).unwrap();
        // iam before s3; CopyObject before GetObject; no principal first, then arn:a by time,
        // then arn:b, where equal keys ("a" and "f") keep their arrival order
        assert_eq!(ids(&sorted), ["b", "g", "d", "e", "c", "a", "f"]);
        // every column moved with its row: rebuilding gives the records, reordered
        for (r, id) in ids(&sorted).iter().enumerate() {
            let original = ids(&b).iter().position(|x| x == id).unwrap();
            assert_eq!(
                trailpipe_record::rebuild_record(&sorted, r).unwrap(),
                trailpipe_record::rebuild_record(&b, original).unwrap(),
            );
        }
        assert_eq!(rows(sorted.columns()), None, "sorted rows stay");
    }

    #[test]
    fn columns_of_another_shape_are_left_alone() {
        let a: ArrayRef = std::sync::Arc::new(StringArray::from(vec!["z", "a"]));
        assert_eq!(rows(&[a.clone(), a]), None);
        assert_eq!(rows(&[]), None);
    }

    #[test]
    fn ranks_are_byte_order_with_nulls_first() {
        let a = StringArray::from(vec![Some("m"), None, Some("b"), Some("z"), Some("m")]);
        assert_eq!(ranks(&a, |_| true), [2, 0, 1, 3, 2]);
        assert_eq!(ranks(&a, |r| r != 3), [2, 0, 1, 0, 2]);
    }
}
