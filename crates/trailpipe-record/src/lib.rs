//! # trailpipe-record
//!
//! The CloudTrail schema and the performance core of trailpipe: turning the bytes of one log
//! object into Arrow record batches, one per lake partition, and turning a row back into the
//! record's JSON.
//!
//! Pure CPU work, no I/O: callers hand in bytes (from S3, a file, or memory) and get batches.
//!
//! ```text
//! bytes ─► gunzip (flate2/zlib-rs, multi-member, size cap) ─► simd-json tape ─► typed Arrow
//!          builders per partition (account, region, UTC date of eventTime) ─► RecordBatch
//! ```
//!
//! * **Schema** ([`schema`], [`RECORD`]): CloudTrail's own field names. Scalars are typed
//!   (`eventTime` a UTC timestamp, `readOnly`/`managementEvent` booleans), `userIdentity`,
//!   `addendum`, `tlsDetails` structs, `resources` a list of structs; free-form fields
//!   (`requestParameters`, `responseElements`, ...) are verbatim JSON text.
//! * **Lossless**: a top-level key the schema does not know, and any value whose type does
//!   not fit its column (`readOnly: "true"`, a non-ISO `eventTime`, `userIdentity` as a string),
//!   is kept in the `_extra` column as JSON. [`rebuild_record`] gives back JSON equal to the
//!   original (keys that held `null` may come back absent).
//! * **Partitions** ([`PartitionKey`]): values are validated; bad ones go to `unknown`
//!   (account, region) or `1970-01-01` (date), so untrusted data never shapes a path.
//! * **Streaming**: an [`Inflater`] takes an object's bytes in pieces as they arrive, so a
//!   fetch holds only the JSON, not the compressed body too; [`Decoder::decode_json`] takes
//!   its output.
//! * **Speed**: no JSON value tree; the decoder walks simd-json's flat tape and appends
//!   straight into Arrow builders, reusing its buffers across objects (one [`Decoder`] per
//!   thread). Several small objects can share one set of builders ([`Decoder::add`], then
//!   [`Decoder::take_rows`]): each batch has a fixed cost however few rows it holds, and a
//!   delivery is typically a few hundred records. [`ObjectRows`] say whose rows are whose.
//! * **Rows in call order**: each object's records become rows sorted by `eventSource`,
//!   `eventName`, `userIdentity.arn` and `eventTime` (`order`), sorted on the tape before
//!   they are appended: rows of one API call by one principal side by side make the lake about
//!   8% smaller, and sorting tape positions copies nothing.

mod columns;
mod decode;
mod inflate;
mod json;
mod order;
mod partition;
mod rebuild;
mod schema;

pub use decode::{
    Added, Counts, DecodeError, DecodeOptions, Decoded, Decoder, ObjectRows, PartitionBatch,
    Records,
};
pub use inflate::{inflated_size_hint, Inflater};
pub use partition::{
    event_date, format_event_time, is_account_id, is_region, parse_event_time, Date, PartitionKey,
    Table, UNKNOWN_ACCOUNT, UNKNOWN_DATE, UNKNOWN_REGION,
};
pub use rebuild::{rebuild_record, RebuildError};
pub use schema::{column_index, schema, Field, Kind, EXTRA, RECORD};
