// Depthwise convolution over NHWC tensors, register-blocked.
//
// Each thread computes OWB consecutive output pixels of one row for one vec4 of channels. For each
// kernel row it loads the input span those outputs share into registers once, then accumulates
// every tap from registers: a 3x3 stride-1 kernel reads 6 input pixels per row instead of 12.
// Template constants: $KH $KW $SH $SW $DH $DW $PT $PL $OWB $SPAN $RESIDUAL, act(), post_act().

struct Params {
    total: u32,      // threads: N * OH * ceil(OW / OWB) * C4
    c4: u32,
    cout: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    owseg: u32,      // ceil(OW / OWB)
    in_ps4: u32,
    in_off4: u32,
    out_ps4: u32,
    out_off4: u32,
    res_ps4: u32,
    res_off4: u32,
    row_threads: u32, // threads per dispatch row (for 2-D dispatch of large tensors)
    _pad: u32,
};

$BINDINGS

#include "common/grid.wgsl"
#include "common/nhwc.wgsl"
#include "common/window.wgsl"

const OWB: u32 = $OWBu;
const SPAN: u32 = $SPANu;
const RESIDUAL: bool = $RESIDUAL;

$ACT

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= p.total {
        return;
    }
    let c4 = idx % p.c4;
    // Threads walk [N, OH, OWSEG, C4]: a row segment of OWB pixels is one "pixel" here.
    let px = pixel_at(idx / p.c4, p.oh, p.owseg);
    let n = px.n;
    let oy = px.y;
    let ox0 = px.x * OWB;

    var acc: array<vec4<f32>, OWB>;
    for (var o = 0u; o < OWB; o++) {
        acc[o] = vec4<f32>(0.0);
    }
    let ix0 = i32(ox0) * SW - PL;
    for (var ky = 0u; ky < KH; ky++) {
        let iy = i32(oy) * SH - PT + i32(ky) * DH;
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        let row = (n * p.h + u32(iy)) * p.w;
        var span: array<vec4<f32>, SPAN>;
        for (var j = 0u; j < SPAN; j++) {
            let ix = ix0 + i32(j);
            var v = vec4<f32>(0.0);
            if ix >= 0 && ix < i32(p.w) {
                v = ld_x((row + u32(ix)) * p.in_ps4 + p.in_off4 + c4);
            }
            span[j] = v;
        }
        for (var kx = 0u; kx < KW; kx++) {
            let wv = ld_wt((ky * KW + kx) * p.c4 + c4);
            for (var o = 0u; o < OWB; o++) {
                acc[o] = acc[o] + wv * span[o * u32(SW) + kx * u32(DW)];
            }
        }
    }

    let bias = ld_bias(c4);
    for (var o = 0u; o < OWB; o++) {
        let ox = ox0 + o;
        if ox >= p.ow {
            break;
        }
        let m = (n * p.oh + oy) * p.ow + ox;
        var v = act(acc[o] + bias);
        if RESIDUAL {
            v = post_act(v + ld_res(m * p.res_ps4 + p.res_off4 + c4));
        }
        st_y(m * p.out_ps4 + p.out_off4 + c4, live_lanes(v, c4, p.cout));
    }
}
