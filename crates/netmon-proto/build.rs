//! Compiles `proto/netmon/flows/v1/flows.proto` (at the repository root,
//! the schema's one home) into Rust types and the gRPC service.
//!
//! protox parses the .proto in Rust, so building needs no `protoc` on the
//! host or in the image build.

use std::path::PathBuf;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let schema = proto_root.join("netmon/flows/v1/flows.proto");
    println!("cargo:rerun-if-changed={}", schema.display());

    let descriptors = protox::compile([&schema], [&proto_root])
        .with_context(|| format!("compiling {}", schema.display()))?;
    tonic_prost_build::configure()
        // Callers build their own channel (TLS, timeouts), so the generated
        // `connect` helper, which would pull in tonic's transport, is left out.
        .build_transport(false)
        .compile_fds(descriptors)
        .context("generating Rust code for the flow schema")?;
    Ok(())
}
