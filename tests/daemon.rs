//! `trailpipe run` against a moto server: real S3 event notifications into SQS, SNS and
//! EventBridge bodies, poison messages and the dead-letter queue, crashes, SIGTERM, two daemons.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use common::*;
use serde_json::Value;

struct Env {
    moto: Moto,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    dlq: String,
    /// stderr of every daemon that has exited, printed if the test fails
    logs: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
            let tail = &logs[logs.len().saturating_sub(20_000)..];
            eprintln!("--- logs of the daemons that exited (last 20 kB) ---\n{tail}");
        }
    }
}

const TRAIL: &str = "trail-bucket";
const LAKE: &str = "lake-bucket";

impl Env {
    /// A trail bucket, a lake bucket, a queue with a dead-letter queue (redrive after
    /// `max_receives`), and (optionally) the trail bucket's S3 → SQS notification.
    async fn new(notify: bool) -> Env {
        Env::with_redrive(notify, 20).await
    }

    async fn with_redrive(notify: bool, max_receives: u32) -> Env {
        let moto = Moto::start();
        let (s3, sqs) = moto.clients().await;
        for b in [TRAIL, LAKE] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        let dlq = sqs
            .create_queue()
            .queue_name("trailpipe-dlq")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let dlq_arn = queue_arn(&sqs, &dlq).await;
        let queue = sqs
            .create_queue()
            .queue_name("trailpipe")
            .attributes(
                QueueAttributeName::RedrivePolicy,
                format!(
                    r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#
                ),
            )
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        if notify {
            let arn = queue_arn(&sqs, &queue).await;
            use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
            s3.put_bucket_notification_configuration()
                .bucket(TRAIL)
                .notification_configuration(
                    NotificationConfiguration::builder()
                        .queue_configurations(
                            QueueConfiguration::builder()
                                .queue_arn(arn)
                                .events(Event::S3ObjectCreated)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        Env {
            moto,
            s3,
            sqs,
            queue,
            dlq,
            logs: Default::default(),
        }
    }

    /// Uploads every file under `dir` to the trail bucket (key = relative path); returns keys.
    async fn upload(&self, dir: &Path) -> Vec<String> {
        let mut keys = Vec::new();
        for p in files_under(dir) {
            let key = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            self.put(&key, std::fs::read(&p).unwrap()).await;
            keys.push(key);
        }
        keys
    }

    async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(TRAIL)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }

    async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    async fn depth(&self, queue: &str) -> u64 {
        queue_depth(&self.sqs, queue).await
    }

    async fn wait_empty(&self, timeout: Duration) {
        wait_queue_empty(&self.sqs, &self.queue, timeout).await
    }

    fn daemon(&self, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(bin());
        cmd.args([
            "run",
            "--queue-url",
            &self.queue,
            "--lake",
            &format!("s3://{LAKE}/lake"),
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .args([
            "--max-file-age-secs",
            "2",
            "--claim-ttl-secs",
            "6",
            "--visibility-timeout-secs",
            "10",
            "--failure-backoff-secs",
            "1",
        ])
        .args(extra)
        .env("TRAILPIPE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: Some(cmd.spawn().unwrap()),
            port,
            logs: self.logs.clone(),
        }
    }

    /// Downloads the lake bucket to a local folder for DuckDB (no httpfs offline).
    async fn download_lake(&self) -> PathBuf {
        download_prefix(&self.s3, LAKE, "lake/").await
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

struct Daemon {
    child: Option<Child>,
    port: u16,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Daemon {
    fn metrics(&self) -> BTreeMap<String, f64> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("metrics port");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.lines()
            .filter(|l| l.starts_with("trailpipe_"))
            .filter_map(|l| {
                l.rsplit_once(' ')
                    .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0.0)))
            })
            .collect()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "daemon did not open its metrics port"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM once the daemon is up; returns (exit code, seconds to exit, stderr).
    fn terminate(&mut self) -> (Option<i32>, f64, String) {
        self.wait_ready();
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let out = self.keep_log(wait_with_timeout(&mut child, Duration::from_secs(40)));
        (out.0, started.elapsed().as_secs_f64(), out.1)
    }

    fn kill9(&mut self) -> String {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        self.keep_log(wait_with_timeout(&mut child, Duration::from_secs(10)))
            .1
    }

    fn wait_exit(&mut self, timeout: Duration) -> (Option<i32>, String) {
        let mut child = self.child.take().unwrap();
        self.keep_log(wait_with_timeout(&mut child, timeout))
    }

    /// Keeps an exited daemon's log for the test's failure report.
    fn keep_log(&self, out: (Option<i32>, String)) -> (Option<i32>, String) {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        logs.push_str(&format!(
            "=== daemon exited with {:?} ===\n{}",
            out.0, out.1
        ));
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
            if std::thread::panicking() {
                // the daemon's log explains most failures
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                let tail: Vec<&str> = err.lines().rev().take(60).collect();
                eprintln!("--- daemon log (last 60 lines) ---");
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            let tail: Vec<&str> = err.lines().rev().take(80).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "process did not exit within {timeout:?}; its log's end:\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn synth(files: &str, seed: &str) -> (PathBuf, Vec<Value>) {
    let src = common::synth(
        "daemon-src",
        &["--files", files, "--seed", seed, "--days", "2"],
    );
    let records = records_under(&src);
    (src, records)
}

/// Every record exactly once: per-partition counts and distinct eventIDs.
fn assert_exactly_once(lake: &Path, records: &[Value]) {
    assert_eq!(lake_counts(lake), expected_counts(records));
    let ct = view(lake, "cloudtrail");
    let n = duckdb(&[
        &ct,
        "SELECT count(*), count(DISTINCT eventID) FROM cloudtrail",
    ]);
    assert_eq!(n[0][0], n[0][1], "no duplicate eventIDs");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_notifications_to_an_s3_lake_exactly_once_and_metrics_agree() {
    let env = Env::new(true).await;
    let (src, records) = synth("40", "21");
    let spool = tempdir("spool");
    // every lake file goes up as a multipart upload here, so that path is exercised too
    let mut d = env.daemon(
        &["--spool-dir", spool.to_str().unwrap()],
        &[("TRAILPIPE_MULTIPART_THRESHOLD_BYTES", "1")],
    );
    d.wait_ready();
    let keys = env.upload(&src).await;
    env.wait_empty(Duration::from_secs(90)).await;
    let m = d.metrics();
    let logs = keys
        .iter()
        .filter(|k| k.contains("/CloudTrail/") || k.contains("/CloudTrail-Insight/"))
        .count() as f64;
    assert_eq!(m["trailpipe_records_total"], records.len() as f64);
    assert_eq!(m["trailpipe_objects_total"], logs);
    // SQS delivers at least once, and moto under load hands one message to two receives now
    // and then: a digest's message received twice is skipped twice. Without such a duplicate
    // (one message per key, plus the test event) the count is exact.
    let skipped = m["trailpipe_objects_skipped_total"];
    let duplicates = (m["trailpipe_messages_received_total"] - keys.len() as f64 - 1.0).max(0.0);
    assert!(
        (keys.len() as f64 - logs..=keys.len() as f64 - logs + duplicates).contains(&skipped),
        "digest keys are skipped: {skipped} skipped, {} keys, {logs} logs, {duplicates} duplicate deliveries",
        keys.len()
    );
    let jobs = m["trailpipe_decode_jobs_total"];
    assert!(
        (1.0..=logs + duplicates).contains(&jobs),
        "{jobs} decode jobs for {logs} log objects: one per object at most"
    );
    assert_eq!(
        m["trailpipe_messages_deleted_total"],
        m["trailpipe_messages_received_total"]
    );
    assert!(
        m["trailpipe_messages_received_total"] >= keys.len() as f64,
        "one per object plus the test event"
    );
    assert!(m["trailpipe_files_committed_total"] >= 1.0);
    assert_eq!(m["trailpipe_lag_seconds_count"], logs);
    assert_eq!(m["trailpipe_in_flight_units"], 0.0);
    let (code, secs, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(secs < 25.0);
    assert!(
        stderr.contains("test notification deleted"),
        "the s3:TestEvent was deleted"
    );
    let left: Vec<_> = std::fs::read_dir(&spool).unwrap().collect();
    assert!(
        left.is_empty(),
        "the process's spool folder is removed at exit: {left:?}"
    );
    let lake = env.download_lake().await;
    assert_exactly_once(&lake, &records);
    assert_eq!(env.depth(&env.queue).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sns_and_eventbridge_bodies_with_several_keys() {
    let env = Env::new(false).await;
    let (src, records) = synth("12", "22");
    let keys: Vec<String> = env
        .upload(&src)
        .await
        .into_iter()
        .filter(|k| k.contains("/CloudTrail/") || k.contains("-Insight/"))
        .collect();
    let thirds: Vec<&[String]> = keys.chunks(keys.len().div_ceil(3)).collect();
    // CloudTrail's own SNS message, raw delivery, several keys
    let raw = serde_json::json!({"s3Bucket": TRAIL, "s3ObjectKey": thirds[0]}).to_string();
    env.send(&raw).await;
    // the same inside an SNS envelope (raw delivery off)
    let envelope = serde_json::json!({"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:ct",
        "Message": serde_json::json!({"s3Bucket": TRAIL, "s3ObjectKey": thirds[1]}).to_string(),
        "Timestamp": "2024-03-01T00:00:00.000Z", "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "https://x", "UnsubscribeURL": "https://x"});
    env.send(&envelope.to_string()).await;
    // EventBridge Object Created, one per key
    for k in thirds[2] {
        let eb = serde_json::json!({"version": "0", "id": "e", "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
            "time": "2024-03-01T00:00:00Z", "region": "us-east-1", "resources": [format!("arn:aws:s3:::{TRAIL}")],
            "detail": {"version": "0", "bucket": {"name": TRAIL}, "object": {"key": k, "size": 1, "etag": "x", "sequencer": "1"}, "request-id": "r", "requester": "123456789012", "reason": "PutObject"}});
        env.send(&eb.to_string()).await;
    }
    let mut d = env.daemon(&[], &[]);
    env.wait_empty(Duration::from_secs(90)).await;
    let (code, _, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert_exactly_once(&env.download_lake().await, &records);
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_reach_the_dead_letter_queue_and_good_ones_commit() {
    let env = Env::with_redrive(true, 2).await;
    let (src, records) = synth("10", "23");
    let mut d = env.daemon(&[], &[]);
    env.upload(&src).await;
    env.put("AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_us-east-1_20240301T0000Z_corruptcorruptxx.json.gz", b"\x1f\x8b\x08\x00garbage".to_vec()).await;
    env.send(&serde_json::json!({"s3Bucket": TRAIL, "s3ObjectKey": ["AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/missing.json.gz"]}).to_string()).await;
    env.send("this is not a notification").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while env.depth(&env.dlq).await < 3 {
        assert!(
            Instant::now() < deadline,
            "poison messages did not reach the DLQ"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    env.wait_empty(Duration::from_secs(60)).await;
    let m = d.metrics();
    assert!(
        m["trailpipe_errors_total{kind=\"not_found\"}"] >= 2.0,
        "{m:?}"
    );
    assert!(m["trailpipe_errors_total{kind=\"gzip\"}"] >= 2.0, "{m:?}");
    assert!(
        m["trailpipe_errors_total{kind=\"notification\"}"] >= 2.0,
        "{m:?}"
    );
    let (code, _, stderr) = d.terminate();
    assert_eq!(code, Some(0));
    assert!(
        stderr.contains("missing.json.gz"),
        "the log names the key:\n{stderr}"
    );
    assert_exactly_once(&env.download_lake().await, &records);
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_between_two_partition_commits_of_one_object_then_restart() {
    let env = Env::new(true).await;
    let (src, records) = synth("30", "24");
    // at least one object whose rows fall on two dates
    let straddling = records_by_object(&src)
        .into_iter()
        .filter(|dates| dates.len() > 1)
        .count();
    assert!(
        straddling > 0,
        "the corpus must hold an object spanning two dates"
    );
    env.upload(&src).await;
    // every append seals and commits at once; abort right after the first commit, i.e. before
    // the second partition of the first multi-partition object is committed, in many runs
    let fast = ["--row-group-mb", "0", "--target-file-mb", "0"];
    for crash_after in ["1", "3", "7"] {
        let mut d = env.daemon(
            &fast,
            &[("TRAILPIPE_FAULT_ABORT_AFTER_COMMITS", crash_after)],
        );
        let (code, stderr) = d.wait_exit(Duration::from_secs(60));
        assert_ne!(
            code,
            Some(0),
            "the fault hook aborted the daemon:\n{stderr}"
        );
        assert!(stderr.contains("fault injection"), "{stderr}");
    }
    // a normal run finds the rows the crashed runs committed, and adds exactly the rest
    let mut d = env.daemon(&[], &[]);
    env.wait_empty(Duration::from_secs(120)).await;
    let m = d.metrics();
    assert!(
        m["trailpipe_rows_skipped_duplicate_total"] > 0.0,
        "redelivered objects found their committed rows: {m:?}"
    );
    assert_eq!(d.terminate().0, Some(0));
    assert_exactly_once(&env.download_lake().await, &records);

    // a real kill -9 in the middle of a second corpus, then a restart
    let (src2, records2) = synth("40", "124");
    let mut d = env.daemon(&[], &[]);
    env.upload(&src2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.kill9();
    let mut d = env.daemon(&[], &[]);
    env.wait_empty(Duration::from_secs(120)).await;
    let (code, _, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let all: Vec<Value> = records.iter().chain(records2.iter()).cloned().collect();
    assert_exactly_once(&env.download_lake().await, &all);
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_claim_replies_neither_lose_nor_duplicate_rows() {
    // The first claim is written but all five replies are lost, so its state stays unknown:
    // its rows must still be written (skipping them lets the claimed file commit without
    // them, and a redelivery would trust it). The next claim loses two replies and is then
    // recognised as ours.
    // a long claim TTL keeps this test on lost replies alone: with a short one the backoff can
    // make the file miss its claim deadline, the case of the next test
    let (m, stderr) = drain_with_lost_claim_replies("28", "60", "7").await;
    assert_eq!(m[r#"trailpipe_errors_total{kind="claim"}"#], 1.0, "{m:?}");
    assert!(stderr.contains("claim state unknown"), "{stderr}");
}

/// One daemon over a fresh trail of 20 objects (`seed`), with `--claim-ttl-secs ttl` and the
/// first `lost` claim replies lost, until the queue drains; it must exit 0 after SIGTERM and
/// leave every record in the lake exactly once. Returns its metrics and log.
async fn drain_with_lost_claim_replies(
    seed: &str,
    ttl: &str,
    lost: &str,
) -> (BTreeMap<String, f64>, String) {
    let env = Env::new(true).await;
    let (src, records) = synth("20", seed);
    env.upload(&src).await;
    let mut d = env.daemon(
        &["--claim-ttl-secs", ttl],
        &[("TRAILPIPE_FAULT_LOSE_CLAIM_REPLIES", lost)],
    );
    env.wait_empty(Duration::from_secs(120)).await;
    let m = d.metrics();
    assert_eq!(m["trailpipe_in_flight_units"], 0.0);
    let (code, _, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert_exactly_once(&env.download_lake().await, &records);
    (m, stderr)
}

/// A file committed after its claims' deadline could duplicate rows (another writer may
/// have taken the claims over), so it is discarded and its objects retried. Here it is sure
/// to happen: the first claim's five lost replies back off for 1.5 s, and with a 4 s claim
/// TTL the file those rows open, sealed at 2 s of age, is past the deadline less the 1 s
/// margin. The retry must finish the message (it once stayed in flight forever).
#[tokio::test(flavor = "multi_thread")]
async fn a_file_past_its_claim_deadline_is_discarded_and_its_objects_retried() {
    let (m, stderr) = drain_with_lost_claim_replies("31", "4", "5").await;
    assert!(
        m[r#"trailpipe_errors_total{kind="claim_deadline"}"#] >= 1.0,
        "{m:?}"
    );
    assert!(stderr.contains("missed its claim deadline"), "{stderr}");
}

/// S3 and SNS deliver at least once, and a bucket may notify the queue twice (an S3 event and
/// an EventBridge rule): a unit for an object whose rows this daemon buffers already waits for
/// that file through its own claim. Its message used to stay in flight forever (the file's
/// commit completed only the first unit), which is also what followed a missed claim deadline.
#[tokio::test(flavor = "multi_thread")]
async fn duplicate_notifications_are_acknowledged_and_written_once() {
    let env = Env::new(false).await;
    let (src, records) = synth("12", "30");
    let keys: Vec<String> = env
        .upload(&src)
        .await
        .into_iter()
        .filter(|k| k.contains("/CloudTrail/") || k.contains("-Insight/"))
        .collect();
    for k in &keys {
        // the same key twice in one message, and once more in another
        env.send(&serde_json::json!({"s3Bucket": TRAIL, "s3ObjectKey": [k, k]}).to_string())
            .await;
        env.send(&serde_json::json!({"s3Bucket": TRAIL, "s3ObjectKey": [k]}).to_string())
            .await;
    }
    let mut d = env.daemon(&[], &[]);
    env.wait_empty(Duration::from_secs(90)).await;
    let m = d.metrics();
    assert_eq!(
        m["trailpipe_messages_deleted_total"],
        2.0 * keys.len() as f64
    );
    // Under load a file can miss its claim deadline and be retried, which decodes some rows
    // more than three times; but the last try of each of the three units of an object writes
    // a row at most once, so at least two of them skip it.
    assert!(m["trailpipe_records_total"] >= 3.0 * records.len() as f64);
    assert!(
        m["trailpipe_rows_skipped_duplicate_total"] >= 2.0 * records.len() as f64,
        "every row was seen three times and written once: {m:?}"
    );
    assert_eq!(m["trailpipe_in_flight_units"], 0.0);
    let (code, _, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert_exactly_once(&env.download_lake().await, &records);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_later_partition_keeps_the_message_until_its_rows_are_written() {
    use std::io::Write;
    let env = Env::new(true).await;
    // one object with rows on two dates; every append commits at once, so the first
    // partition's file commits while the second partition is still to come
    let account = "111122223333";
    let record = |id: &str, time: &str| {
        serde_json::json!({"eventVersion": "1.09", "eventTime": time, "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject", "awsRegion": "us-east-1", "recipientAccountId": account, "eventID": id})
    };
    let records = vec![
        record("a", "2024-03-01T00:01:00Z"),
        record("b", "2024-03-01T00:02:00Z"),
        record("late", "2024-02-29T23:50:00Z"),
    ];
    let key = format!("AWSLogs/{account}/CloudTrail/us-east-1/2024/03/01/{account}_CloudTrail_us-east-1_20240301T0005Z_busy.json.gz");
    // another writer holds the late partition's claim for a few more seconds
    let partition = trailpipe_record::PartitionKey {
        table: trailpipe_record::Table::CloudTrail,
        account: account.into(),
        region: "us-east-1".into(),
        date: trailpipe_record::Date::parse("2024-02-29").unwrap(),
    };
    let source = format!("s3://{TRAIL}/{key}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let claim = trailpipe_lake::ledger::Claim {
        source: source.clone(),
        partition: partition.path(),
        file: format!("{}/part-elsewhere.parquet", partition.path()),
        writer: "another-writer".into(),
        deadline_ms: now_ms + 8_000,
        token: 0,
    };
    env.s3
        .put_object()
        .bucket(LAKE)
        .key(format!(
            "lake/{}",
            trailpipe_lake::ledger::claim_path(&source, &partition)
        ))
        .body(ByteStream::from(serde_json::to_vec(&claim).unwrap()))
        .send()
        .await
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(
        serde_json::json!({ "Records": records })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let mut d = env.daemon(&["--row-group-mb", "0", "--target-file-mb", "0"], &[]);
    env.put(&key, gz.finish().unwrap()).await;
    env.wait_empty(Duration::from_secs(60)).await;
    let (code, _, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert_exactly_once(&env.download_lake().await, &records);
}

/// For each log object, the set of UTC dates of its events.
fn records_by_object(dir: &Path) -> Vec<std::collections::BTreeSet<String>> {
    files_under(dir)
        .iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .map(|p| {
            records_in(p)
                .iter()
                .filter_map(|r| {
                    r.get("eventTime")
                        .and_then(Value::as_str)
                        .map(|t| t[..10].to_string())
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeat_keeps_slow_work_hidden() {
    let env = Env::new(true).await;
    let (src, records) = synth("8", "25");
    // visibility 2 s, but rows wait 6 s for their file: only the heartbeat prevents redelivery
    let mut d = env.daemon(
        &[
            "--visibility-timeout-secs",
            "2",
            "--max-file-age-secs",
            "6",
            "--claim-ttl-secs",
            "30",
        ],
        &[],
    );
    let keys = env.upload(&src).await;
    env.wait_empty(Duration::from_secs(90)).await;
    let m = d.metrics();
    assert_eq!(
        m["trailpipe_messages_received_total"],
        keys.len() as f64 + 1.0,
        "no redelivery (objects + the test event)"
    );
    assert_eq!(m["trailpipe_rows_skipped_duplicate_total"], 0.0);
    let (code, _, _) = d.terminate();
    assert_eq!(code, Some(0));
    assert_exactly_once(&env.download_lake().await, &records);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_then_restart_finishes_exactly_once() {
    let env = Env::new(true).await;
    let (src, records) = synth("60", "26");
    let mut d = env.daemon(
        &["--max-file-age-secs", "30", "--claim-ttl-secs", "60"],
        &[],
    );
    env.upload(&src).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, secs, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(secs < 25.0, "exited within the drain timeout ({secs:.1}s)");
    assert!(stderr.contains("drained"), "{stderr}");
    let mut d = env.daemon(&[], &[]);
    env.wait_empty(Duration::from_secs(90)).await;
    let (code, _, _) = d.terminate();
    assert_eq!(code, Some(0));
    assert_exactly_once(&env.download_lake().await, &records);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_share_one_queue_and_one_lake() {
    let env = Env::new(true).await;
    let (src, records) = synth("80", "27");
    let mut a = env.daemon(&["--receivers", "1"], &[]);
    let mut b = env.daemon(&["--receivers", "1"], &[]);
    env.upload(&src).await;
    env.wait_empty(Duration::from_secs(120)).await;
    let (ma, mb) = (a.metrics(), b.metrics());
    assert!(
        ma["trailpipe_objects_total"] > 0.0 && mb["trailpipe_objects_total"] > 0.0,
        "both did part of the work: {} / {}",
        ma["trailpipe_objects_total"],
        mb["trailpipe_objects_total"]
    );
    assert_eq!(a.terminate().0, Some(0));
    assert_eq!(b.terminate().0, Some(0));
    assert_exactly_once(&env.download_lake().await, &records);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_beyond_the_in_flight_limit_keeps_flowing() {
    // files would wait an hour for their age limit; only the early flush at the in-flight
    // limit lets the queue drain
    let env = Env::new(true).await;
    let (src, records) = synth("30", "28");
    let mut d = env.daemon(
        &[
            "--max-in-flight",
            "4",
            "--max-file-age-secs",
            "3600",
            "--claim-ttl-secs",
            "7200",
        ],
        &[],
    );
    let keys = env.upload(&src).await;
    // everything but the last few messages (under the limit, they wait for their age)
    let deadline = Instant::now() + Duration::from_secs(120);
    while env.depth(&env.queue).await > 4 {
        assert!(Instant::now() < deadline, "the backlog stopped flowing");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let m = d.metrics();
    assert!(m["trailpipe_early_flushes_total"] >= 1.0, "{m:?}");
    assert!(m["trailpipe_messages_deleted_total"] >= keys.len() as f64 - 4.0);
    // the drain commits the rest
    let (code, _, stderr) = d.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(env.depth(&env.queue).await, 0);
    assert_exactly_once(&env.download_lake().await, &records);
}

/// Every object under the lake prefix, with its server-side encryption and KMS key id.
async fn lake_encryption(env: &Env) -> Vec<(String, Option<String>, Option<String>)> {
    let listed = env
        .s3
        .list_objects_v2()
        .bucket(LAKE)
        .prefix("lake/")
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for key in listed.contents().iter().filter_map(|o| o.key()) {
        let head = env
            .s3
            .head_object()
            .bucket(LAKE)
            .key(key)
            .send()
            .await
            .unwrap();
        out.push((
            key.to_string(),
            head.server_side_encryption()
                .map(|s| s.as_str().to_string()),
            head.ssekms_key_id().map(String::from),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn lake_objects_are_encrypted_with_sse_s3_or_the_given_kms_key() {
    let env = Env::new(true).await;
    let (src, records) = synth("6", "29");
    // a real KMS key in moto: S3 refuses a key id that does not exist
    let out = Command::new(python())
        .args([
            "-c",
            "import boto3,sys; print(boto3.client('kms', endpoint_url=sys.argv[1], \
             region_name='us-east-1', aws_access_key_id='testing', \
             aws_secret_access_key='testing').create_key()['KeyMetadata']['Arn'])",
            &env.moto.endpoint,
        ])
        .output()
        .unwrap();
    let key_arn = ok(&out).trim().to_string();
    let mut d = env.daemon(&["--sse-kms-key-id", &key_arn], &[]);
    env.upload(&src).await;
    env.wait_empty(Duration::from_secs(90)).await;
    assert_eq!(d.terminate().0, Some(0));
    let objects = lake_encryption(&env).await;
    assert!(
        objects.iter().any(|o| o.0.ends_with(".parquet")),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|o| o.0.contains("_trailpipe/claims/")),
        "{objects:?}"
    );
    for (key, sse, kms_key) in &objects {
        assert_eq!(sse.as_deref(), Some("aws:kms"), "{key}");
        assert_eq!(kms_key.as_deref(), Some(key_arn.as_str()), "{key}");
    }
    assert_exactly_once(&env.download_lake().await, &records);

    // without the flag: SSE-S3
    let env = Env::new(true).await;
    let (src, _) = synth("2", "30");
    let mut d = env.daemon(&[], &[]);
    env.upload(&src).await;
    env.wait_empty(Duration::from_secs(90)).await;
    assert_eq!(d.terminate().0, Some(0));
    let objects = lake_encryption(&env).await;
    assert!(!objects.is_empty());
    for (key, sse, _) in &objects {
        assert_eq!(sse.as_deref(), Some("AES256"), "{key}");
    }
}
