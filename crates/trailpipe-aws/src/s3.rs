//! S3: reading log objects (with retries), listing, and the lake [`Store`] on S3.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use trailpipe_lake::{Store, StoreError};

/// Why reading an object failed.
#[derive(Debug, thiserror::Error)]
#[error("s3://{bucket}/{key}: {reason}")]
pub struct FetchError {
    pub bucket: String,
    pub key: String,
    pub reason: String,
    /// `not_found`, `forbidden`, `throttled`, `other`.
    pub kind: &'static str,
    /// Worth retrying later (throttling, 5xx, timeouts).
    pub transient: bool,
}

/// A fetched object.
pub struct Fetched<T> {
    /// What the sink made of the body.
    pub body: T,
    /// Bytes read (as stored, compressed).
    pub bytes: u64,
    /// Last-Modified, ms since the epoch.
    pub last_modified_ms: Option<u64>,
}

/// Classifies an SDK error: (kind, transient, message).
fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &SdkError<E, HttpResponse>,
) -> (&'static str, bool, String) {
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("");
            let msg = format!("{code}: {}", err.message().unwrap_or(""));
            let status = se.raw().status().as_u16();
            match (code, status) {
                ("NoSuchKey" | "NotFound" | "NoSuchBucket", _) | (_, 404) => {
                    ("not_found", false, msg)
                }
                ("AccessDenied" | "Forbidden", _) | (_, 403) => ("forbidden", false, msg),
                ("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded", _)
                | (_, 503 | 429) => ("throttled", true, msg),
                (_, s) if s >= 500 => ("other", true, msg),
                _ => ("other", false, msg),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ("other", true, format!("{e:?}"))
        }
        other => ("other", false, format!("{other:?}")),
    }
}

fn jitter_ms() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 % 250)
        .unwrap_or(0)
}

/// Runs `op` up to `attempts` times, backing off exponentially with jitter while the error
/// is transient (503 SlowDown, 5xx, timeouts): throttling slows us down, it never loses work.
pub async fn with_retries<T, E, F, Fut>(
    attempts: u32,
    mut op: F,
    transient: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(100);
    let mut n = 1;
    loop {
        match op().await {
            Err(e) if n < attempts && transient(&e) => {
                tokio::time::sleep(delay + Duration::from_millis(jitter_ms())).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                n += 1;
            }
            other => return other,
        }
    }
}

/// Reads an object with retries, handing each piece of the body to a sink as it arrives (a
/// decompressor, so the compressed body is never held whole). `start` makes a fresh sink for
/// every attempt; `push` returns `false` to stop reading early, when the sink has seen enough
/// to reject the object (it keeps the reason).
pub async fn fetch<T>(
    client: &Client,
    bucket: &str,
    key: &str,
    start: impl Fn() -> T,
    push: impl Fn(&mut T, &[u8]) -> bool,
) -> Result<Fetched<T>, FetchError> {
    let err = |kind, transient, reason: String| FetchError {
        bucket: bucket.into(),
        key: key.into(),
        reason,
        kind,
        transient,
    };
    with_retries(
        6,
        || async {
            let mut resp = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    let (kind, transient, msg) = classify(&e);
                    err(kind, transient, msg)
                })?;
            let last_modified_ms = resp
                .last_modified()
                .and_then(|t| t.to_millis().ok())
                .map(|t| t as u64);
            let mut body = start();
            let mut bytes = 0u64;
            while let Some(piece) = resp
                .body
                .try_next()
                .await
                .map_err(|e| err("other", true, format!("reading the body: {e}")))?
            {
                bytes += piece.len() as u64;
                if !push(&mut body, &piece) {
                    break;
                }
            }
            Ok(Fetched {
                body,
                bytes,
                last_modified_ms,
            })
        },
        |e: &FetchError| e.transient,
    )
    .await
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// Lists `prefix` with `/` as delimiter: (sub-prefixes, objects directly under it).
pub async fn list_level(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<(Vec<String>, Vec<Listed>), FetchError> {
    let mut prefixes = Vec::new();
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let resp = with_retries(
            6,
            || async {
                client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .delimiter("/")
                    .set_continuation_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        let (kind, transient, reason) = classify(&e);
                        FetchError {
                            bucket: bucket.into(),
                            key: prefix.into(),
                            reason,
                            kind,
                            transient,
                        }
                    })
            },
            |e: &FetchError| e.transient,
        )
        .await?;
        prefixes.extend(
            resp.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
        objects.extend(resp.contents().iter().filter_map(|o| {
            Some(Listed {
                key: o.key()?.to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
            })
        }));
        match resp.next_continuation_token() {
            Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok((prefixes, objects))
}

/// Server-side encryption of lake objects.
#[derive(Debug, Clone)]
pub enum Sse {
    /// SSE-S3 (AES256), the default.
    S3,
    /// SSE-KMS with this key id or ARN.
    Kms(String),
}

/// A lake under `s3://bucket/prefix`. Files are built in a local spool folder and appear whole:
/// a single PUT up to 64 MiB, above that a multipart upload completed only at the end.
pub struct S3Store {
    multipart_threshold: u64,
    client: Client,
    bucket: String,
    prefix: String,
    spool: PathBuf,
    sse: Sse,
}

/// Files above this go up as a multipart upload. `TRAILPIPE_MULTIPART_THRESHOLD_BYTES`
/// overrides it (tests use it to exercise the multipart path with small files).
const MULTIPART_THRESHOLD: u64 = 64 << 20;
const PART_SIZE: u64 = 16 << 20;

/// The spool folder is this process's own (a fresh name per start): whatever is left in it at
/// the end is discarded files whose units were released, so it goes, instead of piling up over
/// restarts on a long-lived disk.
impl Drop for S3Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.spool);
    }
}

impl S3Store {
    /// A store for `s3://bucket/prefix` building files in `spool`.
    pub fn new(
        client: Client,
        bucket: &str,
        prefix: &str,
        spool: PathBuf,
        sse: Sse,
    ) -> Result<S3Store, StoreError> {
        std::fs::create_dir_all(&spool)
            .map_err(|e| StoreError::new("create", spool.display().to_string(), e, false))?;
        let prefix = prefix.trim_matches('/');
        let multipart_threshold = std::env::var("TRAILPIPE_MULTIPART_THRESHOLD_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(MULTIPART_THRESHOLD);
        Ok(S3Store {
            multipart_threshold,
            client,
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            spool,
            sse,
        })
    }

    fn key(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path)
    }

    fn url(&self, path: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(path))
    }

    fn err<E: ProvideErrorMetadata + std::fmt::Debug>(
        &self,
        op: &'static str,
        path: &str,
        e: &SdkError<E, HttpResponse>,
    ) -> StoreError {
        let (_, transient, msg) = classify(e);
        StoreError::new(op, self.url(path), msg, transient)
    }

    fn put_request(
        &self,
        path: &str,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(path));
        match &self.sse {
            Sse::S3 => req.server_side_encryption(ServerSideEncryption::Aes256),
            Sse::Kms(id) => req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(id),
        }
    }

    async fn multipart(&self, temp: &Path, path: &str, size: u64) -> Result<(), StoreError> {
        let key = self.key(path);
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key);
        create = match &self.sse {
            Sse::S3 => create.server_side_encryption(ServerSideEncryption::Aes256),
            Sse::Kms(id) => create
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(id),
        };
        let upload = create
            .send()
            .await
            .map_err(|e| self.err("commit", path, &e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let result = async {
            // each part is streamed from the file, on every attempt: a file is never held in
            // memory (several commits run at once, and a file is up to --target-file-mb)
            let mut parts = Vec::new();
            for (i, offset) in (0..size).step_by(PART_SIZE as usize).enumerate() {
                let n = i as i32 + 1;
                let length = (size - offset).min(PART_SIZE);
                let resp = with_retries(
                    5,
                    || async {
                        let body = ByteStream::read_from()
                            .path(temp)
                            .offset(offset)
                            .length(Length::Exact(length))
                            .build()
                            .await
                            .map_err(|e| {
                                StoreError::new("commit", temp.display().to_string(), e, false)
                            })?;
                        self.client
                            .upload_part()
                            .bucket(&self.bucket)
                            .key(&key)
                            .upload_id(&upload_id)
                            .part_number(n)
                            .body(body)
                            .send()
                            .await
                            .map_err(|e| self.err("commit", path, &e))
                    },
                    |e: &StoreError| e.transient,
                )
                .await?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(resp.e_tag().map(str::to_string))
                        .build(),
                );
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| self.err("commit", path, &e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // nothing partial stays visible or billed
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

impl Store for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn spool_dir(&self) -> PathBuf {
        self.spool.clone()
    }

    async fn commit(&self, temp: &Path, path: &str) -> Result<(), StoreError> {
        let size = tokio::fs::metadata(temp)
            .await
            .map_err(|e| StoreError::new("commit", temp.display().to_string(), e, false))?
            .len();
        if size > self.multipart_threshold {
            self.multipart(temp, path, size).await?;
        } else {
            let body = ByteStream::from_path(temp)
                .await
                .map_err(|e| StoreError::new("commit", temp.display().to_string(), e, false))?;
            self.put_request(path)
                .body(body)
                .send()
                .await
                .map_err(|e| self.err("commit", path, &e))?;
        }
        let _ = tokio::fs::remove_file(temp).await;
        Ok(())
    }

    async fn put_if_absent(&self, path: &str, body: Vec<u8>) -> Result<bool, StoreError> {
        match self
            .put_request(path)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let precondition = match &e {
                    SdkError::ServiceError(se) => {
                        se.raw().status().as_u16() == 412
                            || se.err().code() == Some("PreconditionFailed")
                    }
                    _ => false,
                };
                if precondition {
                    Ok(false)
                } else {
                    Err(self.err("put", path, &e))
                }
            }
        }
    }

    async fn put(&self, path: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.put_request(path)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("put", path, &e))
    }

    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
        {
            Ok(resp) => {
                let data = resp
                    .body
                    .collect()
                    .await
                    .map_err(|e| StoreError::new("get", self.url(path), e, true))?;
                Ok(Some(data.into_bytes().to_vec()))
            }
            Err(e) if classify(&e).0 == "not_found" => Ok(None),
            Err(e) => Err(self.err("get", path, &e)),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if classify(&e).0 == "not_found" => Ok(false),
            Err(e) => Err(self.err("head", path, &e)),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("delete", path, &e))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let resp = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.key(prefix))
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.err("list", prefix, &e))?;
            out.extend(
                resp.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_string)),
            );
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Splits `s3://bucket/prefix` into (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.trim_end_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(
            parse_s3_url("s3://b/p/q/"),
            Some(("b".into(), "p/q".into()))
        );
        assert_eq!(parse_s3_url("s3:///x"), None);
        assert_eq!(parse_s3_url("/local"), None);
    }
}
