//! Redaction on the GPU: a frame (NV12 or RGBA) and its [`Regions`] in, the redacted frame out
//! as tightly packed RGBA, by the two passes of `shaders/redact.wgsl`.

use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::PrivacyError;
use super::regions::{RedactStyle, Regions};
use crate::capture::frame::{ImageRef, PixelFormat};
use crate::infer::gpu::GpuContext;
use crate::infer::gpu::plan::map_and_wait;
use crate::infer::gpu::shader::template;

const REDACT: &str = include_str!("../../shaders/redact.wgsl");

/// Colour of filled masks and `fill` boxes: opaque black, packed as RGBA.
const FILL: u32 = 0xff00_0000;

/// Buffers sized for the largest frame seen so far.
struct Buffers {
    src: wgpu::Buffer,
    src_cap: u64,
    tmp: wgpu::Buffer,
    dst: wgpu::Buffer,
    staging: wgpu::Buffer,
    pixels_cap: u64,
}

/// Blurs, pixelates or fills boxes and fills mask polygons on frames, on one GPU.
pub struct Redactor {
    ctx: GpuContext,
    /// The horizontal and the vertical pass.
    passes: [Arc<wgpu::ComputePipeline>; 2],
    buffers: Option<Buffers>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("adapter", &self.ctx.summary().name)
            .finish()
    }
}

/// Bindings each pass uses (auto layouts hold only those): params, src, tmp, dst, boxes, polys, verts.
const PASS_BINDINGS: [&[u32]; 2] = [&[0, 1, 2, 4], &[0, 2, 3, 4, 5, 6]];

impl Redactor {
    /// Compiles the kernels on `ctx`.
    pub fn new(ctx: &GpuContext) -> Result<Self, PrivacyError> {
        let compile = |entry: &str| {
            let src = template(REDACT, &[("ENTRY", entry.to_string())]);
            ctx.pipelines
                .get(&ctx.device, &format!("redact {entry}"), &src)
                .map_err(|e| PrivacyError::Gpu(e.to_string()))
        };
        Ok(Redactor {
            ctx: ctx.clone(),
            passes: [compile("pass_h")?, compile("pass_v")?],
            buffers: None,
        })
    }

    /// The adapter it runs on.
    pub fn adapter(&self) -> &str {
        &self.ctx.summary().name
    }

    fn buffers(&mut self, src_bytes: u64, pixels: u64) -> Result<&Buffers, PrivacyError> {
        let fits = self
            .buffers
            .as_ref()
            .is_some_and(|b| b.src_cap >= src_bytes && b.pixels_cap >= pixels);
        if !fits {
            let d = &self.ctx.device;
            let storage = |label: &str, size: u64, extra: wgpu::BufferUsages| {
                d.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage: wgpu::BufferUsages::STORAGE | extra,
                    mapped_at_creation: false,
                })
            };
            let src_cap = src_bytes.max(1 << 16).next_power_of_two();
            let pixels_cap = pixels.max(1 << 14).next_power_of_two();
            self.buffers = Some(Buffers {
                src: storage("redact src", src_cap, wgpu::BufferUsages::COPY_DST),
                src_cap,
                tmp: storage("redact tmp", pixels_cap * 4, wgpu::BufferUsages::empty()),
                dst: storage("redact dst", pixels_cap * 4, wgpu::BufferUsages::COPY_SRC),
                staging: d.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("redact readback"),
                    size: pixels_cap * 4,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                pixels_cap,
            });
        }
        self.buffers
            .as_ref()
            .ok_or_else(|| PrivacyError::Gpu("redaction buffers missing".into()))
    }

    /// Redacts `regions` on `image` in `style`; returns the whole frame as packed RGBA
    /// (`width * height * 4` bytes), every pixel outside the regions as it was (RGBA input) or
    /// converted (NV12 input, BT.601 limited range as in pre-processing).
    pub fn redact(
        &mut self,
        image: &ImageRef<'_>,
        regions: &Regions,
        style: RedactStyle,
    ) -> Result<Vec<u8>, PrivacyError> {
        image
            .check()
            .map_err(|e| PrivacyError::Frame(e.to_string()))?;
        let (w, h) = (image.width, image.height);
        let pixels = u64::from(w) * u64::from(h);
        let n = image.used_bytes().len();
        let padded = (n as u64).div_ceil(4) * 4;
        let params = params(image, regions, style)?;
        let (boxes, polys, verts) = geometry(regions);

        let ctx = self.ctx.clone();
        let (d, q) = (&ctx.device, &ctx.queue);
        let passes = self.passes.clone();
        let bufs = self.buffers(padded, pixels)?;
        let aligned = n / 4 * 4;
        if aligned > 0 {
            q.write_buffer(&bufs.src, 0, &image.data[..aligned]);
        }
        if aligned < n {
            let mut tail = [0u8; 4];
            tail[..n - aligned].copy_from_slice(&image.data[aligned..n]);
            q.write_buffer(&bufs.src, aligned as u64, &tail);
        }
        let init = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
            d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let uniform = init(
            "redact params",
            bytemuck::cast_slice(&params),
            wgpu::BufferUsages::UNIFORM,
        );
        let storage = wgpu::BufferUsages::STORAGE;
        let boxes = init("redact boxes", bytemuck::cast_slice(&boxes), storage);
        let polys = init("redact polygons", bytemuck::cast_slice(&polys), storage);
        let verts = init("redact vertices", bytemuck::cast_slice(&verts), storage);
        let resources = [
            &uniform, &bufs.src, &bufs.tmp, &bufs.dst, &boxes, &polys, &verts,
        ];

        let scope = d.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("redact"),
        });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("redact"),
                timestamp_writes: None,
            });
            for (pipeline, used) in passes.iter().zip(PASS_BINDINGS) {
                let entries: Vec<wgpu::BindGroupEntry<'_>> = used
                    .iter()
                    .map(|&b| wgpu::BindGroupEntry {
                        binding: b,
                        resource: resources[b as usize].as_entire_binding(),
                    })
                    .collect();
                let bg = d.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("redact"),
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                });
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(w.div_ceil(8), h.div_ceil(8), 1);
            }
        }
        enc.copy_buffer_to_buffer(&bufs.dst, 0, &bufs.staging, 0, pixels * 4);
        q.submit([enc.finish()]);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(PrivacyError::Gpu(e.to_string()));
        }
        let slice = bufs.staging.slice(..pixels * 4);
        map_and_wait(&ctx, &slice, "redacted frame")
            .map_err(|e| PrivacyError::Gpu(e.to_string()))?;
        let out = slice
            .get_mapped_range()
            .map(|view| view.to_vec())
            .map_err(|e| PrivacyError::Gpu(format!("reading the redacted frame: {e:?}")));
        bufs.staging.unmap();
        out
    }
}

/// The uniform block of both passes (matches `Params` in the shader).
fn params(
    image: &ImageRef<'_>,
    regions: &Regions,
    style: RedactStyle,
) -> Result<[u32; 12], PrivacyError> {
    let word = |v: usize, what: &str| {
        u32::try_from(v).map_err(|_| PrivacyError::Frame(format!("{what} {v} is too large")))
    };
    Ok([
        image.width,
        image.height,
        (image.format == PixelFormat::Nv12) as u32,
        word(image.planes.offsets[0], "plane offset")?,
        word(image.planes.offsets[1], "plane offset")?,
        word(image.planes.strides[0], "stride")?,
        word(image.planes.strides[1], "stride")?,
        word(regions.boxes.len(), "box count")?,
        word(regions.masks.len(), "mask count")?,
        match style {
            RedactStyle::Blur => 0,
            RedactStyle::Pixelate => 1,
            RedactStyle::Fill => 2,
        },
        FILL,
        0,
    ])
}

/// One box for the shader (matches `Region`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuRegion {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
    radius: i32,
    cell: i32,
    sigma: f32,
    pad: i32,
}

/// Boxes, polygon ranges and polygon corners as the shader reads them (never empty: wgpu
/// refuses zero-sized buffers).
fn geometry(regions: &Regions) -> (Vec<GpuRegion>, Vec<[u32; 2]>, Vec<[f32; 2]>) {
    let mut boxes: Vec<GpuRegion> = regions
        .boxes
        .iter()
        .map(|b| {
            let sigma = b.sigma();
            GpuRegion {
                x0: b.x0 as i32,
                y0: b.y0 as i32,
                x1: b.x1 as i32,
                y1: b.y1 as i32,
                radius: (3.0 * sigma).ceil() as i32,
                cell: b.cell() as i32,
                sigma,
                pad: 0,
            }
        })
        .collect();
    let mut polys = Vec::with_capacity(regions.masks.len());
    let mut verts = Vec::new();
    for m in &regions.masks {
        polys.push([verts.len() as u32, m.len() as u32]);
        verts.extend(m.iter().copied());
    }
    if boxes.is_empty() {
        boxes.push(bytemuck::Zeroable::zeroed());
    }
    if polys.is_empty() {
        polys.push([0, 0]);
    }
    if verts.is_empty() {
        verts.push([0.0, 0.0]);
    }
    (boxes, polys, verts)
}
