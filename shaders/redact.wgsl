// Redaction of one frame: faces (boxes) blurred, pixelated or filled, privacy-mask polygons
// filled, written as packed RGBA (R in the low byte). The frame is read as raw NV12 or RGBA bytes
// (NV12 is converted here, with the formulas of preprocess.wgsl), so nothing on the host ever
// holds an unredacted RGBA copy.
//
// Two passes, one thread per pixel, chosen by the template: $ENTRY is `pass_h` or `pass_v`.
//   pass_h: frame -> tmp. Inside a box: the horizontal Gaussian (style 0, only over pixels of the
//           same box), the mean of the pixelation cell (style 1) or the fill colour (style 2);
//           elsewhere the pixel as it is.
//   pass_v: tmp -> dst. Inside a mask polygon: the fill colour. Inside a box with style 0: the
//           vertical Gaussian over tmp (same box only). Elsewhere tmp as it is.
// Boxes are disjoint (overlapping ones are merged on the host), so each pixel has at most one.
// Pixels outside every box and polygon are copied exactly (RGBA input) or converted (NV12).

struct Params {
    fw: u32,
    fh: u32,
    nv12: u32,
    off0: u32,
    off1: u32,
    stride0: u32,
    stride1: u32,
    n_boxes: u32,
    n_polys: u32,
    style: u32,
    fill: u32,
    pad: u32,
};

// A box in pixels, [x0, x1) x [y0, y1), with its blur radius and sigma and its pixelation cell.
struct Region {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
    radius: i32,
    cell: i32,
    sigma: f32,
    pad: i32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> tmp: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;
@group(0) @binding(4) var<storage, read> boxes: array<Region>;
// Polygon k: its corners are verts[polys[k].x .. polys[k].x + polys[k].y], in pixels.
@group(0) @binding(5) var<storage, read> polys: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read> verts: array<vec2<f32>>;

fn byte_at(o: u32) -> f32 {
    return f32((src[o >> 2u] >> ((o & 3u) * 8u)) & 255u);
}

fn pixel(x: i32, y: i32) -> vec4<f32> {
    let xu = u32(x);
    let yu = u32(y);
    if p.nv12 == 0u {
        let i = p.off0 + yu * p.stride0 + xu * 4u;
        return vec4<f32>(byte_at(i), byte_at(i + 1u), byte_at(i + 2u), byte_at(i + 3u));
    }
    let yv = byte_at(p.off0 + yu * p.stride0 + xu);
    let ci = p.off1 + (yu / 2u) * p.stride1 + (xu / 2u) * 2u;
    let u = byte_at(ci) - 128.0;
    let v = byte_at(ci + 1u) - 128.0;
    let c = 1.164 * (yv - 16.0);
    let rgb = clamp(
        vec3<f32>(c + 1.596 * v, c - 0.392 * u - 0.813 * v, c + 2.017 * u),
        vec3<f32>(0.0),
        vec3<f32>(255.0),
    );
    return vec4<f32>(rgb, 255.0);
}

fn pack(c: vec4<f32>) -> u32 {
    let v = vec4<u32>(clamp(round(c), vec4<f32>(0.0), vec4<f32>(255.0)));
    return v.x | (v.y << 8u) | (v.z << 16u) | (v.w << 24u);
}

fn unpack(w: u32) -> vec4<f32> {
    return vec4<f32>(
        f32(w & 255u),
        f32((w >> 8u) & 255u),
        f32((w >> 16u) & 255u),
        f32(w >> 24u),
    );
}

// Index of the box holding pixel (x, y), or -1.
fn box_of(x: i32, y: i32) -> i32 {
    for (var b = 0u; b < p.n_boxes; b++) {
        let r = boxes[b];
        if x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1 {
            return i32(b);
        }
    }
    return -1;
}

fn gauss(d: i32, sigma: f32) -> f32 {
    let f = f32(d);
    return exp(-f * f / (2.0 * sigma * sigma));
}

// Even-odd rule, as crate::rules::geometry::inside.
fn in_polygon(k: u32, q: vec2<f32>) -> bool {
    let start = polys[k].x;
    let n = polys[k].y;
    if n < 3u {
        return false;
    }
    var inside = false;
    var j = n - 1u;
    for (var i = 0u; i < n; i++) {
        let a = verts[start + i];
        let b = verts[start + j];
        if (a.y > q.y) != (b.y > q.y) {
            let x = a.x + (q.y - a.y) * (b.x - a.x) / (b.y - a.y);
            if q.x < x {
                inside = !inside;
            }
        }
        j = i;
    }
    return inside;
}

fn pass_h(gid: vec3<u32>) {
    if gid.x >= p.fw || gid.y >= p.fh {
        return;
    }
    let x = i32(gid.x);
    let y = i32(gid.y);
    let i = gid.y * p.fw + gid.x;
    let own = pixel(x, y);
    let b = box_of(x, y);
    if b < 0 {
        tmp[i] = pack(own);
        return;
    }
    let r = boxes[b];
    if p.style == 0u {
        var acc = vec3<f32>(0.0);
        var wsum = 0.0;
        for (var xx = max(x - r.radius, r.x0); xx <= min(x + r.radius, r.x1 - 1); xx++) {
            let w = gauss(xx - x, r.sigma);
            acc += w * pixel(xx, y).xyz;
            wsum += w;
        }
        tmp[i] = pack(vec4<f32>(acc / wsum, own.w));
    } else if p.style == 1u {
        let cx0 = r.x0 + ((x - r.x0) / r.cell) * r.cell;
        let cy0 = r.y0 + ((y - r.y0) / r.cell) * r.cell;
        let cx1 = min(cx0 + r.cell, r.x1);
        let cy1 = min(cy0 + r.cell, r.y1);
        var acc = vec3<f32>(0.0);
        for (var yy = cy0; yy < cy1; yy++) {
            for (var xx = cx0; xx < cx1; xx++) {
                acc += pixel(xx, yy).xyz;
            }
        }
        tmp[i] = pack(vec4<f32>(acc / f32((cx1 - cx0) * (cy1 - cy0)), own.w));
    } else {
        tmp[i] = p.fill;
    }
}

fn pass_v(gid: vec3<u32>) {
    if gid.x >= p.fw || gid.y >= p.fh {
        return;
    }
    let x = i32(gid.x);
    let y = i32(gid.y);
    let i = gid.y * p.fw + gid.x;
    let centre = vec2<f32>(f32(x) + 0.5, f32(y) + 0.5);
    for (var k = 0u; k < p.n_polys; k++) {
        if in_polygon(k, centre) {
            dst[i] = p.fill;
            return;
        }
    }
    let b = box_of(x, y);
    if b < 0 || p.style != 0u {
        dst[i] = tmp[i];
        return;
    }
    let r = boxes[b];
    var acc = vec3<f32>(0.0);
    var wsum = 0.0;
    for (var yy = max(y - r.radius, r.y0); yy <= min(y + r.radius, r.y1 - 1); yy++) {
        let w = gauss(yy - y, r.sigma);
        acc += w * unpack(tmp[u32(yy) * p.fw + gid.x]).xyz;
        wsum += w;
    }
    dst[i] = pack(vec4<f32>(acc / wsum, unpack(tmp[i]).w));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    $ENTRY(gid);
}
