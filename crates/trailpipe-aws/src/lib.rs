//! # trailpipe-aws
//!
//! The AWS edges of trailpipe, and nothing else: parsing notification formats (S3 events, SNS
//! envelopes, CloudTrail's own SNS message, EventBridge), reading and listing S3 with retries,
//! the S3 lake [`s3::S3Store`], and the SQS calls of the daemon. No decoding happens here.

pub mod notification;
pub mod s3;
pub mod sqs;

/// The S3 client type the other crates pass around.
pub use aws_sdk_s3::Client as S3Client;

/// AWS clients from the standard chain (environment, profile, ECS task role). The standard
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL_SQS` variables are honoured;
/// `path_style` addresses buckets as `endpoint/bucket` for S3-compatible endpoints.
pub async fn clients(path_style: bool) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(path_style)
        .build();
    (
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_sqs::Client::new(&config),
    )
}
