// Softmax along one axis of a strided tensor (max-subtracted), one thread per row, f32 output.
// The iteration space is the tensor with the axis collapsed to 1.

struct Params {
    total: u32,
    row_threads: u32,
    len: u32,
    a_base: u32,
    o_base: u32,
    a_axis: u32,
    o_axis: u32,
    _p: u32,
    dims: array<vec4<u32>, 2>,
    astr: array<vec4<u32>, 2>,
    ostr: array<vec4<u32>, 2>,
};

$BINDINGS

#include "common/grid.wgsl"

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= p.total {
        return;
    }
    var rem = idx;
    var a = p.a_base;
    var o = p.o_base;
    for (var dd = 0u; dd < 6u; dd++) {
        let d = 5u - dd;
        let extent = p.dims[d / 4u][d % 4u];
        let c = rem % extent;
        rem = rem / extent;
        a += c * p.astr[d / 4u][d % 4u];
        o += c * p.ostr[d / 4u][d % 4u];
    }
    var mx = -3.0e38;
    for (var k = 0u; k < p.len; k++) {
        mx = max(mx, ld_a(a + k * p.a_axis));
    }
    var sum = 0.0;
    for (var k = 0u; k < p.len; k++) {
        sum += exp(ld_a(a + k * p.a_axis) - mx);
    }
    for (var k = 0u; k < p.len; k++) {
        st_y(o + k * p.o_axis, exp(ld_a(a + k * p.a_axis) - mx) / sum);
    }
}
