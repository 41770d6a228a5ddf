//! # trailpipe
//!
//! AWS CloudTrail log deliveries to a partitioned, lossless Parquet lake for Athena and DuckDB.
//!
//! * `demo` — generates sample deliveries and ingests them into a local lake (no AWS needed).
//! * `ingest` — local files or folders into a local lake (no AWS needed).
//! * `run` — the daemon: SQS notifications → S3 objects → lake (local folder or S3).
//! * `backfill` — historical S3 prefixes into the lake, resumable, or fanned out through SQS.
//! * `synth` — realistic CloudTrail deliveries in the S3 layout, for trying and testing.
//! * `healthcheck` — probes a running daemon's `/healthz` (for container health checks).
//!
//! Every flag can also be set with a `TRAILPIPE_*` environment variable (see `--help`).

mod backfill;
mod engine;
mod http;
mod ingest;
mod metrics;
mod progress;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use trailpipe_lake::WriterConfig;
use trailpipe_record::DecodeOptions;

use crate::engine::EngineConfig;

#[derive(Parser)]
#[command(
    name = "trailpipe",
    version,
    about = "CloudTrail logs to a partitioned Parquet lake"
)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        env = "TRAILPIPE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    /// Decoder threads (default: all cores).
    #[arg(long, global = true, env = "TRAILPIPE_THREADS")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Generate sample deliveries into DIR/sample and ingest them into a fresh DIR/lake, then
    /// print a DuckDB query to try. Needs no AWS account.
    Demo {
        /// Folder for the sample data and the lake.
        #[arg(long, default_value = "trailpipe-demo")]
        dir: PathBuf,
        /// Number of log files to generate.
        #[arg(long, default_value_t = 400)]
        files: usize,
    },
    /// Ingest local CloudTrail files (.json.gz or .json, folders recursively) into a local lake.
    #[command(args_override_self = true)]
    Ingest {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The lake folder.
        #[arg(long, env = "TRAILPIPE_LAKE")]
        lake: PathBuf,
        #[command(flatten)]
        lake_args: LakeArgs,
        /// Also write the run summary as JSON to this file.
        #[arg(long)]
        summary_json: Option<PathBuf>,
    },
    /// Run the daemon: receive S3/SNS/EventBridge notifications from SQS, write the lake.
    #[command(args_override_self = true)]
    Run {
        /// The SQS queue receiving notifications.
        #[arg(long, env = "TRAILPIPE_QUEUE_URL")]
        queue_url: String,
        /// The lake: a folder, or s3://bucket/prefix.
        #[arg(long, env = "TRAILPIPE_LAKE")]
        lake: String,
        #[command(flatten)]
        lake_args: LakeArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Concurrent receive loops.
        #[arg(long, env = "TRAILPIPE_RECEIVERS", default_value_t = 2)]
        receivers: usize,
        /// Visibility timeout set on receive and renewed by the heartbeat (seconds).
        #[arg(long, env = "TRAILPIPE_VISIBILITY_TIMEOUT_SECS", default_value_t = 120)]
        visibility_timeout_secs: u64,
        /// Messages received and not yet deleted, at most. Reaching it commits open files early.
        #[arg(long, env = "TRAILPIPE_MAX_IN_FLIGHT", default_value_t = 5000)]
        max_in_flight: usize,
        /// Objects fetched and decoded at once.
        #[arg(long, env = "TRAILPIPE_FETCH_CONCURRENCY", default_value_t = 16)]
        fetch_concurrency: usize,
        /// After SIGTERM, time to commit and acknowledge before releasing the rest (seconds).
        #[arg(long, env = "TRAILPIPE_DRAIN_TIMEOUT_SECS", default_value_t = 25)]
        drain_timeout_secs: u64,
        /// How long a failed message stays hidden before it is retried (seconds).
        #[arg(long, env = "TRAILPIPE_FAILURE_BACKOFF_SECS", default_value_t = 60)]
        failure_backoff_secs: u64,
        /// Metrics and health endpoint.
        #[arg(long, env = "TRAILPIPE_METRICS_ADDR", default_value = "0.0.0.0:9898")]
        metrics_addr: std::net::SocketAddr,
    },
    /// Backfill historical CloudTrail objects from S3 (selected by delivery date).
    #[command(args_override_self = true)]
    Backfill {
        /// The trail bucket and optional prefix before AWSLogs/: s3://bucket[/prefix].
        source: String,
        /// The lake: a folder, or s3://bucket/prefix.
        #[arg(long, env = "TRAILPIPE_LAKE")]
        lake: String,
        /// Only these accounts (comma-separated).
        #[arg(long, value_delimiter = ',')]
        accounts: Vec<String>,
        /// Only these regions (comma-separated).
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        /// First delivery day (the S3 path date), YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// Last delivery day, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: Option<String>,
        /// Organization id, for an organization trail's AWSLogs/o-xxxxxxxxxx/ layout (found by
        /// listing when omitted).
        #[arg(long)]
        org_id: Option<String>,
        /// Print the plan (accounts, regions, days, objects, bytes) without reading objects.
        #[arg(long)]
        dry_run: bool,
        /// Send one S3-event notification per object to this queue (for a fleet of `run`
        /// daemons) instead of processing locally.
        #[arg(long, env = "TRAILPIPE_ENQUEUE")]
        enqueue: Option<String>,
        /// Concurrent GETs.
        #[arg(long, default_value_t = 16)]
        fetch_concurrency: usize,
        #[command(flatten)]
        lake_args: LakeArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Also write the run summary as JSON to this file.
        #[arg(long)]
        summary_json: Option<PathBuf>,
    },
    /// Exit 0 if a daemon's /healthz answers 200 within two seconds.
    Healthcheck {
        #[arg(
            long,
            env = "TRAILPIPE_HEALTHCHECK_ADDR",
            default_value = "127.0.0.1:9898"
        )]
        addr: std::net::SocketAddr,
    },
    /// Generate realistic CloudTrail deliveries (S3 key layout, gzip JSON) into a folder.
    Synth {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        accounts: usize,
        #[arg(long, default_value_t = 2)]
        regions: usize,
        #[arg(long, default_value_t = 2)]
        days: u32,
        /// First day, YYYY-MM-DD.
        #[arg(long, default_value = "2024-03-01")]
        start_date: String,
        /// Approximate uncompressed JSON size of the log files, in MB.
        #[arg(long, conflicts_with = "files")]
        target_mb: Option<u64>,
        /// Number of log files.
        #[arg(long)]
        files: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Organization id (o-xxxxxxxxxx): write an organization trail's layout.
        #[arg(long)]
        org_id: Option<String>,
    },
}

/// Lake file sizing, shared by every command that writes a lake.
#[derive(Args, Clone)]
struct LakeArgs {
    /// Seal a partition's Parquet file at about this size (MB).
    #[arg(long, env = "TRAILPIPE_TARGET_FILE_MB", default_value_t = 128)]
    target_file_mb: u64,
    /// Memory budget of the process (MB): 35% of it holds rows not yet written, across
    /// partitions. Over that, the largest buffers are encoded into their partitions' row groups
    /// in progress, which stay open (encoded rows take about a quarter of the memory).
    #[arg(long, env = "TRAILPIPE_MEMORY_BUDGET_MB", default_value_t = 512)]
    memory_budget_mb: u64,
    /// End a partition's row group once its rows have taken this much memory as Arrow arrays
    /// (MB; about 180k CloudTrail records). Large row groups make queries faster: fewer footer
    /// entries and per-group steps per file.
    #[arg(long, env = "TRAILPIPE_ROW_GROUP_MB", default_value_t = 512)]
    row_group_mb: u64,
    /// Commit a file at the latest this long after its first rows arrived (seconds).
    #[arg(long, env = "TRAILPIPE_MAX_FILE_AGE_SECS", default_value_t = 300)]
    max_file_age_secs: u64,
    /// Reject objects whose decompressed size is over this (MB).
    #[arg(long, env = "TRAILPIPE_MAX_OBJECT_MB", default_value_t = 1024)]
    max_object_mb: u64,
    /// zstd level of Parquet pages (2 is faster than 3 and, on CloudTrail, smaller).
    #[arg(long, env = "TRAILPIPE_ZSTD_LEVEL", default_value_t = 2)]
    zstd_level: i32,
}

/// The lake flags at their defaults (or `TRAILPIPE_*` values), for `demo`.
#[derive(Parser)]
struct DefaultLake {
    #[command(flatten)]
    lake: LakeArgs,
}

/// AWS settings shared by the commands that talk to AWS.
#[derive(Args, Clone)]
struct AwsArgs {
    /// Address S3 buckets by path (endpoint/bucket), for S3-compatible endpoints.
    #[arg(long, env = "TRAILPIPE_S3_PATH_STYLE")]
    s3_path_style: bool,
    /// Encrypt lake objects with this KMS key (SSE-KMS); default SSE-S3.
    #[arg(long, env = "TRAILPIPE_SSE_KMS_KEY_ID")]
    sse_kms_key_id: Option<String>,
    /// Local folder for files under construction before upload (S3 lakes).
    #[arg(long, env = "TRAILPIPE_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// How long a claim on an object's rows holds before another writer may take it over
    /// (seconds; default: max file age + 120).
    #[arg(long, env = "TRAILPIPE_CLAIM_TTL_SECS")]
    claim_ttl_secs: Option<u64>,
}

/// Opens the lake named by `lake` (a folder or s3://bucket/prefix) and calls `f` with it.
macro_rules! with_store {
    ($lake:expr, $aws:expr, $s3:expr, |$store:ident| $body:expr) => {{
        match trailpipe_aws::s3::parse_s3_url($lake) {
            Some((bucket, prefix)) => {
                let spool = $aws
                    .spool_dir
                    .clone()
                    .unwrap_or_else(std::env::temp_dir)
                    .join(format!("trailpipe-spool-{}", uuid::Uuid::now_v7().simple()));
                let sse = match &$aws.sse_kms_key_id {
                    Some(k) => trailpipe_aws::s3::Sse::Kms(k.clone()),
                    None => trailpipe_aws::s3::Sse::S3,
                };
                let $store = std::sync::Arc::new(
                    trailpipe_aws::s3::S3Store::new($s3.clone(), &bucket, &prefix, spool, sse)
                        .context("opening the S3 lake")?,
                );
                $body
            }
            None => {
                if $lake.contains("://") {
                    bail!(
                        "--lake must be a folder or s3://bucket/prefix, got {}",
                        $lake
                    );
                }
                let $store = std::sync::Arc::new(
                    trailpipe_lake::LocalStore::open($lake)
                        .with_context(|| format!("opening lake {}", $lake))?,
                );
                $body
            }
        }
    }};
}

impl AwsArgs {
    fn claims(&self, lake: &LakeArgs) -> engine::ClaimSettings {
        let ttl = self.claim_ttl_secs.unwrap_or(lake.max_file_age_secs + 120);
        engine::ClaimSettings {
            writer_id: uuid::Uuid::now_v7().simple().to_string(),
            ttl: Duration::from_secs(ttl),
            margin: Duration::from_secs((ttl.saturating_sub(lake.max_file_age_secs) / 2).max(1)),
        }
    }
}

impl LakeArgs {
    fn engine_config(&self, threads: usize) -> EngineConfig {
        EngineConfig {
            writer: WriterConfig {
                target_file_bytes: self.target_file_mb << 20,
                row_group_bytes: self.row_group_mb << 20,
                // the budget is for the whole process: rows not yet written get 35% of it (and
                // decode-ahead a quarter of that); decoders, encoders and the allocator the rest,
                // which on a 4 GB corpus was measured at 300 MB of a 560 MB peak
                memory_budget: (self.memory_budget_mb << 20) * 35 / 100,
                max_file_age: Duration::from_secs(self.max_file_age_secs),
                zstd_level: self.zstd_level,
                ..WriterConfig::default()
            },
            decode: DecodeOptions {
                max_decompressed: self.max_object_mb << 20,
            },
            claims: None,
            in_flight: threads * 2 + 2,
            commit_queue_bytes: engine::COMMIT_QUEUE_BYTES,
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAILPIPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// glibc keeps freed memory in its heaps, and over a long run the free pages scattered among
/// live blocks add up: peak RSS crept up through a 4 GB ingest, +29% over a 1 GB one
/// (docs/performance.md).
///
/// * A fixed trim threshold (1 MiB) also turns off glibc's dynamic mmap threshold, which
///   otherwise rises to 32 MiB once big blocks are freed, after which big buffers come from the
///   heaps and fragment them. The 4 GB peak fell by a fifth (441-460 to 356-369 MB) for 2-5%
///   more wall time.
/// * Once a second, a background thread hands free pages back to the kernel: about 5% lower.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter (first thing in main, one thread).
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            // SAFETY: malloc_trim only walks the allocator's own free lists.
            unsafe {
                libc::malloc_trim(0);
            }
        })
        .map(drop)
        .unwrap_or_default();
}

fn main() -> Result<()> {
    return_freed_memory();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("decode-{i}"))
        .build_global()
        .context("starting the decoder pool")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let code = runtime.block_on(run(cli.command, threads))?;
    std::process::exit(code)
}

async fn run(command: Command, threads: usize) -> Result<i32> {
    match command {
        Command::Demo { dir, files } => {
            let sample = dir.join("sample");
            let lake = dir.join("lake");
            let cfg = trailpipe_synth::SynthConfig {
                files: Some(files),
                seed: 1,
                ..Default::default()
            };
            let out = sample.clone();
            let s = tokio::task::spawn_blocking(move || trailpipe_synth::generate(&cfg, &out))
                .await
                .context("generator panicked")?
                .context("generating sample deliveries")?;
            println!(
                "generated {} log files ({} records, {:.1} MB JSON) in {}",
                s.log_files,
                s.records,
                s.json_bytes as f64 / 1e6,
                sample.display()
            );
            if lake.exists() {
                // the demo's own lake: start fresh so a second run does not add the rows again
                std::fs::remove_dir_all(&lake)
                    .with_context(|| format!("clearing {}", lake.display()))?;
            }
            let lake_args = DefaultLake::parse_from(["demo"]).lake;
            let summary =
                ingest::ingest(&[sample], &lake, lake_args.engine_config(threads)).await?;
            summary.print();
            let glob = lake.join("cloudtrail/account=*/region=*/date=*/*.parquet");
            println!(
                "\nThe lake is in {lake}. Query it with DuckDB, for example in Python \
                 (python3 -m pip install duckdb):\n\n\
                 import duckdb\n\
                 duckdb.sql(\"SET TimeZone = 'UTC'\")\n\
                 duckdb.sql(\"\"\"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet('{glob}',\n    \
                 hive_partitioning = true, hive_types_autocast = false, union_by_name = true,\n    \
                 hive_types = {{'account': VARCHAR, 'region': VARCHAR, 'date': DATE}})\"\"\")\n\
                 duckdb.sql(\"\"\"SELECT eventSource, eventName, count(*) AS n, count(errorCode) AS errors\n    \
                 FROM cloudtrail WHERE \"date\" = DATE '2024-03-01' GROUP BY ALL ORDER BY n DESC LIMIT 10\"\"\").show()\n\n\
                 or run: python3 scripts/query.py {lake}",
                lake = lake.display(),
                glob = glob.display(),
            );
            Ok(if summary.failures.is_empty() { 0 } else { 1 })
        }
        Command::Ingest {
            paths,
            lake,
            lake_args,
            summary_json,
        } => {
            let summary = ingest::ingest(&paths, &lake, lake_args.engine_config(threads)).await?;
            summary.print();
            if let Some(path) = summary_json {
                std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if summary.failures.is_empty() { 0 } else { 1 })
        }
        Command::Run {
            queue_url,
            lake,
            lake_args,
            aws,
            receivers,
            visibility_timeout_secs,
            max_in_flight,
            fetch_concurrency,
            drain_timeout_secs,
            failure_backoff_secs,
            metrics_addr,
        } => {
            let stop = run::stop_signal().context("installing signal handlers")?;
            let (s3, sqs) = trailpipe_aws::clients(aws.s3_path_style).await;
            let metrics = std::sync::Arc::new(metrics::Metrics::default());
            let health = std::sync::Arc::new(http::Health::default());
            let bound = http::serve(metrics_addr, metrics.clone(), health.clone()).await?;
            tracing::info!(queue = %queue_url, lake = %lake, metrics = %bound, "trailpipe run starting");
            let config = run::RunConfig {
                receivers,
                visibility: Duration::from_secs(visibility_timeout_secs),
                max_in_flight,
                fetch_concurrency,
                drain_timeout: Duration::from_secs(drain_timeout_secs),
                failure_backoff: Duration::from_secs(failure_backoff_secs),
            };
            let mut engine_config = lake_args.engine_config(threads);
            engine_config.claims = Some(aws.claims(&lake_args));
            let queue = trailpipe_aws::sqs::Queue::new(sqs, queue_url);
            with_store!(&lake, aws, s3, |store| {
                engine_config.writer.spool_dir = trailpipe_lake::Store::spool_dir(&*store);
                run::run_daemon(
                    stop,
                    store,
                    s3,
                    queue,
                    config,
                    engine_config,
                    metrics.clone(),
                    health,
                )
                .await?
            });
            println!(
                "{}",
                metrics
                    .render()
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            Ok(0)
        }
        Command::Backfill {
            source,
            lake,
            accounts,
            regions,
            from,
            to,
            org_id,
            dry_run,
            enqueue,
            fetch_concurrency,
            lake_args,
            aws,
            summary_json,
        } => {
            let (bucket, prefix) = trailpipe_aws::s3::parse_s3_url(&source).with_context(|| {
                format!("the source must be s3://bucket[/prefix], got {source}")
            })?;
            let day = |s: &Option<String>, flag: &str| -> Result<Option<trailpipe_record::Date>> {
                s.as_deref()
                    .map(|d| {
                        trailpipe_record::Date::parse(d)
                            .with_context(|| format!("{flag} must be YYYY-MM-DD, got {d:?}"))
                    })
                    .transpose()
            };
            let sel = backfill::Selection {
                bucket,
                prefix,
                accounts,
                regions,
                from: day(&from, "--from")?,
                to: day(&to, "--to")?,
                org_id,
            };
            let (s3, sqs) = trailpipe_aws::clients(aws.s3_path_style).await;
            let queue = enqueue.map(|url| trailpipe_aws::sqs::Queue::new(sqs, url));
            let mut engine_config = lake_args.engine_config(threads);
            engine_config.claims = Some(aws.claims(&lake_args));
            let (summary, plan) = with_store!(&lake, aws, s3, |store| {
                engine_config.writer.spool_dir = trailpipe_lake::Store::spool_dir(&*store);
                backfill::backfill(
                    store,
                    s3,
                    sel,
                    engine_config,
                    dry_run,
                    queue,
                    fetch_concurrency,
                )
                .await?
            });
            println!("{plan}");
            if !dry_run {
                summary.print();
            }
            if let Some(path) = summary_json {
                std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if summary.failures.is_empty() { 0 } else { 1 })
        }
        Command::Healthcheck { addr } => Ok(if http::healthcheck(addr).await { 0 } else { 1 }),
        Command::Synth {
            out,
            accounts,
            regions,
            days,
            start_date,
            target_mb,
            files,
            seed,
            org_id,
        } => {
            if trailpipe_record::Date::parse(&start_date).is_none() {
                bail!("--start-date must be YYYY-MM-DD, got {start_date:?}");
            }
            let cfg = trailpipe_synth::SynthConfig {
                accounts,
                regions,
                days,
                start_date,
                target_bytes: target_mb.map(|mb| mb * 1_000_000),
                files,
                seed,
                org_id,
            };
            let started = std::time::Instant::now();
            let out_dir = out.clone();
            let s = tokio::task::spawn_blocking(move || trailpipe_synth::generate(&cfg, &out_dir))
                .await
                .context("generator panicked")?
                .context("generating deliveries")?;
            println!(
                "wrote {} log files ({} records, {:.1} MB JSON, {:.1} MB gzip), {} insight files ({} records), {} digest files to {} in {:.1}s",
                s.log_files,
                s.records,
                s.json_bytes as f64 / 1e6,
                s.gz_bytes as f64 / 1e6,
                s.insight_files,
                s.insight_records,
                s.digest_files,
                out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(0)
        }
    }
}
