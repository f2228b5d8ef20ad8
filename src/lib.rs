//! streamdump: logical backups of PostgreSQL that stream from the database through zstd and
//! SHA-256 straight into S3 (or local files), and verified restores back.
//!
//! Backup flows one way:
//! `plan` (validated request) -> [`engine::Source`] (one consistent snapshot: DDL, then rows)
//! -> [`codec`] (zstd + SHA-256 of raw and stored bytes) -> [`store`] (multipart upload, bounded
//! parts in flight) -> [`manifest`] (written last: the commit point). See [`backup`].
//!
//! Restore is the reverse: manifest -> store stream -> verifying decoder -> [`engine::Target`]
//! (pre-data DDL, each chunk in its own transaction, sequences, post-data, ANALYZE). See
//! [`restore`]. Only `backup` and `restore` touch more than one of engine, codec, store and
//! manifest.

pub mod backup;
pub mod buffers;
pub mod codec;
pub mod engine;
pub mod error;
pub mod lambda;
pub mod manifest;
pub mod plan;
pub mod restore;
pub mod store;
pub mod tls;
pub mod verify;

pub use error::{Error, Result};

/// Serve every allocation of 1 MiB or more (part buffers) with its own mapping, returned to the OS
/// when freed. By default glibc raises its mmap threshold after the first large free, and part
/// buffers then land in per-thread arenas that keep freed memory: peak RSS of a backup crept from
/// 47 to 73 MiB between a 0.4 GB and a 1.4 GB database; with the fixed threshold it is 39 MiB for
/// both. (mimalloc was tried: 168-181 MiB.)
pub fn bound_allocator_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; binaries call it first thing in
    // main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
