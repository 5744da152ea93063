//! A camera's per-frame work before its frames are copied and queued: the detection rate, the
//! motion pass, and letting still frames go, run in the camera's own thread (the GStreamer
//! streaming thread, or a benchmark's synthetic camera) so that the one analytics thread only
//! weighs what may need detecting. With many idle cameras the motion pass is most of what each
//! frame costs; done here it runs beside inference instead of before it, and a still frame the
//! gate would skip anyway (nothing tentative to confirm, no re-check or full frame due) is never
//! copied out of the decoder's buffer nor queued.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounter};

use super::motion::CameraMotion;
use crate::capture::{FrameNote, FramePrep, FrameView};
use crate::motion::{Motion, MotionConfig, MotionState};
use crate::schedule::RateGate;

/// What a camera's thread worked out about a frame: it is due for detection at media time `t`,
/// and what moved in it (none when motion gating is off).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub t: Duration,
    pub motion: Option<Motion>,
}

/// The counters a frame let go as still adds to, as the analytics thread's gate would have.
#[derive(Clone)]
pub(crate) struct StillCounters {
    /// `lookout_frames_skipped_total{reason="still"}`.
    pub skipped: IntCounter,
    /// `lookout_motion_frames_total{state="still"}`.
    pub frames: IntCounter,
    /// `lookout_motion_fraction`.
    pub fraction: Histogram,
}

/// The detection rate and motion detector of one camera, shared by its capture thread (which
/// runs them on each frame) and the analytics thread (which changes them on a reload, runs them
/// itself on a frame that arrives without a note, and says when still frames may be let go).
pub(crate) struct CameraPrep {
    state: Mutex<PrepState>,
    /// Frames the detection rate let go (`lookout_frames_skipped_total{reason="rate"}`).
    skipped: IntCounter,
    still: StillCounters,
}

struct PrepState {
    rate: RateGate,
    /// `None` when motion gating is off.
    motion: Option<CameraMotion>,
    /// The camera's name and `lookout_motion_gpu_failures_total`, for a motion pass on a GPU.
    camera: String,
    gpu_failures: IntCounter,
    /// Clock of frames without timestamps.
    origin: Instant,
    gate: GateView,
}

/// What the analytics thread last said about the camera's motion gate, and what this thread
/// queued since: a still frame is let go here only when the gate has weighed every frame queued
/// and would let it go too.
#[derive(Debug, Default)]
struct GateView {
    /// Media time until which the gate skips a still frame (nothing tentative, no runaway
    /// forming, neither a re-check of standing objects nor the periodic full frame due); `None`
    /// when the next still frame may be detected.
    quiet_until: Option<Duration>,
    /// Sequence number of the last frame the gate weighed (skipped or analysed).
    weighed: Option<u64>,
    /// Sequence number of the last frame queued from here.
    queued: Option<u64>,
}

impl GateView {
    /// Whether a still frame at media time `t` would be skipped by the gate.
    fn lets_go(&self, t: Duration) -> bool {
        let caught_up = match (self.queued, self.weighed) {
            (None, _) => true,
            (Some(q), Some(w)) => w >= q,
            (Some(_), None) => false,
        };
        caught_up && self.quiet_until.is_some_and(|until| t < until)
    }
}

impl CameraPrep {
    /// Detection at `fps` (every frame when `None`) for `camera`, motion gated by `motion`.
    pub fn new(
        camera: &str,
        fps: Option<f64>,
        motion: &MotionConfig,
        skipped: IntCounter,
        still: StillCounters,
        gpu_failures: IntCounter,
    ) -> Self {
        CameraPrep {
            state: Mutex::new(PrepState {
                rate: RateGate::new(fps),
                motion: motion
                    .enabled
                    .then(|| CameraMotion::new(motion, camera, gpu_failures.clone())),
                camera: camera.to_string(),
                gpu_failures,
                origin: Instant::now(),
                gate: GateView::default(),
            }),
            skipped,
            still,
        }
    }

    /// New settings from a reload: the rate starts over; the motion background is kept unless
    /// the motion settings changed; still frames go to the gate until it speaks again.
    pub fn reconfigure(&self, fps: Option<f64>, motion: &MotionConfig) {
        let mut s = self.lock();
        s.rate = RateGate::new(fps);
        let same = s.motion.as_ref().map(|d| d.config()) == Some(motion).filter(|m| m.enabled);
        if !same {
            let failures = s.gpu_failures.clone();
            s.motion = None;
            s.motion = motion
                .enabled
                .then(|| CameraMotion::new(motion, &s.camera, failures));
        }
        s.gate.quiet_until = None;
    }

    /// The analytics thread weighed frame `seq` (skipped it, or analysed it); until media time
    /// `quiet_until` its gate skips still frames (`None`: not now).
    pub fn weighed(&self, seq: u64, quiet_until: Option<Duration>) {
        let mut s = self.lock();
        s.gate.weighed = Some(s.gate.weighed.map_or(seq, |w| w.max(seq)));
        s.gate.quiet_until = quiet_until;
    }

    /// The frame's detection time and motion, or `None` when it is let go here (counted): off
    /// the detection rate, or still while the gate would skip it anyway.
    pub fn run(&self, frame: &FrameView<'_>) -> Option<Prepared> {
        let mut s = self.lock();
        let t = frame
            .pts
            .unwrap_or_else(|| frame.arrived.saturating_duration_since(s.origin));
        if !s.rate.admit_at(t) {
            self.skipped.inc();
            return None;
        }
        let motion = s.motion.as_mut().map(|d| d.update(&frame.image));
        if s.gate.queued.is_some_and(|q| frame.seq < q) {
            // Numbering started over (a new stream): what the gate said was about the old one.
            s.gate = GateView::default();
        }
        if let Some(m) = &motion
            && m.state == MotionState::Still
            && m.boxes.is_empty()
            && s.gate.lets_go(t)
        {
            self.still.frames.inc();
            self.still.fraction.observe(f64::from(m.fraction));
            self.still.skipped.inc();
            return None;
        }
        s.gate.queued = Some(frame.seq);
        Some(Prepared { t, motion })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PrepState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FramePrep for CameraPrep {
    fn prepare(&self, frame: &FrameView<'_>) -> Option<FrameNote> {
        self.run(frame).map(|p| Box::new(p) as FrameNote)
    }
}

/// What was prepared for `frame`: its note when its camera's thread ran `prep`, else `prep` run
/// now (a frame queued before the camera had one, as after a reload that turned detection on).
pub(crate) fn prepared(prep: &CameraPrep, frame: &crate::capture::Frame) -> Option<Prepared> {
    match frame
        .note
        .as_ref()
        .and_then(|n| n.downcast_ref::<Prepared>())
    {
        Some(p) => Some(p.clone()),
        None => prep.run(&frame.view()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Frame, PixelFormat, Planes, PooledBuf};

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

    fn still() -> StillCounters {
        StillCounters {
            skipped: counter(),
            frames: counter(),
            fraction: Histogram::with_opts(prometheus::HistogramOpts::new("fraction", "test"))
                .expect("a valid histogram"),
        }
    }

    #[test]
    fn frames_off_the_rate_are_released_and_counted_the_rest_carry_their_motion() {
        // A 10 fps stream detected at 5 fps: every second frame goes.
        let prep = CameraPrep::new(
            "cam",
            Some(5.0),
            &MotionConfig::default(),
            counter(),
            still(),
            counter(),
        );
        let kept: Vec<u64> = (0..10)
            .filter(|&i| prep.prepare(&frame(i, 80).view()).is_some())
            .collect();
        assert_eq!(kept, vec![0, 2, 4, 6, 8]);
        assert_eq!(prep.skipped.get(), 5);
        let mut f = frame(10, 80);
        f.note = prep.prepare(&f.view());
        assert!(f.note.is_some());
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
        let prep = CameraPrep::new("cam", None, &config, counter(), still(), counter());
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

    #[test]
    fn still_frames_go_here_only_while_the_gate_has_weighed_every_queued_frame_and_is_quiet() {
        let prep = CameraPrep::new(
            "cam",
            None,
            &MotionConfig::default(),
            counter(),
            still(),
            counter(),
        );
        let queued = |seq: u64| prep.prepare(&frame(seq, 80).view()).is_some();
        // Calibration, then still frames the gate has not spoken about: all queued.
        assert!(queued(0));
        assert!(queued(1));
        // The gate weighed frame 0 only: frame 1 is still on its way, so frame 2 is queued.
        prep.weighed(0, Some(Duration::from_secs(30)));
        assert!(queued(2));
        // It weighed everything queued and is quiet until 30 s: still frames stop here.
        prep.weighed(2, Some(Duration::from_secs(30)));
        assert!(!queued(3));
        assert!(!queued(4));
        assert_eq!(prep.still.skipped.get(), 2);
        assert_eq!(prep.still.frames.get(), 2);
        // Past the periodic full frame (frame 300 is at 30 s), a still frame is queued again.
        assert!(queued(300));
        // Something tracked (the gate is not quiet): queued.
        prep.weighed(300, None);
        assert!(queued(301));
        // A frame that changed is queued even when the gate is quiet.
        prep.weighed(301, Some(Duration::from_secs(60)));
        assert!(prep.prepare(&frame(302, 200).view()).is_some());
        // A stream that starts its numbering over goes to the gate until it speaks again.
        prep.weighed(302, Some(Duration::from_secs(60)));
        let bright = |seq: u64| prep.prepare(&frame(seq, 200).view()).is_some();
        assert!(!bright(303), "still, weighed, quiet: let go");
        assert!(bright(0), "the same still picture, numbered from 0 again");
        prep.weighed(0, Some(Duration::from_secs(60)));
        assert!(!bright(1));
        assert_eq!(prep.still.skipped.get(), 4);
        // A reload turns the quiet off until the gate speaks again.
        prep.weighed(302, Some(Duration::from_secs(60)));
        prep.reconfigure(None, &MotionConfig::default());
        assert!(queued(303));
        assert_eq!(prep.still.skipped.get(), 4);
    }
}
