//! CloudTrail Insights deliveries: a Start record and, in a later file, the matching End record
//! with the same `sharedEventID`. Insights records have no userIdentity, eventName or
//! sourceIPAddress at the top level; everything interesting sits in free-form `insightDetails`.

use crate::json::Json;
use crate::rng::{push_event_id, Rng};
use crate::time::push_iso;
use crate::world::Account;

/// APIs whose call rate spikes: (eventSource, eventName).
const APIS: &[(&str, &str)] = &[
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("iam.amazonaws.com", "AttachRolePolicy"),
    ("s3.amazonaws.com", "PutBucketPolicy"),
    ("kms.amazonaws.com", "Decrypt"),
    ("ssm.amazonaws.com", "UpdateInstanceInformation"),
    ("sts.amazonaws.com", "AssumeRole"),
];

/// One insight: both of its records share these values.
pub(crate) struct Incident {
    pub shared_event_id: String,
    pub api: (&'static str, &'static str),
    pub error_rate: bool,
    pub baseline: f64,
    pub peak: f64,
    pub start: i64,
    pub end: i64,
    pub principal: String,
    pub user_agent: &'static str,
}

impl Incident {
    pub(crate) fn new(rng: &mut Rng, acct: &Account, start: i64) -> Incident {
        let mut shared_event_id = String::with_capacity(36);
        rng.push_uuid(&mut shared_event_id);
        let api = *rng.pick(APIS);
        let role = rng.pick(&acct.roles);
        let baseline = (rng.f64() * 2.0 * 1e6).round() / 1e6 + 0.000_1;
        Incident {
            shared_event_id,
            api,
            error_rate: rng.chance(0.2),
            baseline,
            peak: (baseline * (5.0 + rng.f64() * 40.0) * 1e4).round() / 1e4,
            start,
            end: start + 60 * rng.range(5, 120) as i64,
            principal: format!("arn:aws:iam::{}:role/{}", acct.id, role.name),
            user_agent: rng.pick_str(&[
                "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0",
                "Boto3/1.34.51 md/Botocore#1.34.51",
                "console.amazonaws.com",
            ]),
        }
    }
}

/// Appends one Insights record to `w`, which is inside the `Records` array.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_record(
    w: &mut Json,
    rng: &mut Rng,
    seed: u64,
    stream: u64,
    rec: u64,
    acct: &Account,
    region: &str,
    inc: &Incident,
    end: bool,
) {
    w.begin_obj();
    w.kv_str("eventVersion", "1.08");
    w.key("eventTime");
    w.open_raw_str();
    push_iso(&mut w.buf, if end { inc.end } else { inc.start });
    w.close_raw_str();
    w.kv_str("awsRegion", region);
    w.key("eventID");
    w.open_raw_str();
    push_event_id(&mut w.buf, seed, stream, rec, rng);
    w.close_raw_str();
    w.kv_str("eventType", "AwsCloudTrailInsight");
    w.kv_str("recipientAccountId", &acct.id);
    w.kv_str("sharedEventID", &inc.shared_event_id);
    w.kv_obj("insightDetails");
    w.kv_str("state", if end { "End" } else { "Start" });
    w.kv_str("eventSource", inc.api.0);
    w.kv_str("eventName", inc.api.1);
    w.kv_str(
        "insightType",
        if inc.error_rate {
            "ApiErrorRateInsight"
        } else {
            "ApiCallRateInsight"
        },
    );
    if inc.error_rate {
        w.kv_str("errorCode", "AccessDeniedException");
    }
    w.kv_obj("insightContext");
    w.kv_obj("statistics");
    w.kv_obj("baseline");
    w.kv_float("average", inc.baseline);
    w.end_obj();
    w.kv_obj("insight");
    w.kv_float("average", inc.peak);
    w.end_obj();
    if end {
        // Integers here, floats above: both number kinds in one object.
        w.kv_int("insightDuration", (inc.end - inc.start) / 60);
        w.kv_int("baselineDuration", 10_080);
    }
    w.end_obj();
    w.kv_arr("attributions");
    let attrs: [(&str, &str); 3] = [
        ("userIdentityArn", &inc.principal),
        ("userAgent", inc.user_agent),
        (
            "errorCode",
            if inc.error_rate {
                "AccessDeniedException"
            } else {
                "null"
            },
        ),
    ];
    for (attribute, value) in attrs {
        w.begin_obj();
        w.kv_str("attribute", attribute);
        w.kv_arr("insight");
        w.begin_obj();
        w.kv_str("value", value);
        w.kv_float("average", inc.peak);
        w.end_obj();
        w.end_arr();
        w.kv_arr("baseline");
        w.begin_obj();
        w.kv_str("value", value);
        w.kv_float("average", inc.baseline);
        w.end_obj();
        w.end_arr();
        w.end_obj();
    }
    w.end_arr();
    w.end_obj();
    w.end_obj();
    w.kv_str("eventCategory", "Insight");
    w.end_obj();
}
