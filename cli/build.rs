//! Link settings for the `haggle` binary.
//!
//! On x86-64 Linux with glibc the binary is linked with packed relative relocations (DT_RELR):
//! a position-independent executable carries one dynamic relocation for every pointer in its
//! tables (vtables, string tables, ...), 1.5 MB of the release binary in 24-byte entries, which
//! packed take a few kilobytes. Address randomisation stays; start-up does less work. GNU ld
//! 2.38 and lld 15 know the option, and the result needs glibc 2.36 or later to run, so it is
//! used only when the C library this build links against says it supports the format (its
//! `GLIBC_ABI_DT_RELR` version); elsewhere the binary is linked as before.

use std::path::Path;

/// Where distributions keep the 64-bit C library.
const LIBC: [&str; 4] = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // A C library upgraded (or replaced by one without DT_RELR) decides again. Only paths that
    // exist: cargo reruns a script on every build for one that names a missing file.
    for path in LIBC.iter().filter(|path| Path::new(path).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("TARGET") == var("HOST");
    let glibc_x86_64 = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64";
    if native && glibc_x86_64 && LIBC.iter().any(|path| knows_relr(Path::new(path))) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C library at `path` defines the version that marks DT_RELR support.
fn knows_relr(path: &Path) -> bool {
    const MARK: &[u8] = b"GLIBC_ABI_DT_RELR";
    std::fs::read(path).is_ok_and(|bytes| bytes.windows(MARK.len()).any(|w| w == MARK))
}
