//! Local store: objects as files below a root directory, with S3's all-or-nothing visibility.
//!
//! Every write goes to a hidden staging file beside its target (`.<name>.<random>.partial`), is
//! fsynced, and is then renamed into place, so a reader sees either no object or the whole of it,
//! never a prefix. A multipart upload writes each part at its offset in the staging file, so parts
//! in flight may finish in any order; `abort`, or dropping an upload that was never completed,
//! removes the staging file, and `list` skips staging files, so an unfinished upload is invisible.
//!
//! File I/O uses blocking `std::fs` calls on Tokio's blocking pool: positional writes
//! (`write_all_at`) have no async equivalent, and one thread hop per part or per small object costs
//! nothing next to the write itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use tokio_util::io::ReaderStream;

use super::*;

/// Reads from a local object are this large: big enough to keep syscalls few, small enough that a
/// reader decoding as it goes holds little memory.
const READ_CHUNK: usize = 64 * 1024;

/// A [`Store`] in a local directory, rooted at `file:///dir`.
#[derive(Debug)]
pub struct LocalStore {
    location: Location,
    root: PathBuf,
}

impl LocalStore {
    /// Open the store at a `file://` location. The directory need not exist yet: it is created
    /// with the first object written into it.
    pub async fn open(location: Location) -> Result<Self> {
        let Location::Local { path } = &location else {
            return Err(Error::invalid(
                format!("location '{location}'"),
                "a local store needs a file:// URL",
            ));
        };
        match tokio::fs::metadata(path).await {
            Ok(meta) if !meta.is_dir() => {
                return Err(Error::invalid(
                    format!("location '{location}'"),
                    "exists and is not a directory",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("opening {location}"), e)),
        }
        Ok(LocalStore { root: path.clone(), location })
    }

    /// The file holding `key`, after checking it stays below the root.
    fn path_of(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl Store for LocalStore {
    fn location(&self) -> &Location {
        &self.location
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        let target = self.path_of(key)?;
        blocking(move || {
            let (file, staging) = create_staging(&target)?;
            let written = (&file).write_all(&body).and_then(|()| file.sync_all());
            drop(file);
            publish(written, &staging, &target)
        })
        .await
        .map_err(|e| Error::io(format!("writing {}", self.url(key)), e))
    }

    async fn start_upload(&self, key: &str) -> Result<Box<dyn Upload>> {
        let target = self.path_of(key)?;
        let url = self.url(key);
        let (file, staging) = blocking({
            let target = target.clone();
            move || create_staging(&target)
        })
        .await
        .map_err(|e| Error::io(format!("starting upload of {url}"), e))?;
        Ok(Box::new(LocalUpload {
            file: Arc::new(file),
            staging,
            target,
            url,
            next_offset: 0,
            next_part: 1,
            finished: false,
        }))
    }

    async fn get(&self, key: &str) -> Result<ByteStream> {
        let path = self.path_of(key)?;
        let url = self.url(key);
        let not_found = || Error::NotFound { key: url.clone() };
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Err(not_found()),
            Err(e) => return Err(Error::io(format!("opening {url}"), e)),
        };
        let meta = file.metadata().await.map_err(|e| Error::io(format!("opening {url}"), e))?;
        if !meta.is_file() {
            return Err(not_found());
        }
        let stream = ReaderStream::with_capacity(file, READ_CHUNK)
            .map(move |chunk| chunk.map_err(|e| Error::io(format!("reading {url}"), e)));
        Ok(Box::pin(stream))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let owned_prefix = prefix.to_string();
        blocking(move || {
            // Only the directory named by the prefix's complete segments can hold matches.
            let start = owned_prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
            let mut keys = Vec::new();
            walk(&root.join(start), start, &owned_prefix, &mut keys)?;
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| Error::io(format!("listing {}", self.url(prefix)), e))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(Error::io(format!("deleting {}", self.url(key)), e)),
        }
    }
}

/// One object being written in parts into its staging file.
struct LocalUpload {
    /// Shared with the part writes in flight; the only reference once they are done.
    file: Arc<File>,
    staging: PathBuf,
    target: PathBuf,
    /// The object's `file://` URL, for errors.
    url: String,
    /// Where the next part goes: the sum of the sizes of the parts before it.
    next_offset: u64,
    next_part: u64,
    /// Completed or aborted: the staging file is gone or renamed.
    finished: bool,
}

#[async_trait]
impl Upload for LocalUpload {
    fn put_part(&mut self, data: Bytes) -> UploadPart {
        // The offset is fixed now, in call order, so the writes themselves may run in any order.
        let offset = self.next_offset;
        self.next_offset += data.len() as u64;
        let part = self.next_part;
        self.next_part += 1;
        let file = Arc::clone(&self.file);
        let url = self.url.clone();
        Box::pin(async move {
            blocking(move || file.write_all_at(&data, offset))
                .await
                .map_err(|e| Error::io(format!("writing part {part} of {url}"), e))
        })
    }

    async fn complete(&mut self) -> Result<()> {
        if self.finished {
            return Err(Error::store(&self.url, "upload already completed or aborted"));
        }
        if Arc::strong_count(&self.file) > 1 {
            return Err(Error::store(
                &self.url,
                "cannot complete while parts are still being written",
            ));
        }
        let (file, staging, target) =
            (Arc::clone(&self.file), self.staging.clone(), self.target.clone());
        blocking(move || publish(file.sync_all(), &staging, &target))
            .await
            .map_err(|e| Error::io(format!("completing {}", self.url), e))?;
        self.finished = true;
        Ok(())
    }

    async fn abort(&mut self) -> Result<()> {
        let staging = self.staging.clone();
        let removed = blocking(move || match fs::remove_file(&staging) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await;
        self.finished = true;
        removed.map_err(|e| Error::io(format!("aborting upload of {}", self.url), e))
    }
}

impl Drop for LocalUpload {
    /// An upload dropped unfinished (a cancelled task, a panic) leaves no staging file behind.
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_file(&self.staging);
        }
    }
}

/// Check that `key` names a file below the root: relative, with no empty, `.` or `..` segments,
/// and not the name of a staging file. S3 applies the same rule so both stores accept the same
/// keys.
pub(super) fn validate_key(key: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::invalid(format!("object key '{key}'"), reason));
    if key.is_empty() {
        return bad("is empty");
    }
    if key.starts_with('/') {
        return bad("must be relative to the store's root (no leading '/')");
    }
    if key.contains('\0') {
        return bad("contains a NUL character");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return bad("has an empty segment ('//' or a trailing '/')");
        }
        if segment == "." || segment == ".." {
            return bad("may not contain '.' or '..' segments");
        }
    }
    if key.rsplit('/').next().is_some_and(is_staging_name) {
        return bad("looks like a staging file (.*.partial), which listings skip");
    }
    Ok(())
}

/// Check a `list` prefix: a key prefix, so it may be empty or end in `/`, but it may not climb
/// out of the root.
pub(super) fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.starts_with('/') || prefix.split('/').any(|s| s == "." || s == "..") {
        return Err(Error::invalid(
            format!("key prefix '{prefix}'"),
            "must be relative to the store's root, without '.' or '..' segments",
        ));
    }
    Ok(())
}

/// `.<name>.<random>.partial`: how staging files are named.
fn is_staging_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".partial")
}

/// Create a new, empty staging file in the target's directory (creating the directory).
fn create_staging(target: &Path) -> io::Result<(File, PathBuf)> {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "object path has no file name"));
    };
    fs::create_dir_all(dir)?;
    let staging =
        dir.join(format!(".{}.{:016x}.partial", name.to_string_lossy(), rand::random::<u64>()));
    let file = OpenOptions::new().write(true).create_new(true).open(&staging)?;
    Ok((file, staging))
}

/// Make a fully written, fsynced staging file the object: rename it over the target and fsync
/// the directory so the rename survives a crash. If `written` failed, remove the staging file
/// instead and return that error.
fn publish(written: io::Result<()>, staging: &Path, target: &Path) -> io::Result<()> {
    let renamed = written.and_then(|()| fs::rename(staging, target));
    if let Err(e) = renamed {
        let _ = fs::remove_file(staging);
        return Err(e);
    }
    match target.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Collect the keys of files below `dir` (whose key is `dir_key`) that start with `prefix`.
fn walk(dir: &Path, dir_key: &str, prefix: &str, keys: &mut Vec<String>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_missing(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            tracing::warn!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
            continue;
        };
        if is_staging_name(name) {
            continue;
        }
        let key = join_key(dir_key, name);
        let mut file_type = entry.file_type()?;
        if file_type.is_symlink() {
            file_type = match fs::metadata(entry.path()) {
                Ok(meta) => meta.file_type(),
                Err(e) if is_missing(&e) => continue, // a dangling link is no object
                Err(e) => return Err(e),
            };
            if file_type.is_dir() {
                continue; // a link to a directory could loop; stores never create one
            }
        }
        if file_type.is_dir() {
            let sub = format!("{key}/");
            if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                walk(&entry.path(), &key, prefix, keys)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            keys.push(key);
        }
    }
    Ok(())
}

/// Whether an I/O error means "no such object": the path or one of its parents is missing, or a
/// parent is a file.
fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Run blocking file I/O on Tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}
