//! Pre-processing on the GPU: frames are uploaded as bytes and turned into the model input by one
//! kernel per picture, recorded in the same compute pass as the model.

use std::sync::Arc;

use super::context::GpuContext;
use super::layout::{Layout, Place};
use super::shader::{Access, PipelineCache, Prec, Slot, bindings, either_width_stores, template};
use crate::capture::frame::{ImageRef, PixelFormat};
use crate::infer::InferError;
use crate::infer::preprocess::{BoxTransform, ChannelOrder, Preprocess};

const PREPROCESS: &str = include_str!("../../../shaders/preprocess.wgsl");
const UNIFORM_STRIDE: u64 = 256;

/// Upload buffers and parameters reused between calls (grown when frames get larger).
pub(super) struct PreprocessStage {
    upload: Grown,
    uniform: Grown,
}

/// A buffer kept between calls and replaced by a larger one when a call needs more.
#[derive(Default)]
pub(super) struct Grown {
    buffer: Option<wgpu::Buffer>,
}

impl Grown {
    /// The buffer as it is, if one was made.
    pub(super) fn get(&self) -> Option<&wgpu::Buffer> {
        self.buffer.as_ref()
    }

    /// The buffer, replaced first by one of `size()` bytes when it holds fewer than `need`.
    pub(super) fn at_least(
        &mut self,
        device: &wgpu::Device,
        need: u64,
        size: impl FnOnce() -> u64,
        label: &str,
        usage: wgpu::BufferUsages,
    ) -> &wgpu::Buffer {
        if self.buffer.as_ref().is_some_and(|b| b.size() < need) {
            self.buffer = None;
        }
        self.buffer.get_or_insert_with(|| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size(),
                usage: usage | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }
}

/// Where the pre-processed batch goes: the plan's input.
pub(super) struct Target<'a> {
    /// The input's place (batch in dim 0).
    pub place: Place,
    /// Its logical shape.
    pub shape: &'a [usize],
    /// The buffer of its slot.
    pub buffer: &'a wgpu::Buffer,
}

/// The dispatches of one call, ready to record.
pub(super) struct PreparedFrames {
    pipeline: Arc<wgpu::ComputePipeline>,
    groups: Vec<(wgpu::BindGroup, [u32; 3])>,
    pub transforms: Vec<BoxTransform>,
}

impl PreparedFrames {
    /// Records the pre-processing dispatches.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        for (bg, g) in &self.groups {
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(g[0], g[1], g[2]);
        }
    }
}

impl PreprocessStage {
    pub fn new() -> Self {
        PreprocessStage {
            upload: Grown::default(),
            uniform: Grown::default(),
        }
    }

    /// Uploads `images` and prepares one dispatch per picture writing into `target`.
    pub fn prepare(
        &mut self,
        ctx: &GpuContext,
        cache: &PipelineCache,
        pre: &Preprocess,
        images: &[ImageRef<'_>],
        target: &Target<'_>,
    ) -> Result<PreparedFrames, InferError> {
        let (input, shape) = (target.place, target.shape);
        for img in images {
            img.check()?;
        }
        let (w, h) = (pre.width as usize, pre.height as usize);
        // Layout code and per-picture stride of the input, in the units the kernel writes.
        let (layout, per_image, base, out_slot) = match input.layout {
            Layout::Nhwc => (
                0u32,
                h * w * input.ps / 4,
                input.offset / 4,
                Slot::new("y", input.prec, Access::Vec4),
            ),
            Layout::Plain if shape[3] == 3 => (
                1,
                h * w * 3,
                input.offset,
                Slot::new("y", Prec::F32, Access::Scalar),
            ),
            Layout::Plain => (
                2,
                3 * h * w,
                input.offset,
                Slot::new("y", Prec::F32, Access::Scalar),
            ),
        };
        let slots = [Slot::words("src"), out_slot];
        let decl = bindings(&slots) + &either_width_stores("out", &out_slot);
        let src = template(
            PREPROCESS,
            &[("BINDINGS", decl), ("LAYOUT", layout.to_string())],
        );
        let pipeline = cache.get(&ctx.device, "preprocess", &src)?;

        // Upload every frame at a 4-byte aligned offset.
        let mut offsets = Vec::with_capacity(images.len());
        let mut total = 0u64;
        for img in images {
            offsets.push(total);
            total += (img.used_bytes().len() as u64).div_ceil(4) * 4;
        }
        let max_binding = ctx.max_binding_bytes();
        if total > max_binding {
            return Err(InferError::Input(format!(
                "{} frames need {total} bytes on the GPU, more than it binds at once ({max_binding}): \
                 lower the model's max_batch or scale the camera's frames down",
                images.len()
            )));
        }
        let upload = self.upload.at_least(
            &ctx.device,
            total,
            || total.max(1 << 16).next_power_of_two().min(max_binding),
            "frames",
            wgpu::BufferUsages::STORAGE,
        );
        let ubytes = UNIFORM_STRIDE * images.len() as u64;
        let uniform = self.uniform.at_least(
            &ctx.device,
            ubytes,
            || ubytes,
            "preprocess params",
            wgpu::BufferUsages::UNIFORM,
        );
        let mut params_bytes = vec![0u8; ubytes as usize];
        let mut transforms = Vec::with_capacity(images.len());
        let mut groups = Vec::with_capacity(images.len());
        let layout_bg = pipeline.get_bind_group_layout(0);
        for (i, img) in images.iter().enumerate() {
            let bytes = img.used_bytes();
            let n = bytes.len();
            let aligned = n / 4 * 4;
            if aligned > 0 {
                ctx.queue
                    .write_buffer(upload, offsets[i], &bytes[..aligned]);
            }
            if aligned < n {
                let mut tail = [0u8; 4];
                tail[..n - aligned].copy_from_slice(&bytes[aligned..]);
                ctx.queue
                    .write_buffer(upload, offsets[i] + aligned as u64, &tail);
            }
            let t = BoxTransform::for_frame(pre, img.width, img.height);
            transforms.push(t);
            let base_bytes = offsets[i] as u32;
            let words: Vec<u32> = vec![
                img.width,
                img.height,
                (img.format == PixelFormat::Nv12) as u32,
                base_bytes + img.planes.offsets[0] as u32,
                base_bytes + img.planes.offsets[1] as u32,
                img.planes.strides[0] as u32,
                img.planes.strides[1] as u32,
                pre.width,
                pre.height,
                t.scale_x.to_bits(),
                t.scale_y.to_bits(),
                t.pad_x.to_bits(),
                t.pad_y.to_bits(),
                pre.pad_value.to_bits(),
                (pre.channel_order == ChannelOrder::Bgr) as u32,
                (base + i * per_image) as u32,
                pre.mean[0].to_bits(),
                pre.mean[1].to_bits(),
                pre.mean[2].to_bits(),
                0,
                pre.std[0].to_bits(),
                pre.std[1].to_bits(),
                pre.std[2].to_bits(),
                1f32.to_bits(),
            ];
            let at = i * UNIFORM_STRIDE as usize;
            params_bytes[at..at + words.len() * 4].copy_from_slice(bytemuck::cast_slice(&words));
            let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("preprocess"),
                layout: &layout_bg,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: uniform,
                            offset: i as u64 * UNIFORM_STRIDE,
                            size: wgpu::BufferSize::new((words.len() * 4) as u64),
                        }),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: upload.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: target.buffer.as_entire_binding(),
                    },
                ],
            });
            groups.push((bg, [(w as u32).div_ceil(8), (h as u32).div_ceil(8), 1]));
        }
        ctx.queue.write_buffer(uniform, 0, &params_bytes);
        Ok(PreparedFrames {
            pipeline,
            groups,
            transforms,
        })
    }
}
