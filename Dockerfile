# Static cfgeo binary on a minimal, shell-less base, running as a non-root user. The root
# filesystem can be read-only: cfgeo writes nothing to disk (the chart sets
# readOnlyRootFilesystem).
# Build: docker build -t cfgeo .   (scripts/check-dockerfile.sh checks the build context here,
# where no Docker engine runs.)
FROM rust:1.95-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl && apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The status map's coastline, compiled in (src/status/land.rs).
COPY assets ./assets
# Cargo.toml declares the benchmarks and the workspace's dev-only crate (crates/fake-kube), so
# their files must exist for the manifest to parse; neither is built into the binary.
COPY benches ./benches
COPY crates ./crates
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin cfgeo

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/cfgeo /cfgeo
USER 65532:65532
ENTRYPOINT ["/cfgeo"]
CMD ["run"]
