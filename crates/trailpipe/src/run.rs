//! `trailpipe run`: the SQS daemon.
//!
//! ```text
//! receivers (long poll, ≤10/call, bounded in flight) ─► parse notification ─► per object:
//! GET with retries ─► submitter (groups what arrived meanwhile) ─► Engine (decode, claim,
//! buffer, commit) ─► completion ─► when every object of a message is done: DeleteMessage; on
//! error: release for redrive; heartbeat meanwhile
//! ```
//!
//! A message is deleted only after every row of every object it names is in a committed file
//! (or was already, by the claims). A failing object's message is released after a back-off
//! and reaches the dead-letter queue through the queue's redrive policy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use trailpipe_aws::notification::{classify_key, parse_notification, KeyKind, Notification};
use trailpipe_aws::sqs::{Message, Queue};

use crate::engine::{next_group, Completion, Engine, Outcome, Work};
use crate::http::Health;
use crate::metrics::Metrics;

/// Completed messages deleted per `Queue::delete` call (its `DeleteMessageBatch` calls of
/// ten go out together).
const DELETES_AT_ONCE: usize = 160;

/// Daemon settings.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Concurrent receive loops.
    pub receivers: usize,
    /// Visibility timeout set on receive and renewed by the heartbeat.
    pub visibility: Duration,
    /// Messages received and not yet deleted, at most. Most of them wait only for the file
    /// holding their rows to be committed, which costs little memory; reaching the bound seals
    /// and commits every open file early (see [`Daemon::receive_loop`]).
    pub max_in_flight: usize,
    /// Objects fetched and decoded at once (bounds the memory of bodies in flight).
    pub fetch_concurrency: usize,
    /// After SIGTERM, time to flush, commit and delete before releasing the rest.
    pub drain_timeout: Duration,
    /// How long a failed message stays hidden before it is received again.
    pub failure_backoff: Duration,
}

enum Action {
    Delete,
    Release(Duration),
    Fail(String),
}

struct MsgState {
    id: String,
    receipt: String,
    open_units: usize,
    failure: Option<String>,
    retry: Option<Duration>,
    _permit: OwnedSemaphorePermit,
}

#[derive(Default)]
struct Tracker {
    messages: HashMap<String, MsgState>,
    units: HashMap<u64, String>,
    next_unit: u64,
}

impl Tracker {
    /// A message received again while its units are still in flight (its visibility ran out,
    /// say a heartbeat came late under load): the units already at work cover its objects, so
    /// it only takes the new receipt, which SQS requires for the delete. Starting new units
    /// would redo the work, and replacing its state would let the old units count down the new.
    fn redelivered(&mut self, id: &str, receipt: &str) -> bool {
        match self.messages.get_mut(id) {
            Some(st) => {
                st.receipt = receipt.to_string();
                true
            }
            None => false,
        }
    }

    fn unit_done(&mut self, unit: u64, outcome: &Outcome) -> Option<(String, String, Action)> {
        let msg_id = self.units.remove(&unit)?;
        let st = self.messages.get_mut(&msg_id)?;
        st.open_units -= 1;
        match outcome {
            Outcome::Done { .. } | Outcome::Skipped(_) => {}
            Outcome::Failed(reason) => st.failure = Some(reason.clone()),
            Outcome::Retry { after, .. } => {
                st.retry = Some(st.retry.unwrap_or_default().max(*after))
            }
        }
        if st.open_units > 0 {
            return None;
        }
        let st = self.messages.remove(&msg_id)?;
        let action = match (st.failure, st.retry) {
            (Some(reason), _) => Action::Fail(reason),
            (None, Some(after)) => Action::Release(after),
            (None, None) => Action::Delete,
        };
        Some((st.id, st.receipt, action))
    }
}

struct Daemon<S> {
    queue: Queue,
    s3: trailpipe_aws::S3Client,
    engine: Engine,
    tracker: Mutex<Tracker>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    config: RunConfig,
    permits: Arc<Semaphore>,
    fetch_permits: Arc<Semaphore>,
    /// An early flush (all message permits taken) is running.
    flushing: std::sync::atomic::AtomicBool,
    /// Messages to delete, batched by the deleter task.
    /// Taken (closed) at the end of the drain, which lets the deleter finish.
    deletes: Mutex<Option<mpsc::UnboundedSender<(String, String)>>>,
    /// Fetched objects, to the submitter (see [`Daemon::submit_fetched`]).
    fetched: mpsc::UnboundedSender<(Work, Fetching)>,
    fetches: Arc<Fetches>,
    _store: std::marker::PhantomData<S>,
}

/// Objects between their message's arrival and the engine: the drain waits for none to be
/// left before it finishes the engine.
#[derive(Default)]
struct Fetches {
    n: AtomicUsize,
    none_left: Notify,
}

impl Fetches {
    fn start(self: &Arc<Self>) -> FetchCount {
        self.n.fetch_add(1, Relaxed);
        FetchCount(self.clone())
    }

    fn load(&self) -> usize {
        self.n.load(Relaxed)
    }

    async fn none_left(&self) {
        while self.load() > 0 {
            let notified = self.none_left.notified();
            if self.load() == 0 {
                break;
            }
            notified.await;
        }
    }
}

/// One object counted in [`Fetches`] until dropped.
struct FetchCount(Arc<Fetches>);

impl Drop for FetchCount {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, Relaxed) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

/// What a fetched object holds until it is submitted: its fetch permit (at most
/// `fetch_concurrency` bodies fetched or waiting) and its place in [`Fetches`].
type Fetching = (Option<OwnedSemaphorePermit>, FetchCount);

/// Installs the SIGTERM/SIGINT handlers at once (a signal that arrives before them would kill
/// the process undrained) and returns a receiver that turns true on the first signal.
pub fn stop_signal() -> Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("stop signal received: draining");
            let _ = tx.send(true);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Runs until `stop` turns true (see [`stop_signal`]), then drains.
#[allow(clippy::too_many_arguments)]
pub async fn run_daemon<S: trailpipe_lake::Store>(
    stop_rx: watch::Receiver<bool>,
    store: Arc<S>,
    s3: trailpipe_aws::S3Client,
    queue: Queue,
    config: RunConfig,
    engine_config: crate::engine::EngineConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<()> {
    let (engine, completions) = Engine::start(store, engine_config, metrics.clone())?;
    health.alive.store(true, Relaxed);
    let (deletes, delete_rx) = mpsc::unbounded_channel();
    let (fetched, fetched_rx) = mpsc::unbounded_channel();
    let daemon = Arc::new(Daemon::<S> {
        queue,
        s3,
        engine,
        tracker: Mutex::new(Tracker::default()),
        metrics,
        health,
        permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
        fetch_permits: Arc::new(Semaphore::new(config.fetch_concurrency.max(1))),
        flushing: std::sync::atomic::AtomicBool::new(false),
        deletes: Mutex::new(Some(deletes)),
        config,
        fetched,
        fetches: Arc::default(),
        _store: std::marker::PhantomData,
    });
    let acker = tokio::spawn(daemon.clone().handle_completions(completions));
    let deleter = tokio::spawn(daemon.clone().delete_batches(delete_rx));
    let submitter = tokio::spawn(daemon.clone().submit_fetched(fetched_rx));
    let heartbeat = tokio::spawn(daemon.clone().heartbeat(stop_rx.clone()));
    let mut receivers = Vec::new();
    for _ in 0..daemon.config.receivers.max(1) {
        receivers.push(tokio::spawn(daemon.clone().receive_loop(stop_rx.clone())));
    }
    for r in receivers {
        let _ = r.await;
    }
    // drain: fetches in flight reach the engine, files are sealed and committed, messages deleted
    let deadline = Instant::now() + daemon.config.drain_timeout;
    let drained = tokio::time::timeout_at(deadline.into(), async {
        daemon.fetches.none_left().await;
        daemon.engine.finish().await
    })
    .await;
    match drained {
        Ok(Ok(())) => tracing::info!("drained: every buffered row committed"),
        Ok(Err(e)) => tracing::error!(error = %e, "drain failed; unfinished messages are released"),
        Err(_) => {
            tracing::warn!("drain timeout: releasing unfinished messages to the queue");
            daemon.engine.abort().await;
        }
    }
    // let the acker delete/release what completed, bounded by the drain deadline
    let _ = tokio::time::timeout_at((deadline + Duration::from_secs(3)).into(), async {
        let _ = acker.await;
        // no more completions: close the delete queue and let the deleter send what is left
        drop(
            daemon
                .deletes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let _ = deleter.await;
    })
    .await;
    heartbeat.abort();
    // idle once no fetch is left (its channel stays open: the daemon holds the sender)
    submitter.abort();
    let left: Vec<String> = {
        let mut t = daemon.tracker.lock().unwrap_or_else(|e| e.into_inner());
        t.units.clear();
        t.messages.drain().map(|(_, m)| m.receipt).collect()
    };
    if !left.is_empty() {
        tracing::info!(messages = left.len(), "released to the queue");
        let _ = daemon.queue.change_visibility(&left, Duration::ZERO).await;
        daemon
            .metrics
            .messages_released
            .fetch_add(left.len() as u64, Relaxed);
    }
    daemon.health.alive.store(false, Relaxed);
    Ok(())
}

impl<S: trailpipe_lake::Store> Daemon<S> {
    async fn receive_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        while !*stop.borrow() {
            // wait for room for at least one message (flushing early while full), then take
            // up to ten
            let first = loop {
                if let Ok(p) = self.permits.clone().try_acquire_owned() {
                    break p;
                }
                self.clone().flush_early();
                tokio::select! {
                    p = self.permits.clone().acquire_owned() => match p { Ok(p) => break p, Err(_) => return },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            };
            let mut permits = vec![first];
            while permits.len() < 10 {
                match self.permits.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let received = tokio::select! {
                r = self.queue.receive(permits.len() as i32, Duration::from_secs(20), self.config.visibility) => r,
                _ = stop.changed() => return,
            };
            let messages = match received {
                Ok(m) => {
                    self.health.ready.store(true, Relaxed);
                    backoff = Duration::from_millis(500);
                    m
                }
                Err(e) => {
                    tracing::error!(error = %e, "receive failed");
                    self.metrics.error("receive");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            for (msg, permit) in messages.into_iter().zip(permits.drain(..)) {
                self.metrics.messages_received.fetch_add(1, Relaxed);
                self.clone().on_message(msg, permit).await;
            }
        }
    }

    async fn on_message(self: Arc<Self>, msg: Message, permit: OwnedSemaphorePermit) {
        let objects = match parse_notification(&msg.body) {
            Err(e) => {
                // left alone: it becomes visible again and the redrive policy takes it
                tracing::warn!(message_id = %msg.id, error = %e, "unparseable message left for redrive");
                self.metrics.error("notification");
                self.metrics.messages_failed.fetch_add(1, Relaxed);
                return;
            }
            Ok(Notification::Test { what }) => {
                tracing::info!(message_id = %msg.id, what, "test notification deleted");
                self.delete(msg.id, msg.receipt);
                return;
            }
            Ok(Notification::Objects(objects)) => objects,
        };
        let mut units = Vec::new();
        for o in objects {
            match classify_key(&o.key) {
                KeyKind::Log | KeyKind::Insight => units.push(o),
                kind => {
                    tracing::info!(bucket = %o.bucket, key = %o.key, ?kind, "not a log file: skipped");
                    self.metrics.objects_skipped.fetch_add(1, Relaxed);
                }
            }
        }
        if units.is_empty() {
            self.delete(msg.id, msg.receipt);
            return;
        }
        let ids: Vec<u64> = {
            let mut t = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
            if t.redelivered(&msg.id, &msg.receipt) {
                drop(t);
                tracing::info!(message_id = %msg.id, "message received again while in flight: kept with its new receipt");
                self.metrics.messages_redelivered.fetch_add(1, Relaxed);
                return;
            }
            let ids: Vec<u64> = (0..units.len() as u64).map(|i| t.next_unit + i).collect();
            t.next_unit += units.len() as u64;
            for id in &ids {
                t.units.insert(*id, msg.id.clone());
            }
            t.messages.insert(
                msg.id.clone(),
                MsgState {
                    id: msg.id.clone(),
                    receipt: msg.receipt.clone(),
                    open_units: units.len(),
                    failure: None,
                    retry: None,
                    _permit: permit,
                },
            );
            ids
        };
        for (unit, o) in ids.into_iter().zip(units) {
            // counted from now: the drain must not finish the engine before it is submitted
            let count = self.fetches.start();
            let me = self.clone();
            tokio::spawn(async move {
                let fetching = me.fetch_permits.clone().acquire_owned().await.ok();
                let decode = me.engine.decode_options();
                match Work::from_s3(&me.s3, &o.bucket, &o.key, unit, decode).await {
                    Ok(work) => {
                        if let Err(e) = me.fetched.send((work, (fetching, count))) {
                            let reason = "the submitting task stopped".to_string();
                            tracing::error!(bucket = %o.bucket, key = %o.key, %reason, "object not submitted; its message will be retried");
                            me.finish_unit(
                                unit,
                                &Outcome::Retry {
                                    after: Duration::ZERO,
                                    reason,
                                },
                            )
                            .await;
                            // still counted until its unit is finished, so the drain waits
                            drop(e);
                        }
                    }
                    Err(e) => {
                        tracing::error!(bucket = %e.bucket, key = %e.key, reason = %e.reason, kind = e.kind, "object failed");
                        me.metrics.error(e.kind);
                        me.metrics.objects_failed.fetch_add(1, Relaxed);
                        me.finish_unit(unit, &Outcome::Failed(e.to_string())).await;
                        // still counted until its unit is finished, so the drain waits
                        drop(count);
                    }
                }
            });
        }
    }

    /// Hands fetched objects to the engine: one at a time while the engine keeps up, and, in
    /// a backlog, what arrived while the last group waited for a decode slot as one decode job
    /// (a delivery is typically a few KB of gzip; see [`crate::engine::GROUP_BYTES`]). An
    /// object's fetch permit and count are released once it is submitted.
    async fn submit_fetched(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<(Work, Fetching)>) {
        while let Some((works, held)) = next_group(&mut rx).await {
            let units: Vec<(u64, String)> =
                works.iter().map(|w| (w.unit, w.source.clone())).collect();
            if let Err(e) = self.engine.submit_group(works).await {
                let failed = Outcome::Retry {
                    after: Duration::ZERO,
                    reason: e.to_string(),
                };
                for (unit, source) in units {
                    tracing::error!(%source, reason = %e, "object not submitted; its message will be retried");
                    self.finish_unit(unit, &failed).await;
                }
            }
            drop(held);
        }
    }

    async fn handle_completions(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Completion>) {
        while let Some(c) = rx.recv().await {
            match &c.outcome {
                Outcome::Failed(reason) => {
                    tracing::error!(source = %c.source, %reason, "object failed")
                }
                Outcome::Retry { reason, .. } => {
                    tracing::info!(source = %c.source, %reason, "object will be retried")
                }
                _ => {}
            }
            self.finish_unit(c.unit, &c.outcome).await;
        }
    }

    async fn finish_unit(&self, unit: u64, outcome: &Outcome) {
        let done = self
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unit_done(unit, outcome);
        let Some((id, receipt, action)) = done else {
            return;
        };
        match action {
            Action::Delete => self.delete(id, receipt),
            Action::Release(after) => {
                self.metrics.messages_released.fetch_add(1, Relaxed);
                if let Err(e) = self.queue.change_visibility(&[receipt], after).await {
                    tracing::warn!(message_id = %id, error = %e, "release failed; it reappears after its timeout");
                }
            }
            Action::Fail(reason) => {
                self.metrics.messages_failed.fetch_add(1, Relaxed);
                tracing::warn!(message_id = %id, %reason, "message left for retry and redrive");
                if let Err(e) = self
                    .queue
                    .change_visibility(&[receipt], self.config.failure_backoff)
                    .await
                {
                    tracing::warn!(message_id = %id, error = %e, "release failed; it reappears after its timeout");
                }
            }
        }
    }

    /// Queues a message for deletion (see [`Daemon::delete_batches`]).
    fn delete(&self, id: String, receipt: String) {
        let deletes = self.deletes.lock().unwrap_or_else(|e| e.into_inner());
        if deletes
            .as_ref()
            .is_none_or(|d| d.send((id.clone(), receipt)).is_err())
        {
            tracing::warn!(message_id = %id, "not deleted (the daemon is stopping): it reappears and is recognised as done");
        }
    }

    /// Deletes acknowledged messages in batches of up to ten: a committed file completes
    /// many messages at once, and one request per message would cost more than the ingest.
    async fn delete_batches(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<(String, String)>) {
        // whatever completed meanwhile, in calls of ten sent together: a committed file can
        // complete thousands of messages at once
        let mut batch = Vec::with_capacity(DELETES_AT_ONCE);
        while rx.recv_many(&mut batch, DELETES_AT_ONCE).await > 0 {
            let failed = self.queue.delete(&batch).await;
            let deleted = batch.len() - failed.len();
            self.metrics
                .messages_deleted
                .fetch_add(deleted as u64, Relaxed);
            for id in failed {
                // the rows are committed; a redelivery finds them by the claims and adds nothing
                tracing::warn!(message_id = %id, "delete failed; a redelivery will be recognised as done");
                self.metrics.error("delete");
            }
            batch.clear();
        }
    }

    /// Every message permit is taken. When most of those messages only wait for their files
    /// to be committed (not for a fetch), seals and commits every open file now rather than
    /// at the age limit, so that a backlog keeps flowing. Runs one at a time, in the
    /// background.
    fn flush_early(self: Arc<Self>) {
        if self.fetches.load() * 2 > self.config.max_in_flight || self.flushing.swap(true, Relaxed)
        {
            return;
        }
        tokio::spawn(async move {
            tracing::info!(
                messages = self.config.max_in_flight,
                "in-flight limit reached: committing open files early"
            );
            self.metrics.early_flushes.fetch_add(1, Relaxed);
            if let Err(e) = self.engine.flush().await {
                tracing::warn!(error = %e, "early flush failed");
            }
            self.flushing.store(false, Relaxed);
        });
    }

    /// Keeps in-flight messages hidden while their objects are processed, the drain included.
    async fn heartbeat(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let every = (self.config.visibility / 3).max(Duration::from_secs(1));
        let mut ticks = heartbeat_ticks(every, stop);
        loop {
            ticks.next().await;
            let receipts: Vec<String> = {
                let t = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
                t.messages.values().map(|m| m.receipt.clone()).collect()
            };
            if !receipts.is_empty() {
                if let Err(e) = self
                    .queue
                    .change_visibility(&receipts, self.config.visibility)
                    .await
                {
                    tracing::warn!(error = %e, "heartbeat failed");
                    self.metrics.error("heartbeat");
                }
            }
            if !self.engine.is_running() {
                self.health.alive.store(false, Relaxed);
            }
        }
    }
}

/// The heartbeat's clock: a tick every `every`, and one at once when the stop signal comes
/// (the drain then starts from a full visibility window). After the signal the sender is gone
/// and `changed()` returns at once forever, so it is not awaited again: waiting on it in a loop
/// turned the heartbeat into a busy loop of visibility calls for the whole drain.
struct HeartbeatTicks {
    every: Duration,
    stop: Option<watch::Receiver<bool>>,
}

fn heartbeat_ticks(every: Duration, stop: watch::Receiver<bool>) -> HeartbeatTicks {
    HeartbeatTicks {
        every,
        stop: Some(stop),
    }
}

impl HeartbeatTicks {
    async fn next(&mut self) {
        match &mut self.stop {
            Some(stop) => {
                tokio::select! {
                    _ = tokio::time::sleep(self.every) => {}
                    _ = stop.changed() => self.stop = None,
                }
            }
            None => tokio::time::sleep(self.every).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_received_again_in_flight_keeps_its_units_and_takes_the_new_receipt() {
        let permits = Arc::new(Semaphore::new(2));
        let mut t = Tracker::default();
        t.messages.insert(
            "m".into(),
            MsgState {
                id: "m".into(),
                receipt: "r1".into(),
                open_units: 2,
                failure: None,
                retry: None,
                _permit: permits.clone().try_acquire_owned().unwrap(),
            },
        );
        t.units.insert(0, "m".into());
        t.units.insert(1, "m".into());
        assert!(t.redelivered("m", "r2"));
        assert!(!t.redelivered("other", "r3"));
        let done = Outcome::Done { records: 1 };
        assert!(t.unit_done(0, &done).is_none(), "one unit still open");
        let (id, receipt, action) = t.unit_done(1, &done).unwrap();
        assert_eq!((id.as_str(), receipt.as_str()), ("m", "r2"));
        assert!(matches!(action, Action::Delete));
    }

    #[tokio::test]
    async fn the_heartbeat_ticks_at_its_interval_before_and_after_the_stop_signal() {
        let (tx, rx) = watch::channel(false);
        let every = Duration::from_millis(100);
        let mut ticks = heartbeat_ticks(every, rx);
        let t = std::time::Instant::now();
        ticks.next().await;
        assert!(t.elapsed() >= every);

        // the signal's sender sends once and is dropped, as in `stop_signal`
        tx.send(true).unwrap();
        drop(tx);
        let t = std::time::Instant::now();
        ticks.next().await;
        assert!(t.elapsed() < every, "the stop signal renews at once");
        let t = std::time::Instant::now();
        for _ in 0..3 {
            ticks.next().await;
        }
        assert!(
            t.elapsed() >= every * 3,
            "after the signal the heartbeat must keep its interval, not spin"
        );
    }
}
