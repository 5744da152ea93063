//! Scheduling inference: which frames are detected (a per-camera rate) and how frames of several
//! cameras are batched into one inference call.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

pub mod budget;
pub mod gate;
pub mod regions;

use std::collections::BTreeMap;
use std::path::Path;

use crate::capture::Frame;
use crate::config::{ConfigError, did_you_mean};
use crate::model::ModelSpec;

/// Detection rate for live sources when the camera does not set one: enough to track people
/// walking, a fraction of the cost of every frame.
pub const DEFAULT_LIVE_DETECT_FPS: f64 = 5.0;

/// A camera's `detect:` section.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Name of a model in the pipeline's `models:` section.
    #[schemars(with = "String")]
    pub model: Spanned<String>,
    /// Frames per second to run detection on (media time): every frame of a file by default,
    /// 5 for live sources.
    #[schemars(range(min = 0.001, max = 1000))]
    pub fps: Option<f64>,
}

/// Which model a camera runs, and how often, after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraDetect {
    pub model: String,
    /// Detections per second of media time; `None` runs every frame.
    pub fps: Option<f64>,
}

impl DetectConfig {
    /// Checks that the model exists and the rate is sane; a live camera without a rate gets
    /// [`DEFAULT_LIVE_DETECT_FPS`]. Returns the model too, so the camera's rules can be checked
    /// against its labels.
    pub fn validate<'m>(
        &self,
        file: &Path,
        models: &'m BTreeMap<String, ModelSpec>,
        live: bool,
    ) -> Result<(CameraDetect, &'m ModelSpec), ConfigError> {
        let Some(model) = models.get(&self.model.value) else {
            let names: Vec<&str> = models.keys().map(String::as_str).collect();
            let msg = if names.is_empty() {
                format!(
                    "model `{}` is not defined: add it under `models:`",
                    self.model.value
                )
            } else {
                format!(
                    "model `{}` is not in `models:` ({}){}",
                    self.model.value,
                    names.join(", "),
                    did_you_mean(&self.model.value, names.iter().copied())
                )
            };
            return Err(ConfigError::spanned(file, &self.model, msg));
        };
        if let Some(fps) = self.fps
            && !(fps > 0.0 && fps <= 1000.0)
        {
            return Err(ConfigError::spanned(
                file,
                &self.model,
                format!("detect fps {fps} must be in 0..1000"),
            ));
        }
        let detect = CameraDetect {
            model: self.model.value.clone(),
            fps: self.fps.or(live.then_some(DEFAULT_LIVE_DETECT_FPS)),
        };
        Ok((detect, model))
    }
}

/// Admits frames at most `fps` times per second of the frame's own clock.
///
/// Media time (PTS) is used when the source has it, so a file processed faster than real time is
/// still sampled at the configured rate of *its* time; arrival time otherwise.
#[derive(Debug, Clone)]
pub struct RateGate {
    interval: Option<Duration>,
    next_due: Option<Duration>,
    /// Time of the last admitted frame.
    last: Option<Duration>,
    origin: Instant,
}

impl RateGate {
    /// A gate admitting `fps` frames per second; `None` admits every frame.
    pub fn new(fps: Option<f64>) -> Self {
        let interval = fps
            .filter(|f| *f > 0.0)
            .map(|f| Duration::from_secs_f64(1.0 / f));
        Self {
            interval,
            next_due: None,
            last: None,
            origin: Instant::now(),
        }
    }

    /// True when this frame should be run through the detector.
    pub fn admit(&mut self, frame: &Frame) -> bool {
        let t = frame
            .pts
            .unwrap_or_else(|| frame.arrived.saturating_duration_since(self.origin));
        self.admit_at(t)
    }

    /// [`RateGate::admit`] for a frame time `t`.
    pub fn admit_at(&mut self, t: Duration) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        // A small tolerance keeps 10 fps sampling of a 10 fps stream from skipping frames to
        // rounding in the timestamps.
        let tolerance = interval / 10;
        let forward = self.last.is_some_and(|last| t >= last);
        if let Some(due) = self.next_due
            && forward
            && t + tolerance < due
        {
            return false;
        }
        // Schedule from the due time, not from `t`, so the average rate is exact; after a gap, or
        // when time jumps backwards (a seek, a restarted stream), start again from `t`.
        self.next_due = Some(match self.next_due {
            Some(due) if forward && t < due + interval => due + interval,
            _ => t + interval,
        });
        self.last = Some(t);
        true
    }
}

/// Collects frames for one inference call: at most one frame per camera, at most `max` in all.
///
/// One frame per camera keeps each camera's frames in order through the tracker even when the
/// batch is split back per camera.
#[derive(Debug)]
pub struct Batch {
    max: usize,
    frames: Vec<Frame>,
}

impl Batch {
    /// An empty batch of at most `max` frames.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            frames: Vec::with_capacity(max.max(1)),
        }
    }

    /// Whether a frame of `camera` can join.
    pub fn accepts(&self, camera: &str) -> bool {
        self.frames.len() < self.max && !self.frames.iter().any(|f| &*f.camera == camera)
    }

    /// Adds a frame (the caller checked [`Batch::accepts`]).
    pub fn push(&mut self, frame: Frame) {
        self.frames.push(frame);
    }

    /// True when no more frames fit.
    pub fn is_full(&self) -> bool {
        self.frames.len() >= self.max
    }

    /// True when the batch has no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// The frames, emptying the batch.
    pub fn take(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(gate: &mut RateGate, fps_in: f64, seconds: f64) -> usize {
        let n = (fps_in * seconds) as u64;
        (0..n)
            .filter(|i| gate.admit_at(Duration::from_secs_f64(*i as f64 / fps_in)))
            .count()
    }

    #[test]
    fn no_rate_admits_everything() {
        assert_eq!(count(&mut RateGate::new(None), 30.0, 10.0), 300);
    }

    #[test]
    fn samples_at_the_configured_rate() {
        assert_eq!(count(&mut RateGate::new(Some(5.0)), 30.0, 10.0), 50);
        assert_eq!(
            count(&mut RateGate::new(Some(10.0)), 10.0, 10.0),
            100,
            "equal rates keep every frame"
        );
        let got = count(&mut RateGate::new(Some(7.0)), 25.0, 20.0);
        assert!((139..=141).contains(&got), "{got}");
    }

    #[test]
    fn slow_rates_admit_one_frame_per_interval() {
        // 795 frames of a 10 fps file: 79.5 s of media.
        for (fps, want) in [(1.0, 80), (0.5, 40), (2.0, 159), (3.0, 239)] {
            let mut g = RateGate::new(Some(fps));
            let admitted: Vec<u64> = (0..795u64)
                .filter(|i| g.admit_at(Duration::from_millis(i * 100)))
                .collect();
            assert_eq!(admitted.len(), want, "fps {fps}: {admitted:?}");
            assert!(
                admitted
                    .windows(2)
                    .all(|w| w[1] - w[0] >= (9.0 / fps) as u64),
                "fps {fps}: {admitted:?}"
            );
        }
    }

    #[test]
    fn restarts_after_a_gap_or_seek() {
        let mut g = RateGate::new(Some(1.0));
        assert!(g.admit_at(Duration::from_secs(100)));
        assert!(
            g.admit_at(Duration::from_secs(5)),
            "time went backwards: start over"
        );
        assert!(!g.admit_at(Duration::from_millis(5500)));
        assert!(g.admit_at(Duration::from_secs(6)));
    }

    #[test]
    fn batch_takes_one_frame_per_camera() {
        let mut b = Batch::new(3);
        assert!(b.accepts("a"));
        b.push(test_frame("a"));
        assert!(!b.accepts("a"));
        assert!(b.accepts("b"));
        b.push(test_frame("b"));
        b.push(test_frame("c"));
        assert!(b.is_full() && !b.accepts("d"));
        assert_eq!(b.take().len(), 3);
        assert!(b.is_empty());
    }

    fn test_frame(camera: &str) -> Frame {
        use crate::capture::{PixelFormat, Planes, PooledBuf};
        Frame {
            camera: camera.into(),
            seq: 0,
            pts: None,
            captured_at: std::time::SystemTime::now(),
            arrived: Instant::now(),
            width: 1,
            height: 1,
            format: PixelFormat::Rgba,
            planes: Planes::packed(PixelFormat::Rgba, 1, 1),
            data: PooledBuf::detached(vec![0; 4]),
            note: None,
        }
    }
}
