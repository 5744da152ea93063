//! Per-kernel timing: the plan run once with one compute pass per dispatch and timestamp queries.

use super::super::context::GpuContext;
use super::{KernelProfile, Plan, map_and_wait};
use crate::infer::InferError;

impl Plan {
    /// Runs the plan once with one compute pass per dispatch, timing each with timestamp queries.
    pub(in crate::infer::gpu) fn profile(
        &self,
        ctx: &GpuContext,
        before: impl Fn(&mut wgpu::CommandEncoder),
    ) -> Result<Vec<KernelProfile>, InferError> {
        if !ctx.supports_timestamps() {
            return Err(InferError::Gpu(format!(
                "{} has no timestamp queries",
                ctx.summary().name
            )));
        }
        let n = self.steps.len() as u32;
        let qs = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * n.max(1),
        });
        let bytes = 16 * n.max(1) as u64;
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile resolve"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let read = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile read"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("profile"),
            });
        before(&mut enc);
        for (i, s) in self.steps.iter().enumerate() {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&s.name),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &qs,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&s.pipeline);
            pass.set_bind_group(0, &s.bind_group, &[]);
            pass.dispatch_workgroups(s.groups[0], s.groups[1], s.groups[2]);
        }
        enc.resolve_query_set(&qs, 0..2 * n, &resolve, 0);
        enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
        ctx.queue.submit([enc.finish()]);
        let slice = read.slice(..);
        map_and_wait(ctx, &slice, "timestamps")?;
        let period = ctx.queue.get_timestamp_period() as f64;
        let times: Vec<u64> = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| InferError::Gpu(format!("reading timestamps: {e:?}")))?;
            bytemuck::cast_slice::<u8, u64>(&view).to_vec()
        };
        read.unmap();
        Ok(self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| KernelProfile {
                name: s.name.clone(),
                kernel: s.kind.to_string(),
                time_ms: times[2 * i + 1].saturating_sub(times[2 * i]) as f64 * period / 1e6,
                flops: s.flops,
                bytes: s.bytes,
            })
            .collect())
    }
}
