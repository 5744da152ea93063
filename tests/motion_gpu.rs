//! The motion pass on the GPU (`motion.gpu`) against the CPU's, frame by frame, on a real wgpu
//! adapter (lavapipe in CI): several cameras of different sizes and formats in each submission,
//! with contrast stretching, masks, a lighting change and a camera that changes its frame size.

use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::infer::gpu::motion::{GpuMotion, reset_count};
use lookout::infer::gpu::{AdapterChoice, GpuContext};
use lookout::motion::{Motion, MotionConfig, MotionDetector, MotionState};

mod common;

use common::Noise;

/// A camera's scene: the empty campus path at `w` x `h`, frame `i` with sensor noise, a person
/// (a patch of vtest frame 300) walking across from frame 3, and 40 % more light on frames
/// 9 and 10.
struct Scene {
    w: u32,
    h: u32,
    format: PixelFormat,
    background: image::RgbImage,
    people: image::RgbImage,
    noise: Noise,
}

impl Scene {
    fn new(w: u32, h: u32, format: PixelFormat, seed: u64) -> Self {
        let load = |name: &str| {
            image::open(common::footage(name))
                .unwrap()
                .resize_exact(w, h, image::imageops::FilterType::Triangle)
                .to_rgb8()
        };
        Scene {
            w,
            h,
            format,
            background: load("vtest-background.jpg"),
            people: load("vtest-frame300.jpg"),
            noise: Noise(seed),
        }
    }

    fn frame(&mut self, i: u32) -> Vec<u8> {
        let (w, h) = (self.w, self.h);
        let gain = if (9..11).contains(&i) { 1.4 } else { 1.0 };
        // The walker: a quarter of the frame wide, moving an eighth of the frame per frame.
        let (px0, pw) = ((i.saturating_sub(3)) * w / 8, w / 4);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for y in 0..h {
            for x in 0..w {
                let inside = i >= 3 && (px0..px0 + pw).contains(&x) && (h / 3..h).contains(&y);
                let src = if inside {
                    self.people.get_pixel(x - px0 + w / 3, y)
                } else {
                    self.background.get_pixel(x, y)
                };
                let at = ((y * w + x) * 3) as usize;
                for c in 0..3 {
                    let v = f32::from(src[c]) * gain + self.noise.jitter(4) as f32;
                    rgb[at + c] = v.clamp(0.0, 255.0) as u8;
                }
            }
        }
        match self.format {
            PixelFormat::Rgba => rgb
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            PixelFormat::Nv12 => {
                let mut out = vec![128u8; self.format.packed_len(w, h)];
                for (o, p) in out.iter_mut().zip(rgb.chunks_exact(3)) {
                    *o = ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]))
                        >> 8) as u8;
                }
                out
            }
        }
    }
}

fn assert_same(cpu: &Motion, gpu: &Motion, what: &str) {
    assert_eq!(cpu.state, gpu.state, "{what}: cpu {cpu:?} gpu {gpu:?}");
    assert!(
        (cpu.fraction - gpu.fraction).abs() <= 0.002,
        "{what}: fraction cpu {} gpu {}",
        cpu.fraction,
        gpu.fraction
    );
    assert_eq!(
        cpu.boxes.len(),
        gpu.boxes.len(),
        "{what}: {cpu:?} / {gpu:?}"
    );
    for (a, b) in cpu.boxes.iter().zip(&gpu.boxes) {
        for k in 0..4 {
            // Within one grey pixel (a pixel right at the threshold may differ).
            assert!((a[k] - b[k]).abs() <= 20.0, "{what}: {a:?} / {b:?}");
        }
    }
}

#[test]
fn the_gpu_pass_sees_what_the_cpu_pass_sees_for_several_cameras_in_one_submission() {
    let ctx = GpuContext::new(&AdapterChoice::HighPerformance).expect("a wgpu adapter (lavapipe)");
    let mut gpu = GpuMotion::new(&ctx).expect("motion kernels compile");
    let masked = MotionConfig {
        contrast: true,
        masks: vec![
            serde_saphyr::from_str("[[0.0, 0.0], [0.4, 0.0], [0.4, 0.5], [0.0, 0.5]]").unwrap(),
        ],
        frame_height: 90,
        ..MotionConfig::default()
    };
    let configs = [MotionConfig::default(), masked, MotionConfig::default()];
    let mut scenes = [
        Scene::new(960, 540, PixelFormat::Nv12, 1),
        Scene::new(641, 359, PixelFormat::Nv12, 2),
        Scene::new(400, 300, PixelFormat::Rgba, 3),
    ];
    let mut cpus: Vec<MotionDetector> = configs.iter().cloned().map(MotionDetector::new).collect();
    let slots: Vec<_> = configs.iter().cloned().map(|c| gpu.add(c)).collect();
    let mut states = Vec::new();
    for i in 0..14 {
        let frames: Vec<Vec<u8>> = scenes.iter_mut().map(|s| s.frame(i)).collect();
        let images: Vec<ImageRef<'_>> = scenes
            .iter()
            .zip(&frames)
            .map(|(s, f)| ImageRef::packed(s.format, s.w, s.h, f))
            .collect();
        let batch: Vec<_> = slots.iter().copied().zip(images.iter().copied()).collect();
        let on_gpu = gpu.update(&batch).expect("motion on the GPU");
        for (k, (cpu, img)) in cpus.iter_mut().zip(&images).enumerate() {
            let on_cpu = cpu.update(img);
            assert_same(&on_cpu, &on_gpu[k], &format!("camera {k} frame {i}"));
            states.push((k, i, on_cpu.state));
        }
    }
    // The scene does what it should, so the comparison covered every state.
    let state = |k: usize, i: u32| states.iter().find(|s| s.0 == k && s.1 == i).unwrap().2;
    for k in 0..3 {
        assert_eq!(state(k, 0), MotionState::Calibrating);
        assert_eq!(state(k, 1), MotionState::Still, "camera {k}");
        assert_eq!(state(k, 4), MotionState::Moving, "camera {k}");
    }
    // The light recalibrates the cameras that compare grey levels as they come; camera 1
    // stretches each frame's levels first, which takes most of a global gain out.
    for k in [0, 2] {
        assert_eq!(
            state(k, 9),
            MotionState::Calibrating,
            "camera {k}: the light"
        );
    }
}

#[test]
fn a_camera_that_changes_size_or_leaves_starts_over_and_its_slot_is_reused() {
    let ctx = GpuContext::new(&AdapterChoice::HighPerformance).expect("a wgpu adapter (lavapipe)");
    let mut gpu = GpuMotion::new(&ctx).expect("motion kernels compile");
    let a = gpu.add(MotionConfig::default());
    let mut small = Scene::new(320, 240, PixelFormat::Nv12, 5);
    let mut large = Scene::new(640, 480, PixelFormat::Nv12, 6);
    let f0 = small.frame(0);
    let f1 = small.frame(1);
    let run = |gpu: &mut GpuMotion, s: &Scene, f: &[u8]| {
        gpu.update(&[(a, ImageRef::packed(s.format, s.w, s.h, f))])
            .unwrap()[0]
            .state
    };
    assert_eq!(run(&mut gpu, &small, &f0), MotionState::Calibrating);
    assert_eq!(run(&mut gpu, &small, &f1), MotionState::Still);
    let g = large.frame(1);
    assert_eq!(
        run(&mut gpu, &large, &g),
        MotionState::Calibrating,
        "new size"
    );
    assert_eq!(run(&mut gpu, &large, &g), MotionState::Still);
    gpu.remove(a);
    let img = ImageRef::packed(small.format, small.w, small.h, &f1);
    assert!(
        gpu.update(&[(a, img)]).is_err(),
        "a removed camera is refused"
    );
    let b = gpu.add(MotionConfig::default());
    assert_eq!(a, b, "the slot is reused");
    assert_eq!(
        run(&mut gpu, &small, &f1),
        MotionState::Calibrating,
        "a fresh background"
    );
    assert!(
        gpu.update(&[(b, img), (b, img)]).is_err(),
        "one frame per camera and call"
    );
}

#[test]
fn the_recalibration_count_agrees_with_the_cpu_test() {
    for open in [0usize, 1, 2, 3, 7, 100, 25_560, 25_561] {
        for above in [0.05f32, 0.3, 0.5, 0.7, 1.0] {
            let n = reset_count(above, open);
            let cpu = |c: usize| c as f32 / open.max(1) as f32 > above;
            for c in 0..=open {
                assert_eq!(c as u32 >= n, cpu(c), "open {open} above {above} count {c}");
            }
        }
    }
}
