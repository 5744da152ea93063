//! A progress bar for file sources during `lookout run`: frames processed of frames expected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lookout::capture::StateCell;
use lookout::metrics::Metrics;

/// Draws the bar on stderr (hidden when stderr is not a terminal) until dropped.
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Follows the cameras that are files (finite sources), using the processed-frame counters.
    pub fn start(
        cameras: Vec<(String, StateCell)>,
        live: Vec<bool>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let files: Vec<(String, StateCell)> = cameras
            .into_iter()
            .zip(live)
            .filter(|(_, live)| !live)
            .map(|(c, _)| c)
            .collect();
        let thread = (!files.is_empty()).then(|| {
            std::thread::spawn(move || {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} [{bar:30}] {pos}/{len} frames, {per_sec}, eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message(
                    files
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                while !flag.load(Ordering::Relaxed) {
                    let total: u64 = files.iter().filter_map(|(_, s)| s.expected_frames()).sum();
                    let done: u64 = files
                        .iter()
                        .map(|(n, _)| metrics.frames_processed.with_label_values(&[n]).get())
                        .sum();
                    bar.set_length(total.max(done));
                    bar.set_position(done);
                    if files.iter().all(|(_, s)| s.get().is_final()) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                bar.finish_and_clear();
            })
        });
        Self { done, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
