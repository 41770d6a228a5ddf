fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(&args[1]);
    let mut cfg = trailpipe_synth::SynthConfig::default();
    if let Some(t) = args.get(2) {
        cfg.target_bytes = Some(t.parse().unwrap());
    }
    let t0 = std::time::Instant::now();
    let s = trailpipe_synth::generate(&cfg, &out).unwrap();
    eprintln!("{:?} in {:?}", s, t0.elapsed());
}
