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
/// sorted), and any file named directly. Folders are read in parallel, and their entries'
/// types come from the folder listing (a `stat` only for files and symlinks): an organization
/// trail's tree has 80,000 folders for 20,000 files, and walking it one `stat` per entry
/// took 2 s before the first file was read.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, u64)>> {
    use rayon::prelude::*;
    fn walk(dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading folder {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading folder {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        let found: Vec<Vec<(PathBuf, u64)>> = entries
            .into_par_iter()
            .map(|e| {
                let path = e.path();
                let kind = e
                    .file_type()
                    .with_context(|| format!("{}", path.display()))?;
                if kind.is_dir() {
                    return walk(&path);
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                let log =
                    name.ends_with(".json.gz") || name.ends_with(".json") || name.ends_with(".gz");
                if !kind.is_symlink() && !log {
                    return Ok(Vec::new());
                }
                // a symlink is followed, to a folder or a file
                let meta =
                    std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
                if meta.is_dir() {
                    walk(&path)
                } else if log {
                    Ok(vec![(path, meta.len())])
                } else {
                    Ok(Vec::new())
                }
            })
            .collect::<Result<_>>()?;
        Ok(found.concat())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("input {}", p.display()))?;
        if meta.is_dir() {
            out.extend(walk(p)?);
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
    use super::{collect_files, runs};

    /// Files are found in sorted order, folder by folder, through symlinked folders and
    /// files too, with their sizes; other files are left out.
    #[test]
    fn files_are_collected_in_order_through_folders_and_symlinks() {
        let root = std::env::temp_dir().join(format!("tp-collect-{}", uuid::Uuid::now_v7()));
        let (a, b, elsewhere) = (
            root.join("in/a"),
            root.join("in/b/c"),
            root.join("elsewhere"),
        );
        for d in [&a, &b, &elsewhere] {
            std::fs::create_dir_all(d).unwrap();
        }
        let files = [
            (a.join("2.json.gz"), 2),
            (a.join("1.JSON"), 1),
            (b.join("3.gz"), 3),
            (root.join("in/b/4.json"), 4),
            (root.join("in/b/notes.txt"), 5),
            (elsewhere.join("6.json.gz"), 6),
        ];
        for (path, len) in &files {
            std::fs::write(path, vec![b'x'; *len]).unwrap();
        }
        std::os::unix::fs::symlink(&elsewhere, root.join("in/z")).unwrap();
        std::os::unix::fs::symlink(a.join("2.json.gz"), root.join("in/y.json.gz")).unwrap();
        let found = collect_files(&[root.join("in"), b.join("3.gz")]).unwrap();
        let found: Vec<(String, u64)> = found
            .into_iter()
            .map(|(p, len)| (p.strip_prefix(&root).unwrap().display().to_string(), len))
            .collect();
        let want = [
            ("in/a/1.JSON", 1),
            ("in/a/2.json.gz", 2),
            ("in/b/4.json", 4),
            ("in/b/c/3.gz", 3),
            ("in/y.json.gz", 2),
            ("in/z/6.json.gz", 6),
            ("in/b/c/3.gz", 3),
        ];
        let want: Vec<(String, u64)> = want.iter().map(|(p, n)| (p.to_string(), *n)).collect();
        assert_eq!(found, want);
        let missing = collect_files(&[root.join("nothing")]).unwrap_err();
        assert!(format!("{missing:#}").contains("nothing"), "{missing:#}");
        let _ = std::fs::remove_dir_all(&root);
    }

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
