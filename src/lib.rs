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
pub mod codec;
pub mod engine;
pub mod error;
pub mod manifest;
pub mod plan;
pub mod restore;
pub mod store;
pub mod tls;
pub mod verify;

pub use error::{Error, Result};
