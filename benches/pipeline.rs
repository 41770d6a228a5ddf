//! The end-to-end benchmark: on one synthetic corpus, in one run on one warm machine,
//! the floor (gunzip; gunzip + simd-json tape, on all cores and on one), `trailpipe ingest`
//! (all threads and one), and DuckDB converting the same corpus to the same partitions; then
//! five queries over both lakes (their time, and the bytes DuckDB reads). It also measures how
//! far the machine's cores scale at all (a loop that shares nothing), which bounds every
//! thread-scaling ratio.
//! Each figure is the median of several runs; the report goes to `target/bench-report/`.
//!
//! `cargo build --release -p trailpipe && cargo bench --bench pipeline -- --corpus-mb 1000`
//! Then peak RSS at scale: the corpus at 4x, and an organization trail with a log file for each of
//! 500 accounts x 20 regions (10,000 partitions at once).
//! Options: `--runs N` (3), `--accounts N --regions N --days N` (3, 2, 2), `--seed S`,
//! `--org-accounts N --org-regions N` (500, 20), `--no-scale` (skip the scale runs).
//! Under `cargo test` it runs once on a 3 MB corpus with the debug binary, as a smoke test.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs a command under GNU time: (wall seconds, peak RSS MB, stdout).
fn timed(program: &Path, args: &[&str]) -> (f64, f64, String) {
    let stats = std::env::temp_dir().join(format!("trailpipe-bench-time-{}", std::process::id()));
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o", stats.to_str().unwrap()])
        .arg(program)
        .args(args)
        .env("TRAILPIPE_LOG", "warn")
        .output()
        .expect("running /usr/bin/time");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&stats).unwrap();
    let last = text.lines().last().unwrap_or("0 0").to_string();
    let mut it = last.split_whitespace();
    let wall: f64 = it.next().unwrap().parse().unwrap();
    let rss_kb: f64 = it.next().unwrap().parse().unwrap();
    (
        wall,
        rss_kb / 1024.0,
        String::from_utf8_lossy(&out.stdout).into(),
    )
}

fn dir_bytes(dir: &Path, ext: &str) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(ext) {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains("/CloudTrail/") {
                out.push(p);
            }
        }
    }
    out
}

/// A synthetic corpus under `target/`, generated once and kept (`.complete` marks a whole one).
fn corpus(target: &Path, name: &str, cfg: &trailpipe_synth::SynthConfig) -> PathBuf {
    let dir = target.join(name);
    if !dir.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let s = trailpipe_synth::generate(cfg, &dir).expect("generating a corpus");
        std::fs::write(dir.join(".complete"), format!("{s:?}")).unwrap();
    }
    dir
}

/// The medians of `runs` ingests of one corpus into fresh lakes, and what the last one wrote.
struct Ingest {
    wall: f64,
    rss_mb: f64,
    records: u64,
    json_mb: f64,
    parquet_bytes: u64,
    parquet_files: u64,
    /// Folders holding Parquet files: the account/region/date partitions written.
    partitions: usize,
}

/// Runs `trailpipe ingest` `runs` times; the lake of the last run is kept at `<out>/<tag>-<last>`.
fn ingest(bin: &Path, corpus: &Path, out: &Path, tag: &str, threads: usize, runs: usize) -> Ingest {
    let (mut walls, mut rss) = (Vec::new(), Vec::new());
    let mut last = None;
    for run in 0..runs {
        let lake = out.join(format!("{tag}-{run}"));
        let summary = out.join(format!("summary-{tag}-{run}.json"));
        let (wall, peak, _) = timed(
            bin,
            &[
                "ingest",
                corpus.join("AWSLogs").to_str().unwrap(),
                "--lake",
                lake.to_str().unwrap(),
                "--threads",
                &threads.to_string(),
                "--summary-json",
                summary.to_str().unwrap(),
            ],
        );
        let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
        assert_eq!(s["objects_failed"], 0, "{}: {s}", corpus.display());
        walls.push(wall);
        rss.push(peak);
        last = Some((lake, s));
    }
    // Deleted only now: ext4 skips inodes freed in the last minutes when it allocates new
    // ones, so creating the next run's 10,000 files right after deleting the last run's
    // cost that run several seconds of system time.
    for run in 0..runs.saturating_sub(1) {
        let _ = std::fs::remove_dir_all(out.join(format!("{tag}-{run}")));
    }
    let (lake, s) = last.expect("at least one run");
    let table = lake.join("cloudtrail");
    Ingest {
        wall: median(walls),
        rss_mb: median(rss),
        records: s["records"].as_u64().unwrap(),
        json_mb: s["json_bytes"].as_u64().unwrap() as f64 / 1e6,
        parquet_bytes: dir_bytes(&table, ".parquet"),
        parquet_files: s["files_written"].as_u64().unwrap(),
        partitions: parquet_dirs(&table),
    }
}

fn parquet_dirs(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut here = false;
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".parquet") {
                here = true;
            }
        }
        n += usize::from(here);
    }
    n
}

/// Peak RSS as the input grows (`big`: the corpus at 4x its target size) and as partitions
/// multiply (an organization trail with one log file per account/region, so every pair is a
/// partition), against `base`.
#[allow(clippy::too_many_arguments)]
fn scale_section(
    base: &Ingest,
    big: &Path,
    bin: &Path,
    out: &Path,
    threads: usize,
    runs: usize,
    target: &Path,
    full: bool,
) -> String {
    let (org_accounts, org_regions) = (
        arg("--org-accounts").unwrap_or(if full { 500 } else { 10 }) as usize,
        arg("--org-regions").unwrap_or(if full { 20 } else { 5 }) as usize,
    );
    let big = ingest(bin, big, out, "scale-4x", threads, runs);
    let _ = std::fs::remove_dir_all(out.join(format!("scale-4x-{}", runs - 1)));
    let pairs = org_accounts * org_regions;
    let cfg = trailpipe_synth::SynthConfig {
        accounts: org_accounts,
        regions: org_regions,
        days: 1,
        files: Some(pairs),
        org_id: Some("o-a1b2c3d4e5".into()),
        seed: 1,
        ..Default::default()
    };
    let org_corpus = corpus(
        target,
        &format!("bench-corpus-org-{org_accounts}a{org_regions}r1d-{pairs}f"),
        &cfg,
    );
    let org = ingest(bin, &org_corpus, out, "scale-org", threads, runs);
    let _ = std::fs::remove_dir_all(out.join(format!("scale-org-{}", runs - 1)));
    let mut s = format!(
        "\n### Memory at scale ({threads} threads, median of {runs} runs)\n\n\
         | corpus | JSON | records | MB/s | peak RSS | Parquet files | partitions |\n|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for (name, r) in [
        ("the corpus above".to_string(), base),
        (
            "4x the target size: the same accounts, regions and days".to_string(),
            &big,
        ),
        (
            format!("organization trail: {org_accounts} accounts x {org_regions} regions x 1 day, one log file each"),
            &org,
        ),
    ] {
        s.push_str(&format!(
            "| {name} | {:.0} MB | {} | {:.0} | {:.0} MB | {} | {} |\n",
            r.json_mb,
            r.records,
            r.json_mb / r.wall,
            r.rss_mb,
            r.parquet_files,
            r.partitions
        ));
    }
    s.push_str(&format!(
        "\nPeak RSS 4x/1x **{:.2}**; {pairs} account/region pairs ({} account/region/date partitions, {} Parquet files)/1x **{:.2}**.\n",
        big.rss_mb / base.rss_mb,
        org.partitions,
        org.parquet_files,
        org.rss_mb / base.rss_mb
    ));
    assert!(big.records > base.records && org.partitions >= pairs);
    s
}

struct Row {
    name: String,
    mb_s: f64,
    rec_s: f64,
    rss_mb: Option<f64>,
    out_mb: Option<f64>,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let corpus_mb = arg("--corpus-mb").unwrap_or(if full { 1000 } else { 3 });
    let runs = arg("--runs").unwrap_or(if full { 3 } else { 1 }) as usize;
    let accounts = arg("--accounts").unwrap_or(3) as usize;
    let regions = arg("--regions").unwrap_or(2) as usize;
    let days = arg("--days").unwrap_or(2) as u32;
    let seed = arg("--seed").unwrap_or(1);
    let no_scale = std::env::args().any(|a| a == "--no-scale");
    let threads = rayon::current_num_threads();
    let target = repo().join("target");
    let profile = if full { "release" } else { "debug" };
    let bin = std::env::var_os("TRAILPIPE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join(profile).join("trailpipe"));
    assert!(
        bin.exists(),
        "{} is missing: cargo build {}-p trailpipe",
        bin.display(),
        if full { "--release " } else { "" }
    );
    let python = std::env::var_os("TRAILPIPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: scripts/test creates the virtualenv with duckdb",
        python.display()
    );

    let sized = |mb: u64| {
        let cfg = trailpipe_synth::SynthConfig {
            accounts,
            regions,
            days,
            target_bytes: Some(mb * 1_000_000),
            seed,
            ..Default::default()
        };
        let name = format!("bench-corpus-{mb}mb-{accounts}a{regions}r{days}d-s{seed}");
        corpus(&target, &name, &cfg)
    };
    let corpus = sized(corpus_mb);
    let files = log_files(&corpus);
    let objects: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let gz_bytes: u64 = objects.iter().map(|o| o.len() as u64).sum();

    // floor 1: gunzip only; floor 2: gunzip + simd-json tape
    let gunzip = |parse: bool| -> (f64, u64) {
        let t = Instant::now();
        let bytes: u64 = objects
            .par_iter()
            .map_init(
                || (Vec::new(), simd_json::Buffers::default()),
                |(buf, buffers), gz| {
                    buf.clear();
                    flate2::read::MultiGzDecoder::new(&gz[..])
                        .read_to_end(buf)
                        .unwrap();
                    let n = buf.len();
                    if parse {
                        buf.resize(n + simd_json::INPUT_PADDING, 0);
                        let mut tape = simd_json::Tape::null();
                        simd_json::fill_tape_padded(buf, n, buffers, &mut tape).unwrap();
                        std::hint::black_box(tape.0.len());
                    }
                    n as u64
                },
            )
            .sum();
        (t.elapsed().as_secs_f64(), bytes)
    };
    let json_bytes = gunzip(false).1;
    let json_mb = json_bytes as f64 / 1e6;
    let floor_gz = median((0..runs.max(3)).map(|_| gunzip(false).0).collect());
    let floor_parse = median((0..runs.max(3)).map(|_| gunzip(true).0).collect());

    // What this machine gives two threads at all: the same in-cache loop on 1 thread, then on
    // every thread at once. Virtual CPUs that share a physical core (or a host's load) scale
    // below `threads`x even for work that shares nothing, which bounds every ratio below.
    let rounds = if full { 20_000 } else { 50 };
    let spin = |n: usize| -> f64 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    let buf = vec![1u8; 16 << 10];
                    let mut h = 0u64;
                    for _ in 0..rounds {
                        for &b in std::hint::black_box(&buf).iter() {
                            h = h.wrapping_mul(31).wrapping_add(b as u64);
                        }
                    }
                    std::hint::black_box(h);
                });
            }
        });
        t.elapsed().as_secs_f64()
    };
    let machine_scaling = median(
        (0..5)
            .map(|_| threads as f64 * spin(1) / spin(threads))
            .collect(),
    );
    let floor_parse_1t = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map(|pool| {
            median(
                (0..runs.max(3))
                    .map(|_| pool.install(|| gunzip(true).0))
                    .collect(),
            )
        })
        .unwrap_or(f64::NAN);

    // trailpipe ingest, all threads and one thread
    let out_root = target.join("bench-out");
    let _ = std::fs::remove_dir_all(&out_root);
    let tp = ingest(&bin, &corpus, &out_root, "trailpipe-all", threads, runs);
    let (records, tp_wall, tp_rss, tp_bytes) = (tp.records, tp.wall, tp.rss_mb, tp.parquet_bytes);
    let (tp1_wall, tp1_rss) = if threads > 1 {
        let one = ingest(&bin, &corpus, &out_root, "trailpipe-1t", 1, runs);
        let _ = std::fs::remove_dir_all(out_root.join(format!("trailpipe-1t-{}", runs - 1)));
        (one.wall, one.rss_mb)
    } else {
        (tp_wall, tp_rss)
    };

    // DuckDB, same threads
    let script = repo().join("benches/support/duckdb_convert.py");
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    let mut duck_records = 0;
    let mut duck_bytes = 0;
    for run in 0..runs {
        let out = out_root.join(format!("duckdb-{run}"));
        std::fs::create_dir_all(&out).unwrap();
        let (wall, peak, stdout) = timed(
            &python,
            &[
                script.to_str().unwrap(),
                corpus.to_str().unwrap(),
                out.to_str().unwrap(),
                &threads.to_string(),
            ],
        );
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        duck_records = v["records"].as_u64().unwrap();
        duck_bytes = dir_bytes(&out, ".parquet");
        walls.push(wall);
        rss.push(peak);
    }
    let (duck_wall, duck_rss) = (median(walls), median(rss));

    // queries over both lakes
    let queries = Command::new(&python)
        .arg(repo().join("benches/support/queries.py"))
        .arg(runs.max(3).to_string())
        .arg(out_root.join(format!("trailpipe-all-{}", runs - 1)))
        .arg(out_root.join(format!("duckdb-{}", runs - 1)))
        .output()
        .unwrap();
    assert!(
        queries.status.success(),
        "queries failed: {}",
        String::from_utf8_lossy(&queries.stderr)
    );
    let queries: Value = serde_json::from_slice(&queries.stdout).unwrap();

    let rows = [
        Row {
            name: format!("floor: gunzip (zlib-rs, {threads} threads)"),
            mb_s: json_mb / floor_gz,
            rec_s: f64::NAN,
            rss_mb: None,
            out_mb: None,
        },
        Row {
            name: format!("floor: gunzip + simd-json tape ({threads} threads)"),
            mb_s: json_mb / floor_parse,
            rec_s: f64::NAN,
            rss_mb: None,
            out_mb: None,
        },
        Row {
            name: "floor: gunzip + simd-json tape (1 thread)".into(),
            mb_s: json_mb / floor_parse_1t,
            rec_s: f64::NAN,
            rss_mb: None,
            out_mb: None,
        },
        Row {
            name: format!("trailpipe ingest ({threads} threads)"),
            mb_s: json_mb / tp_wall,
            rec_s: records as f64 / tp_wall,
            rss_mb: Some(tp_rss),
            out_mb: Some(tp_bytes as f64 / 1e6),
        },
        Row {
            name: "trailpipe ingest (1 thread)".into(),
            mb_s: json_mb / tp1_wall,
            rec_s: records as f64 / tp1_wall,
            rss_mb: Some(tp1_rss),
            out_mb: None,
        },
        Row {
            name: format!("DuckDB {threads} threads (read_json + COPY PARTITION_BY)"),
            mb_s: json_mb / duck_wall,
            rec_s: duck_records as f64 / duck_wall,
            rss_mb: Some(duck_rss),
            out_mb: Some(duck_bytes as f64 / 1e6),
        },
    ];
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mut report = format!(
        "Corpus: {} log files, {records} records, {json_mb:.0} MB JSON ({:.0} MB gzip); {accounts} accounts x {regions} regions x {days} days, seed {seed}.\n\
         Machine: {threads} cores, {cpu}. Median of {runs} runs (floors: {}).\n\n\
         | run | MB/s (JSON) | records/s | peak RSS | Parquet out |\n|---|---:|---:|---:|---:|\n",
        files.len(), gz_bytes as f64 / 1e6, runs.max(3)
    );
    for r in &rows {
        report.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} |\n",
            r.name,
            r.mb_s,
            if r.rec_s.is_nan() {
                "".into()
            } else {
                format!("{:.0}", r.rec_s)
            },
            r.rss_mb.map(|m| format!("{m:.0} MB")).unwrap_or_default(),
            r.out_mb.map(|m| format!("{m:.1} MB")).unwrap_or_default(),
        ));
    }
    report.push_str(&format!(
        "\nRatios: trailpipe/DuckDB throughput **{:.2}x**, trailpipe/floor (gunzip+parse) **{:.0}%**, 2 threads/1 thread **{:.2}x**, \
         peak RSS trailpipe/DuckDB {:.2}, lake size trailpipe/DuckDB {:.2}. Rows: trailpipe {records}, DuckDB {duck_records} (DuckDB reads only CloudTrail/ log files; trailpipe also ingests the Insights files and skips digests).\n",
        duck_wall / tp_wall, floor_parse / tp_wall * 100.0, tp1_wall / tp_wall, tp_rss / duck_rss, tp_bytes as f64 / duck_bytes.max(1) as f64
    ));
    report.push_str(&format!(
        "\n{threads} threads/1 thread: trailpipe ingest **{:.2}x**, the floor (gunzip + parse) {:.2}x, and this machine's ceiling **{machine_scaling:.2}x** \
         (one in-cache loop per thread, sharing nothing: what {threads} threads get here at best).\n",
        tp1_wall / tp_wall,
        floor_parse_1t / floor_parse,
    ));
    report.push_str(
        "\n| query | trailpipe lake | DuckDB lake | rows | read from trailpipe lake | read from DuckDB lake |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for q in queries["queries"].as_array().unwrap() {
        // a figure queries.py did not give is an error, not 0 MB in the report
        let mb = |k: &str| q[k].as_f64().expect("queries.py reports the bytes read") / 1e6;
        report.push_str(&format!(
            "| {} | {:.1} ms | {:.1} ms | {} / {} | {:.2} MB | {:.2} MB |\n",
            q["name"].as_str().unwrap(),
            q["a_ms"].as_f64().unwrap(),
            q["b_ms"].as_f64().unwrap(),
            q["a_rows"],
            q["b_rows"],
            mb("a_read"),
            mb("b_read"),
        ));
    }
    let layout = |tag: &str| {
        let l = &queries["layout"][tag];
        format!(
            "{} files, {} row groups, {:.0} KB of footers",
            l["files"],
            l["row_groups"],
            l["footer_bytes"].as_f64().unwrap_or(0.0) / 1e3
        )
    };
    report.push_str(&format!(
        "\nLakes as queried: trailpipe {}; DuckDB {}.\n",
        layout("a"),
        layout("b")
    ));
    if !no_scale {
        let big = sized(4 * corpus_mb);
        report.push_str(&scale_section(
            &tp, &big, &bin, &out_root, threads, runs, &target, full,
        ));
    }
    println!("{report}");
    let dir = target.join("bench-report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("pipeline-{corpus_mb}mb-{accounts}a{regions}r.md")),
        &report,
    )
    .unwrap();
    assert!(records > 0 && duck_records > 0);
}
