// Motion of one camera's frame against its background, in five steps recorded one after another
// in one compute pass (each a dispatch, so each sees the previous one's writes). They follow
// crate::motion::MotionDetector::update step by step, in integers where it uses integers, so that
// the grey picture is the CPU's exactly:
//   grey     one thread per grey pixel: the mean of the sampled frame pixels of its block (the
//            frame rows were uploaded already picked, as `rows` lists them); a histogram of the
//            result when contrast stretching is on.
//   levels   one thread: the grey levels the darkest and brightest 1 % stop at (stretching).
//   blur     one thread per grey pixel: stretched, then the [1 2 1] x [1 2 1] blur.
//   compare  one thread per grey pixel: changed where it differs from the background by more
//            than the threshold and is not masked; counted, and set in a bit mask.
//   learn    one thread per grey pixel: the background follows (or is reset: the first frame,
//            or a change over `calibrate_above` of the open picture: `reset_count` pixels).
// Only the count and the bit mask go back to the CPU, which joins and boxes the changes.

struct Params {
    // Frame width in pixels; grey picture size.
    fw: u32,
    gw: u32,
    gh: u32,
    // 1 when the uploaded rows are RGBA (4 bytes a pixel), 0 for NV12 luma.
    rgba: u32,
    // Byte offset of this frame's first uploaded row in `src`, and bytes between rows there.
    src_base: u32,
    row_pitch: u32,
    // Index in `rows` of this frame's entry for grey row 0.
    table: u32,
    // Every how many frame columns a block is sampled.
    step_x: u32,
    contrast: u32,
    first: u32,
    blur: u32,
    // Grey pixels outside the masks.
    open: u32,
    threshold: f32,
    alpha: f32,
    // The fewest changed pixels that make the frame a recalibration (worked out on the CPU with
    // the CPU's own test, so that both agree).
    reset_count: u32,
    // Word offsets of this frame's grey picture in `scratch` (the smoothed one follows it) and
    // of its histogram in `atom` (256 bins, then lo, hi, the changed count and the bit mask).
    scratch: u32,
    atom: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
// Per grey row: index of its first uploaded frame row (low 16 bits) and how many (high 16).
@group(0) @binding(2) var<storage, read> rows: array<u32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(4) var<storage, read_write> atom: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> background: array<f32>;
@group(0) @binding(6) var<storage, read> masked: array<u32>;

const LO: u32 = 256u;
const HI: u32 = 257u;
const COUNT: u32 = 258u;
const BITS: u32 = 259u;

fn byte_at(o: u32) -> u32 {
    return (src[o >> 2u] >> ((o & 3u) * 8u)) & 255u;
}

fn luma_at(o: u32) -> u32 {
    if p.rgba == 0u {
        return byte_at(o);
    }
    return (77u * byte_at(o) + 150u * byte_at(o + 1u) + 29u * byte_at(o + 2u)) >> 8u;
}

@compute @workgroup_size(8, 8, 1)
fn grey(@builtin(global_invocation_id) g: vec3<u32>) {
    if g.x >= p.gw || g.y >= p.gh {
        return;
    }
    let x0 = g.x * p.fw / p.gw;
    let x1 = min(max((g.x + 1u) * p.fw / p.gw, x0 + 1u), p.fw);
    let entry = rows[p.table + g.y];
    let first = entry & 0xffffu;
    let count = entry >> 16u;
    let bpp = select(1u, 4u, p.rgba != 0u);
    var sum = 0u;
    var n = 0u;
    for (var r = 0u; r < count; r++) {
        let base = p.src_base + (first + r) * p.row_pitch;
        for (var x = x0; x < x1; x += p.step_x) {
            sum += luma_at(base + x * bpp);
            n += 1u;
        }
    }
    let v = sum / max(n, 1u);
    scratch[p.scratch + g.y * p.gw + g.x] = v;
    if p.contrast != 0u {
        atomicAdd(&atom[p.atom + v], 1u);
    }
}

@compute @workgroup_size(1, 1, 1)
fn levels() {
    var lo = 0u;
    var hi = 255u;
    if p.contrast != 0u {
        let cut = p.gw * p.gh / 100u;
        var acc = 0u;
        loop {
            if lo >= 255u {
                break;
            }
            let c = atomicLoad(&atom[p.atom + lo]);
            if acc + c > cut {
                break;
            }
            acc += c;
            lo += 1u;
        }
        acc = 0u;
        loop {
            if hi <= lo {
                break;
            }
            let c = atomicLoad(&atom[p.atom + hi]);
            if acc + c > cut {
                break;
            }
            acc += c;
            hi -= 1u;
        }
        if hi <= lo {
            // Nothing to stretch: the identity.
            lo = 0u;
            hi = 255u;
        }
    }
    atomicStore(&atom[p.atom + LO], lo);
    atomicStore(&atom[p.atom + HI], hi);
}

fn stretched(x: u32, y: u32, lo: u32, hi: u32) -> u32 {
    let v = scratch[p.scratch + y * p.gw + x];
    return (clamp(v, lo, hi) - lo) * 255u / (hi - lo);
}

@compute @workgroup_size(8, 8, 1)
fn blur(@builtin(global_invocation_id) g: vec3<u32>) {
    if g.x >= p.gw || g.y >= p.gh {
        return;
    }
    let lo = atomicLoad(&atom[p.atom + LO]);
    let hi = atomicLoad(&atom[p.atom + HI]);
    var v: u32;
    if p.blur == 0u {
        v = stretched(g.x, g.y, lo, hi);
    } else {
        // Edges repeat their outermost pixel, as the CPU's blur does.
        let xl = max(g.x, 1u) - 1u;
        let xr = min(g.x + 1u, p.gw - 1u);
        let yu = max(g.y, 1u) - 1u;
        let yd = min(g.y + 1u, p.gh - 1u);
        let up = stretched(xl, yu, lo, hi) + 2u * stretched(g.x, yu, lo, hi) + stretched(xr, yu, lo, hi);
        let mid = stretched(xl, g.y, lo, hi) + 2u * stretched(g.x, g.y, lo, hi) + stretched(xr, g.y, lo, hi);
        let down = stretched(xl, yd, lo, hi) + 2u * stretched(g.x, yd, lo, hi) + stretched(xr, yd, lo, hi);
        v = (up + 2u * mid + down) / 16u;
    }
    scratch[p.scratch + p.gw * p.gh + g.y * p.gw + g.x] = v;
}

@compute @workgroup_size(8, 8, 1)
fn compare(@builtin(global_invocation_id) g: vec3<u32>) {
    if g.x >= p.gw || g.y >= p.gh || p.first != 0u {
        return;
    }
    let i = g.y * p.gw + g.x;
    let v = f32(scratch[p.scratch + p.gw * p.gh + i]);
    if abs(v - background[i]) > p.threshold && masked[i] == 0u {
        atomicAdd(&atom[p.atom + COUNT], 1u);
        atomicOr(&atom[p.atom + BITS + i / 32u], 1u << (i % 32u));
    }
}

@compute @workgroup_size(8, 8, 1)
fn learn(@builtin(global_invocation_id) g: vec3<u32>) {
    if g.x >= p.gw || g.y >= p.gh {
        return;
    }
    let i = g.y * p.gw + g.x;
    let v = f32(scratch[p.scratch + p.gw * p.gh + i]);
    if p.first != 0u || atomicLoad(&atom[p.atom + COUNT]) >= p.reset_count {
        background[i] = v;
    } else {
        let b = background[i];
        background[i] = b + p.alpha * (v - b);
    }
}
