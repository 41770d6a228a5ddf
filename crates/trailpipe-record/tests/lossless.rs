//! Every record of the shared fixtures (418 written by AWS, 385 hand-edited vendor cases) and of
//! hand-made quirk cases decodes, and rebuilds to JSON equal to the original.

use std::path::{Path, PathBuf};

use serde_json::Value;
use trailpipe_record::{rebuild_record, DecodeOptions, Decoded, Decoder, Table};

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("TRAILPIPE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    assert!(
        dir.is_dir(),
        "fixtures not found at {} (set TRAILPIPE_FIXTURES)",
        dir.display()
    );
    dir
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.to_string_lossy().ends_with(".json.gz") {
            out.push(p);
        }
    }
}

/// Drops keys holding null, at every level (the rebuild may omit them).
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Decodes `raw`, rebuilds every row, and checks the multiset of rebuilt records equals the
/// original records. Returns (records, mistyped+unknown).
fn check_lossless(raw: &[u8], name: &str) -> (usize, u64) {
    let mut decoder = Decoder::new(DecodeOptions::default());
    let Decoded::Records(out) = decoder
        .decode(raw)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    else {
        panic!("{name}: not a log file");
    };
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(raw), &mut s).unwrap();
        s
    } else {
        String::from_utf8(raw.to_vec()).unwrap()
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut originals: Vec<Value> = doc["Records"].as_array().unwrap().clone();
    originals.iter_mut().for_each(strip_nulls);
    let mut rebuilt = Vec::new();
    for p in &out.partitions {
        for row in 0..p.batch.num_rows() {
            let json = rebuild_record(&p.batch, row).unwrap();
            let mut v: Value = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{name}: rebuilt JSON invalid ({e}): {json}"));
            strip_nulls(&mut v);
            rebuilt.push(v);
        }
    }
    assert_eq!(rebuilt.len(), originals.len(), "{name}");
    assert_eq!(out.records as usize, originals.len(), "{name}");
    // order across partitions differs from the file's: match each original to a rebuilt one
    let mut unmatched = rebuilt;
    for o in &originals {
        let i = unmatched.iter().position(|r| r == o).unwrap_or_else(|| {
            panic!(
                "{name}: no rebuilt record equals\n{o}\nclosest candidates: {}",
                unmatched.first().map(|v| v.to_string()).unwrap_or_default()
            )
        });
        unmatched.swap_remove(i);
    }
    (originals.len(), out.mistyped + out.unknown_fields)
}

#[test]
fn every_fixture_record_round_trips() {
    let mut paths = Vec::new();
    files(&fixtures(), &mut paths);
    let (mut real, mut vendor) = (0, 0);
    for p in &paths {
        let raw = std::fs::read(p).unwrap();
        let (n, _) = check_lossless(&raw, &p.display().to_string());
        if p.to_string_lossy().contains("cloudtrail-vendor") {
            vendor += n;
        } else {
            real += n;
        }
    }
    assert_eq!(real, 418, "records written by AWS");
    assert_eq!(vendor, 385, "vendor records");
}

#[test]
fn quirks_survive_and_are_counted() {
    let doc = r#"{"Records":[
      {"eventVersion":"1.08","eventTime":"2022-10-13 16:35:33","readOnly":"true","userIdentity":"root",
       "recipientAccountId":"007","awsRegion":"../../x","brandNew":{"a":[1,2.5,null]},"eventID":"e1"},
      {"eventVersion":"1.09","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"AssumedRole","accessKeyId":"",
        "sessionContext":{"webIdFederationData":{},"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":false}},
        "futureField":"x"},
       "resources":[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"},{"ARNPrefix":"arn:aws:s3:::b/p"},null],
       "requestParameters":null,"responseElements":"a string","additionalEventData":{"x":1.688560107857E9,"big":18446744073709551615},
       "sessionCredentialFromConsole":"true","managementEvent":false,"readOnly":true,
       "recipientAccountId":"123456789012","awsRegion":"us-east-1","eventID":"e2",
       "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"h"},
       "addendum":{"reason":"DELIVERY_DELAY","originalEventID":"x"}},
      {"eventVersion":"1.09","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"IAMUser"},
       "resources":[{"ARN":"a","accountId":123}],"eventID":"e3","recipientAccountId":"123456789012","awsRegion":"us-east-1",
       "userAgent":"\u00e9\u65e5\ud83d\ude80 \"quoted\" \\ back","eventName":"x","eventName":"dup"},
      {"eventVersion":"1.0","eventType":"AwsCloudTrailInsight","eventCategory":"Insight","eventTime":"2024-01-02T10:00:00Z",
       "insightDetails":{"state":"Start"},"recipientAccountId":"123456789012","awsRegion":"us-east-1","eventID":"e4"}
    ]}"#;
    let (n, anomalies) = check_lossless(doc.as_bytes(), "quirks");
    assert_eq!(n, 4);
    // record 1: eventTime, readOnly, userIdentity mistyped + brandNew unknown = 4
    // record 2: userIdentity (mfaAuthenticated bool, futureField) = 1
    // record 3: resources (accountId number) = 1, duplicate eventName = 1
    assert_eq!(anomalies, 7);

    let mut decoder = Decoder::new(DecodeOptions::default());
    let Decoded::Records(out) = decoder.decode(doc.as_bytes()).unwrap() else {
        panic!()
    };
    let paths: Vec<String> = out.partitions.iter().map(|p| p.key.path()).collect();
    assert_eq!(
        paths,
        [
            "cloudtrail/account=unknown/region=unknown/date=2022-10-13",
            "cloudtrail/account=123456789012/region=us-east-1/date=2024-01-01",
            "cloudtrail_insights/account=123456789012/region=us-east-1/date=2024-01-02",
        ]
    );
    assert_eq!(out.partitions[2].key.table, Table::Insights);
    assert_eq!(out.partitions[1].batch.num_rows(), 2);
}

/// Absent fields are appended as nulls lazily (counted, then added in one call before the
/// column's next value): fields present on some rows only, at every nesting level, must still
/// land on their own rows.
#[test]
fn sparse_fields_at_every_level_stay_on_their_rows() {
    let records = [
        r#"{"eventID":"r0","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":"i0"},"attributes":{"mfaAuthenticated":"false"}}},"resources":[{"ARN":"a0"}]}"#,
        r#"{"eventID":"r1","errorCode":"AccessDenied"}"#,
        r#"{"eventID":"r2"}"#,
        r#"{"eventID":"r3","userIdentity":{"type":"IAMUser","arn":"u3"},"resources":[null,{"type":"t3"},{"ARN":"a3","accountId":"3"}]}"#,
        r#"{"eventID":"r4","userIdentity":{"type":"AssumedRole","sessionContext":{"attributes":{"creationDate":"c4"}}},"tlsDetails":{"tlsVersion":"TLSv1.2"}}"#,
        r#"{"eventID":"r5","resources":[],"requestParameters":{"k":[5]},"errorCode":"E5"}"#,
        r#"{"eventID":"r6","userIdentity":{"sessionContext":{"sessionIssuer":{"userName":"n6"}}},"readOnly":true}"#,
        r#"{"eventID":"r7"}"#,
    ];
    let common = r#""eventTime":"2024-01-01T00:00:00Z","recipientAccountId":"123456789012","awsRegion":"us-east-1","#;
    let body: Vec<String> = records
        .iter()
        .map(|r| format!("{{{common}{}", &r[1..]))
        .collect();
    let doc = format!(r#"{{"Records":[{}]}}"#, body.join(","));
    let (n, anomalies) = check_lossless(doc.as_bytes(), "sparse");
    assert_eq!((n, anomalies), (8, 0));
}
