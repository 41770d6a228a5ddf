//! Shared helpers of the end-to-end tests: the built binary, real DuckDB, moto server, and the
//! truth about generated input computed independently of trailpipe's decoder.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `trailpipe` binary built by `cargo build -p trailpipe` (scripts/test builds it first).
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAILPIPE_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("trailpipe");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p trailpipe` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// The Python of the test virtualenv (with duckdb and moto), made by scripts/test.
pub fn python() -> PathBuf {
    let p = std::env::var_os("TRAILPIPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/test, which creates the virtualenv with duckdb and moto",
        p.display()
    );
    p
}

pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("TRAILPIPE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/fixtures"));
    assert!(
        dir.is_dir(),
        "fixtures not found at {} (set TRAILPIPE_FIXTURES)",
        dir.display()
    );
    dir
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "trailpipe-e2e-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos())
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs trailpipe to completion.
pub fn trailpipe(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .env("TRAILPIPE_LOG", "warn")
        .output()
        .expect("running trailpipe");
    out
}

pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "trailpipe failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A corpus from `trailpipe synth` with `args`, in a fresh temporary folder tagged `tag`.
pub fn synth(tag: &str, args: &[&str]) -> PathBuf {
    let dir = tempdir(tag);
    let out = dir.to_str().unwrap();
    ok(&trailpipe(&[&["synth", "--out", out], args].concat()));
    dir
}

/// Runs SQL with real DuckDB; returns the last statement's rows.
pub fn duckdb(statements: &[&str]) -> Vec<Vec<Value>> {
    let out = Command::new(python())
        .arg(repo().join("tests/support/duckdb_query.py"))
        .args(statements)
        .output()
        .expect("running duckdb");
    assert!(
        out.status.success(),
        "duckdb failed: {}\n{statements:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("duckdb JSON");
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect()
}

/// The DuckDB view over a lake table, as the README recommends.
pub fn view(lake: &Path, table: &str) -> String {
    format!(
        "CREATE VIEW {table} AS SELECT * FROM read_parquet('{}/{table}/account=*/region=*/date=*/*.parquet', \
         hive_partitioning = true, hive_types_autocast = false, union_by_name = true, \
         hive_types = {{'account': VARCHAR, 'region': VARCHAR, 'date': DATE}})",
        lake.display()
    )
}

pub fn count(lake: &Path, table: &str, filter: &str) -> u64 {
    let rows = duckdb(&[
        &view(lake, table),
        &format!("SELECT count(*) FROM {table} {filter}"),
    ]);
    rows[0][0].as_u64().unwrap()
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The records of one gzip log file (none for a digest), read with flate2 + serde_json.
pub fn records_in(path: &Path) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v.get("Records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Every log-file record under `dir` (`.json.gz`, not digests).
pub fn records_under(dir: &Path) -> Vec<Value> {
    files_under(dir)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .flat_map(|p| records_in(p))
        .collect()
}

/// Copies `s3://bucket/prefix/...` to a local folder (DuckDB has no httpfs offline).
pub async fn download_prefix(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> PathBuf {
    let dir = tempdir("lake-copy");
    let mut token = None;
    loop {
        let resp = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in resp.contents() {
            let key = o.key().unwrap();
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            let path = dir.join(key.strip_prefix(prefix).unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        match resp.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    dir
}

/// Messages visible, in flight and delayed.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .map(|k| {
        attrs
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// Waits until the queue holds no message at all.
pub async fn wait_queue_empty(sqs: &aws_sdk_sqs::Client, url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let depth = queue_depth(sqs, url).await;
        if depth == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "queue not drained within {timeout:?} ({depth} left)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The partition a record must land in, computed here independently of trailpipe's decoder.
pub fn expected_partition(r: &Value) -> (String, String, String, String) {
    let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    let insight = s("eventType").as_deref() == Some("AwsCloudTrailInsight")
        || s("eventCategory").as_deref() == Some("Insight");
    let table = if insight {
        "cloudtrail_insights"
    } else {
        "cloudtrail"
    };
    let account = s("recipientAccountId")
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| "unknown".into());
    let region = s("awsRegion")
        .filter(|x| {
            !x.is_empty()
                && x.len() <= 32
                && x.as_bytes()[0].is_ascii_lowercase()
                && !x.ends_with('-')
                && !x.contains("--")
                && x.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
        .unwrap_or_else(|| "unknown".into());
    let date = s("eventTime")
        .and_then(|t| t.get(..10).map(str::to_string))
        .filter(|d| {
            let b = d.as_bytes();
            b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && d[..4].parse::<u32>().is_ok_and(|y| y >= 1970)
                && d[5..7].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
                && d[8..10].parse::<u32>().is_ok_and(|x| (1..=31).contains(&x))
        })
        .unwrap_or_else(|| "1970-01-01".into());
    (table.into(), account, region, date)
}

/// Expected row counts per (table, account, region, date).
pub fn expected_counts(records: &[Value]) -> BTreeMap<(String, String, String, String), u64> {
    let mut m = BTreeMap::new();
    for r in records {
        *m.entry(expected_partition(r)).or_default() += 1;
    }
    m
}

/// Row counts per partition in the lake, by DuckDB.
pub fn lake_counts(lake: &Path) -> BTreeMap<(String, String, String, String), u64> {
    let mut m = BTreeMap::new();
    for table in ["cloudtrail", "cloudtrail_insights"] {
        if !lake.join(table).exists() {
            continue;
        }
        let rows = duckdb(&[
            &view(lake, table),
            &format!("SELECT account, region, CAST(\"date\" AS VARCHAR), count(*) FROM {table} GROUP BY ALL"),
        ]);
        for r in rows {
            let s = |i: usize| r[i].as_str().unwrap().to_string();
            m.insert(
                (table.to_string(), s(0), s(1), s(2)),
                r[3].as_u64().unwrap(),
            );
        }
    }
    m
}

/// A moto server on 127.0.0.1 for the test's lifetime. Fails loudly if it cannot start.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
}

impl Moto {
    pub fn start() -> Moto {
        let moto = python().parent().unwrap().join("moto_server");
        assert!(
            moto.exists(),
            "{} is missing: run scripts/test, which installs moto[server]",
            moto.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempdir("moto").join("requests.log");
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", moto.display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto server did not start on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// moto's request log so far (one line per HTTP request: method, path, status).
    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Environment for a trailpipe process talking to this moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("TRAILPIPE_S3_PATH_STYLE", "true".into()),
        ]
    }

    pub async fn clients(&self) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        (
            aws_sdk_s3::Client::from_conf(s3),
            aws_sdk_sqs::Client::new(&config),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
