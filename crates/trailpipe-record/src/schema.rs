//! The CloudTrail record schema: one static description drives the Arrow schema, the decoder's
//! column builders and the JSON rebuild, so the three can never disagree.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field as ArrowField, Fields, Schema, SchemaRef, TimeUnit};

/// How a field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string, stored as Utf8.
    Str,
    /// A JSON boolean.
    Bool,
    /// An ISO-8601 `YYYY-MM-DDTHH:MM:SSZ` string, stored as a UTC millisecond timestamp.
    Time,
    /// Free-form JSON of any type, stored verbatim as JSON text (Athena's CloudTrail convention).
    Json,
    /// A JSON object with known keys.
    Struct(&'static [Field]),
    /// A JSON array of objects with known keys.
    List(&'static [Field]),
}

/// One named field of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field name exactly as CloudTrail writes it.
    pub name: &'static str,
    /// How it is stored.
    pub kind: Kind,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}
const fn s(name: &'static str) -> Field {
    f(name, Kind::Str)
}

const SESSION_ISSUER: &[Field] = &[
    s("type"),
    s("principalId"),
    s("arn"),
    s("accountId"),
    s("userName"),
];
const WEB_ID: &[Field] = &[s("federatedProvider"), f("attributes", Kind::Json)];
const SESSION_ATTRIBUTES: &[Field] = &[s("creationDate"), s("mfaAuthenticated")];
const SESSION_CONTEXT: &[Field] = &[
    f("sessionIssuer", Kind::Struct(SESSION_ISSUER)),
    f("webIdFederationData", Kind::Struct(WEB_ID)),
    f("attributes", Kind::Struct(SESSION_ATTRIBUTES)),
    s("sourceIdentity"),
    s("ec2RoleDelivery"),
    s("assumedRoot"),
    s("signInSessionArn"),
];
const ON_BEHALF_OF: &[Field] = &[s("userId"), s("identityStoreArn")];
const IN_SCOPE_OF: &[Field] = &[
    s("sourceArn"),
    s("sourceAccount"),
    s("issuerType"),
    s("credentialsIssuedTo"),
    s("credentialsIssuedToVersion"),
];
const INVOKED_BY_DELEGATE: &[Field] = &[s("accountId")];
const USER_IDENTITY: &[Field] = &[
    s("type"),
    s("principalId"),
    s("arn"),
    s("accountId"),
    s("accessKeyId"),
    s("userName"),
    s("invokedBy"),
    s("identityProvider"),
    s("credentialId"),
    f("sessionContext", Kind::Struct(SESSION_CONTEXT)),
    f("onBehalfOf", Kind::Struct(ON_BEHALF_OF)),
    f("inScopeOf", Kind::Struct(IN_SCOPE_OF)),
    f("invokedByDelegate", Kind::Struct(INVOKED_BY_DELEGATE)),
];
const RESOURCE: &[Field] = &[s("ARN"), s("ARNPrefix"), s("accountId"), s("type")];
const ADDENDUM: &[Field] = &[
    s("reason"),
    s("updatedFields"),
    s("originalRequestID"),
    s("originalEventID"),
];
const TLS_DETAILS: &[Field] = &[
    s("tlsVersion"),
    s("cipherSuite"),
    s("clientProvidedHostHeader"),
    s("keyExchange"),
];

/// The top-level record fields in CloudTrail's documented order (record contents, version 1.11).
pub const RECORD: &[Field] = &[
    s("eventVersion"),
    f("userIdentity", Kind::Struct(USER_IDENTITY)),
    f("eventTime", Kind::Time),
    s("eventSource"),
    s("eventName"),
    s("awsRegion"),
    s("sourceIPAddress"),
    s("userAgent"),
    s("errorCode"),
    s("errorMessage"),
    f("requestParameters", Kind::Json),
    f("responseElements", Kind::Json),
    f("additionalEventData", Kind::Json),
    s("requestID"),
    s("eventID"),
    f("readOnly", Kind::Bool),
    f("resources", Kind::List(RESOURCE)),
    s("eventType"),
    s("apiVersion"),
    f("managementEvent", Kind::Bool),
    s("recipientAccountId"),
    s("sharedEventID"),
    s("vpcEndpointId"),
    s("vpcEndpointAccountId"),
    f("serviceEventDetails", Kind::Json),
    s("eventCategory"),
    f("addendum", Kind::Struct(ADDENDUM)),
    s("sessionCredentialFromConsole"),
    f("edgeDeviceDetails", Kind::Json),
    f("tlsDetails", Kind::Struct(TLS_DETAILS)),
    f("insightDetails", Kind::Json),
];

/// The column holding, as one JSON object text, every top-level key the schema does not know
/// and every value whose type did not fit its column. The rebuild lets it override typed values.
pub const EXTRA: &str = "_extra";

/// Index of a top-level field in [`RECORD`] (and so in the batch's columns).
pub fn column_index(name: &str) -> Option<usize> {
    if name == EXTRA {
        return Some(RECORD.len());
    }
    RECORD.iter().position(|f| f.name == name)
}

pub(crate) fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Str | Kind::Json => DataType::Utf8,
        Kind::Bool => DataType::Boolean,
        Kind::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        Kind::Struct(fields) => DataType::Struct(arrow_fields(fields)),
        Kind::List(fields) => DataType::List(Arc::new(ArrowField::new(
            "item",
            DataType::Struct(arrow_fields(fields)),
            true,
        ))),
    }
}

pub(crate) fn arrow_fields(fields: &[Field]) -> Fields {
    fields
        .iter()
        .map(|f| ArrowField::new(f.name, arrow_type(f.kind), true))
        .collect()
}

/// The Arrow schema of every table (`cloudtrail`, `cloudtrail_insights`): every column nullable.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields: Vec<ArrowField> = arrow_fields(RECORD)
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(ArrowField::new(EXTRA, DataType::Utf8, true));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_follow_cloudtrail() {
        let schema = schema();
        assert_eq!(schema.fields().len(), RECORD.len() + 1);
        assert_eq!(schema.field(2).name(), "eventTime");
        assert!(
            matches!(schema.field(2).data_type(), DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if tz.as_ref() == "UTC")
        );
        assert_eq!(column_index("readOnly"), Some(15));
        assert_eq!(column_index(EXTRA), Some(RECORD.len()));
        assert_eq!(column_index("nope"), None);
        let DataType::Struct(ui) = schema.field(1).data_type() else {
            panic!("userIdentity is a struct")
        };
        assert!(ui.find("sessionContext").is_some());
        // no duplicate names at any level
        fn check(fields: &[Field]) {
            for (i, a) in fields.iter().enumerate() {
                assert!(
                    fields[i + 1..].iter().all(|b| b.name != a.name),
                    "{}",
                    a.name
                );
                if let Kind::Struct(inner) | Kind::List(inner) = a.kind {
                    check(inner);
                }
            }
        }
        check(RECORD);
    }
}
