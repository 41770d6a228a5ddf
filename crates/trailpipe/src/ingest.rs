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
    let mut group: Vec<(u64, PathBuf, u64)> = Vec::new();
    let mut group_bytes = 0;
    let mut files = files.iter().enumerate().peekable();
    while let Some((unit, (path, size))) = files.next() {
        group.push((unit as u64, path.clone(), *size));
        group_bytes += size;
        let next = files.peek().map_or(0, |(_, (_, size))| *size);
        if files.peek().is_some() && group_bytes + next <= GROUP_BYTES {
            continue;
        }
        let reads = std::mem::take(&mut group);
        group_bytes = 0;
        let read = tokio::task::spawn_blocking(move || {
            reads
                .into_iter()
                .map(|(unit, path, _)| {
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
