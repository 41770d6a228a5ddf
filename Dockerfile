# syntax=docker/dockerfile:1
# trailpipe container image: cargo-chef build stages, distroless runtime (glibc + CA roots, no shell).
#
#   docker buildx build --platform linux/amd64 -t trailpipe:dev .     # RuntimePlatform X86_64
#   docker buildx build --platform linux/arm64 -t trailpipe:dev .     # RuntimePlatform ARM64
#
# The --platform must match the task definition's RuntimePlatform.CpuArchitecture (deploy/cfn/trailpipe.yaml).
# Lint: deploy/validate.sh (hadolint + checkov). See deploy/README.md.

# ---- chef: pinned toolchain + cargo-chef ---------------------------------------------------------
FROM rust:1.95-bookworm AS chef
WORKDIR /src
# Identical for cook and build, or the cooked dependencies are not reused. Debug info is stripped
# from the shipped binary (symbols stay, so backtraces still name functions).
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
RUN cargo install cargo-chef --locked --version 0.1.77

# ---- planner: the dependency recipe (changes only when manifests or Cargo.lock change) -----------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- builder: cook dependencies (cached layer), then build the workspace binary ------------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --package trailpipe --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package trailpipe --bin trailpipe \
 && install -D -m 0755 target/release/trailpipe /out/trailpipe \
 && install -d -m 0750 -o 65532 -g 65532 /out/spool

# ---- runtime: distroless cc (glibc, libgcc, CA certificates, uid 65532 "nonroot") ---------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="trailpipe" \
      org.opencontainers.image.description="CloudTrail deliveries to a Hive-partitioned Parquet lake" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/trailpipe /trailpipe
# Spool directory owned by the runtime user. ECS copies a VOLUME path's contents and ownership
# into the task's bind-mount volume of the same containerPath, so it stays writable under a
# read-only root file system.
COPY --from=builder --chown=65532:65532 /out/spool /spool
ENV TRAILPIPE_METRICS_ADDR=0.0.0.0:9898 \
    TRAILPIPE_SPOOL_DIR=/spool
VOLUME ["/spool", "/tmp"]
EXPOSE 9898
USER 65532:65532
# For local `docker run` only: ECS ignores image health checks and uses the task definition's.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/trailpipe", "healthcheck"]
# trailpipe is PID 1 here: it handles SIGTERM itself (ECS also sets initProcessEnabled).
ENTRYPOINT ["/trailpipe"]
CMD ["run"]
