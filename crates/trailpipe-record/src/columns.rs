//! Arrow column builders driven by the static schema. Values are appended straight from the
//! simd-json tape: no intermediate value tree; free-form JSON is written straight into the
//! column's value buffer.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{Array, ArrayRef, ListArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use simd_json::{Node, StaticNode};

use crate::json::{value_len, write_value};
use crate::partition::parse_event_time;
use crate::schema::{arrow_fields, Field, Kind};

pub(crate) enum Column {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
    Json(StringBuilder),
    Struct(StructColumns),
    List(ListColumn),
}

impl Column {
    fn new(kind: Kind, capacity: usize) -> Column {
        match kind {
            Kind::Str => Column::Str(StringBuilder::with_capacity(capacity, capacity * 16)),
            Kind::Json => Column::Json(StringBuilder::with_capacity(capacity, capacity * 64)),
            Kind::Bool => Column::Bool(BooleanBuilder::with_capacity(capacity)),
            Kind::Time => Column::Time(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            Kind::Struct(fields) => Column::Struct(StructColumns::new(fields, capacity)),
            Kind::List(fields) => Column::List(ListColumn {
                item: StructColumns::new(fields, capacity),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(capacity),
            }),
        }
    }

    /// Appends the value at `nodes[0]`. Returns false when the value's type does not fit the
    /// column (the column then holds null, or a best-effort struct, and the caller keeps the
    /// original in `_extra`).
    pub(crate) fn append(&mut self, nodes: &[Node<'_>]) -> bool {
        let is_null = matches!(nodes[0], Node::Static(StaticNode::Null));
        match self {
            Column::Str(b) => match nodes[0] {
                Node::String(s) => {
                    b.append_value(s);
                    true
                }
                _ => {
                    b.append_null();
                    is_null
                }
            },
            Column::Bool(b) => match nodes[0] {
                Node::Static(StaticNode::Bool(v)) => {
                    b.append_value(v);
                    true
                }
                _ => {
                    b.append_null();
                    is_null
                }
            },
            Column::Time(b) => match nodes[0] {
                Node::String(s) => match parse_event_time(s) {
                    Some(ms) => {
                        b.append_value(ms);
                        true
                    }
                    None => {
                        b.append_null();
                        false
                    }
                },
                _ => {
                    b.append_null();
                    is_null
                }
            },
            Column::Json(b) => {
                if is_null {
                    b.append_null();
                } else {
                    write_value(b, nodes);
                    b.append_value("");
                }
                true
            }
            Column::Struct(s) => match nodes[0] {
                Node::Object { .. } => s.append_object(nodes),
                _ => {
                    s.append_null();
                    is_null
                }
            },
            Column::List(l) => l.append(nodes),
        }
    }

    /// Appends `n` nulls at once (a struct defers them further, to its fields).
    fn append_nulls(&mut self, n: usize) {
        match self {
            Column::Str(b) | Column::Json(b) => b.append_nulls(n),
            Column::Bool(b) => b.append_nulls(n),
            Column::Time(b) => b.append_nulls(n),
            Column::Struct(s) => s.append_nulls(n),
            Column::List(l) => {
                let last = *l.offsets.last().unwrap_or(&0);
                l.offsets.extend(std::iter::repeat_n(last, n));
                l.nulls.append_n_nulls(n);
            }
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Str(b) | Column::Json(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Time(b) => Arc::new(b.finish()),
            Column::Struct(s) => Arc::new(s.finish()),
            Column::List(l) => {
                let item = l.item.finish();
                let field = Arc::new(arrow_schema::Field::new(
                    "item",
                    item.data_type().clone(),
                    true,
                ));
                let offsets = OffsetBuffer::new(std::mem::replace(&mut l.offsets, vec![0]).into());
                Arc::new(ListArray::new(
                    field,
                    offsets,
                    Arc::new(item),
                    l.nulls.finish(),
                ))
            }
        }
    }
}

pub(crate) struct ListColumn {
    item: StructColumns,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl ListColumn {
    fn append(&mut self, nodes: &[Node<'_>]) -> bool {
        let Node::Array { len, .. } = nodes[0] else {
            let is_null = matches!(nodes[0], Node::Static(StaticNode::Null));
            self.offsets.push(*self.offsets.last().unwrap_or(&0));
            self.nulls.append_null();
            return is_null;
        };
        let mut clean = true;
        let mut p = 1;
        for _ in 0..len {
            let item = &nodes[p..];
            match item[0] {
                Node::Object { .. } => clean &= self.item.append_object(item),
                _ => {
                    // a null item rebuilds as null; anything else is kept in `_extra`
                    clean &= matches!(item[0], Node::Static(StaticNode::Null));
                    self.item.append_null();
                }
            }
            p += value_len(item);
        }
        let last = *self.offsets.last().unwrap_or(&0);
        self.offsets.push(last + len as i32);
        self.nulls.append_non_null();
        clean
    }
}

/// Equality of short keys without a call into `memcmp`: field names are 2–30 bytes and most
/// comparisons are hits of the predicted key.
#[inline(always)]
fn key_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i + 8 <= a.len() {
        let x = u64::from_ne_bytes([
            a[i],
            a[i + 1],
            a[i + 2],
            a[i + 3],
            a[i + 4],
            a[i + 5],
            a[i + 6],
            a[i + 7],
        ]);
        let y = u64::from_ne_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ]);
        if x != y {
            return false;
        }
        i += 8;
    }
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The columns of one JSON object with known keys (a struct, or the record itself).
pub(crate) struct StructColumns {
    pub(crate) fields: &'static [Field],
    columns: Vec<Column>,
    /// Nulls owed to each column, appended in one call before its next value or at `finish`.
    /// A record has about 20 of the schema's 31 top-level fields and often no
    /// `userIdentity.sessionContext`; appended one at a time, most appends were single nulls,
    /// a dispatch each (and, for an absent struct, one per leaf below it).
    pending: Vec<usize>,
    nulls: NullBufferBuilder,
    /// Index of the field expected next: CloudTrail writes keys in a stable order, so the
    /// lookup usually hits on the first comparison.
    next: usize,
}

impl StructColumns {
    pub(crate) fn new(fields: &'static [Field], capacity: usize) -> StructColumns {
        StructColumns {
            fields,
            columns: fields
                .iter()
                .map(|f| Column::new(f.kind, capacity))
                .collect(),
            pending: vec![0; fields.len()],
            nulls: NullBufferBuilder::new(capacity),
            next: 0,
        }
    }

    /// The field index of `key`, trying the predicted position first.
    #[inline]
    pub(crate) fn lookup(&mut self, key: &str) -> Option<usize> {
        let n = self.fields.len();
        if self.next < n && key_eq(self.fields[self.next].name, key) {
            let i = self.next;
            self.next = i + 1;
            return Some(i);
        }
        let i = self.fields.iter().position(|f| key_eq(f.name, key))?;
        self.next = i + 1;
        Some(i)
    }

    /// Starts the next object's key prediction from its first field.
    pub(crate) fn reset_prediction(&mut self) {
        self.next = 0;
    }

    /// Appends the object at `nodes[0]` as one struct row. Returns false if a key was unknown,
    /// repeated, or a value did not fit its type (the row then holds what did fit).
    pub(crate) fn append_object(&mut self, nodes: &[Node<'_>]) -> bool {
        let Node::Object { len, .. } = nodes[0] else {
            self.append_null();
            return false;
        };
        let mut seen: u64 = 0;
        let mut clean = true;
        let mut p = 1;
        self.next = 0;
        for _ in 0..len {
            let key = match nodes[p] {
                Node::String(k) => k,
                _ => "",
            };
            let value = &nodes[p + 1..];
            match self.lookup(key) {
                Some(i) if seen & (1 << i) == 0 => {
                    seen |= 1 << i;
                    clean &= self.column(i).append(value);
                }
                _ => clean = false,
            }
            p += 1 + value_len(value);
        }
        self.fill_unseen(seen);
        self.nulls.append_non_null();
        clean
    }

    /// Column `i`, with the nulls it is owed appended, ready for its next value.
    #[inline]
    pub(crate) fn column(&mut self, i: usize) -> &mut Column {
        let n = std::mem::take(&mut self.pending[i]);
        if n > 0 {
            self.columns[i].append_nulls(n);
        }
        &mut self.columns[i]
    }

    /// Counts a null for every column whose bit is not in `seen`.
    pub(crate) fn fill_unseen(&mut self, seen: u64) {
        let all = if self.columns.len() == 64 {
            u64::MAX
        } else {
            (1u64 << self.columns.len()) - 1
        };
        let mut missing = !seen & all;
        while missing != 0 {
            let i = missing.trailing_zeros() as usize;
            self.pending[i] += 1;
            missing &= missing - 1;
        }
    }

    /// A null struct row: the fields are owed a null each, appended later.
    pub(crate) fn append_null(&mut self) {
        self.append_nulls(1);
    }

    fn append_nulls(&mut self, n: usize) {
        for p in &mut self.pending {
            *p += n;
        }
        self.nulls.append_n_nulls(n);
    }

    pub(crate) fn finish_columns(&mut self) -> Vec<ArrayRef> {
        (0..self.columns.len())
            .map(|i| self.column(i).finish())
            .collect()
    }

    fn finish(&mut self) -> StructArray {
        let arrays = self.finish_columns();
        StructArray::new(arrow_fields(self.fields), arrays, self.nulls.finish())
    }
}
