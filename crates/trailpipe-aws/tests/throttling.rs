//! S3 throttling (`503 SlowDown`) and a missing key, through the real SDK. moto never
//! throttles, so a local HTTP endpoint answers with S3's own error documents: first `SlowDown`,
//! then the object.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An endpoint whose `n`th request (from 0) gets `respond(n)`: (status, body). Returns its URL
/// and the number of requests it has seen.
async fn endpoint(respond: fn(usize) -> (u16, Vec<u8>)) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                // a GET has no body: the head is all there is to read
                let (mut head, mut chunk) = (Vec::new(), [0u8; 4096]);
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let (status, body) = respond(count.fetch_add(1, SeqCst));
                let kind = if status == 200 {
                    "application/octet-stream"
                } else {
                    "application/xml"
                };
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Last-Modified: Fri, 01 Mar 2024 00:05:00 GMT\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                let _ = sock.write_all(&out).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, seen)
}

fn s3_error(code: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{code}</Message><RequestId>R</RequestId><HostId>H</HostId></Error>"
    )
    .into_bytes()
}

fn client(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Builder, Credentials, Region};
    let conf = Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("key", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn fetch(
    url: &str,
) -> Result<trailpipe_aws::s3::Fetched<Vec<u8>>, trailpipe_aws::s3::FetchError> {
    trailpipe_aws::s3::fetch(
        &client(url),
        "trail",
        "AWSLogs/1/CloudTrail/us-east-1/2024/03/01/x.json.gz",
        Vec::new,
        |sink: &mut Vec<u8>, piece: &[u8]| {
            sink.extend_from_slice(piece);
            true
        },
    )
    .await
}

#[tokio::test]
async fn slow_down_is_retried_with_backoff_until_the_read_succeeds() {
    let (url, seen) = endpoint(|n| match n {
        0..=3 => (503, s3_error("SlowDown")),
        _ => (200, b"the object".to_vec()),
    })
    .await;
    let got = fetch(&url).await.expect("the fifth request succeeds");
    assert_eq!(got.body, b"the object", "each attempt starts a fresh sink");
    assert_eq!(got.bytes, 10);
    assert_eq!(got.last_modified_ms, Some(1_709_251_500_000));
    assert_eq!(seen.load(SeqCst), 5);
}

#[tokio::test]
async fn a_missing_key_fails_at_once_naming_the_object() {
    let (url, seen) = endpoint(|_| (404, s3_error("NoSuchKey"))).await;
    let e = fetch(&url).await.err().expect("a missing key is an error");
    assert_eq!((e.kind, e.transient), ("not_found", false));
    assert!(e.to_string().contains("s3://trail/AWSLogs/1/"), "{e}");
    assert_eq!(seen.load(SeqCst), 1, "not retried");
}
