//! Where a lake lives. A [`Store`] makes sealed files visible atomically and keeps the small
//! bookkeeping objects (claims, checkpoints) under `_trailpipe/`, which Athena and DuckDB's
//! `account=*` globs never read.

use std::future::Future;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// A store operation that failed, naming the object and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {reason}")]
pub struct StoreError {
    /// What was attempted (`commit`, `put`, `get` ...).
    pub op: &'static str,
    /// The object, as the store names it (a path or `s3://` URL).
    pub path: String,
    /// Why it failed.
    pub reason: String,
    /// Whether retrying later may succeed (throttling, timeouts, 5xx).
    pub transient: bool,
}

impl StoreError {
    /// An error for `op` on `path`.
    pub fn new(
        op: &'static str,
        path: impl Into<String>,
        reason: impl ToString,
        transient: bool,
    ) -> StoreError {
        StoreError {
            op,
            path: path.into(),
            reason: reason.to_string(),
            transient,
        }
    }
}

/// A lake root: a local folder or an S3 prefix. Paths are relative to the root and use `/`.
pub trait Store: Send + Sync + 'static {
    /// The root, for messages (`/data/lake`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
    /// A local folder where files are built before commit.
    fn spool_dir(&self) -> PathBuf;
    /// Makes the sealed local file `temp` visible at `path`, whole or not at all, and
    /// removes `temp`. `temp` may not be on disk yet: a store that keeps it must sync it.
    fn commit(
        &self,
        temp: &Path,
        path: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Creates `path` with `body` unless it exists; returns whether it was created.
    fn put_if_absent(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Creates or replaces `path`.
    fn put(&self, path: &str, body: Vec<u8>)
        -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Reads `path`, or `None` if it does not exist.
    fn get(&self, path: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    /// Whether `path` exists.
    fn exists(&self, path: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes `path` (no error if absent).
    fn delete(&self, path: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every path under `prefix` (recursive), sorted.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// A lake in a local folder. Commit is `rename`, which is atomic on one filesystem, so the
/// spool folder lives inside the lake (`_trailpipe/spool/<process>`). Not `Clone`: dropping
/// it removes the spool folder (share it in an `Arc`).
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    spool: PathBuf,
}

impl LocalStore {
    /// Opens (creating) a lake folder.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalStore, StoreError> {
        let root: PathBuf = root.into();
        let spool = root
            .join("_trailpipe/spool")
            .join(uuid::Uuid::now_v7().simple().to_string());
        std::fs::create_dir_all(&spool)
            .map_err(|e| StoreError::new("create", spool.display().to_string(), e, false))?;
        Ok(LocalStore { root, spool })
    }

    /// The lake folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full(&self, op: &'static str, path: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(path);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(StoreError::new(
                op,
                path,
                "not a plain relative path",
                false,
            ));
        }
        Ok(self.root.join(rel))
    }

    fn err(op: &'static str, path: &Path, e: std::io::Error) -> StoreError {
        StoreError::new(op, path.display().to_string(), e, false)
    }

    fn ensure_parent(op: &'static str, path: &Path) -> Result<(), StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Self::err(op, parent, e))?;
        }
        Ok(())
    }

    fn write_temp(&self, body: &[u8]) -> Result<PathBuf, StoreError> {
        let temp = self
            .spool
            .join(format!("{}.put", uuid::Uuid::now_v7().simple()));
        std::fs::write(&temp, body).map_err(|e| Self::err("put", &temp, e))?;
        Ok(temp)
    }
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        // the per-process spool folder is empty once everything is committed
        let _ = std::fs::remove_dir(&self.spool);
    }
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn spool_dir(&self) -> PathBuf {
        self.spool.clone()
    }

    async fn commit(&self, temp: &Path, path: &str) -> Result<(), StoreError> {
        let dest = self.full("commit", path)?;
        let temp = temp.to_path_buf();
        // The file's fsync, the folders, the rename and the folder's fsync wait on the disk
        // (a few ms in all on ext4): on the blocking pool, the commits of a batch overlap
        // instead of holding the engine's task one after another (10,000 files at once with
        // an organization trail; concurrent fsyncs can also share a journal commit).
        tokio::task::spawn_blocking(move || {
            // (opened for writing: some systems refuse to sync a read-only handle)
            std::fs::OpenOptions::new()
                .write(true)
                .open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(|e| Self::err("commit", &temp, e))?;
            Self::ensure_parent("commit", &dest)?;
            std::fs::rename(&temp, &dest).map_err(|e| Self::err("commit", &dest, e))?;
            // make the rename itself durable
            if let Some(dir) = dest.parent() {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::new("commit", path, e, false))?
    }

    async fn put_if_absent(&self, path: &str, body: Vec<u8>) -> Result<bool, StoreError> {
        let dest = self.full("put", path)?;
        Self::ensure_parent("put", &dest)?;
        // write aside, then link: the object appears complete, and only if it did not exist
        let temp = self.write_temp(&body)?;
        let linked = std::fs::hard_link(&temp, &dest);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Self::err("put", &dest, e)),
        }
    }

    async fn put(&self, path: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let dest = self.full("put", path)?;
        Self::ensure_parent("put", &dest)?;
        let temp = self.write_temp(&body)?;
        std::fs::rename(&temp, &dest).map_err(|e| Self::err("put", &dest, e))
    }

    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let full = self.full("get", path)?;
        match std::fs::read(&full) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::err("get", &full, e)),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, StoreError> {
        let full = self.full("head", path)?;
        full.try_exists().map_err(|e| Self::err("head", &full, e))
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        let full = self.full("delete", path)?;
        match std::fs::remove_file(&full) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::err("delete", &full, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    walk(root, &path, out)?;
                } else if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
            Ok(())
        }
        let dir = self.full("list", prefix.trim_end_matches('/'))?;
        let mut out = Vec::new();
        walk(&self.root, &dir, &mut out).map_err(|e| Self::err("list", &dir, e))?;
        out.sort();
        Ok(out)
    }
}
