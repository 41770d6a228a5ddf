//! `trailpipe backfill` against a moto server: an organization trail under a user prefix,
//! selection by delivery day, account and region, resume after a kill, overlap with the
//! daemon, fan-out through SQS, and a dry run that reads no object.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use serde_json::Value;

const TRAIL: &str = "org-trail";
const PREFIX: &str = "logs/ct";
const ORG: &str = "o-abc123defg";

struct Env {
    moto: Moto,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    /// (S3 key, records of that object)
    objects: Vec<(String, Vec<Value>)>,
}

impl Env {
    /// Two accounts, three regions, four days of an organization trail under `logs/ct/`,
    /// plus keys that are not CloudTrail logs.
    async fn new() -> Env {
        let moto = Moto::start();
        let (s3, sqs) = moto.clients().await;
        s3.create_bucket().bucket(TRAIL).send().await.unwrap();
        let src = synth(
            "org-src",
            &[
                "--accounts",
                "2",
                "--regions",
                "3",
                "--days",
                "4",
                "--files",
                "72",
                "--seed",
                "31",
                "--org-id",
                ORG,
            ],
        );
        let mut objects = Vec::new();
        for path in files_under(&src) {
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .to_string();
            let key = format!("{PREFIX}/{rel}");
            s3.put_object()
                .bucket(TRAIL)
                .key(&key)
                .body(ByteStream::from(std::fs::read(&path).unwrap()))
                .send()
                .await
                .unwrap();
            if rel.contains("/CloudTrail/") || rel.contains("/CloudTrail-Insight/") {
                objects.push((key, records_in(&path)));
            }
        }
        for junk in [
            "logs/ct/AWSLogs/README.txt",
            "logs/ct/AWSLogs/o-abc123defg/111122223333/CloudTrail/",
            "other/AWSLogs/x.json.gz",
            "logs/ct/AWSLogs/o-abc123defg/_ct_test.txt",
        ] {
            s3.put_object()
                .bucket(TRAIL)
                .key(junk)
                .body(ByteStream::from_static(b"{}"))
                .send()
                .await
                .unwrap();
        }
        Env {
            moto,
            s3,
            sqs,
            objects,
        }
    }

    /// `trailpipe ARGS`, pointed at this moto server.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args).env("TRAILPIPE_LOG", "warn");
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        cmd
    }

    fn backfill(&self, lake: &Path, args: &[&str]) -> std::process::Output {
        let mut cmd = self.command(&[
            "backfill",
            &format!("s3://{TRAIL}/{PREFIX}"),
            "--lake",
            lake.to_str().unwrap(),
        ]);
        cmd.args(args);
        cmd.output().unwrap()
    }

    /// Records of the objects whose key passes `keep`.
    fn records(&self, keep: impl Fn(&str) -> bool) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| keep(k))
            .flat_map(|(_, r)| r.iter().cloned())
            .collect()
    }

    fn accounts(&self) -> Vec<String> {
        let mut a: Vec<String> = self
            .objects
            .iter()
            .map(|(k, _)| k.split('/').nth(4).unwrap().to_string())
            .collect();
        a.sort();
        a.dedup();
        a
    }
}

/// The delivery day of a key: `.../YYYY/MM/DD/<file>`.
fn key_day(key: &str) -> String {
    let parts: Vec<&str> = key.rsplit('/').skip(1).take(3).collect();
    format!("{}-{}-{}", parts[2], parts[1], parts[0])
}

fn assert_exactly_once(lake: &Path, records: &[Value]) {
    assert_eq!(lake_counts(lake), expected_counts(records));
    let n = duckdb(&[
        &view(lake, "cloudtrail"),
        "SELECT count(*), count(DISTINCT eventID) FROM cloudtrail",
    ]);
    assert_eq!(n[0][0], n[0][1], "no duplicate eventIDs");
}

#[tokio::test(flavor = "multi_thread")]
async fn selection_dry_run_resume_and_overlap() {
    let env = Env::new().await;
    let accounts = env.accounts();
    assert_eq!(accounts.len(), 2);

    // dry run: a plan, and no object read (moto's own request log)
    let before = env.moto.requests();
    let lake = tempdir("bf-dry");
    let out = env.backfill(&lake, &["--dry-run"]);
    let stdout = ok(&out);
    assert!(stdout.contains("plan: 2 accounts, 3 regions"), "{stdout}");
    let n_objects = env.objects.len();
    assert!(
        stdout.contains(&format!(" {n_objects} objects")),
        "{stdout}"
    );
    let during = env.moto.requests()[before.len()..].to_string();
    assert!(
        during.contains("GET /org-trail?") || during.contains("GET /org-trail/?"),
        "it listed:\n{during}"
    );
    let gets: Vec<&str> = during
        .lines()
        .filter(|l| l.contains("GET /org-trail/logs/") || l.contains("HEAD /org-trail/logs/"))
        .collect();
    assert!(gets.is_empty(), "dry run read objects: {gets:?}");
    assert!(
        !during.contains("list-type=2&prefix=&") && !during.contains("prefix=&list"),
        "never a listing of the whole bucket"
    );

    // selection by delivery day, account and region
    let days = {
        let mut d: Vec<String> = env.objects.iter().map(|(k, _)| key_day(k)).collect();
        d.sort();
        d.dedup();
        d
    };
    assert!(days.len() >= 4, "{days:?}");
    let (from, to) = (days[1].clone(), days[2].clone());
    let regions = "us-east-1,eu-west-1";
    let lake = tempdir("bf-select");
    ok(&env.backfill(
        &lake,
        &[
            "--from",
            &from,
            "--to",
            &to,
            "--accounts",
            &accounts[0],
            "--regions",
            regions,
        ],
    ));
    let want = env.records(|k| {
        let d = key_day(k);
        d >= from
            && d <= to
            && k.contains(&accounts[0])
            && (k.contains("/us-east-1/") || k.contains("/eu-west-1/"))
    });
    assert!(!want.is_empty());
    assert_exactly_once(&lake, &want);

    // the whole trail, killed part way, then resumed: exactly once
    let lake = tempdir("bf-resume");
    let mut cmd = env.command(&[
        "backfill",
        &format!("s3://{TRAIL}/{PREFIX}"),
        "--lake",
        lake.to_str().unwrap(),
        "--fetch-concurrency",
        "2",
        "--max-file-age-secs",
        "1",
        "--claim-ttl-secs",
        "4",
    ]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_secs(5)); // the killed run's claims expire
    let out = env.backfill(
        &lake,
        &["--claim-ttl-secs", "4", "--max-file-age-secs", "1"],
    );
    ok(&out);
    let all = env.records(|_| true);
    assert_exactly_once(&lake, &all);
    // and a third run finds every day done and reads nothing
    let out = env.backfill(&lake, &[]);
    let stdout = ok(&out);
    assert!(stdout.contains("0 objects"), "{stdout}");
    assert_exactly_once(&lake, &all);
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_over_what_the_daemon_ingested_and_fan_out_through_sqs() {
    let env = Env::new().await;
    let queue = env
        .sqs
        .create_queue()
        .queue_name("fleet")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let all = env.records(|_| true);
    let lake_bucket = "fleet-lake";
    env.s3
        .create_bucket()
        .bucket(lake_bucket)
        .send()
        .await
        .unwrap();
    let lake = format!("s3://{lake_bucket}/lake");

    let run_daemon_until_drained = |env: &Env| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = env.command(&[
            "run",
            "--queue-url",
            &queue,
            "--lake",
            &lake,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--max-file-age-secs",
            "1",
        ]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.spawn().unwrap()
    };
    // fan out half the days to the queue; daemons ingest them
    let days = {
        let mut d: Vec<String> = env.objects.iter().map(|(k, _)| key_day(k)).collect();
        d.sort();
        d.dedup();
        d
    };
    let out = {
        let mut cmd = env.command(&[
            "backfill",
            &format!("s3://{TRAIL}/{PREFIX}"),
            "--lake",
            &lake,
            "--to",
            &days[1],
            "--from",
            &days[0],
            "--enqueue",
            &queue,
        ]);
        cmd.output().unwrap()
    };
    let stdout = ok(&out);
    let first_half = env.records(|k| key_day(k) <= days[1]);
    let sent = env
        .objects
        .iter()
        .filter(|(k, _)| key_day(k) <= days[1])
        .count();
    assert!(
        stdout.contains(&format!("enqueued {sent} messages")),
        "{stdout}"
    );
    let mut daemon = run_daemon_until_drained(&env);
    wait_queue_empty(&env.sqs, &queue, Duration::from_secs(90)).await;
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(daemon.wait().unwrap().success());
    let copy = download(&env.s3, lake_bucket).await;
    assert_exactly_once(&copy, &first_half);

    // now backfill everything locally into the same lake: the daemon's objects add nothing
    let out = {
        let mut cmd = env.command(&[
            "backfill",
            &format!("s3://{TRAIL}/{PREFIX}"),
            "--lake",
            &lake,
        ]);
        cmd.output().unwrap()
    };
    let stdout = ok(&out);
    assert!(stdout.contains("rows already in the lake"), "{stdout}");
    let copy = download(&env.s3, lake_bucket).await;
    assert_exactly_once(&copy, &all);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_object_is_reported_and_its_day_is_not_checkpointed() {
    let env = Env::new().await;
    let account = &env.accounts()[0];
    let day_prefix = format!("{PREFIX}/AWSLogs/{ORG}/{account}/CloudTrail/us-east-1/2030/01/01/");
    let bad = format!(
        "{day_prefix}{account}_CloudTrail_us-east-1_20300101T0000Z_truncatedtruncat.json.gz"
    );
    let good = format!(
        "{day_prefix}{account}_CloudTrail_us-east-1_20300101T0005Z_goodgoodgoodgood.json.gz"
    );
    env.s3
        .put_object()
        .bucket(TRAIL)
        .key(&bad)
        .body(ByteStream::from_static(b"\x1f\x8b\x08\x00\x00\x00"))
        .send()
        .await
        .unwrap();
    let doc = format!(
        r#"{{"Records":[{{"eventVersion":"1.08","eventTime":"2030-01-01T00:01:00Z","eventID":"good-1","recipientAccountId":"{account}","awsRegion":"us-east-1"}}]}}"#
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, doc.as_bytes()).unwrap();
    env.s3
        .put_object()
        .bucket(TRAIL)
        .key(&good)
        .body(ByteStream::from(gz.finish().unwrap()))
        .send()
        .await
        .unwrap();
    let lake = tempdir("bf-bad");
    for _ in 0..2 {
        let out = env.backfill(&lake, &["--from", "2030-01-01", "--to", "2030-01-01"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "a failed object gives exit status 1"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("FAILED s3://{TRAIL}/{bad}")) && stderr.contains("gzip"),
            "{stderr}"
        );
        // the day is not checkpointed: the second run tries the bad object again
    }
    assert_eq!(
        count(&lake, "cloudtrail", "WHERE eventID = 'good-1'"),
        1,
        "the good object landed once"
    );
}

async fn download(s3: &aws_sdk_s3::Client, bucket: &str) -> PathBuf {
    download_prefix(s3, bucket, "lake/").await
}
