//! Progress for a person at a terminal (a bar), plain log lines otherwise, and the closing
//! summary every run prints.

use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::metrics::Metrics;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// Shows progress over a known total of input bytes until dropped or finished.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Dropping it wakes and ends the ticker at once (a sleeping ticker delayed every run's
    /// exit by up to its interval).
    stop: Option<std::sync::mpsc::Sender<()>>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing progress of `total_units` objects totalling `total_bytes`.
    pub fn start(
        what: &'static str,
        total_units: u64,
        total_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> Progress {
        Self::start_every(what, total_units, total_bytes, metrics, TICK)
    }

    fn start_every(
        what: &'static str,
        total_units: u64,
        total_bytes: u64,
        metrics: Arc<Metrics>,
        tick: Duration,
    ) -> Progress {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let started = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        let (b, m) = (bar.clone(), metrics);
        let ticker = std::thread::spawn(move || {
            let mut last_line = Instant::now();
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                let done = m.objects_ok.load(Relaxed)
                    + m.objects_failed.load(Relaxed)
                    + m.objects_skipped.load(Relaxed);
                let bytes = m.bytes_in.load(Relaxed);
                let records = m.records.load(Relaxed);
                match &b {
                    Some(bar) => {
                        bar.set_position(bytes);
                        bar.set_message(format!("{done}/{total_units} {what}, {records} records"));
                    }
                    None if last_line.elapsed() >= Duration::from_secs(5) => {
                        last_line = Instant::now();
                        let secs = started.elapsed().as_secs_f64().max(1e-9);
                        tracing::info!(
                            objects = done,
                            of = total_units,
                            records,
                            mb_per_s =
                                format!("{:.1}", m.json_bytes.load(Relaxed) as f64 / 1e6 / secs),
                            "progress"
                        );
                    }
                    None => {}
                }
            }
        });
        Progress {
            bar,
            stop: Some(stop),
            ticker: Some(ticker),
        }
    }

    /// Stops the display.
    pub fn finish(mut self) {
        self.stop.take();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// What a run did: printed at the end, and written as JSON with `--summary-json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub objects: u64,
    pub objects_failed: u64,
    pub objects_skipped: u64,
    pub records: u64,
    pub bytes_in: u64,
    pub json_bytes: u64,
    pub files_written: u64,
    pub bytes_out: u64,
    pub seconds: f64,
    pub json_mb_per_s: f64,
    pub records_per_s: f64,
    pub rows_skipped_duplicate: u64,
    pub values_kept_in_extra: u64,
    /// Decode jobs (objects decoded together share one).
    pub decode_jobs: u64,
    /// Rounds of the writer (the jobs that reached it together: claimed together).
    pub writer_rounds: u64,
    /// Claim requests (0 for `ingest`, which needs none).
    pub claims: u64,
    /// Time the writer waited for a commit slot: the lake's store held rows back.
    pub commit_wait_seconds: f64,
    pub failures: Vec<(String, String)>,
}

impl Summary {
    pub fn from_metrics(
        m: &Metrics,
        elapsed: Duration,
        failures: Vec<(String, String)>,
    ) -> Summary {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let json = m.json_bytes.load(Relaxed);
        let records = m.records.load(Relaxed);
        Summary {
            objects: m.objects_ok.load(Relaxed),
            objects_failed: m.objects_failed.load(Relaxed).max(failures.len() as u64),
            objects_skipped: m.objects_skipped.load(Relaxed),
            records,
            bytes_in: m.bytes_in.load(Relaxed),
            json_bytes: json,
            files_written: m.files_committed.load(Relaxed),
            bytes_out: m.bytes_committed.load(Relaxed),
            seconds: secs,
            json_mb_per_s: json as f64 / 1e6 / secs,
            records_per_s: records as f64 / secs,
            rows_skipped_duplicate: m.rows_skipped_duplicate.load(Relaxed),
            values_kept_in_extra: m.mistyped_values.load(Relaxed) + m.unknown_fields.load(Relaxed),
            decode_jobs: m.decode_jobs.load(Relaxed),
            writer_rounds: m.writer_rounds.load(Relaxed),
            claims: m.claims.load(Relaxed),
            commit_wait_seconds: m.commit_wait_us.load(Relaxed) as f64 / 1e6,
            failures,
        }
    }

    /// The human-readable summary.
    pub fn print(&self) {
        for (source, reason) in &self.failures {
            eprintln!("FAILED {source}: {reason}");
        }
        println!(
            "{} objects ({} skipped, {} failed), {} records | in {:.1} MB gzip, {:.1} MB JSON | out {} files, {:.1} MB Parquet | {:.1}s, {:.1} MB/s, {:.0} records/s{}{}",
            self.objects,
            self.objects_skipped,
            self.objects_failed,
            self.records,
            self.bytes_in as f64 / 1e6,
            self.json_bytes as f64 / 1e6,
            self.files_written,
            self.bytes_out as f64 / 1e6,
            self.seconds,
            self.json_mb_per_s,
            self.records_per_s,
            if self.rows_skipped_duplicate > 0 { format!(" | {} rows already in the lake", self.rows_skipped_duplicate) } else { String::new() },
            if self.values_kept_in_extra > 0 { format!(" | {} odd values kept in _extra", self.values_kept_in_extra) } else { String::new() },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishing_wakes_the_ticker_instead_of_waiting_out_its_sleep() {
        // with a sleeping ticker the join would take the whole tick (here a day)
        let p = Progress::start_every(
            "objects",
            1,
            1,
            Arc::new(Metrics::default()),
            Duration::from_secs(86_400),
        );
        std::thread::sleep(Duration::from_millis(20));
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            p.finish();
            let _ = done.send(());
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(30)).is_ok(),
            "finish() still waiting on the ticker after 30 s"
        );
    }
}
