// Shared by the NHWC kernels (spliced in by `#include "common/nhwc.wgsl"`): where a flat pixel
// index lies in [N, H, W], and the padding lanes of a vec4 of channels.

// A pixel of an [N, H, W] grid.
struct Pixel {
    n: u32,
    y: u32,
    x: u32,
};

// Pixel `m` = (n * h + y) * w + x of an [N, h, w] grid.
fn pixel_at(m: u32, h: u32, w: u32) -> Pixel {
    let rest = m / w;
    return Pixel(rest / h, rest % h, m % w);
}

// `v` with the lanes of channel group `c4` at or past `c` channels zeroed (padding lanes must
// hold zeros).
fn live_lanes(v: vec4<f32>, c4: u32, c: u32) -> vec4<f32> {
    let live = (vec4<u32>(0u, 1u, 2u, 3u) + c4 * 4u) < vec4<u32>(c);
    return select(vec4<f32>(0.0), v, live);
}
