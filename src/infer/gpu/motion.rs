//! Motion on the GPU: the part of a motion pass that reads the frame (block means, contrast
//! stretch, blur, the comparison with the background and its update) as WGSL kernels, for any
//! number of cameras' frames in one submission. Each camera's background stays on the GPU; what
//! crosses to the GPU is only the frame rows the block means sample (a third of a 1080p luma
//! plane), what comes back a count and a bit mask of the changed grey pixels (3 KB for
//! 213x120), which the CPU joins into motion boxes as [`crate::motion::MotionDetector`] does.
//!
//! The grey picture is the CPU's exactly (the same integer arithmetic); the background is
//! floating point on both sides, where a GPU may round a multiply-add once instead of twice, so
//! a pixel right at the threshold can come out the other way.

use std::num::NonZeroU64;

use super::context::GpuContext;
use super::plan::map_and_wait;
use super::preprocess::Grown;
use crate::capture::frame::{ImageRef, PixelFormat};
use crate::infer::InferError;
use crate::motion::grey::{Mask, sample_step, sampled_rows};
use crate::motion::{Motion, MotionConfig, MotionState, from_changes, grey_size, masked_pixels};

const SHADER: &str = include_str!("../../../shaders/motion.wgsl");
/// The kernels' entry points, in the order they run.
const STEPS: [&str; 5] = ["grey", "levels", "blur", "compare", "learn"];
/// Parameter words of one frame (`Params` in the shader).
const PARAM_WORDS: usize = 20;
const UNIFORM_STRIDE: u64 = 256;
/// Words before a frame's bit mask in the atomics buffer: histogram, lo, hi, count.
const BITS_AT: usize = 259;
const COUNT_AT: usize = 258;

/// A camera's place in a [`GpuMotion`]: its settings and background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MotionSlot(usize);

/// One camera: its settings and, once a frame set the size, its background on the GPU.
struct Camera {
    config: MotionConfig,
    grey: Option<GreyState>,
}

/// A camera's grey size for frames of one size, its masks and its background.
struct GreyState {
    frame: (u32, u32),
    size: (usize, usize),
    /// Grey pixels outside the masks.
    open: usize,
    /// The fewest changed pixels that make a frame a recalibration.
    reset_count: u32,
    background: wgpu::Buffer,
    masked: wgpu::Buffer,
    /// True until a frame has set the background.
    first: bool,
}

/// Where one frame's data sits in the call's buffers.
struct Job {
    slot: usize,
    /// The camera's first frame (at this size): it sets the background.
    first: bool,
    src_base: usize,
    row_pitch: usize,
    table: usize,
    scratch: usize,
    atom: usize,
}

/// Motion passes of many cameras on one GPU.
pub struct GpuMotion {
    ctx: GpuContext,
    layout: wgpu::BindGroupLayout,
    pipelines: Vec<wgpu::ComputePipeline>,
    /// By slot; `None` where a camera was removed (its slot is given to the next one added).
    cameras: Vec<Option<Camera>>,
    upload: Grown,
    uniform: Grown,
    rows: Grown,
    scratch: Grown,
    atom: Grown,
    readback: Grown,
}

impl std::fmt::Debug for GpuMotion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuMotion")
            .field("adapter", &self.ctx.summary().name)
            .field("cameras", &self.cameras.iter().flatten().count())
            .finish()
    }
}

impl GpuMotion {
    /// Compiles the kernels on `ctx`'s device.
    pub fn new(ctx: &GpuContext) -> Result<Self, InferError> {
        let device = &ctx.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffer = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let read = wgpu::BufferBindingType::Storage { read_only: true };
        let write = wgpu::BufferBindingType::Storage { read_only: false };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("motion"),
            entries: &[
                buffer(0, wgpu::BufferBindingType::Uniform),
                buffer(1, read),
                buffer(2, read),
                buffer(3, write),
                buffer(4, write),
                buffer(5, write),
                buffer(6, read),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("motion"),
            bind_group_layouts: &[Some(&layout)],
            ..Default::default()
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("motion"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let pipelines = STEPS
            .iter()
            .map(|step| {
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(step),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(step),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .collect();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(InferError::Gpu(format!(
                "the motion kernels failed to compile: {e}"
            )));
        }
        Ok(GpuMotion {
            ctx: ctx.clone(),
            layout,
            pipelines,
            cameras: Vec::new(),
            upload: Grown::default(),
            uniform: Grown::default(),
            rows: Grown::default(),
            scratch: Grown::default(),
            atom: Grown::default(),
            readback: Grown::default(),
        })
    }

    /// A new camera with settings `config`; its first frame calibrates.
    pub fn add(&mut self, config: MotionConfig) -> MotionSlot {
        let camera = Some(Camera { config, grey: None });
        match self.cameras.iter().position(Option::is_none) {
            Some(i) => {
                self.cameras[i] = camera;
                MotionSlot(i)
            }
            None => {
                self.cameras.push(camera);
                MotionSlot(self.cameras.len() - 1)
            }
        }
    }

    /// Takes a camera out, its GPU memory with it.
    pub fn remove(&mut self, slot: MotionSlot) {
        if let Some(c) = self.cameras.get_mut(slot.0) {
            *c = None;
        }
    }

    /// The motion of each frame against its camera's background, which then learns from it:
    /// all of them in one submission. A camera may appear once per call.
    pub fn update(
        &mut self,
        frames: &[(MotionSlot, ImageRef<'_>)],
    ) -> Result<Vec<Motion>, InferError> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let mut seen = std::collections::HashSet::new();
        // Frames are not checked against their size: like the CPU pass, a short buffer's
        // missing bytes read as black (a decoder's bad frame must not look like a GPU failure).
        for (slot, image) in frames {
            if !matches!(self.cameras.get(slot.0), Some(Some(_))) || !seen.insert(slot.0) {
                return Err(InferError::Input(format!(
                    "motion slot {} is unknown or given twice in one call",
                    slot.0
                )));
            }
            self.size_for(slot.0, image.width, image.height);
        }
        let (jobs, totals) = self.lay_out(frames)?;
        let max_binding = self.ctx.max_binding_bytes();
        if totals.upload as u64 > max_binding {
            return Err(InferError::Input(format!(
                "{} frames' motion rows need {} bytes on the GPU, more than it binds at once \
                 ({max_binding})",
                frames.len(),
                totals.upload
            )));
        }
        self.write(frames, &jobs, &totals)?;
        let back = self.run(&jobs, &totals)?;
        jobs.iter()
            .map(|job| {
                if job.first {
                    Ok(calibrating(0.0, 0.0))
                } else {
                    self.conclude(job, &back)
                }
            })
            .collect()
    }

    /// Sets camera `i`'s grey size for `fw` x `fh` frames, with a fresh background, unless it
    /// has one for that size.
    fn size_for(&mut self, i: usize, fw: u32, fh: u32) {
        let Some(camera) = self.cameras[i].as_mut() else {
            return;
        };
        if camera.grey.as_ref().is_some_and(|g| g.frame == (fw, fh)) {
            return;
        }
        let (w, h) = grey_size(&camera.config, fw, fh);
        let masked = masked_pixels(&camera.config, w, h);
        let open = masked.iter().filter(|&&m| !m).count();
        let words: Vec<u32> = masked.iter().map(|&m| u32::from(m)).collect();
        let device = &self.ctx.device;
        let background = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("motion background"),
            size: (w * h * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let masked_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("motion masks"),
            size: (w * h * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.ctx
            .queue
            .write_buffer(&masked_buf, 0, bytemuck::cast_slice(&words));
        camera.grey = Some(GreyState {
            frame: (fw, fh),
            size: (w, h),
            open,
            reset_count: reset_count(camera.config.calibrate_above, open),
            background,
            masked: masked_buf,
            first: true,
        });
    }

    /// Where each frame goes in the call's buffers, and how big they get.
    fn lay_out(
        &self,
        frames: &[(MotionSlot, ImageRef<'_>)],
    ) -> Result<(Vec<Job>, Totals), InferError> {
        let mut t = Totals::default();
        let jobs = frames
            .iter()
            .map(|(slot, image)| {
                let (_, g) = sized(&self.cameras, slot.0)?;
                let (w, h) = g.size;
                let bpp = if image.format == PixelFormat::Rgba {
                    4
                } else {
                    1
                };
                let row_pitch = (image.width as usize * bpp).div_ceil(4) * 4;
                let rows: usize = (0..h)
                    .map(|oy| sampled_rows(image.height as usize, h, oy).len())
                    .sum();
                let job = Job {
                    slot: slot.0,
                    first: g.first,
                    src_base: t.upload,
                    row_pitch,
                    table: t.rows,
                    scratch: t.scratch,
                    atom: t.atom,
                };
                t.upload += rows * row_pitch;
                t.rows += h;
                t.scratch += 2 * w * h;
                t.atom += BITS_AT + (w * h).div_ceil(32);
                Ok(job)
            })
            .collect::<Result<_, InferError>>()?;
        Ok((jobs, t))
    }

    /// Uploads the sampled rows, the row tables and the parameters.
    fn write(
        &mut self,
        frames: &[(MotionSlot, ImageRef<'_>)],
        jobs: &[Job],
        t: &Totals,
    ) -> Result<(), InferError> {
        let device = &self.ctx.device;
        let storage = wgpu::BufferUsages::STORAGE;
        let upload = self.upload.at_least(
            device,
            t.upload.max(4) as u64,
            grow(t.upload),
            "motion rows",
            storage,
        );
        let size = NonZeroU64::new(t.upload.max(4) as u64).unwrap_or(NonZeroU64::MIN);
        let mut view = self
            .ctx
            .queue
            .write_buffer_with(upload, 0, size)
            .ok_or_else(|| InferError::Gpu("cannot upload the motion rows".into()))?;
        let mut table = Vec::with_capacity(t.rows);
        let mut params = vec![0u8; UNIFORM_STRIDE as usize * jobs.len()];
        for (k, ((_, image), job)) in frames.iter().zip(jobs).enumerate() {
            let (camera, g) = sized(&self.cameras, job.slot)?;
            let (w, h) = g.size;
            let (fw, fh) = (image.width as usize, image.height as usize);
            let bytes = job.row_pitch.min(match image.format {
                PixelFormat::Nv12 => fw,
                PixelFormat::Rgba => 4 * fw,
            });
            let mut at = job.src_base;
            let mut index = 0u32;
            let mut row = vec![0u8; job.row_pitch];
            for oy in 0..h {
                let sampled = sampled_rows(fh, h, oy);
                table.push(index | ((sampled.len() as u32) << 16));
                for y in sampled {
                    let start = image.planes.offsets[0] + y * image.planes.strides[0];
                    let mut into = view.slice(at..at + job.row_pitch);
                    match image.data.get(start..start + bytes) {
                        Some(line) if bytes == job.row_pitch => into.copy_from_slice(line),
                        // Padded to 4 bytes, or cut short: what a short buffer lacks reads
                        // as black, as on the CPU.
                        have => {
                            row.iter_mut().for_each(|b| *b = 0);
                            let have = have.or_else(|| image.data.get(start..)).unwrap_or(&[]);
                            let n = have.len().min(bytes);
                            row[..n].copy_from_slice(&have[..n]);
                            into.copy_from_slice(&row);
                        }
                    }
                    at += job.row_pitch;
                    index += 1;
                }
            }
            let c = &camera.config;
            let words: [u32; PARAM_WORDS] = [
                fw as u32,
                w as u32,
                h as u32,
                u32::from(image.format == PixelFormat::Rgba),
                job.src_base as u32,
                job.row_pitch as u32,
                job.table as u32,
                sample_step(fw, w) as u32,
                u32::from(c.contrast),
                u32::from(g.first),
                u32::from(w >= 3 && h >= 3),
                g.open as u32,
                f32::from(c.threshold).to_bits(),
                c.alpha.to_bits(),
                g.reset_count,
                job.scratch as u32,
                job.atom as u32,
                0,
                0,
                0,
            ];
            let off = k * UNIFORM_STRIDE as usize;
            params[off..off + 4 * PARAM_WORDS].copy_from_slice(bytemuck::cast_slice(&words));
        }
        drop(view);
        let rows = self.rows.at_least(
            device,
            (t.rows * 4) as u64,
            grow(t.rows * 4),
            "motion row table",
            storage,
        );
        self.ctx
            .queue
            .write_buffer(rows, 0, bytemuck::cast_slice(&table));
        let uniform = self.uniform.at_least(
            device,
            params.len() as u64,
            grow(params.len()),
            "motion params",
            wgpu::BufferUsages::UNIFORM,
        );
        self.ctx.queue.write_buffer(uniform, 0, &params);
        Ok(())
    }

    /// Records the five steps for every frame, runs them, and returns the atomics words.
    fn run(&mut self, jobs: &[Job], t: &Totals) -> Result<Vec<u32>, InferError> {
        let device = &self.ctx.device;
        let atom_bytes = (t.atom * 4) as u64;
        let scratch = self.scratch.at_least(
            device,
            (t.scratch * 4) as u64,
            grow(t.scratch * 4),
            "motion grey",
            wgpu::BufferUsages::STORAGE,
        );
        let atom = self.atom.at_least(
            device,
            atom_bytes,
            grow(t.atom * 4),
            "motion counts",
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let (Some(upload), Some(rows), Some(uniform)) =
            (self.upload.get(), self.rows.get(), self.uniform.get())
        else {
            return Err(InferError::Gpu("motion buffers missing".into()));
        };
        let groups = jobs
            .iter()
            .enumerate()
            .map(|(k, job)| {
                let (_, g) = sized(&self.cameras, job.slot)?;
                let entries = [
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: uniform,
                            offset: k as u64 * UNIFORM_STRIDE,
                            size: NonZeroU64::new((PARAM_WORDS * 4) as u64),
                        }),
                    },
                    whole(1, upload),
                    whole(2, rows),
                    whole(3, scratch),
                    whole(4, atom),
                    whole(5, &g.background),
                    whole(6, &g.masked),
                ];
                let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("motion"),
                    layout: &self.layout,
                    entries: &entries,
                });
                let (w, h) = g.size;
                Ok((bg, [(w as u32).div_ceil(8), (h as u32).div_ceil(8)]))
            })
            .collect::<Result<Vec<(wgpu::BindGroup, [u32; 2])>, InferError>>()?;
        let readback = self.readback.at_least(
            device,
            atom_bytes,
            grow(t.atom * 4),
            "motion readback",
            wgpu::BufferUsages::MAP_READ,
        );
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("motion"),
        });
        enc.clear_buffer(atom, 0, Some(atom_bytes));
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("motion"),
                timestamp_writes: None,
            });
            for (step, pipeline) in STEPS.iter().zip(&self.pipelines) {
                pass.set_pipeline(pipeline);
                for (bg, [x, y]) in &groups {
                    pass.set_bind_group(0, bg, &[]);
                    if *step == "levels" {
                        pass.dispatch_workgroups(1, 1, 1);
                    } else {
                        pass.dispatch_workgroups(*x, *y, 1);
                    }
                }
            }
        }
        enc.copy_buffer_to_buffer(atom, 0, readback, 0, atom_bytes);
        self.ctx.queue.submit([enc.finish()]);
        let slice = readback.slice(..atom_bytes);
        map_and_wait(&self.ctx, &slice, "motion")?;
        let words = slice
            .get_mapped_range()
            .map(|view| bytemuck::pod_collect_to_vec::<u8, u32>(&view))
            .map_err(|e| InferError::Gpu(format!("reading the motion results: {e:?}")));
        readback.unmap();
        let words = words?;
        for job in jobs {
            if let Some(Some(Camera { grey: Some(g), .. })) = self.cameras.get_mut(job.slot) {
                g.first = false;
            }
        }
        Ok(words)
    }

    /// The motion of a frame that was not its camera's first, from its count and bit mask.
    fn conclude(&self, job: &Job, words: &[u32]) -> Result<Motion, InferError> {
        let (camera, g) = sized(&self.cameras, job.slot)?;
        let (w, h) = g.size;
        let count = words
            .get(job.atom + COUNT_AT)
            .copied()
            .ok_or_else(|| InferError::Gpu("motion results cut short".into()))?
            as usize;
        let fraction = count as f32 / g.open.max(1) as f32;
        if count as u32 >= g.reset_count {
            return Ok(calibrating(fraction, 1.0));
        }
        let bits = words
            .get(job.atom + BITS_AT..job.atom + BITS_AT + (w * h).div_ceil(32))
            .ok_or_else(|| InferError::Gpu("motion results cut short".into()))?;
        let changed: Mask = (0..w * h)
            .map(|i| (bits[i / 32] >> (i % 32)) & 1 == 1)
            .collect();
        Ok(from_changes(
            &camera.config,
            &changed,
            fraction,
            g.frame,
            (w, h),
        ))
    }
}

/// Camera `i` and its grey state: `update` checked the slot and `size_for` sized it.
fn sized(cameras: &[Option<Camera>], i: usize) -> Result<(&Camera, &GreyState), InferError> {
    cameras
        .get(i)
        .and_then(Option::as_ref)
        .and_then(|c| Some((c, c.grey.as_ref()?)))
        .ok_or_else(|| InferError::Other(format!("motion slot {i} lost its camera")))
}

/// Sizes of one call's buffers (bytes of rows; words of the rest).
#[derive(Default)]
struct Totals {
    upload: usize,
    rows: usize,
    scratch: usize,
    atom: usize,
}

/// A new buffer for `need` bytes: the next power of two, at least 64 KiB, so that a few more
/// cameras do not reallocate it.
fn grow(need: usize) -> impl FnOnce() -> u64 {
    move || (need as u64).max(1 << 16).next_power_of_two()
}

fn whole(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}

fn calibrating(fraction: f32, coverage: f32) -> Motion {
    Motion {
        state: MotionState::Calibrating,
        boxes: Vec::new(),
        fraction,
        coverage,
    }
}

/// The fewest changed pixels of `open` that the CPU's test (`changed / open > calibrate_above`,
/// in f32) calls a recalibration; `u32::MAX` when none is.
pub fn reset_count(calibrate_above: f32, open: usize) -> u32 {
    let of = open.max(1) as f32;
    let start = ((calibrate_above * of).floor() as usize).saturating_sub(2);
    (start..=open)
        .find(|&c| c as f32 / of > calibrate_above)
        .map_or(u32::MAX, |c| c as u32)
}
