//! Criterion micro-benchmarks of each stage of the hot path, on generated data held in memory:
//! gunzip; JSON parse (simd-json tape); decode (tape → Arrow batches by partition); Parquet
//! encoding (LakeWriter: row groups, zstd, statistics). Throughput is per uncompressed JSON byte.
//! Decoding and encoding run twice: one object at a time (a batch per object), and in groups of
//! about 256 KB of gzip as `ingest` submits them (a batch per group and partition).

use std::io::Read;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trailpipe_record::{DecodeOptions, Decoded, Decoder};

fn corpus() -> Vec<Vec<u8>> {
    let cfg = trailpipe_synth::SynthConfig {
        target_bytes: Some(16_000_000),
        seed: 5,
        ..Default::default()
    };
    let mut out = Vec::new();
    trailpipe_synth::generate_with(&cfg, |key, gz| {
        if key.contains("/CloudTrail/") {
            out.push(gz.to_vec());
        }
        Ok(())
    })
    .expect("generating");
    out
}

fn gunzip(gz: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(buf)
        .expect("gzip");
}

fn stages(c: &mut Criterion) {
    let objects = corpus();
    let jsons: Vec<Vec<u8>> = objects
        .iter()
        .map(|o| {
            let mut b = Vec::new();
            gunzip(o, &mut b);
            b
        })
        .collect();
    let json_bytes: u64 = jsons.iter().map(|j| j.len() as u64).sum();
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(json_bytes));
    g.sample_size(10);

    g.bench_function("gunzip", |b| {
        let mut buf = Vec::new();
        b.iter(|| objects.iter().for_each(|o| gunzip(o, &mut buf)))
    });
    g.bench_function("parse_tape", |b| {
        let mut buffers = simd_json::Buffers::default();
        let mut buf = Vec::new();
        b.iter(|| {
            for j in &jsons {
                buf.clear();
                buf.extend_from_slice(j);
                let n = buf.len();
                buf.resize(n + simd_json::INPUT_PADDING, 0);
                let mut tape = simd_json::Tape::null();
                simd_json::fill_tape_padded(&mut buf, n, &mut buffers, &mut tape).expect("json");
                std::hint::black_box(tape.0.len());
            }
        })
    });
    g.bench_function("decode_to_arrow", |b| {
        let mut d = Decoder::new(DecodeOptions::default());
        b.iter(|| {
            for j in &jsons {
                std::hint::black_box(d.decode(j).expect("decodes"));
            }
        })
    });
    // the groups `ingest` makes: consecutive objects, about 256 KB of gzip each
    let mut groups: Vec<Vec<&[u8]>> = vec![Vec::new()];
    let mut bytes = 0;
    for (o, j) in objects.iter().zip(&jsons) {
        if bytes + o.len() > 256 << 10 && !groups[groups.len() - 1].is_empty() {
            groups.push(Vec::new());
            bytes = 0;
        }
        bytes += o.len();
        let last = groups.len() - 1;
        groups[last].push(j);
    }
    g.bench_function("decode_to_arrow_grouped", |b| {
        let mut d = Decoder::new(DecodeOptions::default());
        b.iter(|| {
            for group in &groups {
                for j in group {
                    std::hint::black_box(d.add(j).expect("decodes"));
                }
                std::hint::black_box(d.take_rows().expect("rows"));
            }
        })
    });
    let mut d = Decoder::new(DecodeOptions::default());
    let batches: Vec<_> = jsons
        .iter()
        .flat_map(|j| match d.decode(j).expect("decodes") {
            Decoded::Records(r) => r.partitions,
            Decoded::Digest => Vec::new(),
        })
        .collect();
    let grouped: Vec<_> = groups
        .iter()
        .flat_map(|group| {
            for j in group {
                d.add(j).expect("decodes");
            }
            d.take_rows().expect("rows")
        })
        .collect();
    for (name, batches) in [
        ("encode_parquet", &batches),
        ("encode_parquet_grouped", &grouped),
    ] {
        g.bench_function(name, |b| {
            let spool =
                std::env::temp_dir().join(format!("trailpipe-bench-{}", std::process::id()));
            b.iter(|| {
                let mut w = trailpipe_lake::LakeWriter::new(trailpipe_lake::WriterConfig {
                    spool_dir: spool.clone(),
                    ..Default::default()
                })
                .expect("writer");
                for p in batches.iter() {
                    w.append(&p.key, p.batch.clone(), 0, "bench", None)
                        .expect("append");
                }
                for f in w.seal_all().expect("seal") {
                    let _ = std::fs::remove_file(f.temp);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
