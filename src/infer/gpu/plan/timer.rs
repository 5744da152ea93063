//! The device's own time for a plan's compute pass: two timestamps around the pass, resolved and
//! copied behind the outputs in the staging buffer, and read back with them (no extra wait).

use super::super::context::GpuContext;

/// Bytes of the two resolved timestamps.
pub(super) const TIMER_BYTES: u64 = 16;

/// Timestamp queries around one compute pass.
pub(super) struct PassTimer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    /// Where the two timestamps land in the staging buffer.
    staging_offset: u64,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

impl PassTimer {
    /// A timer whose timestamps land at `staging_offset`, or `None` on an adapter without
    /// timestamp queries.
    pub(super) fn new(ctx: &GpuContext, staging_offset: u64) -> Option<Self> {
        if !ctx.supports_timestamps() {
            return None;
        }
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("pass time"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pass time resolve"),
            size: TIMER_BYTES,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(PassTimer {
            queries,
            resolve,
            staging_offset,
            period_ns: f64::from(ctx.queue.get_timestamp_period()),
        })
    }

    /// The pass's timestamp writes: one at its beginning, one at its end.
    pub(super) fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    /// Resolves the timestamps and copies them into `staging` (after the pass).
    pub(super) fn copy(&self, enc: &mut wgpu::CommandEncoder, staging: &wgpu::Buffer) {
        enc.resolve_query_set(&self.queries, 0..2, &self.resolve, 0);
        enc.copy_buffer_to_buffer(&self.resolve, 0, staging, self.staging_offset, TIMER_BYTES);
    }

    /// The pass's duration in milliseconds, from the mapped staging buffer.
    pub(super) fn read(&self, staging: &[u8]) -> Option<f64> {
        let at = usize::try_from(self.staging_offset).ok()?;
        let bytes = staging.get(at..at + TIMER_BYTES as usize)?;
        let tick = |b: &[u8]| b.try_into().ok().map(u64::from_le_bytes);
        let (start, end) = (tick(&bytes[..8])?, tick(&bytes[8..])?);
        (end >= start).then(|| (end - start) as f64 * self.period_ns / 1e6)
    }
}
