//! Deterministic, realistic CloudTrail deliveries for tests, benchmarks and the demo.
//!
//! [`generate`] writes a bucket's worth of objects under a directory; [`generate_with`] hands the
//! same objects to a callback. Output is byte-identical for the same [`SynthConfig`]: every file
//! draws from its own PRNG stream keyed by `(seed, file index)`, so rayon can build files in any
//! order, and nothing reads the clock or iterates a hash map.
//!
//! What comes out, in delivery order:
//! 1. CloudTrail log files (`AWSLogs/[o-id/]<acct>/CloudTrail/<region>/YYYY/MM/DD/...json.gz`),
//!    one per account/region about every five minutes, events 5-15 minutes older than the
//!    delivery, heavy-tailed record counts, the quirks listed in `events`; the first file of each
//!    day straddles midnight UTC and some files carry late (DELIVERY_DELAY) events from 1-3 days
//!    earlier.
//! 2. A few Insights files (`CloudTrail-Insight`), Start and End records in separate deliveries.
//! 3. Hourly digest files (`CloudTrail-Digest`) chained per account/region, listing the SHA-256 of
//!    every log file. They are not signed (see the `digest` module).

mod digest;
mod events;
mod insight;
mod json;
mod rng;
mod time;
mod world;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::digest::LogEntry;
use crate::events::Gen;
use crate::json::Json;
use crate::rng::{mix64, Rng};
use crate::time::{push_path_date, push_stamp, DAY};
use crate::world::{World, REGIONS};

/// What to generate. Start from [`SynthConfig::default`] and override fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of accounts (12-digit ids; the first one has a leading zero).
    pub accounts: usize,
    /// Number of regions, taken in order from a fixed list of real names starting with `us-east-1`.
    pub regions: usize,
    /// Days of deliveries, starting at `start_date`.
    pub days: u32,
    /// First delivery day, `YYYY-MM-DD` (UTC).
    pub start_date: String,
    /// Stop once this many uncompressed JSON bytes of CloudTrail log files have been produced.
    pub target_bytes: Option<u64>,
    /// Or: exactly this many CloudTrail log files. With neither set, 200 files.
    pub files: Option<usize>,
    pub seed: u64,
    /// `o-xxxxxxxxxx`: use the organization trail layout `AWSLogs/o-xxxxxxxxxx/<acct>/...`.
    pub org_id: Option<String>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            accounts: 3,
            regions: 2,
            days: 2,
            start_date: "2024-03-01".to_string(),
            target_bytes: None,
            files: None,
            seed: 42,
            org_id: None,
        }
    }
}

/// Totals of a run. `records`, `json_bytes` and `gz_bytes` cover CloudTrail log files only (what
/// `target_bytes` measures and what the pipeline ingests); Insights and digest files are counted
/// separately by file (and Insights by record).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    pub log_files: usize,
    pub insight_files: usize,
    pub digest_files: usize,
    pub records: u64,
    pub insight_records: u64,
    pub json_bytes: u64,
    pub gz_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synth config: {0}")]
    Config(String),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot gzip {key}: {source}")]
    Compress {
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// For [`generate_with`] callbacks that reject a delivery.
    #[error("sink failed on {key}: {reason}")]
    Sink { key: String, reason: String },
}

/// Writes every delivery under `out` (creating directories) and returns the totals.
pub fn generate(cfg: &SynthConfig, out: &Path) -> Result<SynthSummary, SynthError> {
    // Only a cache to skip repeated create_dir_all calls; never iterated.
    let mut made: HashSet<PathBuf> = HashSet::new();
    generate_with(cfg, |key, gz| {
        let path = out.join(key);
        if let Some(dir) = path.parent() {
            if !made.contains(dir) {
                std::fs::create_dir_all(dir).map_err(|source| SynthError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                made.insert(dir.to_path_buf());
            }
        }
        std::fs::write(&path, gz).map_err(|source| SynthError::Io { path, source })
    })
}

/// Same deliveries as [`generate`], handed to `sink` in a fixed order instead of written.
/// `key` is the S3 key relative to the bucket root (starts with `AWSLogs/`), `gz` the gzip bytes.
pub fn generate_with(
    cfg: &SynthConfig,
    mut sink: impl FnMut(&str, &[u8]) -> Result<(), SynthError>,
) -> Result<SynthSummary, SynthError> {
    let plan = Plan::new(cfg)?;
    let world = World::new(cfg.seed, cfg.accounts, cfg.regions);
    let mut summary = SynthSummary::default();
    let mut digest_logs: BTreeMap<(usize, usize, i64), Vec<LogEntry>> = BTreeMap::new();

    // Batches are built in parallel and emitted in index order. The batch size only affects how
    // much work past the byte target is thrown away, never the output.
    let batch = (rayon::current_num_threads() as u64 * 4).max(8);
    let mut next = 0u64;
    'gen: loop {
        let hi = match plan.limit {
            Limit::Files(n) => (next + batch).min(n),
            Limit::Bytes(_) => next + batch,
        };
        if next >= hi {
            break;
        }
        if hi > MAX_FILES {
            return Err(SynthError::Config(format!(
                "more than {MAX_FILES} log files needed"
            )));
        }
        let built: Vec<Result<LogFile, SynthError>> = (next..hi)
            .into_par_iter()
            .map(|i| build_log_file(&plan, &world, i))
            .collect();
        for file in built {
            let file = file?;
            sink(&file.key, &file.gz)?;
            summary.log_files += 1;
            summary.records += file.records;
            summary.json_bytes += file.json_bytes;
            summary.gz_bytes += file.gz.len() as u64;
            let window = plan.digest_window(file.acct, file.region, file.delivery);
            digest_logs
                .entry((file.acct, file.region, window))
                .or_default()
                .push(LogEntry {
                    key: file.key,
                    sha256: file.sha256,
                    oldest: file.oldest,
                    newest: file.newest,
                });
            if let Limit::Bytes(target) = plan.limit {
                if summary.json_bytes >= target {
                    break 'gen;
                }
            }
        }
        next = hi;
    }

    write_insights(&plan, &world, &mut summary, &mut sink)?;
    write_digests(&plan, &world, digest_logs, &mut summary, &mut sink)?;
    Ok(summary)
}

/// Log file indices stay below this so eventIDs can embed them (see `rng::push_event_id`).
const MAX_FILES: u64 = 1 << 38;
/// Stream ids for Insights files, disjoint from log file indices.
const INSIGHT_STREAM: u64 = 1 << 39;
/// Five-minute delivery slots per day.
const SLOTS_PER_DAY: u64 = 288;
/// Rough uncompressed size of an average record and the mean of the record-count mix; only used
/// to spread a `target_bytes` run over the time range, the stop itself uses real byte counts.
const EST_RECORD_BYTES: f64 = 1650.0;
const EST_MEAN_RECORDS: f64 = 105.0;
/// At or above this target one "burst" file is forced past 16 MB uncompressed.
const BURST_TARGET: u64 = 512_000_000;
const BURST_BYTES: usize = 20 * 1024 * 1024;
/// About one near-256 KB record per this many output bytes.
const BIG_RECORD_EVERY_BYTES: f64 = 20.0 * 1024.0 * 1024.0;

#[derive(Clone, Copy)]
enum Limit {
    Files(u64),
    Bytes(u64),
}

/// The validated config plus derived layout: which file goes where and when.
struct Plan {
    seed: u64,
    start: i64,
    accounts: usize,
    regions: usize,
    /// Five-minute slots in the whole range.
    slots: u64,
    /// Files the range is spread over; past it deliveries wrap around (more per slot).
    n_plan: u64,
    /// Record-count multiplier, > 1 when more data is asked for than the slots hold.
    scale: f64,
    limit: Limit,
    burst: Option<u64>,
    prefix_org: Option<String>,
    trail: &'static str,
}

struct FileSpec {
    acct: usize,
    region: usize,
    delivery: i64,
    lo: i64,
    hi: i64,
    records: u64,
    min_bytes: usize,
    late: u64,
    force_big: bool,
}

struct LogFile {
    key: String,
    gz: Vec<u8>,
    json_bytes: u64,
    sha256: [u8; 32],
    records: u64,
    oldest: i64,
    newest: i64,
    acct: usize,
    region: usize,
    delivery: i64,
}

impl Plan {
    fn new(cfg: &SynthConfig) -> Result<Plan, SynthError> {
        let bad = |m: String| Err(SynthError::Config(m));
        if cfg.accounts == 0 || cfg.accounts > 10_000 {
            return bad(format!("accounts must be 1..=10000, got {}", cfg.accounts));
        }
        if cfg.regions == 0 || cfg.regions > REGIONS.len() {
            return bad(format!(
                "regions must be 1..={} (the known real region names), got {}",
                REGIONS.len(),
                cfg.regions
            ));
        }
        if cfg.days == 0 || cfg.days > 3660 {
            return bad(format!("days must be 1..=3660, got {}", cfg.days));
        }
        let Some(start) = time::parse_date(&cfg.start_date) else {
            return bad(format!(
                "start_date must be a valid YYYY-MM-DD date, got {:?}",
                cfg.start_date
            ));
        };
        if let Some(org) = &cfg.org_id {
            let body = org.strip_prefix("o-").unwrap_or("");
            if !(10..=32).contains(&body.len())
                || !body
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return bad(format!("org_id must look like o-xxxxxxxxxx (10-32 lower-case letters or digits), got {org:?}"));
            }
        }
        let slots = u64::from(cfg.days) * SLOTS_PER_DAY;
        let capacity = (cfg.accounts * cfg.regions) as f64 * slots as f64;
        let (limit, wanted) = match (cfg.files, cfg.target_bytes) {
            (Some(_), Some(_)) => {
                return bad("set either files or target_bytes, not both".to_string())
            }
            (_, Some(0)) => return bad("target_bytes must be > 0".to_string()),
            (_, Some(b)) => (
                Limit::Bytes(b),
                b as f64 / (EST_RECORD_BYTES * EST_MEAN_RECORDS),
            ),
            (Some(n), None) => (Limit::Files(n as u64), n as f64),
            (None, None) => (Limit::Files(200), 200.0),
        };
        // More than one file per account/region/slot: grow files (sqrt) and stack the rest.
        let scale = if wanted > capacity {
            (wanted / capacity).sqrt()
        } else {
            1.0
        };
        let n_plan = match limit {
            Limit::Files(n) => n.max(1),
            Limit::Bytes(_) => ((wanted / scale).ceil() as u64).max(1),
        };
        let burst = match limit {
            Limit::Bytes(b) if b >= BURST_TARGET => Some(n_plan / 3),
            _ => None,
        };
        Ok(Plan {
            seed: cfg.seed,
            start,
            accounts: cfg.accounts,
            regions: cfg.regions,
            slots,
            n_plan,
            scale,
            limit,
            burst,
            prefix_org: cfg.org_id.clone(),
            trail: if cfg.org_id.is_some() {
                "trailpipe-org-trail"
            } else {
                "trailpipe-synth-trail"
            },
        })
    }

    fn slot_of(&self, j: u64) -> u64 {
        (u128::from(j) * u128::from(self.slots) / u128::from(self.n_plan)) as u64
    }

    /// Where, when and how big file `i` is. Draws from the file's own stream first.
    fn spec(&self, i: u64, rng: &mut Rng) -> FileSpec {
        let j = i % self.n_plan;
        let slot = self.slot_of(j);
        // The first file of every day is delivered at 00:05 with events from 23:50 on: its
        // records fall on two UTC dates.
        let first_of_day = j == 0 || slot / SLOTS_PER_DAY != self.slot_of(j - 1) / SLOTS_PER_DAY;
        // Half the files cycle through every account/region, half favour the low indices, so all
        // pairs get data but some accounts are busier. The first accounts x regions files all
        // cycle, so a corpus with at least that many files has every pair (an organization
        // trail's partition count is exact); the draws are made anyway, so later files do not
        // change.
        let pairs = (self.accounts * self.regions) as u64;
        let cycle = (i % pairs) as usize;
        let favoured = (!rng.chance(0.5)).then(|| {
            (
                rng.idx(self.accounts).min(rng.idx(self.accounts)),
                rng.idx(self.regions).min(rng.idx(self.regions)),
            )
        });
        let pair = match favoured {
            Some(p) if i >= pairs => p,
            _ => (cycle / self.regions, cycle % self.regions),
        };
        let (delivery, lo, hi) = if first_of_day {
            let midnight = self.start + (slot / SLOTS_PER_DAY) as i64 * DAY;
            (midnight + 300, midnight - 600, midnight + 240)
        } else {
            let d = self.start + slot as i64 * 300;
            (d, d - 900, d - 300)
        };
        let base = heavy_tail_records(rng);
        let mut records = ((base as f64 * self.scale).round() as u64).clamp(1, 1 << 22);
        let mut min_bytes = 0;
        if self.burst == Some(i) {
            records = 1;
            min_bytes = BURST_BYTES;
        }
        let late = if j == self.n_plan / 2 || rng.chance(0.02) {
            rng.range(1, 4)
        } else {
            0
        };
        FileSpec {
            acct: pair.0,
            region: pair.1,
            delivery,
            lo,
            hi,
            records,
            min_bytes,
            late,
            force_big: i == 3,
        }
    }

    /// `AWSLogs/[o-id/]<acct>/`
    fn key_prefix(&self, acct: &str) -> String {
        let mut s = String::with_capacity(48);
        s.push_str("AWSLogs/");
        if let Some(org) = &self.prefix_org {
            s.push_str(org);
            s.push('/');
        }
        s.push_str(acct);
        s.push('/');
        s
    }

    /// Start of the digest hour holding a delivery. Each account/region gets its own offset
    /// within the minute so digest windows do not line up on the hour, as in real trails.
    fn digest_window(&self, acct: usize, region: usize, delivery: i64) -> i64 {
        let off = self.digest_offset(acct, region);
        (delivery - off).div_euclid(3600) * 3600 + off
    }

    fn digest_offset(&self, acct: usize, region: usize) -> i64 {
        1 + (mix64(self.seed ^ ((acct as u64) << 20 | region as u64)) % 299) as i64
    }
}

/// Records per file: mostly a handful, some hundreds, a few thousands (log-uniform pieces).
fn heavy_tail_records(rng: &mut Rng) -> u64 {
    let u = rng.f64();
    if u < 0.72 {
        rng.log_uniform(1, 20)
    } else if u < 0.95 {
        rng.log_uniform(21, 400)
    } else if u < 0.995 {
        rng.log_uniform(401, 2500)
    } else {
        rng.log_uniform(2501, 6000)
    }
}

/// `<prefix><kind>/<region>/YYYY/MM/DD/<acct>_<kind>_<region>_<YYYYMMDDTHHmmZ>_<16 random>.json.gz`
fn log_key(
    prefix: &str,
    kind: &str,
    acct: &str,
    region: &str,
    delivery: i64,
    rng: &mut Rng,
) -> String {
    let mut key = String::with_capacity(prefix.len() + 120);
    key.push_str(prefix);
    key.push_str(kind);
    key.push('/');
    key.push_str(region);
    key.push('/');
    push_path_date(&mut key, delivery);
    key.push('/');
    key.push_str(acct);
    key.push('_');
    key.push_str(kind);
    key.push('_');
    key.push_str(region);
    key.push('_');
    push_stamp(&mut key, delivery, false);
    key.push('_');
    rng.push_alnum(&mut key, 16);
    key.push_str(".json.gz");
    key
}

fn gzip(data: &[u8], key: &str) -> Result<Vec<u8>, SynthError> {
    // mtime 0 and no file name: the header carries nothing that changes between runs. Level 5
    // is within about 1% of level 6's size and measurably faster; deflate is most of the cost.
    let mut enc = GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(data.len() / 6 + 64), Compression::new(5));
    enc.write_all(data).map_err(|source| SynthError::Compress {
        key: key.to_string(),
        source,
    })?;
    enc.finish().map_err(|source| SynthError::Compress {
        key: key.to_string(),
        source,
    })
}

fn build_log_file(plan: &Plan, world: &World, i: u64) -> Result<LogFile, SynthError> {
    let mut rng = Rng::new(plan.seed, i);
    let spec = plan.spec(i, &mut rng);
    let acct = &world.accounts[spec.acct];
    let region = world.regions[spec.region];
    let key = log_key(
        &plan.key_prefix(&acct.id),
        "CloudTrail",
        &acct.id,
        region,
        spec.delivery,
        &mut rng,
    );
    let big_p = EST_RECORD_BYTES / BIG_RECORD_EVERY_BYTES;
    let cap = if spec.min_bytes > 0 {
        spec.min_bytes + (1 << 20)
    } else {
        (spec.records as usize * 1700 + 1024).min(64 << 20)
    };
    let mut g = Gen::new(world, acct, region, rng, plan.seed, i, cap);
    g.w.buf.push_str("{\"Records\":[");
    g.w.reset_comma();
    let span = (spec.hi - spec.lo) as u64;
    let mut n = 0u64;
    while n < spec.records || g.w.buf.len() < spec.min_bytes {
        let t = spec.lo + g.rng.range(0, span) as i64;
        let big = (spec.force_big && n == 0) || g.rng.chance(big_p);
        g.record(t, false, big);
        n += 1;
    }
    // Late events: eventTime 1-3 days before the delivery date, flagged with an addendum.
    let day_start = spec.delivery.div_euclid(DAY) * DAY;
    for _ in 0..spec.late {
        let t = day_start - DAY * g.rng.range(1, 2) as i64 - g.rng.range(1, DAY as u64 - 1) as i64;
        g.record(t, true, false);
        n += 1;
    }
    g.w.buf.push_str("]}");
    let json = g.w.buf;
    let sha256: [u8; 32] = Sha256::digest(json.as_bytes()).into();
    let gz = gzip(json.as_bytes(), &key)?;
    Ok(LogFile {
        key,
        json_bytes: json.len() as u64,
        gz,
        sha256,
        records: n,
        oldest: g.oldest,
        newest: g.newest,
        acct: spec.acct,
        region: spec.region,
        delivery: spec.delivery,
    })
}

fn write_insights(
    plan: &Plan,
    world: &World,
    summary: &mut SynthSummary,
    sink: &mut impl FnMut(&str, &[u8]) -> Result<(), SynthError>,
) -> Result<(), SynthError> {
    if summary.log_files == 0 {
        return Ok(());
    }
    let incidents = (summary.log_files / 150).clamp(2, 20) as u64;
    let range = plan.slots as i64 * 300;
    for k in 0..incidents {
        let stream = INSIGHT_STREAM + k;
        let mut rng = Rng::new(plan.seed, stream);
        let a = rng.idx(plan.accounts);
        let r = rng.idx(plan.regions);
        let acct = &world.accounts[a];
        let region = world.regions[r];
        let start = plan.start + (rng.below((range - 4 * 3600).max(60) as u64) as i64) / 60 * 60;
        // One or two simultaneous insights per delivery.
        let per_file = rng.range(1, 2);
        let incs: Vec<insight::Incident> = (0..per_file)
            .map(|_| insight::Incident::new(&mut rng, acct, start))
            .collect();
        let mut rec = 0u64;
        for end in [false, true] {
            let at = if end {
                incs.iter().map(|x| x.end).max().unwrap_or(start)
            } else {
                start
            };
            let delivery = (at + 60 * rng.range(5, 30) as i64) / 300 * 300;
            let key = log_key(
                &plan.key_prefix(&acct.id),
                "CloudTrail-Insight",
                &acct.id,
                region,
                delivery,
                &mut rng,
            );
            let mut w = Json::with_capacity(2048);
            w.buf.push_str("{\"Records\":[");
            w.reset_comma();
            for inc in &incs {
                insight::write_record(
                    &mut w, &mut rng, plan.seed, stream, rec, acct, region, inc, end,
                );
                rec += 1;
            }
            w.buf.push_str("]}");
            let gz = gzip(w.buf.as_bytes(), &key)?;
            sink(&key, &gz)?;
            summary.insight_files += 1;
            summary.insight_records += incs.len() as u64;
        }
    }
    Ok(())
}

fn write_digests(
    plan: &Plan,
    world: &World,
    logs: BTreeMap<(usize, usize, i64), Vec<LogEntry>>,
    summary: &mut SynthSummary,
    sink: &mut impl FnMut(&str, &[u8]) -> Result<(), SynthError>,
) -> Result<(), SynthError> {
    let home = world.regions[0];
    for ((a, r), windows) in group_by_pair(logs) {
        // Each account/region has its own chain; the first digest has null previous* fields.
        let mut prev: Option<digest::Prev> = None;
        let acct = &world.accounts[a];
        let region = world.regions[r];
        let prefix = plan.key_prefix(&acct.id);
        let fingerprint = hex::encode(
            &Sha256::digest(format!("trailpipe-synth-key/{}/{region}", plan.seed).as_bytes())[..16],
        );
        for (start, entries) in windows {
            let win = digest::Window {
                prefix: &prefix,
                account: &acct.id,
                region,
                trail: plan.trail,
                home_region: home,
                fingerprint: &fingerprint,
                start,
                end: start + 3600,
            };
            let built = digest::build(&win, &entries, prev.as_ref());
            let gz = gzip(built.json.as_bytes(), &built.key)?;
            sink(&built.key, &gz)?;
            summary.digest_files += 1;
            prev = Some(built.link);
        }
    }
    Ok(())
}

type Windows = Vec<(i64, Vec<LogEntry>)>;

/// Splits the (account, region, window) map into per-pair chains, in key order.
fn group_by_pair(
    logs: BTreeMap<(usize, usize, i64), Vec<LogEntry>>,
) -> Vec<((usize, usize), Windows)> {
    let mut out: Vec<((usize, usize), Windows)> = Vec::new();
    for ((a, r, w), entries) in logs {
        match out.last_mut() {
            Some((pair, v)) if *pair == (a, r) => v.push((w, entries)),
            _ => out.push(((a, r), vec![(w, entries)])),
        }
    }
    out
}
