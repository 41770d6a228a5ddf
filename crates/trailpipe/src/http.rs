//! The metrics and health endpoint: `/metrics` (Prometheus text), `/healthz`, `/readyz`.
//! A few lines of HTTP/1.1 on a TCP listener; nothing here needs a framework.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

/// Health state the endpoint reports.
#[derive(Default)]
pub struct Health {
    /// Set once the first receive succeeded.
    pub ready: AtomicBool,
    /// Cleared when the pipeline stopped working.
    pub alive: AtomicBool,
}

/// Serves until the process ends. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics port {addr}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (m, h) = (metrics.clone(), health.clone());
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), respond(stream, &m, &h)).await;
            });
        }
    });
    Ok(bound)
}

async fn respond(mut stream: TcpStream, metrics: &Metrics, health: &Health) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await?;
    let request = String::from_utf8_lossy(&buf[..n]);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/metrics" => ("200 OK", metrics.render()),
        "/healthz" if health.alive.load(Relaxed) => ("200 OK", "ok\n".to_string()),
        "/healthz" => ("503 Service Unavailable", "pipeline stopped\n".to_string()),
        "/readyz" if health.ready.load(Relaxed) && health.alive.load(Relaxed) => {
            ("200 OK", "ready\n".to_string())
        }
        "/readyz" => ("503 Service Unavailable", "not ready\n".to_string()),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// `trailpipe healthcheck`: exit status 0 when `/healthz` answers 200 within two seconds.
pub async fn healthcheck(addr: SocketAddr) -> bool {
    let probe = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.ok()?;
        Some(out.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}
