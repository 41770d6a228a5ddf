//! The engine shared by `ingest`, `run` and `backfill`:
//!
//! ```text
//! Work (bytes + unit id), alone or in a group ─► decode on rayon (bounded) ─► writer task:
//! claim, append by partition, seal ─► Store::commit ─► Completion per unit (all its rows
//! committed, or why not)
//! ```
//!
//! One task owns the [`LakeWriter`]; its CPU work (row-group encoding) runs on the blocking
//! pool so that I/O tasks (heartbeats, receives) keep running. Sealed files are committed by
//! tasks of their own (up to [`COMMITS_AT_ONCE`] in flight) while it takes the next rows. A
//! unit completes `Done` only when every file holding its rows is committed: that is the
//! moment a source may acknowledge.
//!
//! A group ([`Engine::submit_group`]) is decoded into one set of rows, so its objects cost
//! one decode job, one message and one append per partition between them. Sources that hold a
//! backlog of small objects (`ingest`, `backfill`) submit groups; each object still succeeds or
//! fails on its own.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use trailpipe_lake::ledger::{self, ClaimOutcome, ClaimRequest};
use trailpipe_lake::{LakeWriter, Rows, SealedFile, Store, WriterConfig};
use trailpipe_record::{
    Added, DecodeError, DecodeOptions, Decoder, Inflater, PartitionBatch, PartitionKey,
};

use crate::metrics::Metrics;

/// Claim settings: present for sources that can see an object twice (SQS, backfill).
#[derive(Debug, Clone)]
pub struct ClaimSettings {
    /// This process's writer id (unique per process start).
    pub writer_id: String,
    /// How long a claim holds before another writer may take it over. Must exceed the file
    /// age limit plus the time a commit takes.
    pub ttl: Duration,
    /// A file is not committed when less than this is left before its earliest claim
    /// deadline (it is discarded and its units retried instead).
    pub margin: Duration,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub writer: WriterConfig,
    pub decode: DecodeOptions,
    pub claims: Option<ClaimSettings>,
    /// Decode jobs (single objects or groups) being decoded or waiting for the writer at once
    /// (back-pressure).
    pub in_flight: usize,
    /// The writer stops taking rows while more than this many bytes of sealed files wait for
    /// a commit slot (the store is slower than the rows): they take spool disk, and their
    /// units wait for the commits.
    pub commit_queue_bytes: u64,
}

/// Sources that hold a backlog of objects submit them in groups of about this many bytes (as
/// stored): one decode job, one message and one append per partition for all of them. A
/// delivery is typically tens of KB of gzip, and the fixed costs of a job (70 Arrow builders, a
/// batch encoded column by column, hand-offs between threads) were a sixth of an ingest's CPU
/// time when each object was a job of its own. Groups of 256 KB to 1 MB took the same CPU
/// (128 KB 4% more), and at 1 MB the peak memory was 11-19% higher (docs/performance.md).
pub const GROUP_BYTES: u64 = 256 << 10;

/// At most this many decode jobs make one round of the writer task (claimed together,
/// appended in one call): enough that claims, a round trip each on a remote lake, do not bound
/// the rate. A round's rows are those decoded ahead of the writer, already within the
/// engine's bound on them.
const ROUND_JOBS: usize = 64;

/// Claims in flight at once (conditional PUTs to an S3 lake).
const CLAIMS_AT_ONCE: usize = 64;

/// Sealed files committed at once (uploads to an S3 lake; renames in a local one).
const COMMITS_AT_ONCE: usize = 16;

/// The default of [`EngineConfig::commit_queue_bytes`].
pub const COMMIT_QUEUE_BYTES: u64 = 256 << 20;

/// Waits for an object on `rx`, then takes whatever else has already arrived, up to
/// [`GROUP_BYTES`] of gzip: the next group for [`Engine::submit_group`], with what each
/// object's sender holds until it is submitted (a fetch permit, a count). `None` once `rx` is
/// closed and empty. It adds no wait: objects group only when they arrive faster than the
/// engine takes them (while the last group waited for a decode slot), as in a backlog.
pub async fn next_group<T>(
    rx: &mut mpsc::UnboundedReceiver<(Work, T)>,
) -> Option<(Vec<Work>, Vec<T>)> {
    let first = rx.recv().await?;
    let mut bytes = first.0.bytes_in;
    let mut group = vec![first];
    while bytes < GROUP_BYTES {
        match rx.try_recv() {
            Ok(next) => {
                bytes += next.0.bytes_in;
                group.push(next);
            }
            Err(_) => break,
        }
    }
    Some(group.into_iter().unzip())
}

/// One object to ingest.
pub struct Work {
    /// The source's id for the unit (completions carry it back).
    pub unit: u64,
    /// The object's name: `s3://bucket/key` or a local path. Claims and file metadata use it.
    pub source: String,
    /// The object's content.
    pub body: Body,
    /// Bytes read from the source (compressed, as stored).
    pub bytes_in: u64,
    /// When the object was created (ms since the epoch), for the lag metric.
    pub created_ms: Option<u64>,
}

/// An object's content as a source hands it over.
pub enum Body {
    /// The stored bytes (gzip or plain JSON), inflated by the decoder.
    Raw(Bytes),
    /// Already inflated while it arrived (see [`Work::from_s3`]), or why that failed.
    Inflated(Result<Vec<u8>, DecodeError>),
}

impl Work {
    /// Reads `s3://bucket/key`, inflating the body as it arrives. A bad body (corrupt gzip,
    /// over the size cap) is not a fetch error: it becomes the unit's decode failure.
    pub async fn from_s3(
        s3: &trailpipe_aws::S3Client,
        bucket: &str,
        key: &str,
        unit: u64,
        decode: DecodeOptions,
    ) -> Result<Work, trailpipe_aws::s3::FetchError> {
        let fetched = trailpipe_aws::s3::fetch(
            s3,
            bucket,
            key,
            || Inflater::new(Vec::new(), decode.max_decompressed),
            Inflater::push,
        )
        .await?;
        Ok(Work {
            unit,
            source: format!("s3://{bucket}/{key}"),
            body: Body::Inflated(fetched.body.finish()),
            bytes_in: fetched.bytes,
            created_ms: fetched.last_modified_ms,
        })
    }
}

/// How a unit ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every row is in a committed file (or was already).
    Done { records: u64 },
    /// Nothing to ingest (a digest file).
    Skipped(String),
    /// The object is bad or a write failed; the reason names it.
    Failed(String),
    /// Another writer holds the object's claim, or a file missed its deadline; try later.
    Retry { after: Duration, reason: String },
}

/// A unit's outcome.
#[derive(Debug)]
pub struct Completion {
    pub unit: u64,
    pub source: String,
    pub outcome: Outcome,
}

enum Msg {
    Decoded {
        objects: Vec<DecodedObject>,
        /// The rows of the job's objects by partition (`ObjectRows::object` indexes `objects`).
        rows: Vec<PartitionBatch>,
        /// Memory the decoded rows hold until the writer has appended them.
        _ahead: Option<OwnedSemaphorePermit>,
    },
    Finish(oneshot::Sender<Result<()>>),
    Flush(oneshot::Sender<Result<()>>),
    Abort(oneshot::Sender<()>),
}

/// Handle to a running engine.
pub struct Engine {
    tx: mpsc::UnboundedSender<Msg>,
    permits: Arc<Semaphore>,
    /// KiB of decoded rows waiting for the writer: lets decoding run ahead while the writer
    /// encodes a row group, within a bound.
    ahead: Arc<Semaphore>,
    ahead_cap: u32,
    /// One permit: big objects decode one at a time (see [`BIG_JSON`]).
    big: Arc<Semaphore>,
    in_flight: usize,
    decode: DecodeOptions,
    metrics: Arc<Metrics>,
    task: tokio::task::JoinHandle<()>,
}

thread_local! {
    static DECODER: std::cell::RefCell<Option<Decoder>> = const { std::cell::RefCell::new(None) };
}

/// Objects whose JSON is at least this large are decoded one at a time (the engine's gate), each
/// by a decoder of its own that is dropped after it. A decoder keeps the input buffer of the
/// largest object it has seen (parsing is in slices, so its other buffers stay small): kept for
/// the next big object, that buffer (heavy-tail deliveries reach tens of MB of JSON) stayed in
/// the peak for the whole run; several big objects at once (input plus Arrow rows) would add
/// hundreds of MB.
const BIG_JSON: usize = 8 << 20;

impl Body {
    /// The JSON size the body holds or will inflate to, as far as is known before decoding.
    fn json_size_hint(&self) -> usize {
        match self {
            Body::Raw(bytes) => trailpipe_record::inflated_size_hint(bytes),
            Body::Inflated(Ok(json)) => json.len(),
            Body::Inflated(Err(_)) => 0,
        }
    }
}

/// One object of a decode job, as it came out.
struct DecodedObject {
    unit: u64,
    source: String,
    created_ms: Option<u64>,
    result: Result<Added, DecodeError>,
}

/// What a decode job gave: each object's outcome, in order, and the rows, whose
/// `ObjectRows::object` is the object's position in the job.
pub type JobOutput = (Vec<Result<Added, DecodeError>>, Vec<PartitionBatch>);

/// Decodes objects on the current (rayon) thread into one set of rows: with the thread's
/// reused decoder, or, when one of them is big, with a decoder of their own (see
/// [`BIG_JSON`]). If the rows cannot be built, every object that had records fails with why.
pub fn decode_here(options: DecodeOptions, bodies: Vec<Body>) -> JobOutput {
    let big = bodies.iter().any(|b| b.json_size_hint() >= BIG_JSON);
    let run = |d: &mut Option<Decoder>| {
        let d = d.get_or_insert_with(|| Decoder::new(options));
        // the decoder numbers the objects it was given; bodies that failed before are not
        let mut given = Vec::with_capacity(bodies.len());
        let mut results = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.into_iter().enumerate() {
            results.push(match body {
                Body::Raw(bytes) => {
                    given.push(i);
                    d.add(&bytes)
                }
                Body::Inflated(Ok(json)) => {
                    given.push(i);
                    d.add_json(json)
                }
                Body::Inflated(Err(e)) => Err(e),
            });
        }
        match d.take_rows() {
            Ok(mut parts) => {
                for p in &mut parts {
                    for o in &mut p.objects {
                        o.object = given[o.object as usize] as u32;
                    }
                }
                (results, parts)
            }
            Err(e) => {
                for r in &mut results {
                    if matches!(r, Ok(Added::Records(_))) {
                        *r = Err(DecodeError::Shape(format!("building its rows failed: {e}")));
                    }
                }
                (results, Vec::new())
            }
        }
    };
    if big {
        run(&mut None)
    } else {
        DECODER.with(|d| run(&mut d.borrow_mut()))
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Engine {
    /// Starts the writer task. Completions arrive on the returned receiver.
    pub fn start<S: Store>(
        store: Arc<S>,
        config: EngineConfig,
        metrics: Arc<Metrics>,
    ) -> Result<(Engine, mpsc::UnboundedReceiver<Completion>)> {
        let writer = LakeWriter::new(config.writer.clone()).context("starting the lake writer")?;
        let (tx, rx) = mpsc::unbounded_channel();
        let ahead_kib =
            (config.writer.memory_budget / 4 / 1024).clamp(1024, u32::MAX as u64 >> 4) as usize;
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let state = WriterTask {
            store,
            writer: Some(writer),
            claims: config.claims.clone(),
            claim_tokens: 0,
            units: HashMap::new(),
            waiting: HashMap::new(),
            queued: Default::default(),
            queued_bytes: 0,
            queue_cap: config.commit_queue_bytes,
            commits: tokio::task::JoinSet::new(),
            committing: HashMap::new(),
            sealed: HashSet::new(),
            metrics: metrics.clone(),
            done: done_tx,
        };
        let task = tokio::spawn(state.run(rx));
        Ok((
            Engine {
                tx,
                permits: Arc::new(Semaphore::new(config.in_flight.max(1))),
                ahead: Arc::new(Semaphore::new(ahead_kib)),
                ahead_cap: ahead_kib as u32,
                big: Arc::new(Semaphore::new(1)),
                in_flight: config.in_flight.max(1),
                decode: config.decode,
                metrics,
                task,
            },
            done_rx,
        ))
    }

    /// Hands objects to the engine as one decode job: their rows are decoded into one set of
    /// batches, and each object completes (or fails) on its own. Waits while too many jobs are
    /// in flight.
    pub async fn submit_group(&self, works: Vec<Work>) -> Result<()> {
        if works.is_empty() {
            return Ok(());
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| anyhow!("engine stopped"))?;
        self.metrics
            .in_flight_units
            .fetch_add(works.len() as u64, Relaxed);
        self.metrics.decode_jobs.fetch_add(1, Relaxed);
        let bytes: u64 = works.iter().map(|w| w.bytes_in).sum();
        self.metrics.bytes_in.fetch_add(bytes, Relaxed);
        let tx = self.tx.clone();
        let options = self.decode;
        let ahead = (self.ahead.clone(), self.ahead_cap);
        let big = self.big.clone();
        tokio::spawn(decode_and_forward(works, options, tx, permit, ahead, big));
        Ok(())
    }

    /// Waits for every submitted object, seals and commits every file, and stops.
    pub async fn finish(&self) -> Result<()> {
        // all permits back = every decode forwarded to the writer
        let _all = self
            .permits
            .acquire_many(self.in_flight as u32)
            .await
            .map_err(|_| anyhow!("engine stopped"))?;
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Msg::Finish(reply))
            .map_err(|_| anyhow!("the lake writer stopped early"))?;
        wait.await
            .map_err(|_| anyhow!("the lake writer stopped early"))?
    }

    /// Seals and commits every open file without stopping (waits for objects in flight first).
    pub async fn flush(&self) -> Result<()> {
        drop(
            self.permits
                .acquire_many(self.in_flight as u32)
                .await
                .map_err(|_| anyhow!("engine stopped"))?,
        );
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Msg::Flush(reply))
            .map_err(|_| anyhow!("the lake writer stopped early"))?;
        wait.await
            .map_err(|_| anyhow!("the lake writer stopped early"))?
    }

    /// Stops: buffered rows and sealed files not yet committing are discarded and their
    /// units completed with `Retry` (their sources redeliver them). Files already committing
    /// (a few at most, [`COMMITS_AT_ONCE`]) land first, so their units complete as usual.
    /// A [`Engine::finish`] the writer has already begun is not interrupted: it commits every
    /// file first. Committed files stay.
    pub async fn abort(&self) {
        self.permits.close();
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Msg::Abort(reply)).is_ok() {
            let _ = wait.await;
        }
    }

    /// The decoder settings (sources that inflate while fetching need the size cap).
    pub fn decode_options(&self) -> DecodeOptions {
        self.decode
    }

    /// Whether the writer task is still running.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

async fn decode_and_forward(
    works: Vec<Work>,
    options: DecodeOptions,
    tx: mpsc::UnboundedSender<Msg>,
    permit: OwnedSemaphorePermit,
    (ahead, ahead_cap): (Arc<Semaphore>, u32),
    big: Arc<Semaphore>,
) {
    let (rtx, rrx) = oneshot::channel();
    let n = works.len();
    let mut bodies = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for w in works {
        bodies.push(w.body);
        ids.push((w.unit, w.source, w.created_ms));
    }
    // waits here, not on a decoder thread, so small objects keep both threads busy meanwhile
    let big_turn = if bodies.iter().any(|b| b.json_size_hint() >= BIG_JSON) {
        big.acquire_owned().await.ok()
    } else {
        None
    };
    rayon::spawn(move || {
        let _ = rtx.send(decode_here(options, bodies));
    });
    let (results, rows) = match rrx.await {
        Ok((results, rows)) if results.len() == n => (results, rows),
        // no outcome per object: none of them counts as decoded
        other => {
            let why = match other {
                Ok((results, _)) => format!("the decoder gave {} outcomes for {n}", results.len()),
                Err(_) => "the decoder thread panicked".to_string(),
            };
            let failed = (0..n).map(|_| Err(DecodeError::Shape(why.clone())));
            (failed.collect(), Vec::new())
        }
    };
    let objects: Vec<DecodedObject> = ids
        .into_iter()
        .zip(results)
        .map(|((unit, source, created_ms), result)| DecodedObject {
            unit,
            source,
            created_ms,
            result,
        })
        .collect();
    drop(big_turn);
    let kib = rows
        .iter()
        .map(|p| p.batch.get_array_memory_size())
        .sum::<usize>()
        / 1024;
    // a batch larger than the whole allowance still goes through, alone
    let need = (kib as u32).clamp(1, ahead_cap);
    let ahead_permit = ahead.acquire_many_owned(need).await.ok();
    let _ = tx.send(Msg::Decoded {
        objects,
        rows,
        _ahead: ahead_permit,
    });
    drop(permit);
}

/// What [`WriterTask::claim`] decided for one object's rows in one partition.
enum Claim {
    /// Write them; the claim's deadline, if any.
    Write(Option<u64>),
    /// Do not: they are in the lake or on their way (or another writer has them, and the
    /// unit is to be retried: its outcome).
    Skip(Option<Outcome>),
}

#[derive(Default)]
struct UnitState {
    source: String,
    /// Files holding some of the unit's rows, not yet committed.
    pending: HashSet<String>,
    records: u64,
    created_ms: Option<u64>,
    /// Its round is not finished: it must not complete `Done` before all its partitions are
    /// claimed and appended (a busy claim of a later partition makes it `Retry`), nor by a
    /// commit of one of its files before the others are named (before rounds, an append that
    /// sealed a file in between acknowledged it with later partitions in no file yet).
    appending: bool,
}

struct WriterTask<S> {
    store: Arc<S>,
    writer: Option<LakeWriter>,
    claims: Option<ClaimSettings>,
    /// Claim requests made so far: the next one's token (`ClaimRequest::token`).
    claim_tokens: u64,
    units: HashMap<u64, UnitState>,
    /// The units' `pending` sets inverted: the units waiting for each file not yet committed.
    /// A commit finds its units here, not by scanning every unit in flight: with an
    /// organization trail that scan ran for each of 10,000 files over 10,000 units.
    waiting: HashMap<String, Vec<u64>>,
    /// Sealed files waiting for a commit slot, oldest first, and their bytes.
    queued: std::collections::VecDeque<SealedFile>,
    queued_bytes: u64,
    /// [`EngineConfig::commit_queue_bytes`].
    queue_cap: u64,
    /// Commits in flight, each a task of its own so that it goes on (an upload, a rename and
    /// fsync) while this task takes the next rows; at most [`COMMITS_AT_ONCE`].
    commits: tokio::task::JoinSet<CommitOutcome>,
    /// The files of `commits`, by task.
    committing: HashMap<tokio::task::Id, SealedFile>,
    /// Paths of the files queued or committing. A claim of ours naming one of them is not
    /// stale: its rows are on their way.
    sealed: HashSet<String>,
    metrics: Arc<Metrics>,
    done: mpsc::UnboundedSender<Completion>,
}

/// A commit's end: `None` if it missed its claim deadline (see [`commit_with_retry`]).
type CommitOutcome = Option<Result<(), trailpipe_lake::StoreError>>;

impl<S: Store> WriterTask<S> {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        // a message taken from the channel after a round's decoded jobs, handled next
        let mut next: Option<Msg> = None;
        loop {
            let deadline = self
                .writer
                .as_ref()
                .and_then(LakeWriter::next_deadline)
                .map(tokio::time::Instant::from_std);
            let msg = match next.take() {
                Some(m) => Some(m),
                None => tokio::select! {
                    m = rx.recv() => m,
                    Some(joined) = self.commits.join_next_with_id() => {
                        self.landed(joined);
                        continue;
                    }
                    _ = sleep_until(deadline) => {
                        let sealed = self.blocking(|w| w.seal_aged(std::time::Instant::now())).await;
                        self.commit_all(sealed).await;
                        continue;
                    }
                },
            };
            match msg {
                Some(Msg::Decoded {
                    objects,
                    rows,
                    _ahead,
                }) => {
                    // the jobs decoded while the last round was claimed and appended join
                    // this one: one round of claims and one append for them all
                    let mut jobs = vec![(objects, rows)];
                    let mut held = vec![_ahead];
                    while jobs.len() < ROUND_JOBS {
                        match rx.try_recv() {
                            Ok(Msg::Decoded {
                                objects,
                                rows,
                                _ahead,
                            }) => {
                                jobs.push((objects, rows));
                                held.push(_ahead);
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.metrics.writer_rounds.fetch_add(1, Relaxed);
                    self.on_decoded(jobs, held).await;
                }
                Some(Msg::Finish(reply)) => {
                    let sealed = self.blocking(|w| w.seal_all()).await;
                    let ok = sealed.is_ok();
                    self.commit_all(sealed).await;
                    self.drain_commits().await;
                    let left: Vec<u64> = self.units.keys().copied().collect();
                    for unit in left {
                        self.complete(unit, Outcome::Failed("rows were not committed".into()));
                    }
                    let _ = reply.send(if ok {
                        Ok(())
                    } else {
                        Err(anyhow!("sealing files failed"))
                    });
                    return;
                }
                Some(Msg::Flush(reply)) => {
                    let sealed = self.blocking(|w| w.seal_all()).await;
                    let ok = sealed.is_ok();
                    self.commit_all(sealed).await;
                    self.drain_commits().await;
                    let _ = reply.send(if ok {
                        Ok(())
                    } else {
                        Err(anyhow!("sealing files failed"))
                    });
                }
                Some(Msg::Abort(reply)) => {
                    // files queued are discarded; those already committing land, and their
                    // units may complete `Done`
                    self.discard_queued();
                    self.drain_commits().await;
                    if let Some(w) = self.writer.as_mut() {
                        w.discard_all();
                    }
                    let left: Vec<u64> = self.units.keys().copied().collect();
                    for unit in left {
                        self.complete(
                            unit,
                            Outcome::Retry {
                                after: Duration::ZERO,
                                reason: "shutting down".into(),
                            },
                        );
                    }
                    let _ = reply.send(());
                    return;
                }
                None => {
                    self.drain_commits().await;
                    return;
                }
            }
        }
    }

    /// Runs CPU-heavy writer work on the blocking pool, moving the writer there and back.
    async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut LakeWriter) -> T + Send + 'static,
    ) -> T {
        let mut writer = self.writer.take().expect("writer present between calls");
        let (writer, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut writer);
            (writer, out)
        })
        .await
        .expect("lake writer panicked");
        self.metrics
            .buffered_bytes
            .store(writer.buffered_bytes(), Relaxed);
        self.writer = Some(writer);
        out
    }

    /// Takes each decoded object's outcome: a failure or a digest completes its unit now; an
    /// object with records waits for the files of its rows. Returns (unit, source) of each
    /// object, in the job's order (what `ObjectRows::object` indexes).
    fn take_objects(
        &mut self,
        objects: Vec<DecodedObject>,
        appending: &mut Vec<u64>,
    ) -> Vec<(u64, String)> {
        let mut ids = Vec::with_capacity(objects.len());
        for o in objects {
            ids.push((o.unit, o.source.clone()));
            match o.result {
                Err(e) => {
                    self.metrics.objects_failed.fetch_add(1, Relaxed);
                    self.metrics.error(match e {
                        DecodeError::TooLarge { .. } => "too_large",
                        DecodeError::Gzip(_) | DecodeError::NotGzipOrJson(_) => "gzip",
                        DecodeError::Json(_) => "json",
                        DecodeError::Shape(_) => "not_cloudtrail",
                    });
                    self.done(o.unit, o.source, Outcome::Failed(e.to_string()));
                }
                Ok(Added::Digest) => {
                    self.metrics.objects_skipped.fetch_add(1, Relaxed);
                    self.done(o.unit, o.source, Outcome::Skipped("digest file".into()));
                }
                Ok(Added::Records(c)) => {
                    let m = &self.metrics;
                    m.json_bytes.fetch_add(c.json_bytes, Relaxed);
                    m.records.fetch_add(c.records, Relaxed);
                    m.mistyped_values.fetch_add(c.mistyped, Relaxed);
                    m.unknown_fields.fetch_add(c.unknown_fields, Relaxed);
                    self.units.insert(
                        o.unit,
                        UnitState {
                            source: o.source,
                            records: c.records,
                            created_ms: o.created_ms,
                            appending: true,
                            ..UnitState::default()
                        },
                    );
                    appending.push(o.unit);
                }
            }
        }
        ids
    }

    /// A round: the decode jobs that reached the writer together. Their claims (per object and
    /// partition, naming the file the rows will be in) go out all at once, then their rows
    /// are appended in one call that seals no file before every batch is in
    /// ([`LakeWriter::append_all`]), so each claim's file is the one its rows go to. With a
    /// remote lake a claim is a round trip: one at a time they bounded a process to about one
    /// object per round trip; a round takes as many objects as were decoded meanwhile.
    async fn on_decoded(
        &mut self,
        jobs: Vec<(Vec<DecodedObject>, Vec<PartitionBatch>)>,
        held: Vec<Option<OwnedSemaphorePermit>>,
    ) {
        let mut ids: Vec<Vec<(u64, String)>> = Vec::with_capacity(jobs.len());
        let mut batches: Vec<(usize, PartitionBatch)> = Vec::new();
        let mut appending = Vec::new();
        for (job, (objects, rows)) in jobs.into_iter().enumerate() {
            ids.push(self.take_objects(objects, &mut appending));
            batches.extend(rows.into_iter().map(|pb| (job, pb)));
        }
        let writer = self.writer.as_mut().expect("writer present");
        let files: Vec<String> = batches
            .iter()
            .map(|(_, pb)| writer.file_for(&pb.key).to_string())
            .collect();
        let claims = self.claim_all(&batches, &ids, &files).await;
        let mut failures: HashMap<u64, Outcome> = HashMap::new();
        let mut appends = Vec::with_capacity(batches.len());
        for (((job, mut pb), file), claims) in batches.into_iter().zip(files).zip(claims) {
            let ids = &ids[job];
            let mut deadline: Option<u64> = None;
            let mut skip = HashSet::new();
            for (run, claim) in pb.objects.iter().zip(claims) {
                let unit = &ids[run.object as usize].0;
                match claim {
                    Claim::Write(d) => {
                        if let Some(d) = d {
                            deadline = Some(deadline.map_or(d, |x| x.min(d)));
                        }
                        if let Some(st) = self.units.get_mut(unit) {
                            if st.pending.insert(file.clone()) {
                                self.waiting.entry(file.clone()).or_default().push(*unit);
                            }
                        }
                    }
                    Claim::Skip(failure) => {
                        failures.extend(failure.map(|f| (*unit, f)));
                        skip.insert(run.object);
                    }
                }
            }
            if !skip.is_empty() {
                if let Err(e) = pb.retain_objects(|o| !skip.contains(&o)) {
                    // Cannot happen short of a bug in the filter. The claims made above name
                    // this file, so their rows must go into it: everything is written, a
                    // possible duplicate rather than a loss (as when a claim's state is unknown).
                    self.metrics.error("claim");
                    tracing::error!(error = %e, partition = %pb.key,
                        "dropping the rows of objects already written failed; writing them all");
                }
            }
            if pb.objects.is_empty() {
                continue;
            }
            appends.push(Rows {
                sources: pb
                    .objects
                    .iter()
                    .map(|o| ids[o.object as usize].clone())
                    .collect(),
                key: pb.key,
                batch: pb.batch,
                claim_deadline_ms: deadline,
            });
        }
        let sealed = if appends.is_empty() {
            Ok(Vec::new())
        } else {
            self.blocking(move |w| w.append_all(appends)).await
        };
        // the rows are in the writer: decoding may go on while the sealed files upload
        drop(held);
        self.commit_all(sealed).await;
        for unit in appending {
            if let Some(st) = self.units.get_mut(&unit) {
                st.appending = false;
            }
            match failures.remove(&unit) {
                Some(outcome) => self.complete(unit, outcome),
                None => self.check_done(unit),
            }
        }
    }

    /// Claims the rows of each object of each batch for the batch's file (when this source
    /// uses claims): whether to write them, with the claim's deadline, or to skip them, with
    /// the unit's outcome if it must not complete `Done`; per batch, in the order of its
    /// `objects`. The requests all go out together.
    async fn claim_all(
        &mut self,
        batches: &[(usize, PartitionBatch)],
        ids: &[Vec<(u64, String)>],
        files: &[String],
    ) -> Vec<Vec<Claim>> {
        let Some(c) = &self.claims else {
            return batches
                .iter()
                .map(|(_, pb)| pb.objects.iter().map(|_| Claim::Write(None)).collect())
                .collect();
        };
        let (writer_id, store) = (c.writer_id.clone(), self.store.clone());
        let now = now_ms();
        let d = now + c.ttl.as_millis() as u64;
        // One request per (source, partition) of the round: a source given twice (a duplicate
        // notification, or messages for one object retried together) is claimed once, and its
        // other units wait for the same file. Two requests for one pair could both take a
        // stale claim of ours over, and its rows would be written twice.
        let mut first: HashMap<(&str, &PartitionKey), usize> = HashMap::new();
        let mut requests: Vec<ClaimRequest> = Vec::new();
        // (unit, rows, its request, whether it made the request), in the order of the batches
        let mut entries: Vec<(u64, u32, usize, bool)> = Vec::new();
        for ((job, pb), file) in batches.iter().zip(files) {
            for run in &pb.objects {
                let (unit, source) = &ids[*job][run.object as usize];
                let made = requests.len();
                let i = *first.entry((source.as_str(), &pb.key)).or_insert_with(|| {
                    requests.push(ClaimRequest {
                        source,
                        partition: &pb.key,
                        file,
                        writer: &writer_id,
                        deadline_ms: d,
                        now_ms: now,
                        token: self.claim_tokens,
                    });
                    self.claim_tokens += 1;
                    made
                });
                entries.push((*unit, run.rows, i, i == made));
            }
        }
        self.metrics
            .claims
            .fetch_add(requests.len() as u64, Relaxed);
        let at_once = if faults_injected() { 1 } else { CLAIMS_AT_ONCE };
        let calls: Vec<_> = requests
            .iter()
            .map(|r| claim_with_retry(&*store, r))
            .collect();
        let mut outcomes: Vec<_> = futures_util::stream::iter(calls)
            .buffered(at_once)
            .collect()
            .await;
        // our own claims for files neither open nor sealed (discarded): the rows are not in
        // the lake; taken over together too
        let stale: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| match o {
                Ok(ClaimOutcome::Ours(f)) => {
                    !self.writer.as_ref().is_some_and(|w| w.is_open(f)) && !self.sealed.contains(f)
                }
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
        let calls: Vec<_> = stale
            .iter()
            .map(|&i| ledger::take_over(&*store, &requests[i]))
            .collect();
        let retaken: Vec<_> = futures_util::stream::iter(calls)
            .buffered(at_once)
            .collect()
            .await;
        for (i, outcome) in stale.into_iter().zip(retaken) {
            outcomes[i] = outcome;
        }
        // what the other units of a request's pair get: they wait for the file its rows go to
        let others: Vec<ClaimOutcome> = outcomes
            .iter()
            .zip(&requests)
            .map(|(o, r)| match o {
                Ok(ClaimOutcome::Claimed) | Err(_) => ClaimOutcome::Ours(r.file.to_string()),
                Ok(o) => o.clone(),
            })
            .collect();
        let mut outcomes: Vec<Option<_>> = outcomes.into_iter().map(Some).collect();
        let mut decided = Vec::with_capacity(entries.len());
        for (unit, rows, i, made) in entries {
            let outcome = if made {
                outcomes[i]
                    .take()
                    .expect("each request is made by one entry")
            } else {
                Ok(others[i].clone())
            };
            decided.push(self.claim_decision(unit, &requests[i], rows, outcome));
        }
        let mut decided = decided.into_iter();
        batches
            .iter()
            .map(|(_, pb)| decided.by_ref().take(pb.objects.len()).collect())
            .collect()
    }

    /// What the store's answer to `req` (for `unit`'s `rows` rows) means for them.
    fn claim_decision(
        &mut self,
        unit: u64,
        req: &ClaimRequest<'_>,
        rows: u32,
        outcome: Result<ClaimOutcome, trailpipe_lake::StoreError>,
    ) -> Claim {
        let (source, key) = (req.source, req.partition);
        match outcome {
            Ok(ClaimOutcome::Claimed) => Claim::Write(Some(req.deadline_ms)),
            Ok(ClaimOutcome::Committed) => {
                self.metrics
                    .rows_skipped_duplicate
                    .fetch_add(u64::from(rows), Relaxed);
                Claim::Skip(None)
            }
            Ok(ClaimOutcome::Ours(f)) => {
                self.metrics
                    .rows_skipped_duplicate
                    .fetch_add(u64::from(rows), Relaxed);
                if let Some(st) = self.units.get_mut(&unit) {
                    if st.pending.insert(f.clone()) {
                        self.waiting.entry(f).or_default().push(unit);
                    }
                }
                Claim::Skip(None)
            }
            Ok(ClaimOutcome::Busy(ms)) => Claim::Skip(Some(Outcome::Retry {
                after: Duration::from_millis(ms),
                reason: format!("another writer holds the claim for {key}"),
            })),
            Err(e) => {
                // The claim may have been written with its reply lost: it would then name this
                // partition's open file, and skipping the rows here would let that file commit
                // without them, and a redelivery trust it. So the rows are written: a possible
                // duplicate rather than a loss.
                self.metrics.error("claim");
                tracing::warn!(%source, partition = %key, error = %e,
                    "claim state unknown after retries; writing the rows anyway");
                Claim::Write(Some(req.deadline_ms))
            }
        }
    }

    /// Queues the sealed files for commit and returns: each is committed by a task of its own,
    /// up to [`COMMITS_AT_ONCE`] at once, while this task takes the next rows. It waits only
    /// while more than [`EngineConfig::commit_queue_bytes`] are queued (the store is slower
    /// than the rows). Commits awaited here held up every decoder behind them: with an
    /// organization trail, whose reliefs seal hundreds of files at once, they took 4 s of a
    /// 28 s run.
    async fn commit_all(&mut self, sealed: Result<Vec<SealedFile>, trailpipe_lake::LakeError>) {
        let files = match sealed {
            Ok(f) => f,
            Err(e) => {
                // an encoding or spool failure: every unit with buffered rows must retry.
                // Files sealed before land first, so that the units below are those with rows
                // in files that are gone.
                self.drain_commits().await;
                tracing::error!(error = %e, "sealing lake files failed");
                self.metrics.error("encode");
                let mut units = self
                    .writer
                    .as_mut()
                    .map(LakeWriter::discard_all)
                    .unwrap_or_default();
                // every file not yet committed is gone, also one sealed by the failed call
                // before its error (no longer among the writer's partitions): units waiting
                // for any file would wait for ever, their messages kept hidden by the heartbeat
                units.extend(
                    self.units
                        .iter()
                        .filter(|(_, st)| !st.pending.is_empty())
                        .map(|(u, _)| *u),
                );
                self.waiting.clear();
                for u in units {
                    self.complete(u, Outcome::Failed(format!("writing the lake failed: {e}")));
                }
                return;
            }
        };
        for f in files {
            self.sealed.insert(f.path.clone());
            self.queued_bytes += f.bytes;
            self.queued.push_back(f);
        }
        self.dispatch();
        if self.queued_bytes > self.queue_cap {
            let waited = std::time::Instant::now();
            while self.queued_bytes > self.queue_cap && self.land_next().await {}
            let us = waited.elapsed().as_micros() as u64;
            self.metrics.commit_wait_us.fetch_add(us, Relaxed);
        }
    }

    /// Starts committing queued files while commit slots are free. Several at once: with an
    /// S3 lake a commit is an upload, and sealing by age ends every partition's file
    /// together, which one after another took longer than the files' claims allow.
    fn dispatch(&mut self) {
        let at_once = if faults_injected() {
            1
        } else {
            COMMITS_AT_ONCE
        };
        let margin = self.claims.as_ref().map(|c| c.margin.as_millis() as u64);
        while self.commits.len() < at_once {
            let Some(f) = self.queued.pop_front() else {
                break;
            };
            self.queued_bytes -= f.bytes;
            let store = self.store.clone();
            let (temp, path, deadline) = (f.temp.clone(), f.path.clone(), f.claim_deadline_ms);
            let task = self.commits.spawn(async move {
                commit_with_retry(&*store, &temp, &path, deadline, margin).await
            });
            self.committing.insert(task.id(), f);
        }
        let files = self.queued.len() + self.commits.len();
        self.metrics.files_committing.store(files as u64, Relaxed);
    }

    /// Waits for every sealed file to land.
    async fn drain_commits(&mut self) {
        while self.land_next().await {}
    }

    /// Waits for the next commit to land (starting queued ones if slots are free); `false` if
    /// none was in flight.
    async fn land_next(&mut self) -> bool {
        self.dispatch();
        match self.commits.join_next_with_id().await {
            Some(joined) => {
                self.landed(joined);
                true
            }
            None => false,
        }
    }

    /// Discards the queued files (an abort): their units are retried.
    fn discard_queued(&mut self) {
        while let Some(f) = self.queued.pop_front() {
            self.queued_bytes -= f.bytes;
            self.sealed.remove(&f.path);
            let _ = std::fs::remove_file(&f.temp);
            for u in &self.units_of(&f) {
                let reason = "shutting down".to_string();
                self.complete(
                    *u,
                    Outcome::Retry {
                        after: Duration::ZERO,
                        reason,
                    },
                );
            }
        }
    }

    /// What a commit's end means for the units with rows in its file.
    fn landed(&mut self, joined: Result<(tokio::task::Id, CommitOutcome), tokio::task::JoinError>) {
        let (id, result) = match joined {
            Ok((id, result)) => (id, Ok(result)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some(f) = self.committing.remove(&id) else {
            return;
        };
        self.sealed.remove(&f.path);
        let result = result.unwrap_or_else(|e| {
            let why = format!("the commit task failed: {e}");
            Some(Err(trailpipe_lake::StoreError::new(
                "commit",
                f.path.clone(),
                why,
                false,
            )))
        });
        match result {
            None => {
                tracing::warn!(file = %f.path, "file missed its claim deadline; discarded, its objects will be retried");
                self.metrics.error("claim_deadline");
                let _ = std::fs::remove_file(&f.temp);
                for u in &self.units_of(&f) {
                    self.complete(
                        *u,
                        Outcome::Retry {
                            after: Duration::ZERO,
                            reason: format!("{} missed its claim deadline", f.path),
                        },
                    );
                }
            }
            Some(Ok(())) => {
                let committed = self.metrics.files_committed.fetch_add(1, Relaxed) + 1;
                fault_point(committed);
                self.metrics.bytes_committed.fetch_add(f.bytes, Relaxed);
                tracing::debug!(file = %f.path, rows = f.rows, bytes = f.bytes, "committed");
                // units waiting on it through an `Ours` claim are done too
                for u in &self.units_of(&f) {
                    if let Some(st) = self.units.get_mut(u) {
                        st.pending.remove(&f.path);
                    }
                    self.check_done(*u);
                }
            }
            Some(Err(e)) => {
                tracing::error!(file = %f.path, error = %e, "commit failed");
                self.metrics.error("commit");
                let _ = std::fs::remove_file(&f.temp);
                for u in &self.units_of(&f) {
                    self.complete(
                        *u,
                        Outcome::Failed(format!("committing {} failed: {e}", f.path)),
                    );
                }
            }
        }
        // after the outcome: a crash-test hook aborts at a commit before the next one starts
        self.dispatch();
    }

    /// Units with rows in `f`, and units waiting for it because their rows were already
    /// claimed into it (an `Ours` claim: a duplicate notification, or a redelivery of a
    /// message whose first unit was retried while this file kept its rows). Whatever happens
    /// to `f` — committed, discarded, failed — happens to all of them, or the waiting ones
    /// would wait forever with their messages kept hidden by the heartbeat. Called once per
    /// file, when its fate is known: it forgets who waited for it.
    fn units_of(&mut self, f: &SealedFile) -> Vec<u64> {
        let mut units = f.units.clone();
        let mut seen: HashSet<u64> = units.iter().copied().collect();
        for u in self.waiting.remove(&f.path).unwrap_or_default() {
            let still = self
                .units
                .get(&u)
                .is_some_and(|st| st.pending.contains(&f.path));
            if still && seen.insert(u) {
                units.push(u);
            }
        }
        units
    }

    fn check_done(&mut self, unit: u64) {
        let ready = self
            .units
            .get(&unit)
            .is_some_and(|st| st.pending.is_empty() && !st.appending);
        if ready {
            let records = self.units.get(&unit).map_or(0, |s| s.records);
            self.complete(unit, Outcome::Done { records });
        }
    }

    fn complete(&mut self, unit: u64, outcome: Outcome) {
        if let Some(st) = self.units.remove(&unit) {
            if let (Outcome::Done { .. }, Some(created)) = (&outcome, st.created_ms) {
                self.metrics
                    .observe_lag(now_ms().saturating_sub(created) as f64 / 1000.0);
            }
            if matches!(outcome, Outcome::Done { .. }) {
                self.metrics.objects_ok.fetch_add(1, Relaxed);
            }
            self.done(unit, st.source, outcome);
        }
    }

    fn done(&self, unit: u64, source: String, outcome: Outcome) {
        self.metrics.in_flight_units.fetch_sub(1, Relaxed);
        let _ = self.done.send(Completion {
            unit,
            source,
            outcome,
        });
    }
}

/// Crash-test hook: with `TRAILPIPE_FAULT_ABORT_AFTER_COMMITS=N` the process aborts (as
/// abruptly as `kill -9`: no flush, no ack) right after its Nth committed file, so tests can
/// crash between the commits of one object's partitions on purpose.
fn fault_point(committed: u64) {
    if fault_abort_after() == Some(committed) {
        eprintln!("fault injection: aborting after {committed} committed files");
        std::process::abort();
    }
}

/// `TRAILPIPE_FAULT_ABORT_AFTER_COMMITS`, if set (see [`fault_point`]).
fn fault_abort_after() -> Option<u64> {
    static AT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *AT.get_or_init(|| {
        std::env::var("TRAILPIPE_FAULT_ABORT_AFTER_COMMITS")
            .ok()
            .and_then(|v| v.parse().ok())
    })
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Claims with retries on errors (backoff with jitter). The request is the same each time,
/// so a claim written by an attempt whose reply was lost is recognised as ours (`Claimed`) by
/// the next.
async fn claim_with_retry<S: Store>(
    store: &S,
    req: &ClaimRequest<'_>,
) -> Result<ClaimOutcome, trailpipe_lake::StoreError> {
    let attempt = || async {
        let out = ledger::claim(store, req).await;
        if out.is_ok() && fault_lose_claim_reply() {
            let path = ledger::claim_path(req.source, req.partition);
            return Err(trailpipe_lake::StoreError::new(
                "claim",
                path,
                "fault injection: reply lost",
                true,
            ));
        }
        out
    };
    trailpipe_aws::s3::with_retries(5, attempt, |_| true).await
}

/// Whether a test hook injects faults: claims and commits then go one at a time, so that a
/// test knows which request a fault hits (the first claim's replies lost, an abort between
/// two commits) instead of spreading it over requests in flight together.
fn faults_injected() -> bool {
    static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        fault_abort_after().is_some()
            || std::env::var_os("TRAILPIPE_FAULT_LOSE_CLAIM_REPLIES").is_some()
    })
}

/// Test hook: with `TRAILPIPE_FAULT_LOSE_CLAIM_REPLIES=N` the first N claim calls of the
/// process take effect in the store but report an error, as a reply lost on the way would.
fn fault_lose_claim_reply() -> bool {
    static LEFT: std::sync::OnceLock<std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();
    LEFT.get_or_init(|| {
        let n = std::env::var("TRAILPIPE_FAULT_LOSE_CLAIM_REPLIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        std::sync::atomic::AtomicU64::new(n)
    })
    .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
    .is_ok()
}

/// Commits with retries on transient errors (throttling, timeouts), backing off with jitter.
/// `None`, without a further attempt, once the file's earliest claim deadline less `margin`
/// has passed: checked before every attempt, since a file may wait for others' commits first
/// and retries back off for seconds. A file committed after its deadline could duplicate rows
/// that another writer took over.
async fn commit_with_retry<S: Store>(
    store: &S,
    temp: &std::path::Path,
    path: &str,
    claim_deadline_ms: Option<u64>,
    margin: Option<u64>,
) -> CommitOutcome {
    let missed = || {
        matches!((margin, claim_deadline_ms),
            (Some(margin), Some(deadline)) if now_ms() + margin > deadline)
    };
    let commit = || async {
        if missed() {
            return Err(trailpipe_lake::StoreError::new(
                "commit",
                path,
                "past its claim deadline",
                false,
            ));
        }
        let out = store.commit(temp, path).await;
        if let Err(e) = &out {
            tracing::warn!(file = %path, error = %e, "commit failed");
        }
        out
    };
    match trailpipe_aws::s3::with_retries(6, commit, |e: &trailpipe_lake::StoreError| e.transient)
        .await
    {
        Err(_) if missed() => None,
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(records: usize) -> Vec<u8> {
        object_of("123456789012", records)
    }

    /// An object of `account`'s, whose rows are that account's partition.
    fn object_of(account: &str, records: usize) -> Vec<u8> {
        let record = r#"{"eventVersion":"1.08","eventTime":"2024-03-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","recipientAccountId":"ACCOUNT","eventID":"e","requestParameters":{"bucketName":"b","key":"logs/0123456789/0123456789/0123456789/0123456789/0123456789"}}"#
            .replace("ACCOUNT", account);
        format!("{{\"Records\":[{}]}}", vec![record; records].join(",")).into_bytes()
    }

    /// A unit of `account`'s rows from `source`.
    fn work_of(unit: u64, source: &str, account: &str) -> Work {
        Work {
            unit,
            source: source.into(),
            body: Body::Raw(object_of(account, 3).into()),
            bytes_in: 0,
            created_ms: None,
        }
    }

    /// The records of a job of one object, checked against the rows it gave.
    fn records((results, rows): JobOutput) -> u64 {
        let rows: usize = rows.iter().map(|p| p.batch.num_rows()).sum();
        match &results[..] {
            [Ok(Added::Records(c))] => {
                assert_eq!(rows as u64, c.records);
                c.records
            }
            other => panic!("not records: {other:?}"),
        }
    }

    /// A group is what has already arrived, in order, up to [`GROUP_BYTES`]; nothing waits
    /// for more, and an empty channel is waited on until something arrives or it closes.
    #[tokio::test]
    async fn a_group_is_what_arrived_up_to_the_group_size() {
        let work = |unit: u64, bytes_in: u64| Work {
            unit,
            source: format!("s3://b/{unit}.json.gz"),
            body: Body::Raw(Bytes::new()),
            bytes_in,
            created_ms: None,
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        for (unit, kib) in [(0, 100), (1, 100), (2, 100), (3, 10)] {
            tx.send((work(unit, kib << 10), unit)).unwrap();
        }
        let (works, held) = next_group(&mut rx).await.unwrap();
        assert_eq!(
            held,
            [0, 1, 2],
            "the third passes 256 KB and ends the group"
        );
        assert_eq!(works.iter().map(|w| w.unit).collect::<Vec<_>>(), held);
        let (_, held) = next_group(&mut rx).await.unwrap();
        assert_eq!(held, [3], "the rest, without waiting for more");

        let waiting = tokio::spawn(async move {
            let next = next_group(&mut rx).await.map(|g| g.1);
            (next, next_group(&mut rx).await.is_none())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "waits for an object");
        tx.send((work(4, 1), 4)).unwrap();
        drop(tx);
        assert_eq!(waiting.await.unwrap(), (Some(vec![4]), true));
    }

    /// An engine with claims over a fresh local lake: (its folder, the engine, completions).
    fn engine_with_claims() -> (
        std::path::PathBuf,
        Engine,
        mpsc::UnboundedReceiver<Completion>,
    ) {
        let root = std::env::temp_dir().join(format!("tp-engine-{}", uuid::Uuid::now_v7()));
        let store = Arc::new(trailpipe_lake::LocalStore::open(&root).unwrap());
        let (engine, done) = engine_over(store);
        (root, engine, done)
    }

    /// An engine with claims over `store`.
    fn engine_over<S: Store>(store: Arc<S>) -> (Engine, mpsc::UnboundedReceiver<Completion>) {
        engine_with(
            store,
            ClaimSettings {
                writer_id: "w".into(),
                ttl: Duration::from_secs(600),
                margin: Duration::from_secs(1),
            },
        )
    }

    /// An engine over `store`, with `claims`.
    fn engine_with<S: Store>(
        store: Arc<S>,
        claims: ClaimSettings,
    ) -> (Engine, mpsc::UnboundedReceiver<Completion>) {
        let config = config_for(&*store, claims);
        Engine::start(store, config, Arc::new(Metrics::default())).unwrap()
    }

    /// The settings of an engine over `store` with `claims`.
    fn config_for<S: Store>(store: &S, claims: ClaimSettings) -> EngineConfig {
        EngineConfig {
            writer: WriterConfig {
                spool_dir: trailpipe_lake::Store::spool_dir(store),
                ..WriterConfig::default()
            },
            decode: DecodeOptions::default(),
            claims: Some(claims),
            in_flight: 4,
            commit_queue_bytes: COMMIT_QUEUE_BYTES,
        }
    }

    /// A local lake whose claims and commits each take `delay`, as round trips to S3 do,
    /// counting the most of each in flight at once.
    struct RemoteLike {
        local: trailpipe_lake::LocalStore,
        delay: Duration,
        claims: (
            std::sync::atomic::AtomicUsize,
            std::sync::atomic::AtomicUsize,
        ),
        commits: (
            std::sync::atomic::AtomicUsize,
            std::sync::atomic::AtomicUsize,
        ),
        /// Commit attempts still to fail with a transient error (throttling, say).
        failing_commits: std::sync::atomic::AtomicUsize,
        /// Commits into the partitions of accounts starting with this (if not empty) wait
        /// for the test to let them through, one permit each.
        gated: &'static str,
        gate: Semaphore,
        /// Commits waiting at the gate now, and the most at once.
        held: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    impl RemoteLike {
        /// One over a fresh local lake (returned with its folder), whose first
        /// `failing_commits` commit attempts fail.
        fn open(delay: Duration, failing_commits: usize) -> (std::path::PathBuf, Arc<RemoteLike>) {
            Self::with(delay, failing_commits, "")
        }

        /// One over a fresh local lake whose commits for accounts starting with `account` wait
        /// at the gate.
        fn gated(account: &'static str) -> (std::path::PathBuf, Arc<RemoteLike>) {
            Self::with(Duration::ZERO, 0, account)
        }

        fn with(
            delay: Duration,
            failing_commits: usize,
            gated: &'static str,
        ) -> (std::path::PathBuf, Arc<RemoteLike>) {
            let root = std::env::temp_dir().join(format!("tp-engine-{}", uuid::Uuid::now_v7()));
            let store = RemoteLike {
                local: trailpipe_lake::LocalStore::open(&root).unwrap(),
                delay,
                claims: Default::default(),
                commits: Default::default(),
                failing_commits: failing_commits.into(),
                gated,
                gate: Semaphore::new(0),
                held: Default::default(),
                most: Default::default(),
            };
            (root, Arc::new(store))
        }

        /// An engine with claims over this store, sealing files 100 ms after their first rows.
        fn engine(self: &Arc<Self>) -> (Engine, mpsc::UnboundedReceiver<Completion>) {
            self.engine_queueing(COMMIT_QUEUE_BYTES)
        }

        /// One whose writer waits while more than `bytes` of sealed files are queued.
        fn engine_queueing(
            self: &Arc<Self>,
            bytes: u64,
        ) -> (Engine, mpsc::UnboundedReceiver<Completion>) {
            let claims = ClaimSettings {
                writer_id: "w".into(),
                ttl: Duration::from_secs(600),
                margin: Duration::from_secs(1),
            };
            let mut config = config_for(&**self, claims);
            config.writer.max_file_age = Duration::from_millis(100);
            config.commit_queue_bytes = bytes;
            Engine::start(self.clone(), config, Arc::new(Metrics::default())).unwrap()
        }

        /// Waits until a commit is held at the gate.
        async fn holding(&self) {
            self.holding_n(1).await;
        }

        /// Waits until `n` commits are held at the gate.
        async fn holding_n(&self, n: usize) {
            let wait = async {
                while self.held.load(Relaxed) < n {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(10), wait)
                .await
                .expect("the commits reach the gate");
        }

        /// Runs `f` after the delay, counted in `(now, most)`.
        async fn timed<T>(
            &self,
            (now, most): &(
                std::sync::atomic::AtomicUsize,
                std::sync::atomic::AtomicUsize,
            ),
            f: impl std::future::Future<Output = T>,
        ) -> T {
            most.fetch_max(now.fetch_add(1, Relaxed) + 1, Relaxed);
            tokio::time::sleep(self.delay).await;
            let out = f.await;
            now.fetch_sub(1, Relaxed);
            out
        }
    }

    impl Store for RemoteLike {
        fn describe(&self) -> String {
            self.local.describe()
        }
        fn spool_dir(&self) -> std::path::PathBuf {
            self.local.spool_dir()
        }
        async fn commit(
            &self,
            temp: &std::path::Path,
            path: &str,
        ) -> Result<(), trailpipe_lake::StoreError> {
            let fail = self
                .failing_commits
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok();
            if fail {
                return Err(trailpipe_lake::StoreError::new(
                    "commit", path, "SlowDown", true,
                ));
            }
            if !self.gated.is_empty() && path.contains(&format!("account={}", self.gated)) {
                let held = self.held.fetch_add(1, Relaxed) + 1;
                self.most.fetch_max(held, Relaxed);
                self.gate.acquire().await.unwrap().forget();
                self.held.fetch_sub(1, Relaxed);
            }
            self.timed(&self.commits, self.local.commit(temp, path))
                .await
        }
        async fn put_if_absent(
            &self,
            path: &str,
            body: Vec<u8>,
        ) -> Result<bool, trailpipe_lake::StoreError> {
            self.timed(&self.claims, self.local.put_if_absent(path, body))
                .await
        }
        async fn put(&self, path: &str, body: Vec<u8>) -> Result<(), trailpipe_lake::StoreError> {
            self.local.put(path, body).await
        }
        async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, trailpipe_lake::StoreError> {
            self.local.get(path).await
        }
        async fn exists(&self, path: &str) -> Result<bool, trailpipe_lake::StoreError> {
            self.local.exists(path).await
        }
        async fn delete(&self, path: &str) -> Result<(), trailpipe_lake::StoreError> {
            self.local.delete(path).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, trailpipe_lake::StoreError> {
            self.local.list(prefix).await
        }
    }

    /// Jobs decoded while the writer waits on a claim's round trip are claimed together in
    /// the next round, not one after another: with claims one round trip each and one at a
    /// time, a process did about one object per round trip whatever its CPU. The files sealed
    /// together are committed together. Each object's rows still go to the lake exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trips_to_the_lake_go_out_together() {
        let (root, store) = RemoteLike::open(Duration::from_millis(100), 0);
        let (engine, mut done) = engine_over(store.clone());
        let jobs = 8;
        for unit in 0..jobs {
            let account = format!("{:012}", unit % 4);
            let work = work_of(unit, &format!("s3://b/{unit}.json.gz"), &account);
            engine.submit_group(vec![work]).await.unwrap();
        }
        engine.finish().await.unwrap();
        let mut outcomes = HashMap::new();
        while let Ok(Some(c)) = tokio::time::timeout(Duration::from_secs(10), done.recv()).await {
            outcomes.insert(c.unit, c.outcome);
            if outcomes.len() == jobs as usize {
                break;
            }
        }
        for unit in 0..jobs {
            assert_eq!(outcomes.get(&unit), Some(&Outcome::Done { records: 3 }));
        }
        assert_eq!(lake_rows(&root).values().sum::<i64>(), 3 * jobs as i64);
        let m = &engine.metrics;
        assert_eq!(
            (m.decode_jobs.load(Relaxed), m.claims.load(Relaxed)),
            (jobs, jobs)
        );
        let most = store.claims.1.load(Relaxed);
        assert!(most > 1, "claims went out one at a time");
        assert!(m.writer_rounds.load(Relaxed) < jobs, "a round per job");
        assert_eq!(m.files_committed.load(Relaxed), 4, "a file per account");
        assert!(
            store.commits.1.load(Relaxed) > 1,
            "files were committed one at a time"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A second unit for an object whose rows this writer already buffers (a duplicate
    /// notification, or a redelivery after its first unit was retried) waits for that file
    /// through an `Ours` claim. The file's commit must complete it too: it used to complete
    /// only the units with rows in the file, and the waiting unit's message stayed in flight
    /// forever, hidden by the heartbeat.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_unit_waiting_on_our_own_claim_completes_when_that_file_commits() {
        let (root, engine, mut done) = engine_with_claims();
        for unit in [1, 2] {
            let work = Work {
                unit,
                source: "s3://b/k.json.gz".into(),
                body: Body::Raw(object(3).into()),
                bytes_in: 0,
                created_ms: None,
            };
            engine.submit_group(vec![work]).await.unwrap();
            // the first unit's rows are buffered before the second is claimed
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        engine.flush().await.unwrap();
        let mut outcomes = HashMap::new();
        while outcomes.len() < 2 {
            let c = tokio::time::timeout(Duration::from_secs(10), done.recv())
                .await
                .expect("every unit completes once its rows are committed")
                .unwrap();
            outcomes.insert(c.unit, c.outcome);
        }
        assert_eq!(outcomes[&1], Outcome::Done { records: 3 });
        assert_eq!(outcomes[&2], Outcome::Done { records: 3 });
        assert_eq!(
            engine.metrics.rows_skipped_duplicate.load(Relaxed),
            3,
            "the second unit's rows were not written again"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A source given twice in one group (a duplicate notification fetched with the first) is
    /// written once: its two claims go out together, in the same millisecond, and differ only
    /// by their tokens; without them both took the claim as theirs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_source_twice_in_a_group_is_written_once() {
        let (root, engine, mut done) = engine_with_claims();
        let work = |unit, key: &str| Work {
            unit,
            source: format!("s3://b/{key}.json.gz"),
            body: Body::Raw(object(3).into()),
            bytes_in: 0,
            created_ms: None,
        };
        let group = vec![work(1, "k"), work(2, "other"), work(3, "k")];
        engine.submit_group(group).await.unwrap();
        engine.finish().await.unwrap();
        all_done(&mut done, [1, 2, 3], 3).await;
        assert_eq!(engine.metrics.decode_jobs.load(Relaxed), 1);
        assert_eq!(
            lake_rows(&root).values().sum::<i64>(),
            6,
            "k's rows once, other's once"
        );
        assert_eq!(engine.metrics.rows_skipped_duplicate.load(Relaxed), 3);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Two units of one source in one round, whose claim is a stale one of this writer's (its
    /// file discarded, say after a missed deadline, and both messages retried together): the
    /// pair is claimed once, and the rows written once. With a request per unit both took
    /// the stale claim over, one after the other, and both wrote the rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_claim_of_ours_is_taken_over_once_per_round() {
        let (root, store) = RemoteLike::open(Duration::from_millis(200), 0);
        let key = PartitionKey::from_values(
            trailpipe_record::Table::CloudTrail,
            Some("123456789012"),
            Some("us-east-1"),
            trailpipe_record::Date::parse("2024-03-01"),
        );
        let stale = ClaimRequest {
            source: "s3://b/k.json.gz",
            partition: &key,
            file:
                "cloudtrail/account=123456789012/region=us-east-1/date=2024-03-01/part-gone.parquet",
            writer: "w",
            deadline_ms: now_ms() + 600_000,
            now_ms: now_ms(),
            token: u64::MAX,
        };
        assert_eq!(
            ledger::claim(&store.local, &stale).await.unwrap(),
            ClaimOutcome::Claimed
        );
        let (engine, mut done) = engine_over(store.clone());
        let work = work_of;
        // the first round's claim takes 200 ms; the two units of k arrive meanwhile
        engine
            .submit_group(vec![work(0, "s3://b/other.json.gz", "000000000000")])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        for unit in [1, 2] {
            engine
                .submit_group(vec![work(unit, "s3://b/k.json.gz", "123456789012")])
                .await
                .unwrap();
        }
        engine.finish().await.unwrap();
        all_done(&mut done, [0, 1, 2], 3).await;
        assert_eq!(
            engine.metrics.writer_rounds.load(Relaxed),
            2,
            "the two units of k were one round"
        );
        assert_eq!(lake_rows(&root).values().sum::<i64>(), 6, "k's rows once");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A commit that keeps failing is not retried past the file's claim deadline (less the
    /// margin): the unit is retried instead. The deadline used to be checked once, before the
    /// first attempt, and a retry after it could commit rows that another writer had taken
    /// over by then.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commit_retries_stop_at_the_claim_deadline() {
        // three failed attempts back off 100, 200 and 400 ms (and jitter): the fourth comes
        // after the deadline less the margin, 500 ms after the claim
        let (root, store) = RemoteLike::open(Duration::ZERO, 3);
        let (engine, mut done) = engine_with(
            store.clone(),
            ClaimSettings {
                writer_id: "w".into(),
                ttl: Duration::from_millis(1500),
                margin: Duration::from_millis(1000),
            },
        );
        let work = Work {
            unit: 1,
            source: "s3://b/k.json.gz".into(),
            body: Body::Raw(object(3).into()),
            bytes_in: 0,
            created_ms: None,
        };
        engine.submit_group(vec![work]).await.unwrap();
        engine.finish().await.unwrap();
        let c = tokio::time::timeout(Duration::from_secs(10), done.recv())
            .await
            .expect("the unit completes")
            .unwrap();
        assert!(
            matches!(&c.outcome, Outcome::Retry { reason, .. } if reason.contains("claim deadline")),
            "{:?}",
            c.outcome
        );
        assert_eq!(store.commits.1.load(Relaxed), 0, "no attempt got through");
        assert!(lake_rows(&root).is_empty(), "nothing was committed");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A group of one object per account `11111111xxxx`, `n` accounts.
    fn gated_group(n: u64) -> Vec<Work> {
        let account = |u| format!("11111111{u:04}");
        let source = |u| format!("s3://b/{u}.json.gz");
        (0..n)
            .map(|u| work_of(u, &source(u), &account(u)))
            .collect()
    }

    /// Rows keep coming while files commit: with every commit slot taken and a file queued
    /// behind them, a later object's rows are still appended and sealed, and their file
    /// queued. At most [`COMMITS_AT_ONCE`] commits are in flight. The writer task used to
    /// await its commits, so every decoder waited behind an upload.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_keep_coming_while_files_commit() {
        let (root, store) = RemoteLike::gated("11111111");
        let (engine, mut done) = store.engine();
        let n = COMMITS_AT_ONCE as u64 + 1;
        engine.submit_group(gated_group(n)).await.unwrap();
        store.holding_n(COMMITS_AT_ONCE).await;
        let later = work_of(n, "s3://b/later.json.gz", "222222222222");
        engine.submit_group(vec![later]).await.unwrap();
        let m = engine.metrics.clone();
        let sealed = async {
            while m.files_committing.load(Relaxed) < n + 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), sealed)
            .await
            .expect("the later rows are sealed while the commits are held");
        assert!(
            done.try_recv().is_err(),
            "a unit completed before its commit"
        );
        assert_eq!(store.most.load(Relaxed), COMMITS_AT_ONCE);
        store.gate.add_permits(n as usize);
        all_done(&mut done, 0..=n, 3).await;
        engine.finish().await.unwrap();
        assert_eq!(lake_rows(&root).values().sum::<i64>(), 3 * (n as i64 + 1));
        assert_eq!(m.commit_wait_us.load(Relaxed), 0);
        assert_eq!(m.files_committing.load(Relaxed), 0);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// With more than `commit_queue_bytes` of sealed files queued, the writer takes no rows
    /// until commits land, and counts the wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_commit_queue_holds_rows_back() {
        let (root, store) = RemoteLike::gated("11111111");
        let (engine, mut done) = store.engine_queueing(1);
        let n = COMMITS_AT_ONCE as u64 + 1;
        engine.submit_group(gated_group(n)).await.unwrap();
        store.holding_n(COMMITS_AT_ONCE).await;
        let later = work_of(n, "s3://b/later.json.gz", "222222222222");
        engine.submit_group(vec![later]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            done.try_recv().is_err(),
            "a unit completed with the queue full"
        );
        store.gate.add_permits(n as usize);
        all_done(&mut done, 0..=n, 3).await;
        engine.finish().await.unwrap();
        assert_eq!(lake_rows(&root).values().sum::<i64>(), 3 * (n as i64 + 1));
        let waited = engine.metrics.commit_wait_us.load(Relaxed);
        assert!(waited >= 200_000, "waited {waited} us");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A second unit of an object whose file is committing (a duplicate notification) waits
    /// for that file through our claim: the file is no longer open in the writer, yet its
    /// claim is not stale. Taken over, the rows would be written twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duplicate_waits_for_its_file_in_flight() {
        let (root, store) = RemoteLike::gated("111111111111");
        let (engine, mut done) = store.engine();
        let work = |unit| work_of(unit, "s3://b/k.json.gz", "111111111111");
        engine.submit_group(vec![work(1)]).await.unwrap();
        store.holding().await;
        engine.submit_group(vec![work(2)]).await.unwrap();
        // the second unit's round is claimed and appended meanwhile
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            done.try_recv().is_err(),
            "nothing completes before the commit"
        );
        store.gate.add_permits(100);
        engine.finish().await.unwrap();
        all_done(&mut done, [1, 2], 3).await;
        assert_eq!(lake_rows(&root).values().sum::<i64>(), 3, "k's rows once");
        assert_eq!(engine.metrics.rows_skipped_duplicate.load(Relaxed), 3);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// An abort lets files already committing land: their units complete `Done` (their
    /// messages need no redelivery). Files still queued for a slot are discarded and their
    /// units retried, as rows still buffered are.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abort_lets_files_in_flight_land() {
        let (root, store) = RemoteLike::gated("11111111");
        let (engine, mut done) = store.engine();
        let engine = Arc::new(engine);
        let n = COMMITS_AT_ONCE as u64 + 1;
        engine.submit_group(gated_group(n)).await.unwrap();
        store.holding_n(COMMITS_AT_ONCE).await;
        let aborting = tokio::spawn({
            let engine = engine.clone();
            async move { engine.abort().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!aborting.is_finished(), "the abort waits for the commits");
        store.gate.add_permits(COMMITS_AT_ONCE);
        tokio::time::timeout(Duration::from_secs(10), aborting)
            .await
            .expect("the abort ends once the commits in flight have landed")
            .unwrap();
        let mut outcomes = HashMap::new();
        while let Ok(c) = done.try_recv() {
            outcomes.insert(c.unit, c.outcome);
        }
        let done_units = outcomes
            .values()
            .filter(|o| **o == Outcome::Done { records: 3 });
        assert_eq!(done_units.count(), COMMITS_AT_ONCE);
        let retried = outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Retry { .. }));
        assert_eq!((retried.count(), outcomes.len()), (1, n as usize));
        assert_eq!(
            lake_rows(&root).values().sum::<i64>(),
            3 * COMMITS_AT_ONCE as i64
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Waits for the completions of `units`, and checks each is `Done` with `records`.
    async fn all_done(
        done: &mut mpsc::UnboundedReceiver<Completion>,
        units: impl IntoIterator<Item = u64>,
        records: u64,
    ) {
        let units: Vec<u64> = units.into_iter().collect();
        let mut outcomes = HashMap::new();
        while outcomes.len() < units.len() {
            let c = tokio::time::timeout(Duration::from_secs(10), done.recv())
                .await
                .expect("every unit completes")
                .expect("the engine is running");
            outcomes.insert(c.unit, c.outcome);
        }
        for unit in units {
            assert_eq!(
                outcomes.get(&unit),
                Some(&Outcome::Done { records }),
                "unit {unit}"
            );
        }
    }

    /// Rows in the lake's committed files, by partition folder.
    fn lake_rows(root: &std::path::Path) -> HashMap<String, i64> {
        let mut out = HashMap::new();
        let mut stack = vec![root.join("cloudtrail")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    let r = parquet::file::serialized_reader::SerializedFileReader::new(
                        std::fs::File::open(&p).unwrap(),
                    )
                    .unwrap();
                    let rows = parquet::file::reader::FileReader::metadata(&r)
                        .file_metadata()
                        .num_rows();
                    let folder = p.parent().unwrap().strip_prefix(root).unwrap();
                    *out.entry(folder.display().to_string()).or_default() += rows;
                }
            }
        }
        out
    }

    /// The objects of a group are decoded together and each completes on its own: a bad
    /// object fails alone, a digest is skipped, an object already in the lake (its claim says
    /// committed) has its rows dropped from the shared batch, and the others' rows, across two
    /// partitions, are written once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_groups_objects_complete_each_on_its_own() {
        let (root, engine, mut done) = engine_with_claims();
        let work = |unit, source: &str, body: Vec<u8>| Work {
            unit,
            source: source.into(),
            body: Body::Raw(body.into()),
            bytes_in: 0,
            created_ms: None,
        };
        let mut outcomes = HashMap::new();
        let mut wait = async |n: usize, outcomes: &mut HashMap<u64, Outcome>| {
            while outcomes.len() < n {
                let c = tokio::time::timeout(Duration::from_secs(10), done.recv())
                    .await
                    .expect("every unit completes")
                    .unwrap();
                outcomes.insert(c.unit, c.outcome);
            }
        };
        engine
            .submit_group(vec![work(1, "s3://b/a.json.gz", object(3))])
            .await
            .unwrap();
        engine.flush().await.unwrap();
        wait(1, &mut outcomes).await;
        let two_days = String::from_utf8(object(4)).unwrap().replacen(
            "2024-03-01T00:00:00Z",
            "2024-03-02T00:00:00Z",
            1,
        );
        let digest =
            br#"{"awsAccountId":"123456789012","digestPublicKeyFingerprint":"ab","logFiles":[]}"#;
        engine
            .submit_group(vec![
                work(2, "s3://b/a.json.gz", object(3)),
                work(3, "s3://b/b.json.gz", two_days.into_bytes()),
                work(4, "s3://b/c.json.gz", b"\x1f\x8b\x08 not gzip".to_vec()),
                work(5, "s3://b/d.json.gz", digest.to_vec()),
                work(6, "s3://b/e.json.gz", object(2)),
            ])
            .await
            .unwrap();
        engine.flush().await.unwrap();
        wait(6, &mut outcomes).await;
        assert_eq!(outcomes[&1], Outcome::Done { records: 3 });
        assert_eq!(outcomes[&2], Outcome::Done { records: 3 });
        assert_eq!(outcomes[&3], Outcome::Done { records: 4 });
        assert!(
            matches!(&outcomes[&4], Outcome::Failed(r) if r.contains("gzip")),
            "{:?}",
            outcomes[&4]
        );
        assert!(matches!(&outcomes[&5], Outcome::Skipped(_)));
        assert_eq!(outcomes[&6], Outcome::Done { records: 2 });
        assert_eq!(
            engine.metrics.rows_skipped_duplicate.load(Relaxed),
            3,
            "the rows of the object already in the lake were dropped"
        );
        let day = |d: &str| format!("cloudtrail/account=123456789012/region=us-east-1/date={d}");
        assert_eq!(
            lake_rows(&root),
            HashMap::from([(day("2024-03-01"), 3 + 3 + 2), (day("2024-03-02"), 1)])
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn big_objects_leave_the_threads_decoder_alone_and_decode_alike() {
        let opts = DecodeOptions::default();
        let big = object(40_000);
        assert!(big.len() >= BIG_JSON);
        // a thread of its own: its decoder starts empty whatever other tests ran. (The decoder
        // a big object gets is a temporary of `decode_here`, dropped when it returns; what can
        // go wrong is a big object reaching the thread's reused decoder and staying there.)
        std::thread::spawn(move || {
            let used = || DECODER.with(|d| d.borrow().is_some());
            assert_eq!(
                records(decode_here(opts, vec![Body::Raw(big.clone().into())])),
                40_000
            );
            assert!(!used(), "a big object used the thread's decoder");
            assert_eq!(
                records(decode_here(opts, vec![Body::Inflated(Ok(big))])),
                40_000
            );
            assert!(!used(), "a big object used the thread's decoder");
            let small = Body::Raw(object(10).into());
            assert_eq!(records(decode_here(opts, vec![small])), 10);
            assert!(used(), "small objects use the thread's decoder");
        })
        .join()
        .expect("the test thread panicked");
    }
}
