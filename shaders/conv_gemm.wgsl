// Convolution as an implicit GEMM over NHWC tensors, vec4 across channels.
//
// Output matrix: rows = output pixels (n, oh, ow), columns = output channels (in vec4 groups).
// Inner dimension: (kh, kw, input channel group of 4). The im2col gather happens inside the tile
// load below and is never written out. A workgroup of WX * WY threads computes a tile of
// (WY * 4) pixels x (WX * 4) channels; each thread owns 4 pixels x 4 channels (4 vec4 accumulators).
// The epilogue adds the bias, applies the activation, adds the residual, applies the second
// activation, zeroes padding lanes and writes at the output view's channel offset (Concat).
//
// With TRANSPOSED, the same kernel computes a transposed convolution: output pixel (oh, ow) gathers
// input pixel ((oh + pad - kh * dil) / stride) when that division is exact.
//
// Template constants are substituted by the host: $KH $KW $SH $SW $DH $DW $PT $PL $WX $WY $KT
// $TRANSPOSED $RESIDUAL, and the functions act() and post_act().

struct Params {
    m: u32,          // output pixels: N * OH * OW
    k4: u32,         // inner dimension in vec4 rows: KH * KW * CIN4
    cin4: u32,
    cout4: u32,      // output channel groups (weights are padded to a multiple of WX)
    cout: u32,       // real output channels, for masking padding lanes
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    in_ps4: u32,     // input pixel stride and channel offset, in vec4
    in_off4: u32,
    out_ps4: u32,
    out_off4: u32,
    res_ps4: u32,
    res_off4: u32,
    tiles_y: u32,    // workgroups along y before wrapping into z
};

$BINDINGS

#include "common/nhwc.wgsl"
#include "common/window.wgsl"

const WX: u32 = $WXu;
const WY: u32 = $WYu;
const KT: u32 = $KTu;
const TM: u32 = WY * 4u;
const TRANSPOSED: bool = $TRANSPOSED;
const RESIDUAL: bool = $RESIDUAL;
const A_PER_THREAD: u32 = TM * KT / (WX * WY);
const B_PER_THREAD: u32 = KT * 4u * WX / (WX * WY);

var<workgroup> a_tile: array<vec4<f32>, TM * KT>;
var<workgroup> b_tile: array<vec4<f32>, KT * 4u * WX>;

$ACT

// Input vec4 (4 input channels) for output pixel (n, oy, ox) at inner index k.
fn load_a(n: u32, oy: i32, ox: i32, k: u32) -> vec4<f32> {
    // 1x1 kernels have a single tap: no division on the inner dimension.
    var tap = 0u;
    var ci4 = k;
    if KH * KW != 1u {
        tap = k / p.cin4;
        ci4 = k - tap * p.cin4;
    }
    let ky = i32(tap / KW);
    let kx = i32(tap % KW);
    var iy: i32;
    var ix: i32;
    if TRANSPOSED {
        let ny = oy + PT - ky * DH;
        let nx = ox + PL - kx * DW;
        if ny < 0 || nx < 0 || ny % SH != 0 || nx % SW != 0 {
            return vec4<f32>(0.0);
        }
        iy = ny / SH;
        ix = nx / SW;
    } else {
        iy = oy * SH - PT + ky * DH;
        ix = ox * SW - PL + kx * DW;
    }
    if iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w) {
        return vec4<f32>(0.0);
    }
    let pix = (n * p.h + u32(iy)) * p.w + u32(ix);
    return ld_x(pix * p.in_ps4 + p.in_off4 + ci4);
}

@compute @workgroup_size($WXu, $WYu, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * WX + tx;
    let tile_m = (wid.y + wid.z * p.tiles_y) * TM;
    let tile_n = wid.x * WX;

    // Rows this thread loads into a_tile: fixed for the whole K loop, so decode them once.
    var a_n: array<u32, A_PER_THREAD>;
    var a_y: array<i32, A_PER_THREAD>;
    var a_x: array<i32, A_PER_THREAD>;
    var a_ok: array<bool, A_PER_THREAD>;
    for (var r = 0u; r < A_PER_THREAD; r++) {
        let e = t + r * WX * WY;
        let m = tile_m + e / KT;
        a_ok[r] = m < p.m;
        let px = pixel_at(min(m, p.m - 1u), p.oh, p.ow);
        a_x[r] = i32(px.x);
        a_y[r] = i32(px.y);
        a_n[r] = px.n;
    }

    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    for (var k0 = 0u; k0 < p.k4; k0 += KT) {
        for (var r = 0u; r < A_PER_THREAD; r++) {
            let e = t + r * WX * WY;
            let k = k0 + e % KT;
            var v = vec4<f32>(0.0);
            if a_ok[r] && k < p.k4 {
                v = load_a(a_n[r], a_y[r], a_x[r], k);
            }
            a_tile[e] = v;
        }
        // Weights are padded to whole tiles: no bounds checks.
        for (var r = 0u; r < B_PER_THREAD; r++) {
            let e = t + r * WX * WY;
            let row = k0 * 4u + e / WX;
            b_tile[e] = ld_wt(row * p.cout4 + tile_n + e % WX);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < KT; kk++) {
            let b0 = b_tile[(kk * 4u + 0u) * WX + tx];
            let b1 = b_tile[(kk * 4u + 1u) * WX + tx];
            let b2 = b_tile[(kk * 4u + 2u) * WX + tx];
            let b3 = b_tile[(kk * 4u + 3u) * WX + tx];
            for (var i = 0u; i < 4u; i++) {
                let a = a_tile[(ty + i * WY) * KT + kk];
                acc[i] = acc[i] + a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
            }
        }
        workgroupBarrier();
    }

    let co4 = tile_n + tx;
    if co4 * 4u >= p.cout {
        return;
    }
    let bias = ld_bias(co4);
    for (var i = 0u; i < 4u; i++) {
        let m = tile_m + ty + i * WY;
        if m >= p.m {
            continue;
        }
        var v = act(acc[i] + bias);
        if RESIDUAL {
            v = post_act(v + ld_res(m * p.res_ps4 + p.res_off4 + co4));
        }
        st_y(m * p.out_ps4 + p.out_off4 + co4, live_lanes(v, co4, p.cout));
    }
}
