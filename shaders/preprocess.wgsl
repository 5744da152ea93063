// Frame (NV12 or RGBA bytes) -> model input, in one kernel: letterbox/stretch bilinear resize,
// channel order, (x - mean) / std, written in the plan's layout for the model input.
//
// It follows crate::infer::preprocess::{source_coord, sample_bilinear, pixel_rgb} step by step so
// that the result matches the CPU reference. One thread per output pixel.
// Template: $LAYOUT (0 NHWC with vec4 pixels, 1 row-major [H, W, 3], 2 row-major [3, H, W]);
// out4() and out1() store a pixel or one value (the one the layout does not use is a stub).

struct Params {
    fw: u32,
    fh: u32,
    nv12: u32,
    off0: u32,
    off1: u32,
    stride0: u32,
    stride1: u32,
    ow: u32,
    oh: u32,
    scale_x: f32,
    scale_y: f32,
    pad_x: f32,
    pad_y: f32,
    pad_value: f32,
    bgr: u32,
    out_base: u32,
    mean: vec4<f32>,
    stddev: vec4<f32>,
};

$BINDINGS

const LAYOUT: u32 = $LAYOUTu;

fn byte_at(o: u32) -> f32 {
    return f32((src[o >> 2u] >> ((o & 3u) * 8u)) & 255u);
}

fn pixel_rgb(xi: u32, yi: u32) -> vec3<f32> {
    let x = min(xi, p.fw - 1u);
    let y = min(yi, p.fh - 1u);
    if p.nv12 == 0u {
        let i = p.off0 + y * p.stride0 + x * 4u;
        return vec3<f32>(byte_at(i), byte_at(i + 1u), byte_at(i + 2u));
    }
    let yv = byte_at(p.off0 + y * p.stride0 + x);
    let ci = p.off1 + (y / 2u) * p.stride1 + (x / 2u) * 2u;
    let u = byte_at(ci) - 128.0;
    let v = byte_at(ci + 1u) - 128.0;
    let c = 1.164 * (yv - 16.0);
    return clamp(
        vec3<f32>(c + 1.596 * v, c - 0.392 * u - 0.813 * v, c + 2.017 * u),
        vec3<f32>(0.0),
        vec3<f32>(255.0),
    );
}

fn sample_bilinear(sx_in: f32, sy_in: f32) -> vec3<f32> {
    let sx = clamp(sx_in, 0.0, f32(p.fw - 1u));
    let sy = clamp(sy_in, 0.0, f32(p.fh - 1u));
    let x0f = floor(sx);
    let y0f = floor(sy);
    let fx = sx - x0f;
    let fy = sy - y0f;
    let x0 = u32(x0f);
    let y0 = u32(y0f);
    let x1 = min(x0 + 1u, p.fw - 1u);
    let y1 = min(y0 + 1u, p.fh - 1u);
    let p00 = pixel_rgb(x0, y0);
    let p10 = pixel_rgb(x1, y0);
    let p01 = pixel_rgb(x0, y1);
    let p11 = pixel_rgb(x1, y1);
    let top = p00 + (p10 - p00) * fx;
    let bottom = p01 + (p11 - p01) * fx;
    return top + (bottom - top) * fy;
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let dx = gid.x;
    let dy = gid.y;
    if dx >= p.ow || dy >= p.oh {
        return;
    }
    let cx = f32(dx) + 0.5;
    let cy = f32(dy) + 0.5;
    let content_w = f32(p.fw) * p.scale_x;
    let content_h = f32(p.fh) * p.scale_y;
    var rgb: vec3<f32>;
    if cx < p.pad_x || cy < p.pad_y || cx >= p.pad_x + content_w || cy >= p.pad_y + content_h {
        rgb = vec3<f32>(p.pad_value);
    } else {
        rgb = sample_bilinear((cx - p.pad_x) / p.scale_x - 0.5, (cy - p.pad_y) / p.scale_y - 0.5);
    }
    if p.bgr != 0u {
        rgb = rgb.zyx;
    }
    let v = (rgb - p.mean.xyz) / p.stddev.xyz;
    let pix = dy * p.ow + dx;
    if LAYOUT == 0u {
        out4(p.out_base + pix, vec4<f32>(v, 0.0));
    } else if LAYOUT == 1u {
        out1(p.out_base + pix * 3u, v.x);
        out1(p.out_base + pix * 3u + 1u, v.y);
        out1(p.out_base + pix * 3u + 2u, v.z);
    } else {
        let plane = p.ow * p.oh;
        out1(p.out_base + pix, v.x);
        out1(p.out_base + plane + pix, v.y);
        out1(p.out_base + 2u * plane + pix, v.z);
    }
}
