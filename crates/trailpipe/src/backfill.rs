//! `trailpipe backfill`: historical CloudTrail objects in S3 into the lake, through the same
//! engine and claims as the daemon, so backfill and daemon never duplicate each other.
//!
//! The walk lists the layout level by level with `/` delimiters (accounts, optionally under an
//! organization folder; kinds; regions; then only the day prefixes in range), never the whole
//! bucket. Days are *delivery* days (the S3 path date), not event days.
//!
//! Progress is checkpointed per day prefix in the lake (`_trailpipe/backfill/...`) once every
//! object of that day is committed (or, with `--enqueue`, sent): a rerun skips finished days,
//! and the claims make a half-finished day safe to redo.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;
use trailpipe_aws::s3::{list_level, Listed};
use trailpipe_aws::S3Client;
use trailpipe_lake::Store;
use trailpipe_record::Date;

use crate::engine::{next_group, now_ms, Engine, EngineConfig, Outcome, Work};
use crate::metrics::Metrics;
use crate::progress::{Progress, Summary};

/// What to backfill.
#[derive(Debug, Clone)]
pub struct Selection {
    pub bucket: String,
    /// User prefix before `AWSLogs/` (may be empty).
    pub prefix: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub org_id: Option<String>,
}

/// One day prefix of one account/kind/region, and its objects.
#[derive(Debug, Clone)]
pub struct DayPrefix {
    /// `AWSLogs/[o-id/]acct/CloudTrail/region/YYYY/MM/DD/` (with the user prefix).
    pub prefix: String,
    pub account: String,
    pub region: String,
    pub day: Date,
    pub objects: Vec<Listed>,
}

const KINDS: [&str; 2] = ["CloudTrail", "CloudTrail-Insight"];

/// Lists the selected day prefixes and their objects.
pub async fn plan(s3: &S3Client, sel: &Selection) -> Result<Vec<DayPrefix>> {
    let root = format!(
        "{}AWSLogs/",
        if sel.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", sel.prefix.trim_matches('/'))
        }
    );
    // accounts, possibly under organization folders
    let mut account_prefixes = Vec::new();
    let tops = match &sel.org_id {
        Some(org) => vec![format!("{root}{org}/")],
        None => list_level(s3, &sel.bucket, &root).await?.0,
    };
    let mut queue = tops;
    while let Some(p) = queue.pop() {
        let name = last_segment(&p);
        if name.starts_with("o-") {
            queue.extend(list_level(s3, &sel.bucket, &p).await?.0);
        } else if trailpipe_record::is_account_id(name)
            && (sel.accounts.is_empty() || sel.accounts.iter().any(|a| a == name))
        {
            account_prefixes.push(p);
        }
    }
    account_prefixes.sort();
    // region prefixes of each kind
    let kinds = account_prefixes
        .iter()
        .flat_map(|acct| KINDS.map(|kind| (acct, format!("{acct}{kind}/"))));
    let listed = at_once(
        kinds.map(|(acct, p)| async move { Ok((acct, list_level(s3, &sel.bucket, &p).await?.0)) }),
    )
    .await?;
    let mut region_prefixes = Vec::new();
    for (acct, regions) in listed {
        for r in regions {
            let region = last_segment(&r).to_string();
            if sel.regions.is_empty() || sel.regions.contains(&region) {
                region_prefixes.push((last_segment(acct).to_string(), region, r));
            }
        }
    }
    // day prefixes: named directly when the range is given, discovered otherwise
    let candidates = at_once(region_prefixes.iter().map(|(_, _, rp)| async move {
        Ok(match (sel.from, sel.to) {
            (Some(from), Some(to)) => (from.days_since_epoch()..=to.days_since_epoch())
                .map(Date::from_days)
                .map(|d| (d, format!("{rp}{:04}/{:02}/{:02}/", d.year, d.month, d.day)))
                .collect(),
            _ => discover_days(s3, &sel.bucket, rp).await?,
        })
    }))
    .await?;
    let wanted = region_prefixes
        .iter()
        .zip(candidates)
        .flat_map(|((account, region, _), days)| {
            days.into_iter()
                .map(move |(day, prefix)| (account, region, day, prefix))
        })
        .filter(|(_, _, day, _)| {
            !(sel.from.is_some_and(|f| *day < f) || sel.to.is_some_and(|t| *day > t))
        });
    let days = at_once(wanted.map(|(account, region, day, prefix)| async move {
        let (_, objects) = list_level(s3, &sel.bucket, &prefix).await?;
        let objects: Vec<Listed> = objects
            .into_iter()
            .filter(|o| o.key.ends_with(".json.gz") || o.key.ends_with(".json"))
            .collect();
        Ok((!objects.is_empty()).then(|| DayPrefix {
            prefix,
            account: account.clone(),
            region: region.clone(),
            day,
            objects,
        }))
    }))
    .await?;
    Ok(days.into_iter().flatten().collect())
}

/// Listings in flight at once. A backfill lists one day prefix per account, region and day:
/// a year of an organization trail is millions of listings, and one after another each
/// waited a round trip to S3.
const LISTS_AT_ONCE: usize = 32;

/// Day marks (a completed day prefix's checkpoint) written at once.
const MARKS_AT_ONCE: usize = 16;

/// Days whose messages are sent at once with `--enqueue` (each day's in several calls at once).
const DAYS_ENQUEUED_AT_ONCE: usize = 4;

/// Runs the listings `futs`, [`LISTS_AT_ONCE`] at a time; their results in order.
async fn at_once<T, F>(futs: impl Iterator<Item = F>) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T>>,
{
    futures_util::stream::iter(futs)
        .buffered(LISTS_AT_ONCE)
        .try_collect()
        .await
}

async fn discover_days(
    s3: &S3Client,
    bucket: &str,
    region_prefix: &str,
) -> Result<Vec<(Date, String)>> {
    // one after another: `plan` discovers regions LISTS_AT_ONCE at a time
    let mut out = Vec::new();
    for y in list_level(s3, bucket, region_prefix).await?.0 {
        for m in list_level(s3, bucket, &y).await?.0 {
            for d in list_level(s3, bucket, &m).await?.0 {
                let text = format!(
                    "{}-{}-{}",
                    last_segment(&y),
                    last_segment(&m),
                    last_segment(&d)
                );
                if let Some(date) = Date::parse(&text) {
                    out.push((date, d));
                }
            }
        }
    }
    Ok(out)
}

fn last_segment(prefix: &str) -> &str {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
}

/// Where the checkpoint of a day prefix lives in the lake.
fn checkpoint_path(bucket: &str, day_prefix: &str, what: &str) -> String {
    use sha2::{Digest, Sha256};
    let source = hex::encode(&Sha256::digest(bucket.as_bytes())[..8]);
    format!("_trailpipe/backfill/{source}/{}{what}", day_prefix)
}

/// Runs a backfill (or, with `enqueue`, fans it out to a queue). Returns the summary.
pub async fn backfill<S: Store>(
    store: Arc<S>,
    s3: S3Client,
    sel: Selection,
    config: EngineConfig,
    dry_run: bool,
    enqueue: Option<trailpipe_aws::sqs::Queue>,
    fetch_concurrency: usize,
) -> Result<(Summary, String)> {
    let started = Instant::now();
    let days = plan(&s3, &sel).await.context("listing the trail bucket")?;
    let listed: usize = days.iter().map(|d| d.objects.len()).sum();
    let list_secs = started.elapsed().as_secs_f64();
    let what = if enqueue.is_some() {
        ".enqueued"
    } else {
        ".done"
    };
    // checkpoints of earlier runs
    let done: HashSet<String> = store
        .list(&checkpoint_path(&sel.bucket, "", ""))
        .await
        .context("reading backfill checkpoints")?
        .into_iter()
        .collect();
    let todo: Vec<DayPrefix> = days
        .into_iter()
        .filter(|d| !done.contains(&checkpoint_path(&sel.bucket, &d.prefix, what)))
        .collect();
    let objects: usize = todo.iter().map(|d| d.objects.len()).sum();
    let bytes: u64 = todo.iter().flat_map(|d| &d.objects).map(|o| o.size).sum();
    let accounts: HashSet<&str> = todo.iter().map(|d| d.account.as_str()).collect();
    let regions: HashSet<&str> = todo.iter().map(|d| d.region.as_str()).collect();
    let day_set: HashSet<Date> = todo.iter().map(|d| d.day).collect();
    let plan_line = format!(
        "plan: {} accounts, {} regions, {} days, {} day prefixes, {} objects, {:.1} MB ({} objects listed in {:.1}s, {:.0} objects/s; {} day prefixes already done)",
        accounts.len(), regions.len(), day_set.len(), todo.len(), objects, bytes as f64 / 1e6, listed, list_secs, listed as f64 / list_secs.max(1e-9),
        done.len()
    );
    let metrics = Arc::new(Metrics::default());
    if dry_run {
        return Ok((
            Summary::from_metrics(&metrics, started.elapsed(), Vec::new()),
            plan_line,
        ));
    }
    tracing::info!("{plan_line}");
    if let Some(queue) = enqueue {
        // a few days at a time, each marked done once all its messages are sent
        let (q, lake, m, bucket) = (&queue, &store, &metrics, &sel.bucket);
        futures_util::stream::iter(&todo)
            .map(|day| async move {
                let bodies: Vec<String> = day
                    .objects
                    .iter()
                    .map(|o| trailpipe_aws::notification::s3_event_body(bucket, &o.key, o.size))
                    .collect();
                q.send_batch(&bodies)
                    .await
                    .with_context(|| format!("enqueueing {}", day.prefix))?;
                m.messages_received.fetch_add(bodies.len() as u64, Relaxed);
                lake.put(&checkpoint_path(bucket, &day.prefix, what), b"{}".to_vec())
                    .await?;
                anyhow::Ok(())
            })
            .buffer_unordered(DAYS_ENQUEUED_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await?;
        let line = format!(
            "{plan_line}\nenqueued {} messages to {}",
            metrics.messages_received.load(Relaxed),
            queue.url()
        );
        return Ok((
            Summary::from_metrics(&metrics, started.elapsed(), Vec::new()),
            line,
        ));
    }

    let progress = Progress::start("objects", objects as u64, bytes, metrics.clone());
    let (engine, mut completions) = Engine::start(store.clone(), config, metrics.clone())?;
    let engine = Arc::new(engine);
    // unit id -> (day index, source)
    let mut units: Vec<(usize, Listed)> = Vec::new();
    for (i, d) in todo.iter().enumerate() {
        units.extend(d.objects.iter().cloned().map(|o| (i, o)));
    }
    let mut left_per_day: Vec<usize> = todo.iter().map(|d| d.objects.len()).collect();
    let mut failed_day = vec![false; todo.len()];
    let mut failures = Vec::new();
    let mut pending: Vec<u64> = (0..units.len() as u64).collect();
    for round in 0..4 {
        if pending.is_empty() {
            break;
        }
        let mut retry: BTreeMap<u64, Duration> = BTreeMap::new();
        let fetcher = {
            let (engine, s3, bucket, metrics) = (
                engine.clone(),
                s3.clone(),
                sel.bucket.clone(),
                metrics.clone(),
            );
            let jobs: Vec<(u64, String)> = pending
                .iter()
                .map(|u| (*u, units[*u as usize].1.key.clone()))
                .collect();
            tokio::spawn(async move {
                let permits = Arc::new(Semaphore::new(fetch_concurrency.max(1)));
                // fetched objects go to the engine in groups: whatever has arrived while the
                // previous group waited for a decode slot (a fetch's permit is held until its
                // object is submitted, so at most `fetch_concurrency` wait)
                let (fetched, mut arrived) = tokio::sync::mpsc::unbounded_channel();
                let submitter = {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        let mut failed = Vec::new();
                        while let Some((works, held)) = next_group(&mut arrived).await {
                            let units: Vec<u64> = works.iter().map(|w| w.unit).collect();
                            if let Err(e) = engine.submit_group(works).await {
                                failed.extend(units.into_iter().map(|u| (u, e.to_string())));
                            }
                            drop(held);
                        }
                        failed
                    })
                };
                let mut failed = Vec::new();
                let mut set = tokio::task::JoinSet::new();
                for (unit, key) in jobs {
                    let permit = permits.clone().acquire_owned().await.expect("open");
                    let (decode, s3, bucket, metrics, fetched) = (
                        engine.decode_options(),
                        s3.clone(),
                        bucket.clone(),
                        metrics.clone(),
                        fetched.clone(),
                    );
                    set.spawn(async move {
                        match Work::from_s3(&s3, &bucket, &key, unit, decode).await {
                            Ok(mut work) => {
                                // historical objects: their age is not pipeline lag
                                work.created_ms = None;
                                fetched
                                    .send((work, permit))
                                    .err()
                                    .map(|_| (unit, "the submitting task stopped".to_string()))
                            }
                            Err(e) => {
                                metrics.error(e.kind);
                                metrics.objects_failed.fetch_add(1, Relaxed);
                                Some((unit, e.to_string()))
                            }
                        }
                    });
                }
                drop(fetched);
                while let Some(r) = set.join_next().await {
                    if let Ok(Some(f)) = r {
                        failed.push(f);
                    }
                }
                match submitter.await {
                    Ok(f) => failed.extend(f),
                    // its units would wait for ever: fail the fetch task, and so the backfill
                    Err(e) => panic!("the submitting task stopped: {e}"),
                }
                failed
            })
        };
        let fetch_failed = fetcher.await.context("fetch task")?;
        let expected = pending.len() - fetch_failed.len();
        for (unit, reason) in fetch_failed {
            let (day, o) = &units[unit as usize];
            failed_day[*day] = true;
            failures.push((format!("s3://{}/{}", sel.bucket, o.key), reason));
        }
        // a round ends when every submitted unit completed; files seal by size or age meanwhile,
        // and the last ones when the engine finishes
        let mut got = 0;
        let last_round_flush = async {
            // a day's mark is written while later completions are read: one PUT after another
            // took 0.5 s of a 3.2 s run at 20 ms a request, and an organization trail's day has
            // thousands of prefixes (accounts x regions)
            let mut marks = futures_util::stream::FuturesUnordered::new();
            while got < expected {
                let c = tokio::select! {
                    Some(r) = marks.next(), if !marks.is_empty() => {
                        r?;
                        continue;
                    }
                    c = completions.recv() => c,
                };
                let Some(c) = c else {
                    break;
                };
                got += 1;
                let (day, _) = &units[c.unit as usize];
                match c.outcome {
                    Outcome::Done { .. } | Outcome::Skipped(_) => {
                        left_per_day[*day] -= 1;
                        if left_per_day[*day] == 0
                            && !failed_day[*day]
                            && todo[*day].day.days_since_epoch() < (now_ms() / 86_400_000) as i64
                        {
                            // today's prefix still receives deliveries: never marked done
                            if marks.len() >= MARKS_AT_ONCE {
                                if let Some(r) = marks.next().await {
                                    r?;
                                }
                            }
                            let path = checkpoint_path(&sel.bucket, &todo[*day].prefix, what);
                            let store = &store;
                            marks.push(async move {
                                store.put(&path, b"{}".to_vec()).await.context(
                                    "marking a backfilled day done (its rows are in the lake; \
                                     a later run lists the day again and skips them)",
                                )
                            });
                        }
                    }
                    Outcome::Failed(reason) => {
                        failed_day[*day] = true;
                        failures.push((c.source, reason));
                    }
                    Outcome::Retry { after, reason } => {
                        tracing::info!(source = %c.source, %reason, "claimed elsewhere; retrying later");
                        retry.insert(c.unit, after);
                    }
                }
                if got == expected {
                    break;
                }
            }
            while let Some(r) = marks.next().await {
                r?;
            }
            anyhow::Ok(())
        };
        // units wait for their files: seal everything so the round can complete
        let (r, f) = tokio::join!(last_round_flush, async {
            // give completions a moment to flow by size before forcing a seal
            tokio::time::sleep(Duration::from_millis(10)).await;
            engine.flush().await
        });
        r?;
        f?;
        pending = retry.keys().copied().collect();
        if let Some(wait) = retry.values().max() {
            if round < 3 {
                tracing::info!(
                    objects = pending.len(),
                    wait_ms = wait.as_millis() as u64,
                    "waiting for other writers' claims"
                );
                tokio::time::sleep(*wait + Duration::from_millis(200)).await;
            }
        }
    }
    for unit in pending {
        let (day, o) = &units[unit as usize];
        failed_day[*day] = true;
        failures.push((
            format!("s3://{}/{}", sel.bucket, o.key),
            "another writer kept its claim on the object".into(),
        ));
    }
    engine.finish().await?;
    progress.finish();
    failures.sort();
    Ok((
        Summary::from_metrics(&metrics, started.elapsed(), failures),
        plan_line,
    ))
}
