# netmon-server image, as deploy/kubernetes/server and the Helm chart
# (server.enabled) run it:
#   docker build -f deploy/netmon-server.Dockerfile -t ghcr.io/netmon/netmon-server:0.1.0 .
# Build context: the repository root. No clang or protoc needed: the
# protobuf schema is compiled in Rust (protox) by crates/netmon-proto.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p netmon-server \
    && mkdir -p /out \
    && strip --strip-debug -o /out/netmon-server target/release/netmon-server

# glibc and libgcc only (TLS is rustls); no shell, no package manager.
# Runs as the image's nonroot user (65532): the server needs no privilege,
# only its spool directory, which the pod mounts writable for that group.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/netmon-server /usr/local/bin/netmon-server
ENTRYPOINT ["/usr/local/bin/netmon-server"]
