//! A camera's per-frame work before its frames are queued: the detection rate and the motion
//! pass, run in the camera's own thread (the GStreamer streaming thread, or a benchmark's
//! synthetic camera) so that the one analytics thread only weighs the outcome. With many idle
//! cameras the motion pass is most of what each frame costs; done here it runs beside inference
//! instead of before it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::IntCounter;

use crate::capture::{Frame, FramePrep};
use crate::motion::{Motion, MotionConfig, MotionDetector};
use crate::schedule::RateGate;

/// What a camera's thread worked out about a frame: it is due for detection at media time `t`,
/// and what moved in it (none when motion gating is off).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub t: Duration,
    pub motion: Option<Motion>,
}

/// The detection rate and motion detector of one camera, shared by its capture thread (which
/// runs them on each frame) and the analytics thread (which changes them on a reload, and runs
/// them itself on a frame that arrives without a note).
pub(crate) struct CameraPrep {
    state: Mutex<PrepState>,
    /// Frames the detection rate let go (`lookout_frames_skipped_total{reason="rate"}`).
    skipped: IntCounter,
}

struct PrepState {
    rate: RateGate,
    /// `None` when motion gating is off.
    motion: Option<MotionDetector>,
    /// Clock of frames without timestamps.
    origin: Instant,
}

impl CameraPrep {
    /// Detection at `fps` (every frame when `None`), motion gated by `motion`.
    pub fn new(fps: Option<f64>, motion: &MotionConfig, skipped: IntCounter) -> Self {
        CameraPrep {
            state: Mutex::new(PrepState {
                rate: RateGate::new(fps),
                motion: motion.enabled.then(|| MotionDetector::new(motion.clone())),
                origin: Instant::now(),
            }),
            skipped,
        }
    }

    /// New settings from a reload: the rate starts over; the motion background is kept unless
    /// the motion settings changed.
    pub fn reconfigure(&self, fps: Option<f64>, motion: &MotionConfig) {
        let mut s = self.lock();
        s.rate = RateGate::new(fps);
        let same = s.motion.as_ref().map(|d| d.config()) == Some(motion).filter(|m| m.enabled);
        if !same {
            s.motion = motion.enabled.then(|| MotionDetector::new(motion.clone()));
        }
    }

    /// The frame's detection time and motion, or `None` when the rate lets it go (counted).
    pub fn run(&self, frame: &Frame) -> Option<Prepared> {
        let mut s = self.lock();
        let t = frame
            .pts
            .unwrap_or_else(|| frame.arrived.saturating_duration_since(s.origin));
        if !s.rate.admit_at(t) {
            self.skipped.inc();
            return None;
        }
        let motion = s.motion.as_mut().map(|d| d.update(&frame.image()));
        Some(Prepared { t, motion })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PrepState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FramePrep for CameraPrep {
    fn prepare(&self, frame: &mut Frame) -> bool {
        match self.run(frame) {
            Some(p) => {
                frame.note = Some(Box::new(p));
                true
            }
            None => false,
        }
    }
}

/// What was prepared for `frame`: its note when its camera's thread ran `prep`, else `prep` run
/// now (a frame queued before the camera had one, as after a reload that turned detection on).
pub(crate) fn prepared(prep: &CameraPrep, frame: &Frame) -> Option<Prepared> {
    match frame
        .note
        .as_ref()
        .and_then(|n| n.downcast_ref::<Prepared>())
    {
        Some(p) => Some(p.clone()),
        None => prep.run(frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{PixelFormat, Planes, PooledBuf};

    fn frame(seq: u64, level: u8) -> Frame {
        let (w, h) = (64u32, 48u32);
        Frame {
            camera: "cam".into(),
            seq,
            pts: Some(Duration::from_millis(seq * 100)),
            captured_at: std::time::SystemTime::now(),
            arrived: Instant::now(),
            width: w,
            height: h,
            format: PixelFormat::Nv12,
            planes: Planes::packed(PixelFormat::Nv12, w, h),
            data: PooledBuf::detached(vec![level; PixelFormat::Nv12.packed_len(w, h)]),
            note: None,
        }
    }

    fn counter() -> IntCounter {
        IntCounter::new("skipped", "test").expect("a valid counter")
    }

    #[test]
    fn frames_off_the_rate_are_released_and_counted_the_rest_carry_their_motion() {
        // A 10 fps stream detected at 5 fps: every second frame goes.
        let prep = CameraPrep::new(Some(5.0), &MotionConfig::default(), counter());
        let kept: Vec<u64> = (0..10)
            .filter(|&i| {
                let mut f = frame(i, 80);
                let keep = prep.prepare(&mut f);
                assert_eq!(keep, f.note.is_some());
                keep
            })
            .collect();
        assert_eq!(kept, vec![0, 2, 4, 6, 8]);
        assert_eq!(prep.skipped.get(), 5);
        let mut f = frame(10, 80);
        assert!(prep.prepare(&mut f));
        let p = prepared(&prep, &f).expect("prepared");
        assert_eq!(p.t, Duration::from_secs(1));
        assert_eq!(
            p.motion.map(|m| m.state),
            Some(crate::motion::MotionState::Still)
        );
    }

    #[test]
    fn a_frame_without_a_note_is_prepared_on_the_spot_and_gating_off_means_no_motion() {
        let config = MotionConfig {
            enabled: false,
            ..MotionConfig::default()
        };
        let prep = CameraPrep::new(None, &config, counter());
        let p = prepared(&prep, &frame(0, 80)).expect("every frame is due");
        assert!(p.motion.is_none());
        prep.reconfigure(None, &MotionConfig::default());
        let p = prepared(&prep, &frame(1, 80)).expect("every frame is due");
        assert_eq!(
            p.motion.map(|m| m.state),
            Some(crate::motion::MotionState::Calibrating),
            "turning gating on starts a background"
        );
    }
}
