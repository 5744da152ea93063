// Max and average pooling over NHWC tensors: one thread per output pixel and vec4 of channels.
// Template constants: $KH $KW $SH $SW $DH $DW $PT $PL $MAX $INCLUDE_PAD.

struct Params {
    total: u32,
    c4: u32,
    c: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    pad_b: u32,
    pad_r: u32,
    in_ps4: u32,
    in_off4: u32,
    out_ps4: u32,
    out_off4: u32,
    row_threads: u32,
};

$BINDINGS

#include "common/grid.wgsl"
#include "common/nhwc.wgsl"
#include "common/window.wgsl"

const MAX: bool = $MAX;
const INCLUDE_PAD: bool = $INCLUDE_PAD;

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
    var best = vec4<f32>(-3.0e38);
    var sum = vec4<f32>(0.0);
    var count = 0u;
    var cells = 0u;
    for (var ky = 0u; ky < KH; ky++) {
        let iy = i32(oy) * SH - PT + i32(ky) * DH;
        for (var kx = 0u; kx < KW; kx++) {
            let ix = i32(ox) * SW - PL + i32(kx) * DW;
            if iy < i32(p.h + p.pad_b) && ix < i32(p.w + p.pad_r) {
                cells += 1u;
            }
            if iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w) {
                continue;
            }
            let v = ld_x(((n * p.h + u32(iy)) * p.w + u32(ix)) * p.in_ps4 + p.in_off4 + c4);
            best = max(best, v);
            sum = sum + v;
            count += 1u;
        }
    }
    var r: vec4<f32>;
    if MAX {
        r = best;
    } else if INCLUDE_PAD {
        r = sum / f32(max(cells, 1u));
    } else {
        r = sum / f32(max(count, 1u));
    }
    st_y(m * p.out_ps4 + p.out_off4 + c4, live_lanes(r, c4, p.c));
}
