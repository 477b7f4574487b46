//! Compiles bpf/netmon.bpf.c with Debian's clang-19 into OUT_DIR. The object
//! uses CO-RE (bpf/kernel_types.h), so it does not depend on the build
//! host's kernel headers beyond the stable UAPI ones.

use std::{env, path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let bpf_dir = manifest
        .join("../../bpf")
        .canonicalize()
        .context("bpf/ folder")?;
    let out = PathBuf::from(env::var("OUT_DIR")?).join("netmon.bpf.o");
    let clang = env::var("NETMON_CLANG").unwrap_or_else(|_| "clang-19".to_string());

    for entry in std::fs::read_dir(&bpf_dir)? {
        println!("cargo:rerun-if-changed={}", entry?.path().display());
    }
    println!("cargo:rerun-if-env-changed=NETMON_CLANG");

    let arch_include = format!("/usr/include/{}-linux-gnu", target_multiarch());
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror"])
        .arg(format!("-D__TARGET_ARCH_{}", bpf_target_arch()))
        .arg(format!("-I{arch_include}"))
        .arg("-c")
        .arg(bpf_dir.join("netmon.bpf.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .with_context(|| {
            format!("running {clang}: install it with scripts/setup.sh (apt-get install clang-19 libbpf-dev)")
        })?;
    if !status.success() {
        bail!("{clang} failed to compile bpf/netmon.bpf.c ({status})");
    }
    Ok(())
}

fn target_multiarch() -> &'static str {
    match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "aarch64",
        _ => "x86_64",
    }
}

fn bpf_target_arch() -> &'static str {
    match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "arm64",
        _ => "x86",
    }
}
