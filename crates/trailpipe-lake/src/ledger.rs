//! Claims: how trailpipe turns at-least-once delivery into effectively-once rows.
//!
//! Before a source object's rows for one partition are buffered, the writer records a *claim*
//! `_trailpipe/claims/<table>/<hash(source)[..2]>/<hash(source)>-<hash(partition)>.json` naming the lake file those rows
//! will be committed in. The first writer wins (create-if-absent). Whoever sees the object
//! again (redelivery, a duplicate notification, a backfill over the same day) reads the claim:
//!
//! * the named file exists → those rows are already in the lake: skip them;
//! * it does not, and the claim is this writer's own live file → the rows are buffered here
//!   already: skip them and wait for that file's commit;
//! * it does not, and the claim's deadline has not passed → another writer may still commit
//!   it: retry later;
//! * it does not, and the deadline passed (the writer crashed) → take the claim over and
//!   write the rows again.
//!
//! A writer never commits a file after the earliest deadline of its claims (minus a margin),
//! so a taken-over claim's file never appears later. Each (object, partition) pair is settled
//! on its own, so an object half committed before a crash gets exactly its missing part.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trailpipe_record::PartitionKey;

use crate::store::{Store, StoreError};

/// The content of a claim object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claim {
    /// The source object (`s3://bucket/key`).
    pub source: String,
    /// The partition path.
    pub partition: String,
    /// The lake file (relative path) that will hold the rows.
    pub file: String,
    /// The writer (process) that made the claim.
    pub writer: String,
    /// After this time (ms since the epoch) the file will never be committed.
    pub deadline_ms: u64,
    /// The request's id, unique within its writer: a claim equal to ours down to it is our
    /// own request's (a reply lost and the request retried). Without it, two units of one
    /// source claimed in the same millisecond (a duplicate notification) both took the claim
    /// as theirs, and the rows were written twice. (Absent in claims written before it.)
    #[serde(default)]
    pub token: u64,
}

/// What to do with an object's rows for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The rows are ours to write, into the file named in the claim.
    Claimed,
    /// The rows are in the lake already.
    Committed,
    /// The rows are buffered by this writer already, for `file`.
    Ours(String),
    /// Another writer may still commit them; look again after this many milliseconds.
    Busy(u64),
}

/// Path of the claim for `source`'s rows in `partition`. The 256 folders of the first hash
/// byte are made once: a folder per object would cost a directory creation per object on a
/// local lake, more than the claim itself.
pub fn claim_path(source: &str, partition: &PartitionKey) -> String {
    let s = hex::encode(&Sha256::digest(source.as_bytes())[..20]);
    let p = hex::encode(&Sha256::digest(partition.path().as_bytes())[..8]);
    format!(
        "_trailpipe/claims/{}/{}/{s}-{p}.json",
        partition.table.dir(),
        &s[..2]
    )
}

/// One claim to make.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The source object (`s3://bucket/key`).
    pub source: &'a str,
    /// The partition its rows fall into.
    pub partition: &'a PartitionKey,
    /// The lake file the rows will be committed in.
    pub file: &'a str,
    /// This writer's id.
    pub writer: &'a str,
    /// The latest time this writer may commit `file` (ms since the epoch).
    pub deadline_ms: u64,
    /// Now (ms since the epoch).
    pub now_ms: u64,
    /// Unique among this writer's requests; a retry of a request keeps it.
    pub token: u64,
}

/// Claims the request's rows. An existing claim of this writer comes back as `Ours(file)`:
/// the caller knows whether that file is still open; if it is not (discarded after a failed
/// commit), the caller calls [`take_over`].
pub async fn claim<S: Store>(
    store: &S,
    req: &ClaimRequest<'_>,
) -> Result<ClaimOutcome, StoreError> {
    claim_inner(store, req, false).await
}

/// Replaces this writer's own stale claim (its file was discarded) with the request's.
pub async fn take_over<S: Store>(
    store: &S,
    req: &ClaimRequest<'_>,
) -> Result<ClaimOutcome, StoreError> {
    claim_inner(store, req, true).await
}

async fn claim_inner<S: Store>(
    store: &S,
    req: &ClaimRequest<'_>,
    own_is_stale: bool,
) -> Result<ClaimOutcome, StoreError> {
    let (writer, now_ms) = (req.writer, req.now_ms);
    let path = claim_path(req.source, req.partition);
    let mine = Claim {
        source: req.source.to_string(),
        partition: req.partition.path(),
        file: req.file.to_string(),
        writer: writer.to_string(),
        deadline_ms: req.deadline_ms,
        token: req.token,
    };
    let body = serde_json::to_vec(&mine).unwrap_or_default();
    for _ in 0..4 {
        if store.put_if_absent(&path, body.clone()).await? {
            return Ok(ClaimOutcome::Claimed);
        }
        let Some(raw) = store.get(&path).await? else {
            continue; // removed in between: try to create it again
        };
        let existing: Option<Claim> = serde_json::from_slice(&raw).ok();
        if let Some(existing) = &existing {
            if existing == &mine {
                return Ok(ClaimOutcome::Claimed);
            }
            if store.exists(&existing.file).await? {
                return Ok(ClaimOutcome::Committed);
            }
            if existing.writer == writer && !own_is_stale {
                return Ok(ClaimOutcome::Ours(existing.file.clone()));
            }
            if existing.writer != writer && now_ms < existing.deadline_ms {
                return Ok(ClaimOutcome::Busy(existing.deadline_ms - now_ms));
            }
        }
        // stale (its writer died or gave the file up) or unreadable: take it over, then read
        // back to see who won if several writers raced
        store.put(&path, body.clone()).await?;
        if let Some(raw) = store.get(&path).await? {
            if serde_json::from_slice::<Claim>(&raw).ok().as_ref() == Some(&mine) {
                return Ok(ClaimOutcome::Claimed);
            }
        }
    }
    Err(StoreError::new(
        "claim",
        path,
        "claim kept changing under concurrent writers",
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalStore;
    use trailpipe_record::{Date, Table};

    fn key(day: &str) -> PartitionKey {
        PartitionKey::from_values(
            Table::CloudTrail,
            Some("123456789012"),
            Some("us-east-1"),
            Date::parse(day),
        )
    }

    fn req<'a>(
        p: &'a PartitionKey,
        file: &'a str,
        writer: &'a str,
        now_ms: u64,
    ) -> ClaimRequest<'a> {
        ClaimRequest {
            source: "s3://b/k",
            partition: p,
            file,
            writer,
            deadline_ms: now_ms + 1000,
            now_ms,
            token: 0,
        }
    }

    #[tokio::test]
    async fn claims_settle_each_partition_on_its_own() {
        let dir = crate::writer::tests::tempdir();
        let store = LocalStore::open(&dir).unwrap();
        let (d1, d2) = (key("2024-01-01"), key("2024-01-02"));
        // writer A claims both partitions of the object
        assert_eq!(
            claim(&store, &req(&d1, "f1", "A", 0)).await.unwrap(),
            ClaimOutcome::Claimed
        );
        assert_eq!(
            claim(&store, &req(&d2, "f2", "A", 0)).await.unwrap(),
            ClaimOutcome::Claimed
        );
        // A commits f1 only, then dies
        store.put("f1", b"data".to_vec()).await.unwrap();
        // B sees the object again before A's deadline: d1 done, d2 busy
        assert_eq!(
            claim(&store, &req(&d1, "g1", "B", 10)).await.unwrap(),
            ClaimOutcome::Committed
        );
        assert_eq!(
            claim(&store, &req(&d2, "g2", "B", 10)).await.unwrap(),
            ClaimOutcome::Busy(990)
        );
        // after the deadline B takes d2 over; d1 stays committed
        assert_eq!(
            claim(&store, &req(&d2, "g2", "B", 2000)).await.unwrap(),
            ClaimOutcome::Claimed
        );
        assert_eq!(
            claim(&store, &req(&d1, "g1", "B", 2000)).await.unwrap(),
            ClaimOutcome::Committed
        );
        // B again (duplicate notification): B's own claim, for g2
        assert_eq!(
            claim(&store, &req(&d2, "g3", "B", 2001)).await.unwrap(),
            ClaimOutcome::Ours("g2".into())
        );
        // B lost g2 (commit failed, file discarded): B takes its own claim over at once
        assert_eq!(
            take_over(&store, &req(&d2, "g4", "B", 2002)).await.unwrap(),
            ClaimOutcome::Claimed
        );
        let c: Claim = serde_json::from_slice(
            &store
                .get(&claim_path("s3://b/k", &d2))
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!((c.file.as_str(), c.writer.as_str()), ("g4", "B"));
        // a request retried (its reply lost) finds its own claim; another of the same writer,
        // file and millisecond (a second unit of the source) is told the rows are buffered
        let d3 = key("2024-01-03");
        let first = req(&d3, "h1", "B", 3000);
        assert_eq!(claim(&store, &first).await.unwrap(), ClaimOutcome::Claimed);
        assert_eq!(claim(&store, &first).await.unwrap(), ClaimOutcome::Claimed);
        let second = ClaimRequest { token: 1, ..first };
        assert_eq!(
            claim(&store, &second).await.unwrap(),
            ClaimOutcome::Ours("h1".into())
        );
        // claims are out of the lake's table folders
        assert!(claim_path("s3://b/k", &d2).starts_with("_trailpipe/claims/cloudtrail/"));
    }

    #[tokio::test]
    async fn local_store_is_atomic_and_refuses_escaping_paths() {
        let dir = crate::writer::tests::tempdir();
        let store = LocalStore::open(&dir).unwrap();
        assert!(store
            .put_if_absent("a/b.json", b"1".to_vec())
            .await
            .unwrap());
        assert!(!store
            .put_if_absent("a/b.json", b"2".to_vec())
            .await
            .unwrap());
        assert_eq!(store.get("a/b.json").await.unwrap().unwrap(), b"1");
        assert!(store.get("a/missing").await.unwrap().is_none());
        assert!(store.put("../x", vec![]).await.is_err());
        assert!(store.get("/etc/passwd").await.is_err());
        let temp = store.spool_dir().join("t.tmp");
        std::fs::write(&temp, b"pq").unwrap();
        store
            .commit(&temp, "cloudtrail/account=1/x.parquet")
            .await
            .unwrap();
        assert!(!temp.exists());
        assert!(store
            .exists("cloudtrail/account=1/x.parquet")
            .await
            .unwrap());
        // a missing spool file is an error naming it, and nothing appears
        let e = store
            .commit(&temp, "cloudtrail/account=1/y.parquet")
            .await
            .unwrap_err();
        assert_eq!((e.op, e.path.as_str()), ("commit", temp.to_str().unwrap()));
        assert!(!store
            .exists("cloudtrail/account=1/y.parquet")
            .await
            .unwrap());
        // commits run at once, sharing and creating partition folders
        let paths: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    "cloudtrail/account={}/region=r{}/f{i}.parquet",
                    i % 3,
                    i % 7
                )
            })
            .collect();
        let store = std::sync::Arc::new(store);
        let mut commits = tokio::task::JoinSet::new();
        for (i, path) in paths.iter().enumerate() {
            let temp = store.spool_dir().join(format!("{i}.tmp"));
            std::fs::write(&temp, i.to_string()).unwrap();
            let (store, path) = (store.clone(), path.clone());
            commits.spawn(async move { store.commit(&temp, &path).await });
        }
        while let Some(r) = commits.join_next().await {
            r.unwrap().unwrap();
        }
        for (i, path) in paths.iter().enumerate() {
            assert_eq!(
                store.get(path).await.unwrap().unwrap(),
                i.to_string().as_bytes()
            );
        }
        assert_eq!(std::fs::read_dir(store.spool_dir()).unwrap().count(), 0);
        assert_eq!(store.list("a").await.unwrap(), vec!["a/b.json".to_string()]);
        store.delete("a/b.json").await.unwrap();
        store.delete("a/b.json").await.unwrap();
        assert!(!store.exists("a/b.json").await.unwrap());
    }
}
