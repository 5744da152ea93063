//! Retention of stored media: files older than the limit are deleted, then the oldest files
//! while the folder holds more bytes than allowed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::media::config::Retention;

/// What one pass of [`enforce`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub files: u64,
    pub bytes: u64,
    /// Bytes kept.
    pub kept: u64,
}

/// Applies `retention` to the files under `dir` (one level of sub-folders, one per camera),
/// never touching `active` (a recording being written). Files that vanish meanwhile are skipped.
pub fn enforce(dir: &Path, retention: &Retention, active: &[PathBuf], now: SystemTime) -> Pruned {
    let mut files: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    let mut add = |p: PathBuf| {
        if let Ok(m) = std::fs::metadata(&p)
            && m.is_file()
        {
            files.push((m.modified().unwrap_or(now), m.len(), p));
        }
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                add(e.path());
            }
        } else {
            add(p);
        }
    }
    // Oldest first.
    files.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut pruned = Pruned::default();
    for (modified, len, path) in files {
        if active.contains(&path) {
            continue;
        }
        let too_old = retention
            .max_age
            .is_some_and(|age| now.duration_since(modified).is_ok_and(|d| d > age));
        if !too_old && total <= retention.max_bytes {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                total -= len;
                pruned.files += 1;
                pruned.bytes += len;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot delete old media"),
        }
    }
    pruned.kept = total;
    pruned
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(dir: &Path, name: &str, len: usize, age_s: u64, now: SystemTime) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![0u8; len]).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(now - Duration::from_secs(age_s)).unwrap();
        p
    }

    #[test]
    fn deletes_by_age_then_oldest_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let ancient = write(dir.path(), "a/1.jpg", 10, 1000, now);
        let old = write(dir.path(), "a/2.jpg", 100, 50, now);
        let mid = write(dir.path(), "b/3.jpg", 100, 40, now);
        let new = write(dir.path(), "b/4.jpg", 100, 1, now);
        let r = Retention {
            max_age: Some(Duration::from_secs(500)),
            max_bytes: 250,
        };
        let p = enforce(dir.path(), &r, &[], now);
        assert_eq!(p.files, 2);
        assert_eq!(p.kept, 200);
        assert!(!ancient.exists() && !old.exists());
        assert!(mid.exists() && new.exists());
    }

    #[test]
    fn the_active_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let active = write(dir.path(), "c/rec.mp4", 1000, 10_000, now);
        let r = Retention {
            max_age: Some(Duration::from_secs(1)),
            max_bytes: 1,
        };
        let p = enforce(dir.path(), &r, std::slice::from_ref(&active), now);
        assert_eq!(p.files, 0);
        assert!(active.exists());
    }
}
