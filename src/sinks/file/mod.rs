//! The `file` sink: events appended as JSON lines, rotated by size and age.

pub mod config;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::events::Event;

use crate::sinks::outbox::FsyncPolicy;

/// Rotation and durability settings.
#[derive(Debug, Clone)]
pub struct FileOptions {
    pub max_bytes: u64,
    pub max_age: Option<Duration>,
    pub keep: u32,
    pub fsync: FsyncPolicy,
}

/// Errors name the file, so "disk full" or "permission denied" is never a mystery.
#[derive(Debug, thiserror::Error)]
#[error("event file {path}: {source}")]
pub struct FileSinkError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// An append-only JSON-lines file; `events.jsonl` rotates to `events.jsonl.1`, `.2`, ...
pub struct FileSink {
    path: PathBuf,
    opts: FileOptions,
    file: File,
    size: u64,
    opened: SystemTime,
}

impl FileSink {
    /// Opens (creating folders as needed) the file for appending.
    pub fn open(path: &Path, opts: FileOptions) -> Result<Self, FileSinkError> {
        let err = |source| FileSinkError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        let opened = meta
            .created()
            .or_else(|_| meta.modified())
            .unwrap_or_else(|_| SystemTime::now());
        Ok(Self {
            path: path.to_path_buf(),
            opts,
            size: meta.len(),
            file,
            opened,
        })
    }

    /// Appends one event as a JSON line, rotating first if it would pass a limit. Returns bytes written.
    pub fn write(&mut self, e: &Event) -> Result<usize, FileSinkError> {
        let mut line = serde_json::to_vec(e).map_err(|x| self.err(io::Error::other(x)))?;
        line.push(b'\n');
        let too_big = self.size > 0 && self.size + line.len() as u64 > self.opts.max_bytes;
        let too_old = self
            .opts
            .max_age
            .is_some_and(|age| self.size > 0 && self.opened.elapsed().unwrap_or_default() >= age);
        if too_big || too_old {
            self.rotate()?;
        }
        self.file.write_all(&line).map_err(|x| self.err(x))?;
        if self.opts.fsync == FsyncPolicy::Always {
            self.file.sync_data().map_err(|x| self.err(x))?;
        }
        self.size += line.len() as u64;
        Ok(line.len())
    }

    /// Flushes file data to disk.
    pub fn sync(&mut self) -> Result<(), FileSinkError> {
        self.file.sync_data().map_err(|x| self.err(x))
    }

    fn err(&self, source: io::Error) -> FileSinkError {
        FileSinkError {
            path: self.path.clone(),
            source,
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> Result<(), FileSinkError> {
        self.file.sync_data().map_err(|x| self.err(x))?;
        if self.opts.keep == 0 {
            fs::remove_file(&self.path).map_err(|x| self.err(x))?;
        } else {
            let _ = fs::remove_file(self.rotated(self.opts.keep));
            for n in (1..self.opts.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    fs::rename(&from, self.rotated(n + 1)).map_err(|x| self.err(x))?;
                }
            }
            fs::rename(&self.path, self.rotated(1)).map_err(|x| self.err(x))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|x| self.err(x))?;
        self.size = 0;
        self.opened = SystemTime::now();
        tracing::info!(path = %self.path.display(), "rotated event file");
        Ok(())
    }
}
