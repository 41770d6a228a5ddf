//! `trailpipe ingest`: local files and folders into a local lake. No claims: a local run is
//! its own unit of retry (run it again into a fresh lake).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use trailpipe_lake::{LocalStore, Store};

use crate::engine::{Body, Engine, EngineConfig, Outcome, Work, GROUP_BYTES};
use crate::metrics::Metrics;
use crate::progress::{Progress, Summary};

/// Files under `paths`: every `.json.gz`, `.json` and `.gz` file in folders (recursively,
/// sorted), and any file named directly.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, u64)>> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading folder {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading folder {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let meta = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
            if meta.is_dir() {
                walk(&path, out)?;
            } else {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                if name.ends_with(".json.gz") || name.ends_with(".json") || name.ends_with(".gz") {
                    out.push((path, meta.len()));
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("input {}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push((p.clone(), meta.len()));
        }
    }
    Ok(out)
}

/// Consecutive runs of items of `sizes`, each as many as fit in `limit` bytes together (an item
/// larger than that alone).
fn runs(sizes: &[u64], limit: u64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, size) in sizes.iter().enumerate() {
        if i > start && bytes + size > limit {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Ingests `paths` into the lake folder `lake`; returns the summary (failures included).
pub async fn ingest(paths: &[PathBuf], lake: &Path, mut config: EngineConfig) -> Result<Summary> {
    let files = collect_files(paths)?;
    if files.is_empty() {
        bail!("no .json.gz or .json files under {:?}", paths);
    }
    let store = Arc::new(
        LocalStore::open(lake).with_context(|| format!("opening lake {}", lake.display()))?,
    );
    config.writer.spool_dir = store.spool_dir();
    config.claims = None;
    let metrics = Arc::new(Metrics::default());
    let started = Instant::now();
    let total_bytes = files.iter().map(|f| f.1).sum();
    let progress = Progress::start("files", files.len() as u64, total_bytes, metrics.clone());
    let (engine, mut done) = Engine::start(store.clone(), config, metrics.clone())?;

    let collector = tokio::spawn(async move {
        let mut failures = Vec::new();
        while let Some(c) = done.recv().await {
            match c.outcome {
                Outcome::Done { .. } => {}
                Outcome::Skipped(why) => tracing::debug!(file = %c.source, why, "skipped"),
                Outcome::Failed(reason) | Outcome::Retry { reason, .. } => {
                    tracing::warn!(file = %c.source, %reason, "failed");
                    failures.push((c.source, reason));
                }
            }
        }
        failures
    });

    // consecutive files (sorted: mostly of one partition) are read and decoded as a group
    let mut read_failures = Vec::new();
    let sizes: Vec<u64> = files.iter().map(|(_, size)| *size).collect();
    for run in runs(&sizes, GROUP_BYTES) {
        let reads: Vec<(u64, PathBuf)> = run.map(|i| (i as u64, files[i].0.clone())).collect();
        let read = tokio::task::spawn_blocking(move || {
            reads
                .into_iter()
                .map(|(unit, path)| {
                    let bytes = std::fs::read(&path);
                    (unit, path, bytes)
                })
                .collect::<Vec<_>>()
        })
        .await
        .context("reading files")?;
        let mut works = Vec::with_capacity(read.len());
        for (unit, path, bytes) in read {
            let source = path.display().to_string();
            match bytes {
                Ok(bytes) => works.push(Work {
                    unit,
                    source,
                    bytes_in: bytes.len() as u64,
                    body: Body::Raw(bytes.into()),
                    created_ms: None,
                }),
                Err(e) => {
                    metrics.error("read");
                    metrics
                        .objects_failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    read_failures.push((source, format!("reading failed: {e}")));
                }
            }
        }
        engine.submit_group(works).await?;
    }
    engine.finish().await?;
    let mut failures = collector.await.context("collecting results")?;
    progress.finish();
    failures.extend(read_failures);
    failures.sort();
    Ok(Summary::from_metrics(&metrics, started.elapsed(), failures))
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn files_are_grouped_in_order_up_to_the_limit() {
        assert!(runs(&[], 10).is_empty());
        assert_eq!(runs(&[3, 3, 3, 3], 10), vec![0..3, 3..4]);
        assert_eq!(runs(&[4, 6, 1], 10), vec![0..2, 2..3]);
        // a file over the limit goes alone, and so does the one after it if they do not fit
        assert_eq!(runs(&[1, 12, 1, 1], 10), vec![0..1, 1..2, 2..4]);
        assert_eq!(runs(&[12], 10), vec![0..1]);
    }
}
