//! `trailpipe ingest` end to end: fixtures and generated data into a local lake, checked with
//! real DuckDB and by rebuilding every record from the Parquet files.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use common::*;
use serde_json::Value;

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

/// Every record rebuilt from the lake's Parquet files, keyed by canonical JSON text, counted.
fn rebuilt_from_lake(lake: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![lake.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.file_name().unwrap().to_string_lossy().starts_with('_') {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let f = std::fs::File::open(&p).unwrap();
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                        .unwrap()
                        .build()
                        .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    for row in 0..batch.num_rows() {
                        let json = trailpipe_record::rebuild_record(&batch, row).unwrap();
                        let mut v: Value = serde_json::from_str(&json).unwrap();
                        strip_nulls(&mut v);
                        *out.entry(v.to_string()).or_default() += 1;
                    }
                }
            }
        }
    }
    out
}

fn originals(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for mut r in records_under(dir) {
        strip_nulls(&mut r);
        *out.entry(r.to_string()).or_default() += 1;
    }
    out
}

#[test]
fn fixtures_land_losslessly_in_the_right_partitions() {
    let lake = tempdir("fixtures");
    let out = trailpipe(&[
        "ingest",
        fixtures().to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ]);
    let stdout = ok(&out);
    assert!(stdout.contains("803 records"), "{stdout}");
    let records = records_under(&fixtures());
    assert_eq!(records.len(), 803);
    assert_eq!(lake_counts(&lake), expected_counts(&records));
    // read back from Parquet and rebuilt: every record equal to its original
    assert_eq!(rebuilt_from_lake(&lake), originals(&fixtures()));
    // nothing but the table folders and the hidden bookkeeping folder
    let mut top: Vec<String> = std::fs::read_dir(&lake)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    top.sort();
    assert_eq!(top, ["_trailpipe", "cloudtrail"]);
}

#[test]
fn generated_corpus_round_trips_and_answers_queries() {
    let src = synth(
        "synth-src",
        &[
            "--accounts",
            "3",
            "--regions",
            "2",
            "--days",
            "2",
            "--files",
            "120",
            "--seed",
            "7",
        ],
    );
    let lake = tempdir("synth-lake");
    let summary = lake.join("summary.json");
    ok(&trailpipe(&[
        "ingest",
        src.to_str().unwrap(),
        "--lake",
        lake.join("lake").to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]));
    let lake = lake.join("lake");
    let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert!(
        s["objects_skipped"].as_u64().unwrap() > 0,
        "digest files are recognised and skipped: {s}"
    );
    assert_eq!(s["objects_failed"], 0);
    let records = records_under(&src);
    assert_eq!(s["records"].as_u64().unwrap(), records.len() as u64);
    assert_eq!(lake_counts(&lake), expected_counts(&records));
    assert!(
        lake.join("cloudtrail_insights").is_dir(),
        "insight records get their own table"
    );
    assert_eq!(rebuilt_from_lake(&lake), originals(&src));

    // DuckDB: nested struct access, JSON text access, time ranges, partition pruning
    let ct = view(&lake, "cloudtrail");
    let issuer = records
        .iter()
        .find_map(|r| {
            r.pointer("/userIdentity/sessionContext/sessionIssuer/arn")
                .and_then(Value::as_str)
        })
        .expect("an assumed-role record");
    let want = records
        .iter()
        .filter(|r| {
            r.pointer("/userIdentity/sessionContext/sessionIssuer/arn")
                .and_then(Value::as_str)
                == Some(issuer)
        })
        .count();
    let got = duckdb(&[&ct, &format!("SELECT count(*) FROM cloudtrail WHERE userIdentity.sessionContext.sessionIssuer.arn = '{issuer}'")]);
    assert_eq!(got[0][0].as_u64().unwrap() as usize, want);

    let bucket = records
        .iter()
        .find_map(|r| {
            r.pointer("/requestParameters/bucketName")
                .and_then(Value::as_str)
        })
        .expect("an S3 record");
    let want = records
        .iter()
        .filter(|r| {
            r.pointer("/requestParameters/bucketName")
                .and_then(Value::as_str)
                == Some(bucket)
        })
        .count();
    let got = duckdb(&[&ct, &format!("SELECT count(*) FROM cloudtrail WHERE json_extract_string(requestParameters, '$.bucketName') = '{bucket}'")]);
    assert_eq!(got[0][0].as_u64().unwrap() as usize, want);

    let (from, to) = ("2024-03-01T06:00:00Z", "2024-03-01T09:30:00Z");
    let want = records
        .iter()
        .filter(|r| r.get("eventCategory").and_then(Value::as_str) != Some("Insight"))
        .filter_map(|r| r.get("eventTime").and_then(Value::as_str))
        .filter(|t| *t >= from && *t < to)
        .count();
    assert!(want > 0);
    let got = duckdb(&[&ct, &format!("SELECT count(*) FROM cloudtrail WHERE eventTime >= TIMESTAMPTZ '{from}' AND eventTime < TIMESTAMPTZ '{to}'")]);
    assert_eq!(got[0][0].as_u64().unwrap() as usize, want);

    // both codecs are in this lake and DuckDB reads both: zstd for the partitions' days (the
    // queries above), snappy for the small row groups of insights
    let codecs = duckdb(&[&format!(
        "SELECT DISTINCT compression FROM parquet_metadata('{}/**/*.parquet') ORDER BY 1",
        lake.display()
    )]);
    assert_eq!(
        codecs,
        vec![vec![Value::from("SNAPPY")], vec![Value::from("ZSTD")]]
    );
    let insights = records
        .iter()
        .filter(|r| r.get("eventCategory").and_then(Value::as_str) == Some("Insight"))
        .count();
    let got = duckdb(&[&format!(
        "SELECT count(DISTINCT eventID) FROM read_parquet('{}/cloudtrail_insights/**/*.parquet')",
        lake.display()
    )]);
    assert_eq!(got[0][0].as_u64().unwrap() as usize, insights);

    // a filter on date opens only that partition's files
    let files_total = count_files(&lake.join("cloudtrail"));
    let files_day = count_files_where(&lake.join("cloudtrail"), "date=2024-03-02");
    assert!(files_day < files_total);
    let explain = duckdb(&[
        &ct,
        "EXPLAIN ANALYZE SELECT count(*) FROM cloudtrail WHERE \"date\" = DATE '2024-03-02'",
    ]);
    let text = explain
        .iter()
        .flat_map(|r| r.iter())
        .filter_map(Value::as_str)
        .collect::<String>();
    let scanned = format!("Scanning Files: {files_day}/{files_total}");
    assert!(
        text.contains(&scanned),
        "expected `{scanned}` in the DuckDB profile:\n{text}"
    );
}

fn count_files(dir: &Path) -> usize {
    count_files_where(dir, "")
}

fn count_files_where(dir: &Path, part: &str) -> usize {
    files_under(dir)
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|x| x == "parquet") && p.to_string_lossy().contains(part)
        })
        .count()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn bad_files_fail_alone_with_a_reason_and_hostile_partitions_stay_inside() {
    let src = tempdir("bad-src");
    let good = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventID":"g1","recipientAccountId":"123456789012","awsRegion":"us-east-1","eventName":"A"},
        {"eventTime":"99999-01-01T00:00:00Z","eventID":"h1","recipientAccountId":"007","awsRegion":"../../x","eventName":"B"},
        {"eventID":"h2","awsRegion":"us-east-1/../../../etc","eventName":"C"},
        {"eventTime":"2024-05-01T10:00:00Z","eventID":"h3","recipientAccountId":"123456789012","awsRegion":"../../../tmp/evil","readOnly":"true"}]}"#;
    std::fs::write(src.join("good.json.gz"), gz(good)).unwrap();
    std::fs::write(src.join("plain.json"), br#"{"Records":[{"eventTime":"2024-05-02T00:00:00Z","eventID":"p1","recipientAccountId":"123456789012","awsRegion":"eu-west-1"}]}"#).unwrap();
    let full = gz(good);
    std::fs::write(src.join("truncated.json.gz"), &full[..full.len() / 2]).unwrap();
    std::fs::write(src.join("not-gzip.json.gz"), b"PK\x03\x04 this is a zip").unwrap();
    std::fs::write(
        src.join("invalid.json.gz"),
        gz(br#"{"Records":[{"eventID":"x1",}]}"#),
    )
    .unwrap();
    std::fs::write(
        src.join("no-records.json.gz"),
        gz(br#"{"records":[{"eventID":"x2"}]}"#),
    )
    .unwrap();
    let mut big = br#"{"Records":[{"eventID":"x3","requestParameters":{"pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 3 << 20));
    big.extend(br#""}}]}"#);
    std::fs::write(src.join("too-big.json.gz"), gz(&big)).unwrap();

    let lake = tempdir("bad-lake");
    let out = trailpipe(&[
        "ingest",
        src.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--max-object-mb",
        "2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failures give a non-zero status"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (name, reason) in [
        ("truncated.json.gz", "gzip"),
        ("not-gzip.json.gz", "not gzip"),
        ("invalid.json.gz", "invalid JSON"),
        ("no-records.json.gz", "no \"Records\""),
        ("too-big.json.gz", "exceeds the cap"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.starts_with("FAILED") && l.contains(name))
            .unwrap_or_else(|| panic!("no failure line for {name}:\n{stderr}"));
        assert!(line.contains(reason), "{line}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("5 failed"), "{stdout}");
    // exactly the good files' rows, every hostile value inside the lake in a fallback partition
    let ids = duckdb(&[&view(&lake, "cloudtrail"), "SELECT eventID, account, region, CAST(\"date\" AS VARCHAR) FROM cloudtrail ORDER BY eventID"]);
    let ids: Vec<String> = ids
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        ids,
        [
            "g1 123456789012 us-east-1 2024-05-01",
            "h1 unknown unknown 1970-01-01",
            "h2 unknown unknown 1970-01-01",
            "h3 123456789012 unknown 2024-05-01",
            "p1 123456789012 eu-west-1 2024-05-02",
        ]
    );
    // the lake holds exactly these partition folders (plus hidden bookkeeping), nothing else
    let mut dirs: Vec<String> = files_under(&lake)
        .iter()
        .map(|p| p.strip_prefix(&lake).unwrap().to_string_lossy().to_string())
        .filter(|p| !p.starts_with("_trailpipe/"))
        .map(|p| p.rsplit_once('/').unwrap().0.to_string())
        .collect();
    dirs.sort();
    dirs.dedup();
    assert_eq!(
        dirs,
        [
            "cloudtrail/account=123456789012/region=eu-west-1/date=2024-05-02",
            "cloudtrail/account=123456789012/region=unknown/date=2024-05-01",
            "cloudtrail/account=123456789012/region=us-east-1/date=2024-05-01",
            "cloudtrail/account=unknown/region=unknown/date=1970-01-01",
        ]
    );
    let readonly = duckdb(&[&view(&lake, "cloudtrail"), "SELECT readOnly IS NULL, json_extract_string(_extra, '$.readOnly') FROM cloudtrail WHERE eventID = 'h3'"]);
    assert_eq!(
        readonly[0],
        vec![Value::Bool(true), Value::String("true".into())]
    );
}

#[test]
fn same_input_twice_gives_the_same_rows_and_concurrent_writers_do_not_collide() {
    let src = synth("twice-src", &["--files", "60", "--seed", "11"]);
    let (a, b) = (tempdir("twice-a"), tempdir("twice-b"));
    ok(&trailpipe(&[
        "ingest",
        src.to_str().unwrap(),
        "--lake",
        a.to_str().unwrap(),
    ]));
    ok(&trailpipe(&[
        "ingest",
        src.to_str().unwrap(),
        "--lake",
        b.to_str().unwrap(),
    ]));
    let digest = |lake: &Path| {
        duckdb(&[&view(lake, "cloudtrail"), "SELECT md5(string_agg(CAST(c AS VARCHAR), '|' ORDER BY eventID)) FROM (SELECT eventID, c FROM cloudtrail c)"])
    };
    assert_eq!(digest(&a), digest(&b));

    // two processes, one lake, at the same time: nothing lost, no file overwritten
    let shared = tempdir("concurrent");
    let spawn = || {
        std::process::Command::new(bin())
            .args([
                "ingest",
                src.to_str().unwrap(),
                "--lake",
                shared.to_str().unwrap(),
                "--target-file-mb",
                "1",
            ])
            .env("TRAILPIPE_LOG", "warn")
            .spawn()
            .unwrap()
    };
    let (mut p1, mut p2) = (spawn(), spawn());
    assert!(p1.wait().unwrap().success());
    assert!(p2.wait().unwrap().success());
    let n = records_under(&src)
        .iter()
        .filter(|r| r.get("eventCategory").and_then(Value::as_str) != Some("Insight"))
        .count() as u64;
    assert_eq!(count(&shared, "cloudtrail", ""), 2 * n);
    let files = count_files(&shared.join("cloudtrail"));
    assert_eq!(
        files,
        count_files(&a.join("cloudtrail")) + count_files(&b.join("cloudtrail")),
        "every file of both runs is there"
    );
}

/// Row groups of each Parquet file under `lake`.
fn row_groups(lake: &Path) -> Vec<usize> {
    files_under(lake)
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| {
            let r = parquet::file::serialized_reader::SerializedFileReader::new(
                std::fs::File::open(p).unwrap(),
            )
            .unwrap();
            parquet::file::reader::FileReader::metadata(&r).num_row_groups()
        })
        .collect()
}

#[test]
fn memory_pressure_keeps_one_row_group_per_file() {
    let src = synth(
        "pressure-src",
        &[
            "--accounts",
            "2",
            "--regions",
            "2",
            "--days",
            "2",
            "--files",
            "80",
            "--seed",
            "11",
        ],
    );
    let records = records_under(&src);
    let json_bytes: usize = records.iter().map(|r| r.to_string().len()).sum();
    // a 24 MB budget holds 8.4 MB of rows, under the corpus's 12 MB of JSON (more as Arrow
    // arrays): pressure moves rows into the row groups in progress, and each file is still
    // one row group (encoding early used to cut one of them in two)
    assert!(json_bytes > 10 << 20, "{json_bytes}");
    let lake = tempdir("pressure");
    ok(&trailpipe(&[
        "ingest",
        src.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--memory-budget-mb",
        "24",
    ]));
    assert_eq!(lake_counts(&lake), expected_counts(&records));
    assert_eq!(rebuilt_from_lake(&lake), originals(&src));
    let leftovers: Vec<_> = files_under(&lake)
        .into_iter()
        .filter(|p| p.extension().is_none_or(|x| x != "parquet"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let groups = row_groups(&lake);
    assert!(groups.len() > 4, "{groups:?}");
    assert!(groups.iter().all(|&n| n == 1), "{groups:?}");
}
