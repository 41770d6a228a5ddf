//! Counters for the run summary and the Prometheus `/metrics` endpoint.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// End-to-end lag buckets (seconds from object creation to committed file).
const LAG_BUCKETS: [f64; 10] = [
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 86400.0,
];

/// Everything trailpipe counts. Cheap atomics: the hot path only adds.
#[derive(Default)]
pub struct Metrics {
    pub messages_received: AtomicU64,
    pub messages_deleted: AtomicU64,
    pub messages_failed: AtomicU64,
    pub messages_released: AtomicU64,
    pub messages_redelivered: AtomicU64,
    pub early_flushes: AtomicU64,
    pub objects_ok: AtomicU64,
    pub objects_failed: AtomicU64,
    pub objects_skipped: AtomicU64,
    pub decode_jobs: AtomicU64,
    pub writer_rounds: AtomicU64,
    pub claims: AtomicU64,
    pub bytes_in: AtomicU64,
    pub json_bytes: AtomicU64,
    pub records: AtomicU64,
    pub rows_skipped_duplicate: AtomicU64,
    pub mistyped_values: AtomicU64,
    pub unknown_fields: AtomicU64,
    pub files_committed: AtomicU64,
    pub bytes_committed: AtomicU64,
    pub in_flight_units: AtomicU64,
    pub buffered_bytes: AtomicU64,
    pub files_committing: AtomicU64,
    /// Microseconds the writer task waited for a commit to land, all slots being taken: the
    /// lake's store (uploads) held the rows back.
    pub commit_wait_us: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    lag: Mutex<([u64; LAG_BUCKETS.len()], u64, f64)>,
}

impl Metrics {
    /// Counts an error of `kind` (`decode`, `fetch`, `not_found`, `commit`, `notification` ...).
    pub fn error(&self, kind: &'static str) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(kind).or_default() += 1;
        }
    }

    /// Errors by kind.
    pub fn errors(&self) -> BTreeMap<&'static str, u64> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Records one end-to-end lag observation.
    pub fn observe_lag(&self, seconds: f64) {
        if let Ok(mut l) = self.lag.lock() {
            for (i, b) in LAG_BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    l.0[i] += 1;
                }
            }
            l.1 += 1;
            l.2 += seconds;
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 20] = [
            (
                "messages_received_total",
                "SQS messages received",
                &self.messages_received,
            ),
            (
                "messages_deleted_total",
                "SQS messages deleted after their rows were committed",
                &self.messages_deleted,
            ),
            (
                "messages_failed_total",
                "SQS messages left for redrive because of an error",
                &self.messages_failed,
            ),
            (
                "messages_released_total",
                "SQS messages released for a later retry",
                &self.messages_released,
            ),
            (
                "messages_redelivered_total",
                "SQS messages received again while still in flight (their visibility ran out)",
                &self.messages_redelivered,
            ),
            (
                "early_flushes_total",
                "files committed before their age limit because the in-flight limit was reached",
                &self.early_flushes,
            ),
            (
                "objects_total",
                "log objects fully committed",
                &self.objects_ok,
            ),
            (
                "objects_failed_total",
                "log objects that failed",
                &self.objects_failed,
            ),
            (
                "objects_skipped_total",
                "objects skipped (digest files, non-log keys)",
                &self.objects_skipped,
            ),
            (
                "decode_jobs_total",
                "decode jobs; objects that arrive faster than they are decoded share one",
                &self.decode_jobs,
            ),
            (
                "writer_rounds_total",
                "rounds of the writer task: the decode jobs that reached it together are claimed together and appended in one call",
                &self.writer_rounds,
            ),
            (
                "claims_total",
                "claim requests (one per object and partition, with an S3 lake a conditional PUT each)",
                &self.claims,
            ),
            (
                "bytes_in_total",
                "object bytes read (compressed)",
                &self.bytes_in,
            ),
            (
                "json_bytes_total",
                "decompressed JSON bytes decoded",
                &self.json_bytes,
            ),
            ("records_total", "records decoded", &self.records),
            (
                "rows_skipped_duplicate_total",
                "rows not written because the lake already had them",
                &self.rows_skipped_duplicate,
            ),
            (
                "mistyped_values_total",
                "values kept in _extra because their type did not fit",
                &self.mistyped_values,
            ),
            (
                "unknown_fields_total",
                "unknown top-level fields kept in _extra",
                &self.unknown_fields,
            ),
            (
                "files_committed_total",
                "Parquet files committed",
                &self.files_committed,
            ),
            (
                "bytes_committed_total",
                "Parquet bytes committed",
                &self.bytes_committed,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP trailpipe_{name} {help}\n# TYPE trailpipe_{name} counter\ntrailpipe_{name} {}", v.load(Relaxed));
        }
        for (name, help, v) in [
            (
                "in_flight_units",
                "work units being processed",
                &self.in_flight_units,
            ),
            (
                "buffered_bytes",
                "rows held in memory, not yet written to a file (Arrow rows and row groups in progress)",
                &self.buffered_bytes,
            ),
            (
                "files_committing",
                "sealed files waiting for their commit or committing (uploading)",
                &self.files_committing,
            ),
        ] {
            let _ = writeln!(out, "# HELP trailpipe_{name} {help}\n# TYPE trailpipe_{name} gauge\ntrailpipe_{name} {}", v.load(Relaxed));
        }
        let _ = writeln!(out, "# HELP trailpipe_commit_wait_seconds_total time the writer waited for a commit slot (the lake's store held rows back)\n# TYPE trailpipe_commit_wait_seconds_total counter\ntrailpipe_commit_wait_seconds_total {}", self.commit_wait_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(
            out,
            "# HELP trailpipe_errors_total errors by kind\n# TYPE trailpipe_errors_total counter"
        );
        for (kind, n) in self.errors() {
            let _ = writeln!(out, "trailpipe_errors_total{{kind=\"{kind}\"}} {n}");
        }
        if let Ok(l) = self.lag.lock() {
            let _ = writeln!(out, "# HELP trailpipe_lag_seconds object creation to committed file\n# TYPE trailpipe_lag_seconds histogram");
            for (i, b) in LAG_BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "trailpipe_lag_seconds_bucket{{le=\"{b}\"}} {}", l.0[i]);
            }
            let _ = writeln!(out, "trailpipe_lag_seconds_bucket{{le=\"+Inf\"}} {}\ntrailpipe_lag_seconds_sum {}\ntrailpipe_lag_seconds_count {}", l.1, l.2, l.1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.records.fetch_add(7, Relaxed);
        m.error("decode");
        m.error("decode");
        m.observe_lag(20.0);
        m.commit_wait_us.fetch_add(1_500_000, Relaxed);
        let text = m.render();
        assert!(text.contains("trailpipe_commit_wait_seconds_total 1.5\n"));
        assert!(text.contains("trailpipe_records_total 7\n"));
        assert!(text.contains("trailpipe_errors_total{kind=\"decode\"} 2\n"));
        assert!(text.contains("trailpipe_lag_seconds_bucket{le=\"15\"} 0\n"));
        assert!(text.contains("trailpipe_lag_seconds_bucket{le=\"30\"} 1\n"));
        assert!(text.contains("trailpipe_lag_seconds_count 1\n"));
    }
}
