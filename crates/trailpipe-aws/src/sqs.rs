//! SQS: the few calls trailpipe makes, with errors that name the queue.

use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use futures_util::{StreamExt, TryStreamExt};

/// `SendMessageBatch` calls in flight at once (see [`Queue::send_batch`]).
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

    /// Deletes messages by receipt handle (batches of 10). Returns the ids that failed.
    pub async fn delete(&self, receipts: &[(String, String)]) -> Result<Vec<String>, QueueError> {
        let mut failed = Vec::new();
        for chunk in receipts.chunks(10) {
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
            for f in resp.failed() {
                if let Some((id, _)) = f.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    failed.push(id.clone());
                }
            }
        }
        Ok(failed)
    }

    /// Sets the visibility timeout of messages (heartbeat, or release with a delay).
    pub async fn change_visibility(
        &self,
        receipts: &[String],
        timeout: Duration,
    ) -> Result<(), QueueError> {
        for chunk in receipts.chunks(10) {
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
        }
        Ok(())
    }

    /// Sends message bodies, 10 per call, [`SENDS_AT_ONCE`] calls at a time: one after
    /// another, a call's round trip bounded a backfill's fan-out to a fleet near 500 messages
    /// a second. On an error some bodies may have been sent: sending them again is safe, the
    /// claims keep their rows once.
    pub async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        futures_util::stream::iter(bodies.chunks(10))
            .map(|chunk| self.send_ten(chunk))
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
