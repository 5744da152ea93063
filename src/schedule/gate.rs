//! Motion gating for one camera: on each admitted frame, whether the detector runs at all, on
//! the whole frame, or on regions around motion and tracked objects, within a budget. The motion
//! itself is found before (in the camera's own thread, see `runtime::prep`); the gate weighs it
//! against the tracked objects and the clock.
//!
//! The whole frame is detected on the first frame, after a recalibration, every
//! `full_frame_interval` seconds (so nothing present before lookout started, or standing still
//! since, is missed), and when motion would need more regions than allowed. Tracked objects that
//! stopped moving are re-checked every `stationary_interval` seconds. When motion covers much of
//! the picture for long (rain, snow, a spider web at night), detection falls back to full frames
//! at `runaway_fps`, logged once per episode and counted, so one camera cannot starve the others.

use std::time::Duration;

use super::regions::{self, Region};
use crate::motion::{Motion, MotionConfig, MotionState};

/// Regions covering more than this fraction of the frame are detected as one full frame.
const FULL_ABOVE: f32 = 0.6;

/// What to detect on one frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Nothing: no motion and nothing due.
    Skip(SkipReason),
    /// The whole frame.
    Full(FullReason),
    /// These parts of the frame.
    Regions(Vec<Region>),
}

/// Why a frame is not detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Nothing moved and no tracked object was due for a re-check.
    Still,
    /// Motion ran away and the fallback rate was already used, or a background full frame
    /// was due and the box's budget for them was spent.
    Budget,
}

impl SkipReason {
    /// The `reason` label of `lookout_frames_skipped_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Still => "still",
            SkipReason::Budget => "budget",
        }
    }
}

impl Plan {
    /// A full frame that keeps watch rather than follows motion (a first frame or
    /// recalibration, the periodic full frame, the runaway fallback): what the box's
    /// [`super::budget::BackgroundBudget`] rations.
    pub fn is_background(&self) -> bool {
        matches!(
            self,
            Plan::Full(FullReason::Calibration | FullReason::Interval | FullReason::Runaway)
        )
    }
}

/// Why a frame is detected whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullReason {
    /// Motion gating is off for this camera.
    Disabled,
    /// The background was (re)set: the first frame, or a change across the picture.
    Calibration,
    /// `full_frame_interval` passed since the last full frame.
    Interval,
    /// Motion needs more or larger regions than a full frame costs.
    Spread,
    /// Motion ran away: the periodic full frame of the fallback.
    Runaway,
}

/// Motion gating of one camera.
#[derive(Debug)]
pub struct MotionGate {
    config: MotionConfig,
    /// Media time of the last full-frame detection.
    last_full: Option<Duration>,
    /// Media time of the last re-check of stationary tracked objects.
    last_recheck: Option<Duration>,
    /// Since when motion has covered more than `runaway_fraction`.
    busy_since: Option<Duration>,
    /// Whether the camera is in the runaway fallback now.
    runaway: bool,
    /// Runaway episodes so far.
    episodes: u64,
    /// A recalibration's full frame the box's budget refused: the next frames ask again.
    owed: bool,
}

impl MotionGate {
    /// A gate for one camera; its first frame is detected whole.
    pub fn new(config: MotionConfig) -> Self {
        Self {
            config,
            last_full: None,
            last_recheck: None,
            busy_since: None,
            runaway: false,
            episodes: 0,
            owed: false,
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &MotionConfig {
        &self.config
    }

    /// Runaway episodes since start (each is logged once when it begins).
    pub fn runaway_episodes(&self) -> u64 {
        self.episodes
    }

    /// Whether the camera is in the runaway fallback now.
    pub fn in_runaway(&self) -> bool {
        self.runaway
    }

    /// Media time until which a still frame (no motion boxes) would be skipped without weighing
    /// it here, given how many objects the camera tracks (`tracked` confirmed, `tentative`
    /// waiting for confirmation): no tentative object (those are looked at on every frame), no
    /// runaway forming, and neither the periodic full frame nor the re-check of stationary
    /// objects due yet. `None` when the next still frame may be detected (or gating is off).
    pub fn quiet_until(&self, tracked: usize, tentative: usize) -> Option<Duration> {
        if !self.config.enabled
            || tentative > 0
            || self.runaway
            || self.busy_since.is_some()
            || self.owed
        {
            return None;
        }
        let full = self.last_full? + Duration::from_secs_f64(self.config.full_frame_interval);
        if tracked == 0 {
            return Some(full);
        }
        let recheck = self.last_recheck? + Duration::from_secs_f64(self.config.stationary_interval);
        Some(full.min(recheck))
    }

    /// Decides what to detect on a `size` (width, height) frame at media time `t`, given its
    /// `motion` (from the camera's [`crate::motion::MotionDetector`]; none when gating is off).
    /// `tracks` are the boxes of the camera's confirmed tracked objects and `tentative` those
    /// waiting to be confirmed (frame pixels; the latter are looked at on every frame);
    /// `model_side` is the detector's input side; `background` says whether the box's budget
    /// has room for a background full frame now (see [`Plan::is_background`]): without it, the
    /// frame is planned from its motion alone and the full frame waits.
    #[allow(clippy::too_many_arguments)]
    pub fn plan(
        &mut self,
        camera: &str,
        motion: Option<&Motion>,
        size: (u32, u32),
        t: Duration,
        tracks: &[[f32; 4]],
        tentative: &[[f32; 4]],
        model_side: u32,
        background: bool,
    ) -> Plan {
        let Some(motion) = motion.filter(|_| self.config.enabled) else {
            return Plan::Full(FullReason::Disabled);
        };
        let plan = self.decide(
            camera, motion, size, t, tracks, tentative, model_side, background,
        );
        tracing::trace!(
            camera,
            t = t.as_secs_f64(),
            state = motion.state.as_str(),
            coverage = motion.coverage,
            ?plan,
            "motion gate"
        );
        if matches!(plan, Plan::Full(_)) {
            self.last_full = Some(t);
            self.last_recheck = Some(t);
            self.owed = false;
        }
        plan
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        camera: &str,
        motion: &Motion,
        (width, height): (u32, u32),
        t: Duration,
        tracks: &[[f32; 4]],
        tentative: &[[f32; 4]],
        model_side: u32,
        background: bool,
    ) -> Plan {
        let cfg = self.config().clone();
        let since = |last: Option<Duration>| last.map(|l| t.saturating_sub(l).as_secs_f64());
        self.watch_runaway(camera, motion, t, &cfg);
        if self.runaway {
            let gap = 1.0 / cfg.runaway_fps;
            return match since(self.last_full) {
                Some(s) if s < gap => Plan::Skip(SkipReason::Budget),
                _ if !background => Plan::Skip(SkipReason::Budget),
                _ => Plan::Full(FullReason::Runaway),
            };
        }
        if motion.state == MotionState::Calibrating {
            // One full frame per recalibration, but not more often than the runaway rate: a
            // picture that changes whole on every frame (noise, a failing sensor) is not
            // detected on every frame.
            return match since(self.last_full) {
                Some(s) if s < 1.0 / cfg.runaway_fps => Plan::Skip(SkipReason::Budget),
                _ if !background => {
                    self.owed = true;
                    Plan::Skip(SkipReason::Budget)
                }
                _ => Plan::Full(FullReason::Calibration),
            };
        }
        // A full frame is due: owed by a recalibration, or the periodic one.
        let due = if self.owed {
            Some(FullReason::Calibration)
        } else if since(self.last_full).is_none_or(|s| s >= cfg.full_frame_interval) {
            Some(FullReason::Interval)
        } else {
            None
        };
        if let Some(reason) = due
            && background
        {
            return Plan::Full(reason);
        }
        let mut boxes = motion.boxes.clone();
        boxes.extend_from_slice(tentative);
        if !tracks.is_empty()
            && since(self.last_recheck).is_none_or(|s| s >= cfg.stationary_interval)
        {
            boxes.extend_from_slice(tracks);
            self.last_recheck = Some(t);
        }
        if boxes.is_empty() {
            return Plan::Skip(if due.is_some() {
                SkipReason::Budget
            } else {
                SkipReason::Still
            });
        }
        match regions::plan(
            &boxes,
            width,
            height,
            model_side,
            cfg.max_regions,
            FULL_ABOVE,
        ) {
            Some(r) => Plan::Regions(r),
            None => Plan::Full(FullReason::Spread),
        }
    }

    /// Enters the runaway fallback when motion areas cover more than `runaway_fraction` for
    /// `runaway_seconds`, and leaves it when motion drops below; each episode is logged once.
    fn watch_runaway(&mut self, camera: &str, motion: &Motion, t: Duration, cfg: &MotionConfig) {
        let busy = motion.coverage > cfg.runaway_fraction;
        if !busy {
            if self.runaway {
                tracing::info!(camera, "motion calmed down: back to motion-gated detection");
            }
            self.busy_since = None;
            self.runaway = false;
            return;
        }
        let since = *self.busy_since.get_or_insert(t);
        if !self.runaway && t.saturating_sub(since).as_secs_f64() >= cfg.runaway_seconds {
            self.runaway = true;
            self.episodes += 1;
            tracing::warn!(
                camera,
                coverage = motion.coverage,
                fps = cfg.runaway_fps,
                "motion everywhere (rain, snow, a web on the lens?): full-frame detection at a fixed rate until it calms"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::frame::{ImageRef, PixelFormat};
    use crate::motion::MotionDetector;

    fn frame(level: u8, square: Option<(usize, usize)>) -> Vec<u8> {
        let (w, h) = (640usize, 480usize);
        let mut v = vec![level; w * h * 4];
        if let Some((sx, sy)) = square {
            for y in sy..sy + 40 {
                for x in sx..sx + 40 {
                    v[(y * w + x) * 4..][..3].copy_from_slice(&[250, 250, 250]);
                }
            }
        }
        v
    }

    /// A camera: its motion detector and its gate.
    fn camera(config: MotionConfig) -> (MotionDetector, MotionGate) {
        (MotionDetector::new(config.clone()), MotionGate::new(config))
    }

    fn step(
        (d, g): &mut (MotionDetector, MotionGate),
        data: &[u8],
        t: f64,
        tracks: &[[f32; 4]],
    ) -> Plan {
        let motion = d.update(&ImageRef::packed(PixelFormat::Rgba, 640, 480, data));
        let t = Duration::from_secs_f64(t);
        g.plan("cam", Some(&motion), (640, 480), t, tracks, &[], 320, true)
    }

    #[test]
    fn full_at_start_then_skips_still_frames_then_regions_around_motion() {
        let mut g = camera(MotionConfig::default());
        let still = frame(50, None);
        assert_eq!(
            step(&mut g, &still, 0.0, &[]),
            Plan::Full(FullReason::Calibration)
        );
        assert_eq!(
            step(&mut g, &still, 0.2, &[]),
            Plan::Skip(SkipReason::Still)
        );
        match step(&mut g, &frame(50, Some((500, 400))), 0.4, &[]) {
            Plan::Regions(r) => {
                assert_eq!(r.len(), 1);
                assert!(r[0].contains(520.0, 420.0), "{r:?}");
            }
            p => panic!("{p:?}"),
        }
        assert_eq!(
            step(&mut g, &still, 30.1, &[]),
            Plan::Full(FullReason::Interval)
        );
    }

    #[test]
    fn a_background_full_frame_the_budget_refuses_is_owed_and_motion_is_still_followed() {
        let mut g = camera(MotionConfig::default());
        let still = frame(50, None);
        let plan = |g: &mut (MotionDetector, MotionGate), data: &[u8], t: f64, room: bool| {
            let motion =
                g.0.update(&ImageRef::packed(PixelFormat::Rgba, 640, 480, data));
            let t = Duration::from_secs_f64(t);
            g.1.plan("cam", Some(&motion), (640, 480), t, &[], &[], 320, room)
        };
        // The first frame's full pass is refused: skipped for the budget, owed, not quiet.
        assert_eq!(
            plan(&mut g, &still, 0.0, false),
            Plan::Skip(SkipReason::Budget)
        );
        assert_eq!(g.1.quiet_until(0, 0), None);
        assert_eq!(
            plan(&mut g, &still, 0.2, false),
            Plan::Skip(SkipReason::Budget)
        );
        // Motion meanwhile is detected in regions all the same.
        assert!(matches!(
            plan(&mut g, &frame(50, Some((500, 400))), 0.4, false),
            Plan::Regions(_)
        ));
        // With room, the owed full frame runs; then still frames are skipped as still.
        let owed = plan(&mut g, &still, 0.6, true);
        assert_eq!(owed, Plan::Full(FullReason::Calibration));
        assert!(owed.is_background());
        assert_eq!(
            plan(&mut g, &still, 0.8, true),
            Plan::Skip(SkipReason::Still)
        );
        // The periodic full frame waits for room too.
        assert_eq!(
            plan(&mut g, &still, 31.0, false),
            Plan::Skip(SkipReason::Budget)
        );
        assert_eq!(
            plan(&mut g, &still, 31.2, true),
            Plan::Full(FullReason::Interval)
        );
    }

    #[test]
    fn quiet_until_the_next_full_frame_or_recheck_without_tentative_objects_or_runaway() {
        let config = MotionConfig {
            runaway_seconds: 1.0,
            runaway_fraction: 0.25,
            ..MotionConfig::default()
        };
        let mut g = camera(config);
        assert_eq!(g.1.quiet_until(0, 0), None, "no full frame yet");
        let still = frame(50, None);
        step(&mut g, &still, 0.0, &[]);
        assert_eq!(g.1.quiet_until(0, 0), Some(Duration::from_secs(30)));
        assert_eq!(
            g.1.quiet_until(2, 0),
            Some(Duration::from_secs(2)),
            "standing objects: until their re-check"
        );
        assert_eq!(g.1.quiet_until(2, 1), None, "a tentative object");
        // Motion over a third of the picture: a runaway may be forming.
        let mut bands = frame(50, None);
        for (i, px) in bands.chunks_mut(4).enumerate() {
            if (i / 640 / 40) % 3 == 0 {
                px[..3].copy_from_slice(&[200, 200, 200]);
            }
        }
        step(&mut g, &bands, 0.2, &[]);
        assert_eq!(g.1.quiet_until(0, 0), None);
        let off = camera(MotionConfig {
            enabled: false,
            ..MotionConfig::default()
        });
        assert_eq!(off.1.quiet_until(0, 0), None);
    }

    #[test]
    fn stationary_objects_are_rechecked_at_their_interval() {
        let mut g = camera(MotionConfig::default());
        let still = frame(50, None);
        let person = [[100.0, 100.0, 140.0, 220.0]];
        step(&mut g, &still, 0.0, &person);
        assert_eq!(
            step(&mut g, &still, 1.0, &person),
            Plan::Skip(SkipReason::Still)
        );
        assert!(matches!(
            step(&mut g, &still, 2.1, &person),
            Plan::Regions(_)
        ));
        assert_eq!(
            step(&mut g, &still, 2.5, &person),
            Plan::Skip(SkipReason::Still)
        );
    }

    #[test]
    fn a_picture_changing_whole_on_every_frame_is_detected_at_the_fallback_rate() {
        let mut g = camera(MotionConfig::default());
        let (dark, bright) = (frame(30, None), frame(200, None));
        let plans: Vec<Plan> = (0..30)
            .map(|i| {
                step(
                    &mut g,
                    if i % 2 == 0 { &dark } else { &bright },
                    i as f64 * 0.1,
                    &[],
                )
            })
            .collect();
        let full = plans.iter().filter(|p| matches!(p, Plan::Full(_))).count();
        assert!((3..=4).contains(&full), "{plans:?}");
    }

    #[test]
    fn runaway_motion_falls_back_to_a_fixed_rate() {
        let config = MotionConfig {
            runaway_seconds: 1.0,
            runaway_fps: 1.0,
            runaway_fraction: 0.25,
            ..MotionConfig::default()
        };
        // Alternating bands: a third of the picture changes on every frame.
        let mut g = camera(config);
        let (a, mut b) = (frame(50, None), frame(50, None));
        for (i, px) in b.chunks_mut(4).enumerate() {
            if (i / 640 / 40) % 3 == 0 {
                px[..3].copy_from_slice(&[200, 200, 200]);
            }
        }
        let mut plans = Vec::new();
        for i in 0..40 {
            let t = i as f64 * 0.1;
            plans.push(step(&mut g, if i % 2 == 0 { &a } else { &b }, t, &[]));
        }
        assert!(g.1.in_runaway());
        assert_eq!(g.1.runaway_episodes(), 1);
        let late = &plans[20..];
        let full = late.iter().filter(|p| matches!(p, Plan::Full(_))).count();
        assert!((1..=3).contains(&full), "{late:?}");
        assert!(late.contains(&Plan::Skip(SkipReason::Budget)));
    }
}
