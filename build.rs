//! Link options for the shipped binary, which profiles cannot set. Its size
//! has a target (25 MB, docs/decisions.md): relative relocations packed
//! (RELR: 1.1 MB of `.rela.dyn` becomes kilobytes, the binary stays
//! position-independent; glibc ≥ 2.36, as in Debian 12) and identical
//! functions folded into one (generic code instantiated alike for
//! different types).

fn main() {
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    // Where rustc links with its own LLD by default (Rust 1.90 and later).
    let lld = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64");
    if release && lld {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}
