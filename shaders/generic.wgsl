// Strided element-wise kernel of rank up to 6, one thread per output element, f32 output.
//
// It covers every op that only moves or combines elements: Transpose, Slice, Pad, Reshape out of
// NHWC, Concat parts that cannot be placed by their producer, broadcast binary ops, unary ops on
// plain tensors. The iteration space has up to 6 dims; for each coordinate:
//   output offset = o_base + sum(coord * ostr); coordinates at or past olim write 0 (padding lanes);
//   input a coordinate = coord + aoff, read at a_base + sum(acoord * astr) when 0 <= acoord < alim,
//   else pad_value; input b offset = b_base + sum(coord * bstr) (0 strides broadcast).
// Template: $NB (1 or 2 inputs), op().

struct Params {
    total: u32,
    row_threads: u32,
    o_base: u32,
    a_base: i32,
    b_base: u32,
    pad_value: f32,
    _p0: u32,
    _p1: u32,
    dims: array<vec4<u32>, 2>,
    olim: array<vec4<u32>, 2>,
    ostr: array<vec4<u32>, 2>,
    astr: array<vec4<i32>, 2>,
    aoff: array<vec4<i32>, 2>,
    alim: array<vec4<u32>, 2>,
    bstr: array<vec4<u32>, 2>,
};

$BINDINGS

#include "common/grid.wgsl"

const NB: u32 = $NBu;

$OP

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= p.total {
        return;
    }
    var rem = idx;
    var o = p.o_base;
    var zero = false;
    var a = p.a_base;
    var a_in = true;
    var b = p.b_base;
    for (var dd = 0u; dd < 6u; dd++) {
        let d = 5u - dd;
        let q = d / 4u;
        let r = d % 4u;
        let extent = p.dims[q][r];
        let c = rem % extent;
        rem = rem / extent;
        o += c * p.ostr[q][r];
        zero = zero || c >= p.olim[q][r];
        let ac = i32(c) + p.aoff[q][r];
        a_in = a_in && ac >= 0 && u32(ac) < p.alim[q][r];
        a += ac * p.astr[q][r];
        b += c * p.bstr[q][r];
    }
    var va = p.pad_value;
    if a_in {
        va = ld_a(u32(a));
    }
    var vb = 0.0;
    if NB == 2u {
        vb = ld_b(b);
    }
    var v = op(va, vb);
    if zero {
        v = 0.0;
    }
    st_y(o, v);
}
