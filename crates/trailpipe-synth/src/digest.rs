//! Hourly digest files for log file integrity validation.
//!
//! The chain is real (each digest names its predecessor and the SHA-256 of its uncompressed
//! bytes, and every listed log file's `hashValue` is the SHA-256 of that file's uncompressed JSON),
//! but nothing is signed: there is no RSA key here. `previousDigestSignature` carries a
//! placeholder (the hex SHA-256 of the string that would be signed), and no
//! `x-amz-meta-signature` exists because deliveries carry no S3 metadata. Signing comes later.

use sha2::{Digest, Sha256};

use crate::json::Json;
use crate::time::{iso, push_path_date, push_stamp};

/// The bucket the synthetic trail delivers to; digests name it.
pub(crate) const BUCKET: &str = "trailpipe-synth-bucket";

/// One log file as listed in a digest.
pub(crate) struct LogEntry {
    pub key: String,
    pub sha256: [u8; 32],
    pub oldest: i64,
    pub newest: i64,
}

/// The previous link of a digest chain.
pub(crate) struct Prev {
    pub key: String,
    pub sha256_hex: String,
    pub signature: String,
}

pub(crate) struct Built {
    pub key: String,
    pub json: String,
    pub link: Prev,
}

pub(crate) struct Window<'a> {
    pub prefix: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub trail: &'a str,
    pub home_region: &'a str,
    pub fingerprint: &'a str,
    pub start: i64,
    pub end: i64,
}

/// Builds the digest of one account/region/hour and the link the next digest points back to.
pub(crate) fn build(win: &Window<'_>, logs: &[LogEntry], prev: Option<&Prev>) -> Built {
    let mut key = String::with_capacity(160);
    key.push_str(win.prefix);
    key.push_str("CloudTrail-Digest/");
    key.push_str(win.region);
    key.push('/');
    push_path_date(&mut key, win.end);
    key.push('/');
    key.push_str(win.account);
    key.push_str("_CloudTrail-Digest_");
    key.push_str(win.region);
    key.push('_');
    key.push_str(win.trail);
    key.push('_');
    key.push_str(win.home_region);
    key.push('_');
    push_stamp(&mut key, win.end, true);
    key.push_str(".json.gz");

    let end = iso(win.end);
    let mut w = Json::with_capacity(512 + logs.len() * 320);
    w.begin_obj();
    w.kv_str("awsAccountId", win.account);
    w.kv_str("digestStartTime", &iso(win.start));
    w.kv_str("digestEndTime", &end);
    w.kv_str("digestS3Bucket", BUCKET);
    w.kv_str("digestS3Object", &key);
    w.kv_str("digestPublicKeyFingerprint", win.fingerprint);
    w.kv_str("digestSignatureAlgorithm", "SHA256withRSA");
    match (
        logs.iter().map(|l| l.newest).max(),
        logs.iter().map(|l| l.oldest).min(),
    ) {
        (Some(newest), Some(oldest)) => {
            w.kv_str("newestEventTime", &iso(newest));
            w.kv_str("oldestEventTime", &iso(oldest));
        }
        _ => {
            w.kv_null("newestEventTime");
            w.kv_null("oldestEventTime");
        }
    }
    match prev {
        Some(p) => {
            w.kv_str("previousDigestS3Bucket", BUCKET);
            w.kv_str("previousDigestS3Object", &p.key);
            w.kv_str("previousDigestHashValue", &p.sha256_hex);
            w.kv_str("previousDigestHashAlgorithm", "SHA-256");
            w.kv_str("previousDigestSignature", &p.signature);
        }
        None => {
            for k in [
                "previousDigestS3Bucket",
                "previousDigestS3Object",
                "previousDigestHashValue",
                "previousDigestHashAlgorithm",
                "previousDigestSignature",
            ] {
                w.kv_null(k);
            }
        }
    }
    w.kv_arr("logFiles");
    for log in logs {
        w.begin_obj();
        w.kv_str("s3Bucket", BUCKET);
        w.kv_str("s3Object", &log.key);
        w.kv_str("hashValue", &hex::encode(log.sha256));
        w.kv_str("hashAlgorithm", "SHA-256");
        w.kv_str("newestEventTime", &iso(log.newest));
        w.kv_str("oldestEventTime", &iso(log.oldest));
        w.end_obj();
    }
    w.end_arr();
    w.end_obj();

    let sha256_hex = hex::encode(Sha256::digest(w.buf.as_bytes()));
    // Placeholder, not an RSA signature: the SHA-256 of the string CloudTrail would sign.
    let signed = format!(
        "{end}\n{BUCKET}/{key}\n{sha256_hex}\n{}",
        prev.map_or("null", |p| p.signature.as_str())
    );
    let signature = hex::encode(Sha256::digest(signed.as_bytes()));
    Built {
        link: Prev {
            key: key.clone(),
            sha256_hex,
            signature,
        },
        key,
        json: w.buf,
    }
}
