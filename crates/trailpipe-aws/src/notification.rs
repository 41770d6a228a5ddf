//! Queue message bodies that announce new CloudTrail objects, and CloudTrail's S3 key layout.
//!
//! A queue fed by CloudTrail deliveries can carry any of these bodies (see
//! `cloudtrail-format.md` §4), and which one depends only on how the operator wired
//! the bucket, so [`parse_notification`] accepts all of them instead of needing a setting:
//!
//! * an S3 event notification (`{"Records":[…]}`) or S3's `s3:TestEvent`;
//! * an SNS envelope (`{"Type":"Notification","Message":"<JSON string>",…}`) whose
//!   `Message` is one of the other formats, or an SNS subscription confirmation;
//! * CloudTrail's own SNS message (`{"s3Bucket":…,"s3ObjectKey":[…]}`), bare when the
//!   subscription uses raw message delivery;
//! * an EventBridge `Object Created` event.
//!
//! Everything here is pure: no I/O, no AWS calls.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

/// One S3 object a notification names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The object key, already decoded: ready for GetObject.
    pub key: String,
    /// Object size in bytes when the notification gives it (CloudTrail's SNS message does not).
    pub size: Option<u64>,
    /// Event time (or, failing that, the SNS notification time) as RFC 3339 text, when given.
    pub event_time: Option<String>,
}

/// What a queue message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// s3:TestEvent (S3 sends it when a notification is configured), also SNS
    /// SubscriptionConfirmation/UnsubscribeConfirmation: delete with a log line.
    Test { what: String },
    /// Objects to process (may be several: CloudTrail's SNS message lists several keys;
    /// an S3 event may hold several Records). May be empty when every event in the
    /// message is one we ignore (e.g. ObjectRemoved): delete the message then.
    Objects(Vec<ObjectRef>),
}

/// Why a message body could not be read; the text is meant for a log line about a
/// message that is about to be left on (or dead-lettered from) the queue.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("notification body is empty")]
    Empty,
    #[error("notification body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("notification body is JSON {found}, expected a JSON object")]
    NotAnObject { found: &'static str },
    #[error(
        "JSON object in no known notification format (S3 event, s3:TestEvent, SNS envelope, \
         CloudTrail SNS message, EventBridge event); top-level keys: {}",
        key_list(keys)
    )]
    UnknownFormat { keys: Vec<String> },
    #[error("{context}: missing field `{field}`")]
    MissingField { context: String, field: String },
    #[error("{context}: field `{field}` should be {expected}, found {found}")]
    WrongType {
        context: String,
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{context}: key {key:?} is not valid UTF-8 once URL-decoded")]
    KeyNotUtf8 { context: String, key: String },
    #[error(
        "Records[{index}] has eventSource {found:?}, not \"aws:s3\": not an S3 event \
         notification (a CloudTrail log file sent to the queue by mistake?)"
    )]
    NotS3Record { index: usize, found: String },
    #[error("EventBridge event from source {0:?}, expected \"aws.s3\"")]
    NotS3EventBridge(String),
    #[error("SNS envelope has unknown Type {0:?}")]
    UnknownSnsType(String),
    #[error("SNS Message should be a JSON string, found {found}")]
    SnsMessageNotString { found: &'static str },
    #[error("SNS Message is not JSON: {0}")]
    SnsMessageNotJson(#[source] serde_json::Error),
    #[error("SNS envelope nested inside another SNS Message")]
    NestedSns,
    #[error("in SNS Message: {0}")]
    InSnsMessage(#[source] Box<NotificationError>),
}

/// At most this many top-level keys are named in [`NotificationError::UnknownFormat`],
/// so a huge stray object cannot flood the log.
const MAX_KEYS_SHOWN: usize = 20;

fn key_list(keys: &[String]) -> String {
    if keys.is_empty() {
        return "(none)".to_owned();
    }
    let mut out = keys
        .iter()
        .take(MAX_KEYS_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > MAX_KEYS_SHOWN {
        out.push_str(&format!(", … ({} more)", keys.len() - MAX_KEYS_SHOWN));
    }
    out
}

/// Parse one queue message body (surrounding whitespace allowed).
pub fn parse_notification(body: &str) -> Result<Notification, NotificationError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(NotificationError::Empty);
    }
    let value: Value = serde_json::from_str(body).map_err(NotificationError::NotJson)?;
    parse_value(&value, false)
}

/// Dispatch on the shape of a parsed body; `in_sns` is true for an SNS `Message`,
/// where a second envelope would be a wiring mistake rather than something to unwrap.
fn parse_value(value: &Value, in_sns: bool) -> Result<Notification, NotificationError> {
    let Some(obj) = value.as_object() else {
        return Err(NotificationError::NotAnObject { found: kind(value) });
    };
    if obj.contains_key("Records") {
        parse_s3_event(value)
    } else if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        let bucket = obj.get("Bucket").and_then(Value::as_str).unwrap_or("?");
        Ok(Notification::Test {
            what: format!("s3:TestEvent for bucket {bucket}"),
        })
    } else if is_sns_envelope(obj) {
        if in_sns {
            return Err(NotificationError::NestedSns);
        }
        parse_sns(value)
    } else if obj.contains_key("s3ObjectKey") || obj.contains_key("s3Bucket") {
        parse_cloudtrail_sns(value)
    } else if obj.contains_key("detail-type") {
        parse_eventbridge(value)
    } else {
        // Sorted so the message does not depend on serde_json's map-order feature.
        let mut keys: Vec<String> = obj.keys().cloned().collect();
        keys.sort();
        Err(NotificationError::UnknownFormat { keys })
    }
}

/// An SNS envelope always carries `Type` plus `TopicArn` and (for the types we handle) `Message`.
fn is_sns_envelope(obj: &Map<String, Value>) -> bool {
    obj.get("Type").is_some_and(Value::is_string)
        && (obj.contains_key("Message") || obj.contains_key("TopicArn"))
}

/// Format (a): S3 event notification. Only `ObjectCreated:*` records name work.
fn parse_s3_event(value: &Value) -> Result<Notification, NotificationError> {
    let records = match value.get("Records") {
        Some(Value::Array(records)) => records,
        Some(other) => {
            return Err(NotificationError::WrongType {
                context: "S3 event".to_owned(),
                field: "Records".to_owned(),
                expected: "an array",
                found: kind(other),
            })
        }
        None => missing("S3 event", "Records")?,
    };
    let mut objects = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let context = format!("S3 event Records[{index}]");
        if !record.is_object() {
            return Err(NotificationError::WrongType {
                context,
                field: "Records[]".to_owned(),
                expected: "an object",
                found: kind(record),
            });
        }
        // A CloudTrail log file also has top-level "Records"; its records name AWS
        // services here, so refuse them loudly instead of silently ignoring them.
        if let Some(source) = record.get("eventSource") {
            if source.as_str() != Some("aws:s3") {
                return Err(NotificationError::NotS3Record {
                    index,
                    found: source
                        .as_str()
                        .map_or_else(|| source.to_string(), str::to_owned),
                });
            }
        }
        let event_name = req_str(record, &["eventName"], &context)?;
        if !event_name.starts_with("ObjectCreated:") {
            continue;
        }
        let bucket = req_str(record, &["s3", "bucket", "name"], &context)?;
        let raw_key = req_str(record, &["s3", "object", "key"], &context)?;
        objects.push(ObjectRef {
            bucket: bucket.to_owned(),
            key: decode_s3_event_key(raw_key, &context)?,
            size: opt_u64(record, &["s3", "object", "size"], &context)?,
            event_time: opt_string(record, &["eventTime"]),
        });
    }
    Ok(Notification::Objects(objects))
}

/// Format (b): SNS envelope. `Message` is itself a JSON document in one of the other formats.
fn parse_sns(value: &Value) -> Result<Notification, NotificationError> {
    let context = "SNS envelope";
    let ty = req_str(value, &["Type"], context)?;
    match ty {
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            let topic = value.get("TopicArn").and_then(Value::as_str).unwrap_or("?");
            Ok(Notification::Test {
                what: format!("SNS {ty} for topic {topic}"),
            })
        }
        "Notification" => {
            let message = match value.get("Message") {
                Some(Value::String(message)) => message,
                Some(other) => {
                    return Err(NotificationError::SnsMessageNotString { found: kind(other) })
                }
                None => {
                    return Err(NotificationError::MissingField {
                        context: context.to_owned(),
                        field: "Message".to_owned(),
                    })
                }
            };
            let inner: Value = serde_json::from_str(message.trim())
                .map_err(NotificationError::SnsMessageNotJson)?;
            let mut parsed = parse_value(&inner, true).map_err(|e| match e {
                NotificationError::NestedSns => e,
                e => NotificationError::InSnsMessage(Box::new(e)),
            })?;
            // CloudTrail's message has no time of its own; the SNS publish time is the
            // next best thing and costs nothing to keep.
            if let (Notification::Objects(objects), Some(ts)) =
                (&mut parsed, value.get("Timestamp").and_then(Value::as_str))
            {
                for object in objects.iter_mut().filter(|o| o.event_time.is_none()) {
                    object.event_time = Some(ts.to_owned());
                }
            }
            Ok(parsed)
        }
        other => Err(NotificationError::UnknownSnsType(other.to_owned())),
    }
}

/// CloudTrail's own SNS message. Its keys are plain text, not URL-encoded, so they are
/// taken verbatim. A lone string `s3ObjectKey` is accepted too, to be lenient.
fn parse_cloudtrail_sns(value: &Value) -> Result<Notification, NotificationError> {
    let context = "CloudTrail SNS message";
    let bucket = req_str(value, &["s3Bucket"], context)?;
    let keys: Vec<&str> = match value.get("s3ObjectKey") {
        Some(Value::String(key)) => vec![key.as_str()],
        Some(Value::Array(keys)) => keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                key.as_str().ok_or_else(|| NotificationError::WrongType {
                    context: context.to_owned(),
                    field: format!("s3ObjectKey[{i}]"),
                    expected: "a string",
                    found: kind(key),
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(NotificationError::WrongType {
                context: context.to_owned(),
                field: "s3ObjectKey".to_owned(),
                expected: "an array of strings",
                found: kind(other),
            })
        }
        None => missing(context, "s3ObjectKey")?,
    };
    Ok(Notification::Objects(
        keys.into_iter()
            .map(|key| ObjectRef {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                size: None,
                event_time: None,
            })
            .collect(),
    ))
}

/// Format (c): EventBridge. The key is taken verbatim: unlike S3 event notifications,
/// EventBridge delivers keys as plain text (a key `a b+c` arrives as `a b+c`), so
/// treating `+` as a space here would fetch the wrong object.
fn parse_eventbridge(value: &Value) -> Result<Notification, NotificationError> {
    let context = "EventBridge event";
    let source = req_str(value, &["source"], context)?;
    if source != "aws.s3" {
        return Err(NotificationError::NotS3EventBridge(source.to_owned()));
    }
    if req_str(value, &["detail-type"], context)? != "Object Created" {
        return Ok(Notification::Objects(Vec::new()));
    }
    let bucket = req_str(value, &["detail", "bucket", "name"], context)?;
    let key = req_str(value, &["detail", "object", "key"], context)?;
    Ok(Notification::Objects(vec![ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: opt_u64(value, &["detail", "object", "size"], context)?,
        event_time: opt_string(value, &["time"]),
    }]))
}

/// S3 event keys are form-URL-encoded: `+` is a space and `%2B` a plus, so `+` must be
/// turned into a space before percent-decoding (the other order would turn `%2B` into a space).
fn decode_s3_event_key(raw: &str, context: &str) -> Result<String, NotificationError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| NotificationError::KeyNotUtf8 {
            context: context.to_owned(),
            key: raw.to_owned(),
        })
}

/// Bytes S3 leaves as they are in event-notification keys: letters, digits, `/` and the
/// form-encoding safe set `-_.*`. Everything else becomes `%XX` (space is handled as `+`).
const S3_KEY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*')
    .remove(b'/');

/// Form-encode a key the way S3 does in event notifications, so the result decodes
/// back exactly through [`parse_notification`].
fn encode_s3_event_key(key: &str) -> String {
    key.split(' ')
        .map(|part| utf8_percent_encode(part, S3_KEY_SAFE).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// An S3-event-format message body for one object (used by `backfill --enqueue` to fan
/// work out to `run` daemons); it round-trips through [`parse_notification`]. Using S3's
/// own format means the daemons need no special message type for backfill work.
pub fn s3_event_body(bucket: &str, key: &str, size: u64) -> String {
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "trailpipe-backfill",
                "bucket": { "name": bucket, "arn": format!("arn:aws:s3:::{bucket}") },
                "object": { "key": encode_s3_event_key(key), "size": size },
            },
        }]
    })
    .to_string()
}

/// What CloudTrail writes under a key, judged from the key alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `CloudTrail/`: management and data events.
    Log,
    /// `CloudTrail-Insight/`.
    Insight,
    /// `CloudTrail-Digest/`: integrity digests, no `Records`.
    Digest,
    /// `CloudTrail-NetworkActivity/`.
    NetworkActivity,
    /// `CloudTrail-Aggregated/`.
    Aggregated,
    /// Anything else: folder markers, test files, keys outside the layout.
    Other,
}

/// Classify an S3 key by CloudTrail's layout
/// `[prefix/]AWSLogs/[o-<org>/]<account>/<kind>/<region>/YYYY/MM/DD/<file>` (…/CloudTrail/…,
/// /CloudTrail-Insight/, /CloudTrail-Digest/, /CloudTrail-NetworkActivity/,
/// /CloudTrail-Aggregated/); keys must end with .json.gz (or .json) to be
/// Log/Insight/...; anything else (e.g. "AWSLogs/123/CloudTrail/" folder keys,
/// "_ct_test.txt", a CloudTrail-Digest that is not a json.gz) → Other.
///
/// The kind folder is looked for right after `AWSLogs/[o-…/]<account>/` rather than
/// anywhere in the key, because a user prefix may itself contain a folder named
/// `CloudTrail` (e.g. `CloudTrail/AWSLogs/…/CloudTrail-Digest/…`).
pub fn classify_key(key: &str) -> KeyKind {
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len() - 1;
    let file = segments[last];
    let is_json = [".json.gz", ".json"]
        .iter()
        .any(|ext| file.len() > ext.len() && file.ends_with(ext));
    if !is_json {
        return KeyKind::Other;
    }
    for (i, _) in segments
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == "AWSLogs")
    {
        let mut at = i + 1;
        if segments.get(at).is_some_and(|s| s.starts_with("o-")) {
            at += 1;
        }
        // `at` is the account folder; the kind folder follows, and the file must lie below it.
        let kind_at = at + 1;
        if kind_at >= last || segments[at].is_empty() {
            continue;
        }
        let kind = match segments[kind_at] {
            "CloudTrail" => KeyKind::Log,
            "CloudTrail-Insight" => KeyKind::Insight,
            "CloudTrail-Digest" => KeyKind::Digest,
            "CloudTrail-NetworkActivity" => KeyKind::NetworkActivity,
            "CloudTrail-Aggregated" => KeyKind::Aggregated,
            _ => continue,
        };
        return kind;
    }
    KeyKind::Other
}

/// A required field is absent. (For `Records` the dispatcher has already checked, but an
/// error is cheaper to reason about than a panic on input data.)
fn missing<T>(context: &str, field: &str) -> Result<T, NotificationError> {
    Err(NotificationError::MissingField {
        context: context.to_owned(),
        field: field.to_owned(),
    })
}

fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, k| v.get(*k))
}

/// A required string field at `path`.
fn req_str<'a>(
    value: &'a Value,
    path: &[&str],
    context: &str,
) -> Result<&'a str, NotificationError> {
    match get(value, path) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(NotificationError::MissingField {
            context: context.to_owned(),
            field: path.join("."),
        }),
        Some(other) => Err(NotificationError::WrongType {
            context: context.to_owned(),
            field: path.join("."),
            expected: "a string",
            found: kind(other),
        }),
    }
}

/// An optional size: absent or null is `None`, anything but a non-negative integer is an error.
fn opt_u64(value: &Value, path: &[&str], context: &str) -> Result<Option<u64>, NotificationError> {
    match get(value, path) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| NotificationError::WrongType {
                context: context.to_owned(),
                field: path.join("."),
                expected: "a non-negative integer",
                found: kind(v),
            }),
    }
}

/// Informational text (times): a wrong type is not worth rejecting the message over.
fn opt_string(value: &Value, path: &[&str]) -> Option<String> {
    get(value, path).and_then(Value::as_str).map(str::to_owned)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz";
    const KEY2: &str = "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/01/111122223333_CloudTrail_eu-west-1_20240101T0010Z_ZYXWvuts98765432.json.gz";

    fn objects(n: Notification) -> Vec<ObjectRef> {
        match n {
            Notification::Objects(o) => o,
            other => panic!("expected Objects, got {other:?}"),
        }
    }

    fn err(body: &str) -> NotificationError {
        match parse_notification(body) {
            Err(e) => e,
            Ok(n) => panic!("expected an error, got {n:?}"),
        }
    }

    /// A real-looking S3 → SQS body with one ObjectCreated:Put record.
    const S3_PUT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:05:12.345Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:AROAEXAMPLEID:regionalDeliverySession"},"requestParameters":{"sourceIPAddress":"10.0.0.1"},"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},"s3":{"s3SchemaVersion":"1.0","configurationId":"trailpipe-cloudtrail","bucket":{"name":"my-trail-bucket","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::my-trail-bucket"},"object":{"key":"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz","size":1234,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0065920F3C1E8A2B45"}}}]}"#;

    #[test]
    fn s3_event_single_put() {
        let got = objects(parse_notification(S3_PUT).expect("parses"));
        assert_eq!(
            got,
            vec![ObjectRef {
                bucket: "my-trail-bucket".into(),
                key: KEY.into(),
                size: Some(1234),
                event_time: Some("2024-01-01T00:05:12.345Z".into()),
            }]
        );
    }

    #[test]
    fn s3_event_wrapped_in_whitespace() {
        let body = format!("\n  {S3_PUT}\r\n\t ");
        assert_eq!(objects(parse_notification(&body).expect("parses")).len(), 1);
    }

    #[test]
    fn s3_event_several_records_and_removed_ignored() {
        let body = r#"{
  "Records": [
    {
      "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
      "eventTime": "2024-01-01T00:05:12.345Z", "eventName": "ObjectCreated:Put",
      "userIdentity": {"principalId": "AWS:AROAEXAMPLEID:regionalDeliverySession"},
      "requestParameters": {"sourceIPAddress": "10.0.0.1"},
      "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S"},
      "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailpipe-cloudtrail",
             "bucket": {"name": "my-trail-bucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::my-trail-bucket"},
             "object": {"key": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz", "size": 1234, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0065920F3C1E8A2B45"}}
    },
    {
      "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
      "eventTime": "2024-01-01T00:06:00.000Z", "eventName": "ObjectRemoved:Delete",
      "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
      "requestParameters": {"sourceIPAddress": "10.0.0.2"},
      "responseElements": {"x-amz-request-id": "D3D13FE58DE4C811", "x-amz-id-2": "GMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S"},
      "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailpipe-cloudtrail",
             "bucket": {"name": "my-trail-bucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::my-trail-bucket"},
             "object": {"key": "AWSLogs/111122223333/CloudTrail/us-east-1/2023/12/01/old.json.gz", "sequencer": "0065920F3C1E8A2B46"}}
    },
    {
      "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
      "eventTime": "2024-01-01T00:10:03.001Z", "eventName": "ObjectCreated:CompleteMultipartUpload",
      "userIdentity": {"principalId": "AWS:AROAEXAMPLEID:regionalDeliverySession"},
      "requestParameters": {"sourceIPAddress": "10.0.0.3"},
      "responseElements": {"x-amz-request-id": "E3D13FE58DE4C812", "x-amz-id-2": "HMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S"},
      "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailpipe-cloudtrail",
             "bucket": {"name": "other-bucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::other-bucket"},
             "object": {"key": "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/01/111122223333_CloudTrail_eu-west-1_20240101T0010Z_ZYXWvuts98765432.json.gz", "size": 52428800, "eTag": "9b2cf535f27731c974343645a3985328-7", "sequencer": "0065920F3C1E8A2B47"}}
    }
  ]
}"#;
        let got = objects(parse_notification(body).expect("parses"));
        assert_eq!(
            got,
            vec![
                ObjectRef {
                    bucket: "my-trail-bucket".into(),
                    key: KEY.into(),
                    size: Some(1234),
                    event_time: Some("2024-01-01T00:05:12.345Z".into()),
                },
                ObjectRef {
                    bucket: "other-bucket".into(),
                    key: KEY2.into(),
                    size: Some(52_428_800),
                    event_time: Some("2024-01-01T00:10:03.001Z".into()),
                },
            ]
        );
    }

    #[test]
    fn s3_event_only_removed_gives_no_objects() {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:06:00.000Z","eventName":"ObjectRemoved:DeleteMarkerCreated","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},"requestParameters":{"sourceIPAddress":"10.0.0.2"},"responseElements":{"x-amz-request-id":"D3D13FE58DE4C811","x-amz-id-2":"GMyUVURIY8"},"s3":{"s3SchemaVersion":"1.0","configurationId":"trailpipe-cloudtrail","bucket":{"name":"my-trail-bucket","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::my-trail-bucket"},"object":{"key":"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json.gz","versionId":"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY","sequencer":"0065920F3C1E8A2B46"}}}]}"#;
        assert_eq!(
            parse_notification(body).expect("parses"),
            Notification::Objects(vec![])
        );
    }

    #[test]
    fn s3_event_empty_records() {
        assert_eq!(
            parse_notification(r#"{"Records":[]}"#).expect("parses"),
            Notification::Objects(vec![])
        );
    }

    #[test]
    fn s3_event_key_decoding_plus_percent_space() {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:05:12.345Z","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","configurationId":"cfg","bucket":{"name":"b","arn":"arn:aws:s3:::b"},"object":{"key":"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a+b%2Bc%20d.json.gz","size":10,"eTag":"e","sequencer":"s"}}}]}"#;
        let got = objects(parse_notification(body).expect("parses"));
        assert_eq!(
            got[0].key,
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a b+c d.json.gz"
        );
    }

    #[test]
    fn s3_event_key_decoding_unicode_and_percent() {
        // "my prefix/日志/100%/x=1.json.gz" as S3 encodes it.
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:05:12.345Z","eventName":"ObjectCreated:Copy","s3":{"s3SchemaVersion":"1.0","configurationId":"cfg","bucket":{"name":"b","arn":"arn:aws:s3:::b"},"object":{"key":"my+prefix/%E6%97%A5%E5%BF%97/100%25/x%3D1.json.gz","size":10,"eTag":"e","sequencer":"s"}}}]}"#;
        let got = objects(parse_notification(body).expect("parses"));
        assert_eq!(got[0].key, "my prefix/日志/100%/x=1.json.gz");
    }

    #[test]
    fn s3_event_key_invalid_utf8_is_error() {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/bad%FF%FE.json.gz","size":1}}}]}"#;
        let e = err(body);
        assert!(matches!(e, NotificationError::KeyNotUtf8 { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("AWSLogs/bad%FF%FE.json.gz") && msg.contains("UTF-8"),
            "{msg}"
        );
    }

    #[test]
    fn s3_event_record_without_key_is_error() {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:05:12.345Z","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"b","arn":"arn:aws:s3:::b"},"object":{"size":1,"eTag":"e"}}}]}"#;
        let e = err(body);
        assert!(matches!(e, NotificationError::MissingField { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("s3.object.key") && msg.contains("Records[0]"),
            "{msg}"
        );
    }

    #[test]
    fn s3_event_bad_size_and_bad_records_are_errors() {
        let body = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k.json.gz","size":"12"}}}]}"#;
        let msg = err(body).to_string();
        assert!(
            msg.contains("s3.object.size") && msg.contains("a string"),
            "{msg}"
        );

        let msg = err(r#"{"Records":{"eventName":"ObjectCreated:Put"}}"#).to_string();
        assert!(msg.contains("Records") && msg.contains("an array"), "{msg}");
    }

    #[test]
    fn cloudtrail_log_file_body_is_rejected_not_ignored() {
        // A CloudTrail log file (not a notification) pushed onto the queue by mistake.
        let body = r#"{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","accountId":"111122223333"},"eventTime":"2024-01-01T00:00:01Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","eventID":"11111111-2222-3333-4444-555555555555"}]}"#;
        let e = err(body);
        assert!(
            matches!(e, NotificationError::NotS3Record { index: 0, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("s3.amazonaws.com"), "{e}");
    }

    const S3_TEST_EVENT: &str = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.123Z","Bucket":"my-trail-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;

    #[test]
    fn s3_test_event() {
        match parse_notification(S3_TEST_EVENT).expect("parses") {
            Notification::Test { what } => {
                assert!(what.contains("s3:TestEvent") && what.contains("my-trail-bucket"))
            }
            other => panic!("expected Test, got {other:?}"),
        }
    }

    /// Wrap `message` in an SNS envelope the way SNS does (Message is a JSON string).
    fn sns_envelope(message: &str) -> String {
        json!({
            "Type": "Notification",
            "MessageId": "c4e5a6b7-8d9e-5f01-a2b3-c4d5e6f7a8b9",
            "TopicArn": "arn:aws:sns:us-east-1:111122223333:cloudtrail-topic",
            "Subject": "[AWS Notification Message]",
            "Message": message,
            "Timestamp": "2024-01-01T00:05:14.567Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111122223333:cloudtrail-topic:a1b2c3d4-0000-1111-2222-333344445555"
        })
        .to_string()
    }

    #[test]
    fn sns_envelope_written_out_with_cloudtrail_message() {
        // As it appears on the SQS queue with raw delivery off: Message is an escaped JSON string.
        let body = r#"{
  "Type" : "Notification",
  "MessageId" : "c4e5a6b7-8d9e-5f01-a2b3-c4d5e6f7a8b9",
  "TopicArn" : "arn:aws:sns:us-east-1:111122223333:cloudtrail-topic",
  "Message" : "{\"s3Bucket\":\"my-trail-bucket\",\"s3ObjectKey\":[\"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz\",\"AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/01/111122223333_CloudTrail_eu-west-1_20240101T0010Z_ZYXWvuts98765432.json.gz\"]}",
  "Timestamp" : "2024-01-01T00:10:15.123Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEw6JRN...",
  "SigningCertURL" : "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
  "UnsubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111122223333:cloudtrail-topic:a1b2c3d4"
}"#;
        let got = objects(parse_notification(body).expect("parses"));
        let ts = Some("2024-01-01T00:10:15.123Z".to_owned());
        assert_eq!(
            got,
            vec![
                ObjectRef {
                    bucket: "my-trail-bucket".into(),
                    key: KEY.into(),
                    size: None,
                    event_time: ts.clone(),
                },
                ObjectRef {
                    bucket: "my-trail-bucket".into(),
                    key: KEY2.into(),
                    size: None,
                    event_time: ts,
                },
            ]
        );
    }

    /// CloudTrail's own message, with a key that an S3 event would have form-encoded.
    const CT_MESSAGE: &str = r#"{"s3Bucket":"my-trail-bucket","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz","AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/01/111122223333_CloudTrail_eu-west-1_20240101T0010Z_ZYXWvuts98765432.json.gz","my prefix/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a+b%2B.json.gz"]}"#;

    fn ct_expected(event_time: Option<&str>) -> Vec<ObjectRef> {
        [
            KEY,
            KEY2,
            "my prefix/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a+b%2B.json.gz",
        ]
        .into_iter()
        .map(|key| ObjectRef {
            bucket: "my-trail-bucket".into(),
            key: key.into(),
            size: None,
            event_time: event_time.map(str::to_owned),
        })
        .collect()
    }

    #[test]
    fn cloudtrail_sns_raw_multi_key_verbatim() {
        let got = objects(parse_notification(CT_MESSAGE).expect("parses"));
        assert_eq!(got, ct_expected(None));
    }

    #[test]
    fn cloudtrail_sns_enveloped_multi_key() {
        let got = objects(parse_notification(&sns_envelope(CT_MESSAGE)).expect("parses"));
        assert_eq!(got, ct_expected(Some("2024-01-01T00:05:14.567Z")));
    }

    #[test]
    fn cloudtrail_sns_malformed() {
        let msg = err(r#"{"s3Bucket":"b"}"#).to_string();
        assert!(msg.contains("s3ObjectKey"), "{msg}");
        let msg = err(r#"{"s3Bucket":"b","s3ObjectKey":["ok.json.gz",7]}"#).to_string();
        assert!(
            msg.contains("s3ObjectKey[1]") && msg.contains("a number"),
            "{msg}"
        );
        let msg = err(r#"{"s3ObjectKey":["k.json.gz"]}"#).to_string();
        assert!(msg.contains("s3Bucket"), "{msg}");
    }

    #[test]
    fn sns_wrapped_s3_event_keeps_record_time_and_decodes_key() {
        let got = objects(parse_notification(&sns_envelope(S3_PUT)).expect("parses"));
        assert_eq!(
            got,
            vec![ObjectRef {
                bucket: "my-trail-bucket".into(),
                key: KEY.into(),
                size: Some(1234),
                event_time: Some("2024-01-01T00:05:12.345Z".into()),
            }]
        );
        let body = s3_event_body("b", "AWSLogs/1/CloudTrail/r/2024/01/01/a b+c.json.gz", 5);
        let got = objects(parse_notification(&sns_envelope(&body)).expect("parses"));
        assert_eq!(
            got[0].key,
            "AWSLogs/1/CloudTrail/r/2024/01/01/a b+c.json.gz"
        );
    }

    #[test]
    fn sns_wrapped_test_event() {
        match parse_notification(&sns_envelope(S3_TEST_EVENT)).expect("parses") {
            Notification::Test { what } => assert!(what.contains("s3:TestEvent"), "{what}"),
            other => panic!("expected Test, got {other:?}"),
        }
    }

    #[test]
    fn sns_subscription_and_unsubscribe_confirmation() {
        let body = r#"{
  "Type" : "SubscriptionConfirmation",
  "MessageId" : "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
  "Token" : "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
  "TopicArn" : "arn:aws:sns:us-east-1:111122223333:cloudtrail-topic",
  "Message" : "You have chosen to subscribe to the topic arn:aws:sns:us-east-1:111122223333:cloudtrail-topic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
  "SubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:111122223333:cloudtrail-topic&Token=2336412f37",
  "Timestamp" : "2024-01-01T00:00:00.000Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEpH+...",
  "SigningCertURL" : "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
}"#;
        match parse_notification(body).expect("parses") {
            Notification::Test { what } => assert!(
                what.contains("SubscriptionConfirmation") && what.contains("cloudtrail-topic"),
                "{what}"
            ),
            other => panic!("expected Test, got {other:?}"),
        }
        let body = body.replace(
            "\"SubscriptionConfirmation\"",
            "\"UnsubscribeConfirmation\"",
        );
        match parse_notification(&body).expect("parses") {
            Notification::Test { what } => assert!(what.contains("UnsubscribeConfirmation")),
            other => panic!("expected Test, got {other:?}"),
        }
    }

    #[test]
    fn sns_message_not_a_string() {
        let body = r#"{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:111122223333:t","Message":{"s3Bucket":"b","s3ObjectKey":["k.json.gz"]},"Timestamp":"2024-01-01T00:00:00.000Z","SignatureVersion":"1"}"#;
        let e = err(body);
        assert!(
            matches!(
                e,
                NotificationError::SnsMessageNotString { found: "an object" }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("SNS Message"), "{e}");
    }

    #[test]
    fn sns_message_not_json() {
        let e = err(&sns_envelope("Hello from the console"));
        assert!(
            matches!(e, NotificationError::SnsMessageNotJson(_)),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("SNS Message is not JSON"), "{e}");
        let e = err(&sns_envelope(""));
        assert!(
            matches!(e, NotificationError::SnsMessageNotJson(_)),
            "{e:?}"
        );
    }

    #[test]
    fn sns_message_unknown_shape_names_inner_keys() {
        let e = err(&sns_envelope(r#"{"hello":"world","alpha":1}"#));
        let msg = e.to_string();
        assert!(msg.starts_with("in SNS Message:"), "{msg}");
        assert!(msg.contains("alpha") && msg.contains("hello"), "{msg}");
    }

    #[test]
    fn sns_nested_and_unknown_type() {
        let e = err(&sns_envelope(&sns_envelope(CT_MESSAGE)));
        assert!(matches!(e, NotificationError::NestedSns), "{e:?}");
        let body = r#"{"Type":"Surprise","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:111122223333:t","Message":"x"}"#;
        assert!(err(body).to_string().contains("Surprise"));
        let body = r#"{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:111122223333:t"}"#;
        assert!(err(body).to_string().contains("`Message`"));
    }

    /// EventBridge "Object Created" event as delivered to an SQS target, key with space and plus.
    const EVENTBRIDGE: &str = r#"{
  "version": "0",
  "id": "17793124-05d4-b198-2fde-7ededc63b103",
  "detail-type": "Object Created",
  "source": "aws.s3",
  "account": "111122223333",
  "time": "2024-01-01T00:05:13Z",
  "region": "us-east-1",
  "resources": ["arn:aws:s3:::my-trail-bucket"],
  "detail": {
    "version": "0",
    "bucket": {"name": "my-trail-bucket"},
    "object": {
      "key": "my prefix/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a+b c%20.json.gz",
      "size": 5576,
      "etag": "b1946ac92492d2347c6235b4d2611184",
      "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
      "sequencer": "617f08299329d189"
    },
    "request-id": "N4N7GDK58NMKJ12R",
    "requester": "cloudtrail.amazonaws.com",
    "source-ip-address": "10.0.0.1",
    "reason": "PutObject"
  }
}"#;

    #[test]
    fn eventbridge_object_created_key_verbatim() {
        let got = objects(parse_notification(EVENTBRIDGE).expect("parses"));
        assert_eq!(
            got,
            vec![ObjectRef {
                bucket: "my-trail-bucket".into(),
                key: "my prefix/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a+b c%20.json.gz"
                    .into(),
                size: Some(5576),
                event_time: Some("2024-01-01T00:05:13Z".into()),
            }]
        );
    }

    #[test]
    fn eventbridge_other_detail_type_gives_no_objects() {
        let body = r#"{"version":"0","id":"2ee9cc15-d022-99ea-1fb8-1b1bac4850f9","detail-type":"Object Deleted","source":"aws.s3","account":"111122223333","time":"2024-01-01T00:06:00Z","region":"us-east-1","resources":["arn:aws:s3:::my-trail-bucket"],"detail":{"version":"0","bucket":{"name":"my-trail-bucket"},"object":{"key":"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json.gz","sequencer":"617f0837b476e463"},"request-id":"0BH729840619AG5K","requester":"111122223333","source-ip-address":"10.0.0.1","reason":"DeleteObject","deletion-type":"Permanently Deleted"}}"#;
        assert_eq!(
            parse_notification(body).expect("parses"),
            Notification::Objects(vec![])
        );
    }

    #[test]
    fn eventbridge_malformed() {
        let body = r#"{"version":"0","id":"x","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2024-01-01T00:05:13Z","region":"us-east-1","resources":[],"detail":{"version":"0","bucket":{"name":"b"},"object":{"size":3}}}"#;
        let msg = err(body).to_string();
        assert!(
            msg.contains("EventBridge") && msg.contains("detail.object.key"),
            "{msg}"
        );
        let body = r#"{"version":"0","id":"x","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}"#;
        assert!(err(body).to_string().contains("aws.ec2"));
    }

    #[test]
    fn malformed_bodies_have_useful_errors() {
        assert!(matches!(err(""), NotificationError::Empty));
        assert!(matches!(err(" \n\t "), NotificationError::Empty));

        let e = err("not json at all");
        assert!(matches!(e, NotificationError::NotJson(_)), "{e:?}");
        assert!(e.to_string().contains("not JSON"), "{e}");
        assert!(matches!(
            err(r#"{"Records":["#),
            NotificationError::NotJson(_)
        ));

        let e = err(r#"["AWSLogs/x.json.gz"]"#);
        assert!(e.to_string().contains("an array"), "{e}");

        let e = err(r#"{"foo":1,"bar":{"Records":[]}}"#);
        assert!(
            matches!(e, NotificationError::UnknownFormat { .. }),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("top-level keys: bar, foo"), "{msg}");

        let msg = err("{}").to_string();
        assert!(msg.contains("top-level keys: (none)"), "{msg}");
    }

    #[test]
    fn unknown_format_key_list_is_capped() {
        let keys: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
        let body = format!(
            "{{{}}}",
            keys.iter()
                .map(|k| format!("\"{k}\":0"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let msg = err(&body).to_string();
        assert!(
            msg.contains("k19") && !msg.contains("k20") && msg.contains("(5 more)"),
            "{msg}"
        );
    }

    #[test]
    fn classify_each_kind() {
        let cases = [
            (KEY, KeyKind::Log),
            (
                "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/01/01/111122223333_CloudTrail-Insight_us-east-1_20240101T0030Z_abcdEFGH12345678.json.gz",
                KeyKind::Insight,
            ),
            (
                "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/111122223333_CloudTrail-Digest_us-east-1_my-trail_us-east-1_20240101T010203Z.json.gz",
                KeyKind::Digest,
            ),
            (
                "AWSLogs/111122223333/CloudTrail-NetworkActivity/us-east-1/2024/01/01/111122223333_CloudTrail-NetworkActivity_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz",
                KeyKind::NetworkActivity,
            ),
            (
                "AWSLogs/111122223333/CloudTrail-Aggregated/us-east-1/2024/01/01/111122223333_CloudTrail-Aggregated_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz",
                KeyKind::Aggregated,
            ),
            // Uncompressed .json is accepted too.
            ("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json", KeyKind::Log),
        ];
        for (key, want) in cases {
            assert_eq!(classify_key(key), want, "{key}");
        }
    }

    #[test]
    fn classify_org_trail_and_user_prefix() {
        let cases = [
            (
                "AWSLogs/o-abc123defg/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz",
                KeyKind::Log,
            ),
            (
                "AWSLogs/o-abc123defg/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/111122223333_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20240101T010203Z.json.gz",
                KeyKind::Digest,
            ),
            (
                "my/prefix/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_abcdEFGH12345678.json.gz",
                KeyKind::Log,
            ),
            (
                "my/prefix/AWSLogs/o-abc123defg/111122223333/CloudTrail-Insight/us-east-1/2024/01/01/111122223333_CloudTrail-Insight_us-east-1_20240101T0030Z_abcdEFGH12345678.json.gz",
                KeyKind::Insight,
            ),
            // A user prefix that is itself named like a kind folder does not confuse it.
            (
                "CloudTrail/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/d.json.gz",
                KeyKind::Digest,
            ),
        ];
        for (key, want) in cases {
            assert_eq!(classify_key(key), want, "{key}");
        }
    }

    #[test]
    fn classify_other() {
        for key in [
            "AWSLogs/111122223333/CloudTrail/",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/",
            "AWSLogs/111122223333/CloudTrail/_ct_test.txt",
            "AWSLogs/111122223333/_ct_test.txt",
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/digest.txt",
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/digest.json.gz.tmp",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/.json.gz",
            "AWSLogs/111122223333/Config/us-east-1/2024/01/01/ConfigSnapshot/x.json.gz",
            "AWSLogs/111122223333/elasticloadbalancing/us-east-1/2024/01/01/x.log.gz",
            "AWSLogs/CloudTrail/x.json.gz",
            "random/CloudTrail/us-east-1/x.json.gz",
            "x.json.gz",
            "",
        ] {
            assert_eq!(classify_key(key), KeyKind::Other, "{key:?}");
        }
    }

    #[test]
    fn s3_event_body_round_trip() {
        for key in [
            KEY,
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a b+c%20d.json.gz",
            "my prefix/日志/ünïcödé 🚀/x=1&y=2;(z)~'!@#$^*,?.json.gz",
            "  leading and trailing spaces  ",
            "plus+only",
            "%2B%%25",
        ] {
            let body = s3_event_body("my-trail-bucket", key, 42);
            let got = objects(parse_notification(&body).expect("round trip parses"));
            assert_eq!(
                got,
                vec![ObjectRef {
                    bucket: "my-trail-bucket".into(),
                    key: key.into(),
                    size: Some(42),
                    event_time: None,
                }],
                "{body}"
            );
        }
    }

    #[test]
    fn s3_event_body_encodes_like_s3() {
        let body = s3_event_body(
            "b",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a b+c d.json.gz",
            7,
        );
        let value: Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(
            value["Records"][0]["s3"]["object"]["key"],
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/a+b%2Bc+d.json.gz"
        );
        assert_eq!(value["Records"][0]["eventName"], "ObjectCreated:Put");
        assert_eq!(value["Records"][0]["s3"]["object"]["size"], 7);
    }
}
