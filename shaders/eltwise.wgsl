// Element-wise ops over NHWC views, vec4 across channels: unary functions, binary ops with a
// second NHWC tensor, a per-channel constant or a scalar, and plain copies (a Concat part placed
// at its channel offset). Padding lanes are written as zero.
// Template: $B_MODE (0 none, 1 tensor, 2 per-channel vec4 constant, 3 scalar constant, in b[0].x),
// $SWAP (b is the left operand), op(), act().

struct Params {
    total: u32,      // pixels * C4
    c4: u32,
    c: u32,
    a_ps4: u32,
    a_off4: u32,
    b_ps4: u32,
    b_off4: u32,
    out_ps4: u32,
    out_off4: u32,
    row_threads: u32,
};

$BINDINGS

#include "common/grid.wgsl"
#include "common/nhwc.wgsl"

const B_MODE: u32 = $B_MODEu;
const SWAP: bool = $SWAP;

$OP

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= p.total {
        return;
    }
    let c4 = idx % p.c4;
    let m = idx / p.c4;
    let a = ld_a(m * p.a_ps4 + p.a_off4 + c4);
    var r: vec4<f32>;
    switch B_MODE {
        case 0u: { r = op(a, a); }
        default: {
            var b: vec4<f32>;
            if B_MODE == 1u {
                b = ld_b(m * p.b_ps4 + p.b_off4 + c4);
            } else if B_MODE == 2u {
                b = ld_b(c4);
            } else {
                b = vec4<f32>(ld_b(0u).x);
            }
            if SWAP {
                r = op(b, a);
            } else {
                r = op(a, b);
            }
        }
    }
    st_y(m * p.out_ps4 + p.out_off4 + c4, live_lanes(r, c4, p.c));
}
