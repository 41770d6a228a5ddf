//! Corpus-level checks through the public API only. The shared corpus is generated once and kept
//! in memory (`generate_with`); the disk path is covered by the determinism test.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};
use trailpipe_synth::{generate, generate_with, SynthConfig, SynthError, SynthSummary};

type Corpus = Vec<(String, Vec<u8>)>;

fn collect(cfg: &SynthConfig) -> (SynthSummary, Corpus) {
    let mut out = Vec::new();
    let summary = generate_with(cfg, |k, gz| {
        out.push((k.to_string(), gz.to_vec()));
        Ok(())
    })
    .expect("generate_with");
    (summary, out)
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn small_cfg() -> SynthConfig {
    SynthConfig {
        files: Some(80),
        seed: 7,
        ..SynthConfig::default()
    }
}

/// The shared small corpus: (summary, every delivery, decompressed JSON by key).
fn corpus() -> &'static (SynthSummary, Corpus, BTreeMap<String, Vec<u8>>) {
    static C: OnceLock<(SynthSummary, Corpus, BTreeMap<String, Vec<u8>>)> = OnceLock::new();
    C.get_or_init(|| {
        let (summary, files) = collect(&small_cfg());
        let plain = files
            .iter()
            .map(|(k, gz)| (k.clone(), gunzip(gz)))
            .collect();
        (summary, files, plain)
    })
}

fn kind_of(key: &str) -> &'static str {
    if key.contains("/CloudTrail-Digest/") {
        "digest"
    } else if key.contains("/CloudTrail-Insight/") {
        "insight"
    } else {
        assert!(key.contains("/CloudTrail/"), "unknown kind: {key}");
        "log"
    }
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parsed parts of a key; panics with the key when the layout is wrong.
#[derive(Debug)]
struct KeyParts {
    account: String,
    region: String,
    /// `YYYYMMDD` from the path, equal to the date in the file name.
    date: String,
}

fn check_key(key: &str, org: Option<&str>) -> KeyParts {
    let parts: Vec<&str> = key.split('/').collect();
    let mut i = 0;
    assert_eq!(parts[i], "AWSLogs", "{key}");
    i += 1;
    if let Some(org) = org {
        assert_eq!(parts[i], org, "{key}");
        i += 1;
    }
    assert_eq!(parts.len(), i + 7, "{key}");
    let (acct, kind, region, y, m, d, name) = (
        parts[i],
        parts[i + 1],
        parts[i + 2],
        parts[i + 3],
        parts[i + 4],
        parts[i + 5],
        parts[i + 6],
    );
    assert!(is_digits(acct, 12), "account in {key}");
    assert!(
        is_digits(y, 4) && is_digits(m, 2) && is_digits(d, 2),
        "{key}"
    );
    let date = format!("{y}{m}{d}");
    let stem = name.strip_suffix(".json.gz").expect(key);
    let fields: Vec<&str> = stem.split('_').collect();
    assert_eq!(fields[0], acct, "{key}");
    assert_eq!(fields[1], kind, "{key}");
    assert_eq!(fields[2], region, "{key}");
    match kind {
        "CloudTrail" | "CloudTrail-Insight" => {
            assert_eq!(fields.len(), 5, "{key}");
            // YYYYMMDDTHHmmZ, same day as the path.
            let stamp = fields[3];
            assert_eq!(stamp.len(), 14, "{key}");
            assert!(stamp.starts_with(&date) && &stamp[8..9] == "T" && stamp.ends_with('Z'));
            assert!(is_digits(&stamp[9..13], 4), "{key}");
            let rand = fields[4];
            assert_eq!(rand.len(), 16, "{key}");
            assert!(rand.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
        }
        "CloudTrail-Digest" => {
            // <acct>_CloudTrail-Digest_<region>_<trail>_<homeRegion>_<YYYYMMDDTHHmmssZ>
            assert_eq!(fields.len(), 6, "{key}");
            assert!(!fields[3].is_empty(), "{key}");
            assert_eq!(fields[4], "us-east-1", "{key}");
            let stamp = fields[5];
            assert_eq!(stamp.len(), 16, "{key}");
            assert!(stamp.starts_with(&date) && &stamp[8..9] == "T" && stamp.ends_with('Z'));
            assert!(is_digits(&stamp[9..15], 6), "{key}");
        }
        other => panic!("unexpected kind {other} in {key}"),
    }
    KeyParts {
        account: acct.to_string(),
        region: region.to_string(),
        date,
    }
}

fn records(json: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(json).expect("valid JSON");
    match v {
        Value::Object(mut m) => match m.remove("Records") {
            Some(Value::Array(a)) => a,
            other => panic!("Records is not an array: {other:?}"),
        },
        other => panic!("not an object: {other}"),
    }
}

fn date_of(event_time: &str) -> String {
    assert!(
        event_time.len() == 20 && event_time.ends_with('Z'),
        "{event_time}"
    );
    event_time[..10].replace('-', "")
}

fn days_between(a: &str, b: &str) -> i64 {
    fn days(s: &str) -> i64 {
        let (y, m, d): (i64, i64, i64) = (
            s[..4].parse().unwrap(),
            s[4..6].parse().unwrap(),
            s[6..8].parse().unwrap(),
        );
        // Good enough for nearby dates in one year range: days since a fixed epoch.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy
    }
    days(b) - days(a)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trailpipe-synth-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn byte_identical_for_same_seed_and_different_otherwise() {
    let cfg = SynthConfig {
        files: Some(40),
        ..small_cfg()
    };
    let (a, b) = (temp_dir("det-a"), temp_dir("det-b"));
    let sa = generate(&cfg, &a).expect("first run");
    let sb = generate(&cfg, &b).expect("second run");
    assert_eq!(sa, sb);
    let (ta, tb) = (read_tree(&a), read_tree(&b));
    assert_eq!(
        ta.len(),
        sa.log_files + sa.insight_files + sa.digest_files,
        "one file per delivery"
    );
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, bytes) in &ta {
        assert!(bytes == &tb[k], "{k} differs between runs");
    }
    // The in-memory path yields exactly the same objects.
    let (sm, mem) = collect(&cfg);
    assert_eq!(sm, sa);
    let mem: BTreeMap<String, Vec<u8>> = mem.into_iter().collect();
    assert!(mem == ta, "generate_with differs from generate");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);

    let (_, other) = collect(&SynthConfig { seed: 8, ..cfg });
    let other: BTreeMap<String, Vec<u8>> = other.into_iter().collect();
    assert!(
        other.keys().all(|k| !mem.contains_key(k)),
        "a different seed must give different objects"
    );
}

#[test]
fn keys_follow_the_s3_layout_for_all_kinds() {
    let (summary, files, _) = corpus();
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for (key, _) in files {
        *count.entry(kind_of(key)).or_default() += 1;
        check_key(key, None);
        assert!(seen.insert(key), "duplicate key {key}");
    }
    assert_eq!(count["log"], summary.log_files);
    assert_eq!(summary.log_files, 80);
    assert_eq!(count["insight"], summary.insight_files);
    assert_eq!(count["digest"], summary.digest_files);
    assert!(summary.insight_files > 0 && summary.digest_files > 0);
    // One account id keeps its leading zero.
    assert!(files.iter().any(|(k, _)| k.starts_with("AWSLogs/0")));

    let org = "o-a1b2c3d4e5";
    let (s, org_files) = collect(&SynthConfig {
        files: Some(12),
        org_id: Some(org.to_string()),
        ..small_cfg()
    });
    let mut kinds = HashSet::new();
    for (key, gz) in &org_files {
        kinds.insert(kind_of(key));
        check_key(key, Some(org));
        if kind_of(key) == "digest" {
            let d: Value = serde_json::from_slice(&gunzip(gz)).unwrap();
            assert_eq!(d["digestS3Object"], key.as_str());
        }
    }
    assert_eq!(kinds.len(), 3, "all three kinds in the org layout");
    assert_eq!(s.log_files, 12);
}

#[test]
fn records_are_valid_and_belong_to_their_file() {
    let (summary, _, plain) = corpus();
    let mut ids = HashSet::new();
    let mut n = 0u64;
    let mut json_bytes = 0u64;
    let mut non_ascii = false;
    let mut big = 0;
    for (key, json) in plain {
        if kind_of(key) != "log" {
            continue;
        }
        json_bytes += json.len() as u64;
        non_ascii |= json.iter().any(|b| *b >= 0x80);
        let parts = check_key(key, None);
        for r in records(json) {
            n += 1;
            assert_eq!(r["recipientAccountId"], parts.account.as_str(), "{key}");
            assert_eq!(r["awsRegion"], parts.region.as_str(), "{key}");
            let v = r["eventVersion"].as_str().expect("eventVersion");
            assert!(["1.08", "1.09", "1.10", "1.11"].contains(&v), "{v}");
            assert!(r["userIdentity"].is_object());
            date_of(r["eventTime"].as_str().expect("eventTime"));
            for f in [
                "eventSource",
                "eventName",
                "sourceIPAddress",
                "eventType",
                "eventCategory",
            ] {
                assert!(r[f].is_string(), "{f} in {r}");
            }
            let id = r["eventID"].as_str().expect("eventID");
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "4", "UUID v4: {id}");
            assert!(ids.insert(id.to_string()), "duplicate eventID {id}");
            let size = serde_json::to_vec(&r).unwrap().len();
            assert!(size < 256 * 1024, "record over the 256 KB limit: {size}");
            if size > 200_000 {
                big += 1;
            }
        }
    }
    assert_eq!(n, summary.records);
    assert_eq!(json_bytes, summary.json_bytes);
    assert!(non_ascii, "some non-ASCII text");
    assert!(big >= 1, "at least one record near the 256 KB limit");
}

#[test]
fn field_quirks_are_present() {
    let (_, _, plain) = corpus();
    let mut seen: HashSet<&str> = HashSet::new();
    for (key, json) in plain {
        if kind_of(key) != "log" {
            continue;
        }
        for r in records(json) {
            let ui = &r["userIdentity"];
            match ui["type"].as_str() {
                None => {
                    assert!(ui["invokedBy"].is_string());
                    seen.insert("identity without type");
                }
                Some(t) => {
                    seen.insert(match t {
                        "Root" => "Root",
                        "IAMUser" => "IAMUser",
                        "AssumedRole" => "AssumedRole",
                        "AWSService" => "AWSService",
                        "FederatedUser" => "FederatedUser",
                        "IdentityCenterUser" => "IdentityCenterUser",
                        other => panic!("unexpected identity type {other}"),
                    });
                }
            }
            if ui["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS" {
                seen.insert("hidden user");
            }
            if ui["accessKeyId"] == "" {
                seen.insert("empty access key");
            }
            if ui["inScopeOf"].is_object() {
                seen.insert("inScopeOf");
            }
            if ui["onBehalfOf"].is_object() {
                seen.insert("onBehalfOf");
            }
            if ui["sessionContext"]["ec2RoleDelivery"] == "2.0" {
                seen.insert("ec2RoleDelivery");
            }
            if ui["sessionContext"]["sourceIdentity"].is_string() {
                seen.insert("sourceIdentity");
            }
            if r.get("requestID").is_none() {
                seen.insert("no requestID");
            }
            if r["requestParameters"].is_null() {
                seen.insert("null requestParameters");
            }
            if let Some(s) = r.get("sessionCredentialFromConsole") {
                assert_eq!(s, "true", "a string, only when true");
                seen.insert("sessionCredentialFromConsole");
            }
            if r["resources"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x.get("ARNPrefix").is_some() && x.get("accountId").is_none())
            }) {
                seen.insert("ARNPrefix without accountId");
            }
            if r["tlsDetails"]["keyExchange"].is_string() {
                seen.insert("keyExchange");
            }
            for f in [
                "vpcEndpointId",
                "sharedEventID",
                "apiVersion",
                "serviceEventDetails",
                "errorCode",
                "edgeDeviceDetails",
            ] {
                if r.get(f).is_some() {
                    seen.insert(f);
                }
            }
            if r["managementEvent"].is_boolean() && r["readOnly"].is_boolean() {
                seen.insert("bools");
            }
            let bytes_in = &r["additionalEventData"]["bytesTransferredIn"];
            if bytes_in.is_f64() {
                seen.insert("float bytes");
            } else if bytes_in.is_u64() {
                seen.insert("integer bytes");
            }
            let params = &r["requestParameters"]["tableInput"]["parameters"];
            if params.is_string() {
                seen.insert("glue parameters string");
            } else if params.is_object() {
                seen.insert("glue parameters object");
            }
            if r["eventName"] == "ConsoleLogin" {
                assert_eq!(r["eventType"], "AwsConsoleSignIn");
                assert!(r["additionalEventData"]["MFAUsed"].is_string());
                assert!(r["responseElements"]["ConsoleLogin"].is_string());
            }
        }
    }
    let want = [
        "identity without type",
        "Root",
        "IAMUser",
        "AssumedRole",
        "AWSService",
        "IdentityCenterUser",
        "hidden user",
        "empty access key",
        "inScopeOf",
        "onBehalfOf",
        "ec2RoleDelivery",
        "sourceIdentity",
        "no requestID",
        "null requestParameters",
        "sessionCredentialFromConsole",
        "ARNPrefix without accountId",
        "keyExchange",
        "vpcEndpointId",
        "sharedEventID",
        "apiVersion",
        "serviceEventDetails",
        "errorCode",
        "bools",
        "float bytes",
        "integer bytes",
        "glue parameters string",
        "glue parameters object",
    ];
    let missing: Vec<&str> = want.iter().copied().filter(|w| !seen.contains(w)).collect();
    assert!(missing.is_empty(), "missing quirks: {missing:?}");
}

#[test]
fn straddling_and_late_objects_span_two_dates() {
    let (_, _, plain) = corpus();
    let (mut straddle, mut late) = (0, 0);
    for (key, json) in plain {
        if kind_of(key) != "log" {
            continue;
        }
        let parts = check_key(key, None);
        let mut dates = HashSet::new();
        for r in records(json) {
            let date = date_of(r["eventTime"].as_str().unwrap());
            let lag = days_between(&date, &parts.date);
            if let Some(add) = r.get("addendum") {
                assert_eq!(add["reason"], "DELIVERY_DELAY");
                assert!(add["originalEventID"].is_string() && add["originalRequestID"].is_string());
                assert!(
                    (1..=3).contains(&lag),
                    "late event {lag} days before delivery"
                );
                late += 1;
            } else {
                assert!(
                    (0..=1).contains(&lag),
                    "on-time event {lag} days off in {key}"
                );
            }
            dates.insert(date);
        }
        if dates.len() > 1 {
            straddle += 1;
        }
    }
    assert!(
        straddle >= 2,
        "objects whose rows fall on two UTC dates: {straddle}"
    );
    assert!(late >= 1, "late events");
}

#[test]
fn digests_chain_and_hash_the_uncompressed_logs() {
    let (summary, _, plain) = corpus();
    let mut listed = HashSet::new();
    let mut by_pair: BTreeMap<(String, String), Vec<(String, Value)>> = BTreeMap::new();
    for (key, json) in plain {
        if kind_of(key) != "digest" {
            continue;
        }
        let parts = check_key(key, None);
        let d: Value = serde_json::from_slice(json).expect("digest JSON");
        assert_eq!(d["awsAccountId"], parts.account.as_str());
        assert_eq!(d["digestS3Bucket"], "trailpipe-synth-bucket");
        assert_eq!(d["digestS3Object"], key.as_str());
        assert_eq!(d["digestSignatureAlgorithm"], "SHA256withRSA");
        assert!(d["digestPublicKeyFingerprint"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_hexdigit()));
        let logs = d["logFiles"].as_array().expect("logFiles");
        assert!(!logs.is_empty());
        for l in logs {
            let obj = l["s3Object"].as_str().unwrap();
            let body = plain
                .get(obj)
                .unwrap_or_else(|| panic!("digest lists missing {obj}"));
            assert_eq!(l["hashAlgorithm"], "SHA-256");
            assert_eq!(
                l["hashValue"],
                hex::encode(Sha256::digest(body)).as_str(),
                "{obj}"
            );
            assert!(l["oldestEventTime"].as_str() <= l["newestEventTime"].as_str());
            assert!(listed.insert(obj.to_string()), "{obj} listed twice");
        }
        by_pair
            .entry((parts.account, parts.region))
            .or_default()
            .push((key.clone(), d));
    }
    assert_eq!(
        listed.len(),
        summary.log_files,
        "every log file in one digest"
    );
    for chain in by_pair.values_mut() {
        chain.sort_by(|a, b| {
            a.1["digestEndTime"]
                .as_str()
                .cmp(&b.1["digestEndTime"].as_str())
        });
        assert!(chain[0].1["previousDigestS3Object"].is_null());
        assert!(chain[0].1["previousDigestSignature"].is_null());
        for w in chain.windows(2) {
            let (prev_key, cur) = (&w[0].0, &w[1].1);
            assert_eq!(cur["previousDigestS3Object"], prev_key.as_str());
            assert_eq!(cur["previousDigestHashAlgorithm"], "SHA-256");
            assert_eq!(
                cur["previousDigestHashValue"],
                hex::encode(Sha256::digest(&plain[prev_key])).as_str()
            );
        }
    }
}

#[test]
fn insight_records_are_well_formed() {
    let (summary, _, plain) = corpus();
    let allowed: HashSet<&str> = [
        "eventVersion",
        "eventTime",
        "awsRegion",
        "eventID",
        "eventType",
        "recipientAccountId",
        "sharedEventID",
        "insightDetails",
        "eventCategory",
    ]
    .into();
    let mut states: HashMap<String, Vec<String>> = HashMap::new();
    let mut n = 0;
    for (key, json) in plain {
        if kind_of(key) != "insight" {
            continue;
        }
        let parts = check_key(key, None);
        for r in records(json) {
            n += 1;
            for k in r.as_object().unwrap().keys() {
                assert!(
                    allowed.contains(k.as_str()),
                    "unexpected field {k} in insight"
                );
            }
            assert_eq!(r["eventType"], "AwsCloudTrailInsight");
            assert_eq!(r["eventCategory"], "Insight");
            assert_eq!(r["recipientAccountId"], parts.account.as_str());
            assert_eq!(r["awsRegion"], parts.region.as_str());
            let d = &r["insightDetails"];
            assert!(d["eventSource"].is_string() && d["eventName"].is_string());
            assert!(["ApiCallRateInsight", "ApiErrorRateInsight"]
                .contains(&d["insightType"].as_str().unwrap()));
            let stats = &d["insightContext"]["statistics"];
            assert!(stats["baseline"]["average"].is_f64());
            assert!(stats["insight"]["average"].is_f64());
            assert!(!d["insightContext"]["attributions"]
                .as_array()
                .unwrap()
                .is_empty());
            states
                .entry(r["sharedEventID"].as_str().unwrap().to_string())
                .or_default()
                .push(d["state"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(n, summary.insight_records);
    assert!(n > 0);
    for (id, mut s) in states {
        s.sort();
        assert_eq!(s, ["End", "Start"], "insight {id}");
    }
}

#[test]
fn target_bytes_run_is_close_and_heavy_tailed() {
    let target = 30_000_000u64;
    let cfg = SynthConfig {
        target_bytes: Some(target),
        seed: 3,
        ..SynthConfig::default()
    };
    let mut per_file = Vec::new();
    let mut json_bytes = 0u64;
    let summary = generate_with(&cfg, |key, gz| {
        if kind_of(key) == "log" {
            let json = gunzip(gz);
            json_bytes += json.len() as u64;
            // Each record has exactly one eventVersion key; cheaper than parsing 30 MB here.
            let needle = b"\"eventVersion\":";
            per_file.push(json.windows(needle.len()).filter(|w| w == needle).count());
        }
        Ok(())
    })
    .expect("generate");
    assert_eq!(json_bytes, summary.json_bytes);
    let ratio = summary.json_bytes as f64 / target as f64;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "{} bytes for a {target} target",
        summary.json_bytes
    );
    assert_eq!(per_file.iter().sum::<usize>() as u64, summary.records);
    per_file.sort_unstable();
    let median = per_file[per_file.len() / 2].max(1);
    let max = *per_file.last().unwrap();
    assert!(max >= 20 * median, "max {max} records vs median {median}");
    assert!(per_file[0] >= 1);
}

#[test]
fn bad_configs_are_rejected_with_a_reason() {
    let cases = [
        SynthConfig {
            regions: 1000,
            ..SynthConfig::default()
        },
        SynthConfig {
            regions: 0,
            ..SynthConfig::default()
        },
        SynthConfig {
            accounts: 0,
            ..SynthConfig::default()
        },
        SynthConfig {
            days: 0,
            ..SynthConfig::default()
        },
        SynthConfig {
            start_date: "2024-02-30".into(),
            ..SynthConfig::default()
        },
        SynthConfig {
            files: Some(3),
            target_bytes: Some(10),
            ..SynthConfig::default()
        },
        SynthConfig {
            org_id: Some("org-1".into()),
            ..SynthConfig::default()
        },
    ];
    for cfg in cases {
        match generate_with(&cfg, |_, _| Ok(())) {
            Err(SynthError::Config(msg)) => assert!(!msg.is_empty()),
            other => panic!("{cfg:?} gave {other:?}"),
        }
    }
    // A failing sink stops the run and its error comes back.
    let err = generate_with(
        &SynthConfig {
            files: Some(3),
            ..SynthConfig::default()
        },
        |key, _| {
            Err(SynthError::Sink {
                key: key.to_string(),
                reason: "full".into(),
            })
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    // An unwritable output directory names the path.
    let file = temp_dir("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = generate(
        &SynthConfig {
            files: Some(1),
            ..SynthConfig::default()
        },
        &file,
    )
    .unwrap_err();
    assert!(
        matches!(err, SynthError::Io { .. }) && err.to_string().contains("not-a-dir"),
        "{err}"
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_corpus_with_as_many_files_as_pairs_covers_every_account_and_region() {
    let (accounts, regions) = (25, 8);
    let (_, files) = collect(&SynthConfig {
        accounts,
        regions,
        days: 1,
        files: Some(accounts * regions),
        seed: 11,
        ..SynthConfig::default()
    });
    let pairs: HashSet<(String, String)> = files
        .iter()
        .filter(|(k, _)| kind_of(k) == "log")
        .map(|(k, _)| {
            let parts: Vec<&str> = k.split('/').collect();
            (parts[1].to_string(), parts[3].to_string())
        })
        .collect();
    assert_eq!(pairs.len(), accounts * regions);
}
