//! Motion: where in a camera's picture something changes, so that the detector runs only there.
//!
//! Per frame, on the luma plane capture already hands over: downscaled grey, optional contrast
//! stretch, masked areas blanked, a small blur, the difference against a running-average
//! background, a threshold, a dilation, and the connected regions of what changed become motion
//! boxes. A frame where most of the picture changes at once (lights, an infrared switch, a camera
//! that moved) resets the background instead: it is reported as `calibrating`, not as motion
//! everywhere.

pub mod config;
pub mod grey;

pub use config::MotionConfig;
use grey::{Grey, Mask, blobs, dilate};

use crate::capture::frame::ImageRef;

/// What motion detection made of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotionState {
    /// The background was (re)set on this frame: the first frame, or a change across most of
    /// the picture. Nothing is known about motion on it.
    Calibrating,
    /// Something moved: see the boxes.
    Moving,
    /// Nothing moved.
    Still,
}

impl MotionState {
    /// The `state` label of `lookout_motion_frames_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            MotionState::Calibrating => "calibrating",
            MotionState::Moving => "moving",
            MotionState::Still => "still",
        }
    }
}

/// One frame's motion.
#[derive(Debug, Clone, PartialEq)]
pub struct Motion {
    pub state: MotionState,
    /// Moving areas, `[x1, y1, x2, y2]` in frame pixels, largest first.
    pub boxes: Vec<[f32; 4]>,
    /// Fraction of the (unmasked) picture that changed, 0..1.
    pub fraction: f32,
    /// Fraction of the picture inside the grown motion areas, 0..1: near 1 when fine changes
    /// are spread over everything (noise, rain, snow), however few pixels each change is.
    pub coverage: f32,
}

/// Motion detection for one camera: the background it learned, and its settings.
#[derive(Debug)]
pub struct MotionDetector {
    config: MotionConfig,
    /// Size of the grey pictures, set by the first frame (and reset if the frame size changes).
    size: Option<(u32, u32, usize, usize)>,
    background: Vec<f32>,
    /// `true` where motion is ignored.
    masked: Vec<bool>,
}

impl MotionDetector {
    /// A detector that calibrates on its first frame.
    pub fn new(config: MotionConfig) -> Self {
        Self {
            config,
            size: None,
            background: Vec::new(),
            masked: Vec::new(),
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &MotionConfig {
        &self.config
    }

    /// Forgets the background: the next frame calibrates.
    pub fn reset(&mut self) {
        self.size = None;
    }

    /// Motion on `image` against the background, which then learns from `image`.
    pub fn update(&mut self, image: &ImageRef<'_>) -> Motion {
        let (fw, fh) = (image.width, image.height);
        let (w, h) = match self.size {
            Some((iw, ih, w, h)) if (iw, ih) == (fw, fh) => (w, h),
            _ => self.resize(fw, fh),
        };
        let mut grey = Grey::from_image(image, w, h);
        if self.config.contrast {
            grey.stretch_contrast();
        }
        grey.blur();
        let first = self.background.len() != w * h;
        if first {
            self.background = grey.pixels.iter().map(|&p| p as f32).collect();
            return Motion {
                state: MotionState::Calibrating,
                boxes: Vec::new(),
                fraction: 0.0,
                coverage: 0.0,
            };
        }
        let threshold = self.config.threshold as f32;
        let mut changed: Vec<bool> = grey
            .pixels
            .iter()
            .zip(&self.background)
            .map(|(&p, &b)| (p as f32 - b).abs() > threshold)
            .collect();
        let mut counted = 0usize;
        let mut open = 0usize;
        for (c, &m) in changed.iter_mut().zip(&self.masked) {
            if m {
                *c = false;
            } else {
                open += 1;
                counted += usize::from(*c);
            }
        }
        let fraction = counted as f32 / open.max(1) as f32;
        if fraction > self.config.calibrate_above {
            self.background = grey.pixels.iter().map(|&p| p as f32).collect();
            return Motion {
                state: MotionState::Calibrating,
                boxes: Vec::new(),
                fraction,
                coverage: 1.0,
            };
        }
        let alpha = self.config.alpha;
        for (b, &p) in self.background.iter_mut().zip(&grey.pixels) {
            *b += alpha * (p as f32 - *b);
        }
        from_changes(&self.config, &changed, fraction, (fw, fh), (w, h))
    }

    /// Sets the grey size for frames of `fw` x `fh` and rasterises the masks at it.
    fn resize(&mut self, fw: u32, fh: u32) -> (usize, usize) {
        let (w, h) = grey_size(&self.config, fw, fh);
        self.size = Some((fw, fh, w, h));
        self.background.clear();
        self.masked = masked_pixels(&self.config, w, h);
        (w, h)
    }
}

/// The size of the grey picture motion is computed on for frames of `fw` x `fh`: `frame_height`
/// high (at most the frame's), as wide as the frame's aspect ratio makes it.
pub fn grey_size(config: &MotionConfig, fw: u32, fh: u32) -> (usize, usize) {
    let h = (config.frame_height.min(fh.max(1))) as usize;
    let w = ((fw as f64 * h as f64 / fh.max(1) as f64).round() as usize).max(1);
    (w, h)
}

/// `true` for each grey pixel of a `w` x `h` picture whose centre lies in one of the masks.
pub fn masked_pixels(config: &MotionConfig, w: usize, h: usize) -> Mask {
    let polys = config.mask_polygons();
    (0..w * h)
        .map(|i| {
            let p = [
                ((i % w) as f32 + 0.5) / w as f32,
                ((i / w) as f32 + 0.5) / h as f32,
            ];
            polys.iter().any(|poly| crate::geometry::inside(poly, p))
        })
        .collect()
}

/// The motion of a frame whose grey pixels `changed` (masked ones already cleared), `fraction`
/// of the open picture, once it is known not to be a recalibration: nearby changes joined,
/// regions too small dropped, the rest as boxes in frame pixels.
pub fn from_changes(
    config: &MotionConfig,
    changed: &Mask,
    fraction: f32,
    (fw, fh): (u32, u32),
    (w, h): (usize, usize),
) -> Motion {
    let grown = dilate(changed, w, h, 2);
    let coverage = grown.iter().filter(|&&g| g).count() as f32 / (w * h).max(1) as f32;
    let min_pixels = (config.min_area * (w * h) as f32).max(1.0) as usize;
    let (sx, sy) = (fw as f32 / w as f32, fh as f32 / h as f32);
    let boxes: Vec<[f32; 4]> = blobs(&grown, w, h)
        .into_iter()
        .filter(|b| b.pixels >= min_pixels)
        .map(|b| {
            [
                b.bbox[0] as f32 * sx,
                b.bbox[1] as f32 * sy,
                (b.bbox[2] as f32 * sx).min(fw as f32),
                (b.bbox[3] as f32 * sy).min(fh as f32),
            ]
        })
        .collect();
    Motion {
        state: if boxes.is_empty() {
            MotionState::Still
        } else {
            MotionState::Moving
        },
        boxes,
        fraction,
        coverage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::frame::PixelFormat;

    /// A 320x240 RGBA picture of grey `level` with an optional bright square.
    fn picture(level: u8, square: Option<(usize, usize)>) -> Vec<u8> {
        let (w, h) = (320usize, 240usize);
        let mut v = vec![0u8; w * h * 4];
        for y in 0..h {
            for x in 0..w {
                let on = square.is_some_and(|(sx, sy)| {
                    (sx..sx + 30).contains(&x) && (sy..sy + 30).contains(&y)
                });
                let g = if on { 250 } else { level };
                v[(y * w + x) * 4..][..4].copy_from_slice(&[g, g, g, 255]);
            }
        }
        v
    }

    fn run(det: &mut MotionDetector, data: &[u8]) -> Motion {
        det.update(&ImageRef::packed(PixelFormat::Rgba, 320, 240, data))
    }

    #[test]
    fn calibrates_then_sees_a_moving_square_where_it_is() {
        let mut det = MotionDetector::new(MotionConfig::default());
        assert_eq!(
            run(&mut det, &picture(60, None)).state,
            MotionState::Calibrating
        );
        assert_eq!(run(&mut det, &picture(60, None)).state, MotionState::Still);
        let m = run(&mut det, &picture(60, Some((200, 100))));
        assert_eq!(m.state, MotionState::Moving);
        let b = m.boxes[0];
        assert!(
            b[0] <= 200.0 && b[2] >= 230.0 && b[1] <= 100.0 && b[3] >= 130.0,
            "{b:?}"
        );
        assert!(b[2] - b[0] < 60.0, "{b:?}");
    }

    #[test]
    fn a_change_across_the_picture_recalibrates_instead_of_moving_everywhere() {
        let mut det = MotionDetector::new(MotionConfig::default());
        run(&mut det, &picture(60, None));
        let m = run(&mut det, &picture(140, None));
        assert_eq!(m.state, MotionState::Calibrating);
        assert!(m.fraction > 0.9);
        assert_eq!(run(&mut det, &picture(140, None)).state, MotionState::Still);
    }

    #[test]
    fn masked_motion_is_ignored() {
        let config = MotionConfig {
            masks: vec![
                serde_saphyr::from_str("[[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]").unwrap(),
            ],
            ..MotionConfig::default()
        };
        let mut det = MotionDetector::new(config);
        run(&mut det, &picture(60, None));
        assert_eq!(
            run(&mut det, &picture(60, Some((200, 100)))).state,
            MotionState::Still
        );
        assert_eq!(
            run(&mut det, &picture(60, Some((50, 100)))).state,
            MotionState::Moving
        );
    }
}
