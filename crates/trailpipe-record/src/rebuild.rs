//! The inverse of decoding: a row back to its record's JSON. This is what makes the lake
//! lossless: typed columns, then `_extra` entries, which override typed values of the same key.

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch};
use simd_json::Node;

use crate::json::{value_len, write_str, write_value};
use crate::partition::format_event_time;
use crate::schema::{Field, Kind, EXTRA, RECORD};

/// Why a row could not be rebuilt (the batch does not follow the trailpipe schema).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// A column is missing or has another type.
    #[error("column {0} is missing or has an unexpected type")]
    Column(String),
    /// `_extra` does not hold a JSON object.
    #[error("_extra is not a JSON object: {0}")]
    Extra(String),
}

/// Rebuilds row `row` of `batch` as compact JSON text, equal as JSON to the original record
/// (keys that held `null` come back absent).
pub fn rebuild_record(batch: &RecordBatch, row: usize) -> Result<String, RebuildError> {
    let extra_col = batch
        .column_by_name(EXTRA)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| RebuildError::Column(EXTRA.into()))?;
    let mut extra_bytes = if extra_col.is_null(row) {
        Vec::new()
    } else {
        extra_col.value(row).as_bytes().to_vec()
    };
    let tape = if extra_bytes.is_empty() {
        None
    } else {
        Some(simd_json::to_tape(&mut extra_bytes).map_err(|e| RebuildError::Extra(e.to_string()))?)
    };
    let mut extra_entries: Vec<(&str, &[Node<'_>])> = Vec::new();
    if let Some(tape) = &tape {
        let nodes = &tape.0;
        let Some(&Node::Object { len, .. }) = nodes.first() else {
            return Err(RebuildError::Extra("not an object".into()));
        };
        let mut p = 1;
        for _ in 0..len {
            if let Node::String(k) = nodes[p] {
                extra_entries.push((k, &nodes[p + 1..]));
            }
            p += 1 + value_len(&nodes[p + 1..]);
        }
    }

    let mut out = String::with_capacity(1024);
    out.push('{');
    let mut first = true;
    for field in RECORD {
        if extra_entries.iter().any(|(k, _)| *k == field.name) {
            continue;
        }
        let column = batch
            .column_by_name(field.name)
            .ok_or_else(|| RebuildError::Column(field.name.into()))?;
        write_field(&mut out, &mut first, field, column.as_ref(), row)?;
    }
    for (key, value) in extra_entries {
        if !first {
            out.push(',');
        }
        first = false;
        write_str(&mut out, key);
        out.push(':');
        write_value(&mut out, value);
    }
    out.push('}');
    Ok(out)
}

fn write_field(
    out: &mut String,
    first: &mut bool,
    field: &Field,
    array: &dyn Array,
    row: usize,
) -> Result<(), RebuildError> {
    if array.is_null(row) {
        return Ok(());
    }
    if !*first {
        out.push(',');
    }
    *first = false;
    write_str(out, field.name);
    out.push(':');
    write_value_of(out, field, array, row)
}

fn write_value_of(
    out: &mut String,
    field: &Field,
    array: &dyn Array,
    row: usize,
) -> Result<(), RebuildError> {
    let bad = || RebuildError::Column(field.name.into());
    match field.kind {
        Kind::Str => write_str(
            out,
            array.as_string_opt::<i32>().ok_or_else(bad)?.value(row),
        ),
        Kind::Json => out.push_str(array.as_string_opt::<i32>().ok_or_else(bad)?.value(row)),
        Kind::Bool => {
            let v = array.as_boolean_opt().ok_or_else(bad)?.value(row);
            out.push_str(if v { "true" } else { "false" });
        }
        Kind::Time => {
            let ms = array
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or_else(bad)?
                .value(row);
            out.push('"');
            format_event_time(ms, out);
            out.push('"');
        }
        Kind::Struct(fields) => {
            let s = array.as_struct_opt().ok_or_else(bad)?;
            write_struct(out, fields, s, row)?;
        }
        Kind::List(fields) => {
            let list = array.as_list_opt::<i32>().ok_or_else(bad)?;
            let items = list.values().as_struct_opt().ok_or_else(bad)?;
            let offsets = list.value_offsets();
            out.push('[');
            for (n, i) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                if n > 0 {
                    out.push(',');
                }
                if items.is_null(i) {
                    out.push_str("null");
                } else {
                    write_struct(out, fields, items, i)?;
                }
            }
            out.push(']');
        }
    }
    Ok(())
}

fn write_struct(
    out: &mut String,
    fields: &[Field],
    array: &arrow_array::StructArray,
    row: usize,
) -> Result<(), RebuildError> {
    out.push('{');
    let mut first = true;
    for (i, field) in fields.iter().enumerate() {
        write_field(out, &mut first, field, array.column(i).as_ref(), row)?;
    }
    out.push('}');
    Ok(())
}
