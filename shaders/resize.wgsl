// Resize of H and W over NHWC tensors (nearest or bilinear), ONNX coordinate transforms.
// One thread per output pixel and vec4 of channels.
// Template constants: $COORD (0 half_pixel, 1 pytorch_half_pixel, 2 align_corners, 3 asymmetric,
// 4 tf_half_pixel_for_nn), $NEAREST (0 linear, 1 round_prefer_floor, 2 round_prefer_ceil,
// 3 floor, 4 ceil).

struct Params {
    total: u32,
    c4: u32,
    c: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    scale_h: f32,
    scale_w: f32,
    in_ps4: u32,
    in_off4: u32,
    out_ps4: u32,
    out_off4: u32,
    row_threads: u32,
};

$BINDINGS

#include "common/grid.wgsl"
#include "common/nhwc.wgsl"

const COORD: u32 = $COORDu;
const NEAREST: u32 = $NEARESTu;

fn source(x: u32, s: f32, in_len: u32, out_len: u32) -> f32 {
    let xf = f32(x);
    switch COORD {
        case 0u: { return (xf + 0.5) / s - 0.5; }
        case 1u: { if out_len > 1u { return (xf + 0.5) / s - 0.5; } return 0.0; }
        case 2u: { if out_len > 1u { return xf * f32(in_len - 1u) / f32(out_len - 1u); } return 0.0; }
        case 3u: { return xf / s; }
        default: { return (xf + 0.5) / s; }
    }
}

fn nearest(c: f32, in_len: u32) -> u32 {
    var i: f32;
    switch NEAREST {
        case 1u: { i = ceil(c - 0.5); }
        case 2u: { i = floor(c + 0.5); }
        case 3u: { i = floor(c); }
        default: { i = ceil(c); }
    }
    return u32(clamp(i, 0.0, f32(in_len - 1u)));
}

fn at(n: u32, y: u32, x: u32, c4: u32) -> vec4<f32> {
    return ld_x(((n * p.h + y) * p.w + x) * p.in_ps4 + p.in_off4 + c4);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= p.total {
        return;
    }
    let c4 = idx % p.c4;
    let m = idx / p.c4;
    let px = pixel_at(m, p.oh, p.ow);
    let n = px.n;
    let oy = px.y;
    let ox = px.x;
    let sy = source(oy, p.scale_h, p.h, p.oh);
    let sx = source(ox, p.scale_w, p.w, p.ow);
    var r: vec4<f32>;
    if NEAREST != 0u {
        r = at(n, nearest(sy, p.h), nearest(sx, p.w), c4);
    } else {
        let cy = clamp(sy, 0.0, f32(p.h - 1u));
        let cx = clamp(sx, 0.0, f32(p.w - 1u));
        let y0 = u32(floor(cy));
        let x0 = u32(floor(cx));
        let y1 = min(y0 + 1u, p.h - 1u);
        let x1 = min(x0 + 1u, p.w - 1u);
        let fy = cy - f32(y0);
        let fx = cx - f32(x0);
        let top = at(n, y0, x0, c4) * (1.0 - fx) + at(n, y0, x1, c4) * fx;
        let bot = at(n, y1, x0, c4) * (1.0 - fx) + at(n, y1, x1, c4) * fx;
        r = top * (1.0 - fy) + bot * fy;
    }
    st_y(m * p.out_ps4 + p.out_off4 + c4, live_lanes(r, c4, p.c));
}
