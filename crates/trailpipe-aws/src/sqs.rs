//! SQS: the few calls trailpipe makes, with errors that name the queue.

use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use futures_util::{StreamExt, TryStreamExt};

/// Batch calls (send, delete, change visibility) in flight at once.
const SENDS_AT_ONCE: usize = 16;

/// A received message.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub receipt: String,
    pub body: String,
    /// How many times it was received (ApproximateReceiveCount).
    pub receive_count: u32,
    /// When it was first sent (ms since the epoch).
    pub sent_ms: Option<u64>,
}

/// An SQS error naming the queue and the call.
#[derive(Debug, thiserror::Error)]
#[error("{call} {queue}: {reason}")]
pub struct QueueError {
    pub call: &'static str,
    pub queue: String,
    pub reason: String,
}

/// One queue.
#[derive(Clone)]
pub struct Queue {
    client: Client,
    url: String,
}

impl Queue {
    pub fn new(client: Client, url: impl Into<String>) -> Queue {
        Queue {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, call: &'static str, e: impl std::fmt::Debug) -> QueueError {
        QueueError {
            call,
            queue: self.url.clone(),
            reason: format!("{e:?}"),
        }
    }

    /// Long-polls for up to `max` (≤10) messages, hiding them for `visibility`.
    pub async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let resp = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| self.err("ReceiveMessage", e))?;
        Ok(resp
            .messages()
            .iter()
            .filter_map(|m| {
                let attrs = m.attributes();
                let attr = |k: MessageSystemAttributeName| {
                    attrs.and_then(|a| a.get(&k)).and_then(|v| v.parse().ok())
                };
                Some(Message {
                    id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .unwrap_or(1) as u32,
                    sent_ms: attr(MessageSystemAttributeName::SentTimestamp),
                })
            })
            .collect())
    }

    /// Deletes messages by receipt handle, 10 per call, [`SENDS_AT_ONCE`] calls at a time.
    /// Returns the ids that were not deleted: those the queue refused, and all of a call that
    /// failed (the other calls still go out).
    pub async fn delete(&self, receipts: &[(String, String)]) -> Vec<String> {
        // the calls are made before they are streamed: a stream mapping over borrowed chunks
        // is not `Send` enough for the daemon's spawned tasks (a compiler limitation)
        let calls: Vec<_> = receipts
            .chunks(10)
            .map(|chunk| async move {
                match self.delete_ten(chunk).await {
                    Ok(failed) => failed,
                    Err(e) => {
                        tracing::warn!(error = %e, "delete failed");
                        chunk.iter().map(|(id, _)| id.clone()).collect()
                    }
                }
            })
            .collect();
        let failed: Vec<Vec<String>> = futures_util::stream::iter(calls)
            .buffer_unordered(SENDS_AT_ONCE)
            .collect()
            .await;
        failed.concat()
    }

    /// Deletes up to ten messages in one call; returns the ids the queue refused.
    async fn delete_ten(&self, chunk: &[(String, String)]) -> Result<Vec<String>, QueueError> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, r))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err("DeleteMessageBatch", e))?;
        let resp = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.err("DeleteMessageBatch", e))?;
        Ok(resp
            .failed()
            .iter()
            .filter_map(|f| f.id().parse::<usize>().ok().and_then(|i| chunk.get(i)))
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Sets the visibility timeout of messages (heartbeat, or release with a delay), 10 per
    /// call, [`SENDS_AT_ONCE`] calls at a time: a heartbeat over thousands of messages in
    /// flight is hundreds of calls. A failed call does not stop the others; the first error
    /// is returned.
    pub async fn change_visibility(
        &self,
        receipts: &[String],
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let calls: Vec<_> = receipts
            .chunks(10)
            .map(|chunk| self.change_ten(chunk, timeout))
            .collect();
        let results: Vec<Result<(), QueueError>> = futures_util::stream::iter(calls)
            .buffer_unordered(SENDS_AT_ONCE)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Sets the visibility timeout of up to ten messages in one call.
    async fn change_ten(&self, chunk: &[String], timeout: Duration) -> Result<(), QueueError> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .visibility_timeout(timeout.as_secs().min(43_200) as i32)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err("ChangeMessageVisibilityBatch", e))?;
        self.client
            .change_message_visibility_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.err("ChangeMessageVisibilityBatch", e))?;
        Ok(())
    }

    /// Sends message bodies, 10 per call, [`SENDS_AT_ONCE`] calls at a time: one after
    /// another, a call's round trip bounded a backfill's fan-out to a fleet near 500 messages
    /// a second. On an error some bodies may have been sent: sending them again is safe, the
    /// claims keep their rows once.
    pub async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        let calls: Vec<_> = bodies
            .chunks(10)
            .map(|chunk| self.send_ten(chunk))
            .collect();
        futures_util::stream::iter(calls)
            .buffer_unordered(SENDS_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }

    /// Sends up to ten bodies in one call.
    async fn send_ten(&self, chunk: &[String]) -> Result<(), QueueError> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err("SendMessageBatch", e))?;
        let resp = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.err("SendMessageBatch", e))?;
        if !resp.failed().is_empty() {
            return Err(self.err(
                "SendMessageBatch",
                format!(
                    "{} entries failed: {:?}",
                    resp.failed().len(),
                    resp.failed()
                ),
            ));
        }
        Ok(())
    }
}
