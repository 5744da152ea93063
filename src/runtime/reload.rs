//! What asks a running pipeline to reload its file: SIGHUP, a change of the file (or of a model
//! it uses) on disk, and `lookout reload` (a POST to `/-/reload` on the metrics listener, loopback
//! clients only). Every trigger becomes one message on a channel the run loop selects on; bursts
//! (an editor writing a temporary file and renaming it) are debounced into one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};

/// Quiet time after the last file event before a reload starts: an editor's write-and-rename is
/// one change, not three.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Why a reload was asked for, and where to send its outcome.
#[derive(Debug)]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// A watched file changed.
    File(PathBuf),
    /// `lookout reload` (or any loopback POST to `/-/reload`): the outcome goes back, `Ok` with
    /// what changed or `Err` with the error as `lookout validate` prints it.
    Request(Sender<Result<String, String>>),
}

/// The sources of reload triggers of one run, and the files it watches.
pub struct Triggers {
    tx: Sender<Trigger>,
    rx: Receiver<Trigger>,
    watched: Arc<Mutex<Vec<PathBuf>>>,
    watcher: Option<notify::RecommendedWatcher>,
}

impl std::fmt::Debug for Triggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triggers")
            .field("watched", &self.watched)
            .finish()
    }
}

impl Default for Triggers {
    fn default() -> Self {
        Self::new()
    }
}

impl Triggers {
    /// No trigger yet: add SIGHUP, file watching and requests as wanted.
    pub fn new() -> Self {
        let (tx, rx) = unbounded();
        Triggers {
            tx,
            rx,
            watched: Arc::default(),
            watcher: None,
        }
    }

    /// Where triggers arrive.
    pub fn receiver(&self) -> &Receiver<Trigger> {
        &self.rx
    }

    /// A sender for requests from elsewhere (the metrics listener's `/-/reload`).
    pub fn sender(&self) -> Sender<Trigger> {
        self.tx.clone()
    }

    /// Turns SIGHUP into a trigger.
    pub fn on_sighup(&self) -> std::io::Result<()> {
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name("sighup".into())
            .spawn(move || {
                for _ in signals.forever() {
                    tracing::info!("SIGHUP: reloading the pipeline file");
                    if tx.send(Trigger::Signal).is_err() {
                        break;
                    }
                }
            })?;
        Ok(())
    }

    /// Watches `files` (the pipeline file, model manifests and their ONNX files): any change
    /// becomes one trigger after [`DEBOUNCE`] of quiet. Folders are watched, not the files, so a
    /// file replaced by a rename is still seen. Calling it again replaces the list.
    pub fn watch(&mut self, files: &[PathBuf]) -> Result<(), notify::Error> {
        use notify::{RecursiveMode, Watcher};
        let files: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect();
        *self.watched.lock().unwrap_or_else(|p| p.into_inner()) = files.clone();
        if self.watcher.is_none() {
            let (events_tx, events_rx) = unbounded::<PathBuf>();
            let watched = Arc::clone(&self.watched);
            let watcher =
                notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                    let Ok(event) = res else { return };
                    if matches!(event.kind, notify::EventKind::Access(_)) {
                        return;
                    }
                    let list = watched.lock().unwrap_or_else(|p| p.into_inner());
                    for p in event.paths {
                        if list.contains(&p) {
                            let _ = events_tx.send(p);
                        }
                    }
                })?;
            self.watcher = Some(watcher);
            let tx = self.tx.clone();
            std::thread::Builder::new()
                .name("reload-watch".into())
                .spawn(move || debounce(&events_rx, &tx))
                .map_err(|e| notify::Error::generic(&e.to_string()))?;
        }
        let mut folders: Vec<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        folders.sort();
        folders.dedup();
        if let Some(w) = self.watcher.as_mut() {
            for dir in folders {
                // Watching a folder twice is harmless; a folder that vanished is not fatal.
                if let Err(e) = w.watch(&dir, RecursiveMode::NonRecursive) {
                    tracing::warn!(folder = %dir.display(), error = %e, "cannot watch for changes");
                }
            }
        }
        Ok(())
    }
}

/// One trigger per burst of file events.
fn debounce(events: &Receiver<PathBuf>, tx: &Sender<Trigger>) {
    while let Ok(mut last) = events.recv() {
        while let Ok(p) = events.recv_timeout(DEBOUNCE) {
            last = p;
        }
        tracing::info!(file = %last.display(), "file changed: reloading the pipeline file");
        if tx.send(Trigger::File(last)).is_err() {
            return;
        }
    }
}

/// `path` made absolute against the working directory, without resolving links (a link that
/// an editor replaces must still match).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_and_rename_is_one_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let mut t = Triggers::new();
        t.watch(std::slice::from_ref(&file)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // What editors do: write a temporary file, rename it over the original.
        let tmp = dir.path().join(".p.yaml.swp");
        std::fs::write(&tmp, "a: 2\n").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        let first = t.receiver().recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(first, Trigger::File(ref p) if p == &file),
            "{first:?}"
        );
        assert!(
            t.receiver().recv_timeout(DEBOUNCE * 3).is_err(),
            "one trigger for one change"
        );
        // Other files of the folder do not count.
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        assert!(t.receiver().recv_timeout(DEBOUNCE * 3).is_err());
    }
}
