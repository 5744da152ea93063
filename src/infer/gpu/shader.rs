//! WGSL assembly: storage accessors per precision, activation and operator snippets, templating,
//! and a cache of compiled pipelines keyed by their final source.

use half::slice::HalfFloatSliceExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::infer::InferError;
use crate::infer::graph::{Act, BinOp};

/// Element storage of a GPU tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prec {
    F32,
    /// IEEE half floats packed two per u32; arithmetic stays f32.
    F16,
}

impl Prec {
    /// Bytes per element.
    pub fn bytes(self) -> usize {
        match self {
            Prec::F32 => 4,
            Prec::F16 => 2,
        }
    }

    /// Encodes f32 values in this storage format.
    pub fn encode(self, v: &[f32]) -> Vec<u8> {
        let mut out = vec![0u8; v.len() * self.bytes()];
        self.encode_into(v, &mut out);
        out
    }

    /// Encodes `v` into the first `v.len()` elements of `out`, in bulk when `out` is aligned for
    /// the element type (mapped staging memory is), element by element if not.
    pub fn encode_into(self, v: &[f32], out: &mut [u8]) {
        let out = &mut out[..v.len() * self.bytes()];
        match self {
            Prec::F32 => match bytemuck::try_cast_slice_mut::<u8, f32>(out) {
                Ok(o) => o.copy_from_slice(v),
                Err(_) => {
                    for (x, o) in v.iter().zip(out.chunks_exact_mut(4)) {
                        o.copy_from_slice(&x.to_le_bytes());
                    }
                }
            },
            Prec::F16 => match bytemuck::try_cast_slice_mut::<u8, half::f16>(out) {
                Ok(o) => o.convert_from_f32_slice(v),
                Err(_) => {
                    for (x, o) in v.iter().zip(out.chunks_exact_mut(2)) {
                        o.copy_from_slice(&half::f16::from_f32(*x).to_le_bytes());
                    }
                }
            },
        }
    }

    /// Decodes the first `out.len()` elements of `bytes` into `out`: one bulk conversion when
    /// `bytes` is aligned for the element type (mapped GPU memory is), element by element if not.
    pub fn decode_into(self, bytes: &[u8], out: &mut [f32]) {
        let n = out.len();
        match self {
            Prec::F32 => match bytemuck::try_cast_slice::<u8, f32>(&bytes[..n * 4]) {
                Ok(v) => out.copy_from_slice(v),
                Err(_) => out
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, o)| *o = self.decode(bytes, i)),
            },
            Prec::F16 => match bytemuck::try_cast_slice::<u8, half::f16>(&bytes[..n * 2]) {
                Ok(v) => v.convert_to_f32_slice(out),
                Err(_) => out
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, o)| *o = self.decode(bytes, i)),
            },
        }
    }

    /// Decodes element `i` of `bytes`.
    #[inline]
    pub fn decode(self, bytes: &[u8], i: usize) -> f32 {
        match self {
            Prec::F32 => {
                let b = &bytes[i * 4..i * 4 + 4];
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
            Prec::F16 => half::f16::from_le_bytes([bytes[i * 2], bytes[i * 2 + 1]]).to_f32(),
        }
    }
}

/// How a kernel reads a storage binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `ld_x(i) -> vec4<f32>` / `st_x(i, vec4)`, index in groups of 4 elements.
    Vec4,
    /// `ld_x(i) -> f32` / `st_x(i, f32)`, element index (f16 stores are not allowed).
    Scalar,
}

/// What a storage binding holds: it decides the WGSL element type and the accessors, so no
/// kernel edits declarations by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A tensor in `prec`, read and written through `ld_{name}` / `st_{name}` of `access` width.
    Tensor { prec: Prec, access: Access },
    /// Raw bytes as `array<u32>` that the kernel indexes itself (uploaded frames); no accessors.
    Words,
    /// An optional tensor input that this dispatch does not have: no binding, and an
    /// `ld_{name}` returning zeros (WGSL needs every name defined, even in branches that a
    /// template constant disables).
    Absent(Access),
}

/// One storage binding of a kernel: its name in WGSL and what it holds.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub name: &'static str,
    pub kind: SlotKind,
}

impl Slot {
    /// A tensor binding, the form most kernels use.
    pub fn new(name: &'static str, prec: Prec, access: Access) -> Self {
        Slot {
            name,
            kind: SlotKind::Tensor { prec, access },
        }
    }

    /// An optional tensor input: bound in `prec` when the dispatch has it, absent otherwise.
    pub fn optional(name: &'static str, prec: Option<Prec>, access: Access) -> Self {
        match prec {
            Some(prec) => Slot::new(name, prec, access),
            None => Slot {
                name,
                kind: SlotKind::Absent(access),
            },
        }
    }

    /// A binding of raw u32 words, for kernels that decode bytes themselves.
    pub fn words(name: &'static str) -> Self {
        Slot {
            name,
            kind: SlotKind::Words,
        }
    }
}

/// Declarations of the uniform `p` (binding 0) and of the bound storage slots (1.., in order,
/// absent ones skipped) with their accessors.
///
/// Every storage binding is `read_write`, inputs too: a dispatch may bind one buffer as both an
/// input and its output (a view into a concat's storage, buffers shared by liveness), and WebGPU
/// rejects a read-only and a writable binding of the same buffer in one dispatch.
pub fn bindings(slots: &[Slot]) -> String {
    let mut s = String::from("@group(0) @binding(0) var<uniform> p: Params;\n");
    let mut bi = 0;
    for b in slots {
        let n = b.name;
        let mut decl = |ty: &str| {
            bi += 1;
            format!("@group(0) @binding({bi}) var<storage, read_write> {n}: array<{ty}>;\n")
        };
        match b.kind {
            SlotKind::Tensor {
                prec: Prec::F32,
                access: Access::Vec4,
            } => {
                s += &decl("vec4<f32>");
                s += &format!("fn ld_{n}(i: u32) -> vec4<f32> {{ return {n}[i]; }}\n");
                s += &format!("fn st_{n}(i: u32, v: vec4<f32>) {{ {n}[i] = v; }}\n");
            }
            SlotKind::Tensor {
                prec: Prec::F16,
                access: Access::Vec4,
            } => {
                s += &decl("vec2<u32>");
                s += &format!(
                    "fn ld_{n}(i: u32) -> vec4<f32> {{ let q = {n}[i]; return vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)); }}\n"
                );
                s += &format!(
                    "fn st_{n}(i: u32, v: vec4<f32>) {{ {n}[i] = vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw)); }}\n"
                );
            }
            SlotKind::Tensor {
                prec: Prec::F32,
                access: Access::Scalar,
            } => {
                s += &decl("f32");
                s += &format!("fn ld_{n}(i: u32) -> f32 {{ return {n}[i]; }}\n");
                s += &format!("fn st_{n}(i: u32, v: f32) {{ {n}[i] = v; }}\n");
            }
            SlotKind::Tensor {
                prec: Prec::F16,
                access: Access::Scalar,
            } => {
                s += &decl("u32");
                s += &format!(
                    "fn ld_{n}(i: u32) -> f32 {{ return unpack2x16float({n}[i >> 1u])[i & 1u]; }}\n"
                );
            }
            SlotKind::Words => s += &decl("u32"),
            SlotKind::Absent(Access::Vec4) => {
                s += &format!("fn ld_{n}(i: u32) -> vec4<f32> {{ return vec4<f32>(0.0); }}\n");
            }
            SlotKind::Absent(Access::Scalar) => {
                s += &format!("fn ld_{n}(i: u32) -> f32 {{ return 0.0; }}\n");
            }
        }
    }
    s
}

/// `fn {prefix}4(i, vec4)` and `fn {prefix}1(i, f32)` for a kernel that stores either width
/// depending on a template constant: the one matching the slot's access stores through
/// `st_{name}`, the other is a no-op (both must exist for the kernel to compile).
pub fn either_width_stores(prefix: &str, slot: &Slot) -> String {
    let n = slot.name;
    let width = match slot.kind {
        SlotKind::Tensor { access, .. } => Some(access),
        SlotKind::Words | SlotKind::Absent(_) => None,
    };
    let body = |w: Access| {
        if width == Some(w) {
            format!("st_{n}(i, v);")
        } else {
            String::new()
        }
    };
    format!(
        "fn {prefix}4(i: u32, v: vec4<f32>) {{ {} }}\nfn {prefix}1(i: u32, v: f32) {{ {} }}\n",
        body(Access::Vec4),
        body(Access::Scalar)
    )
}

/// A WGSL float literal (infinities clamped to the largest finite f32).
pub fn lit(v: f32) -> String {
    let v = if v.is_nan() {
        0.0
    } else {
        v.clamp(f32::MIN, f32::MAX)
    };
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// `fn {name}(x: T) -> T` for an activation, T = vec4<f32> or f32.
pub fn act_fn(name: &str, act: Act, vec4: bool) -> String {
    let t = if vec4 { "vec4<f32>" } else { "f32" };
    let c = |v: f32| format!("{t}({})", lit(v));
    let body = match act {
        Act::Identity => "x".to_string(),
        Act::Relu => format!("max(x, {})", c(0.0)),
        Act::LeakyRelu(a) => format!("select(x, x * {}, x < {})", lit(a), c(0.0)),
        Act::Clip(lo, hi) => format!("clamp(x, {}, {})", c(lo), c(hi)),
        Act::Sigmoid => format!("{} / ({} + exp(-x))", c(1.0), c(1.0)),
        Act::Silu => format!("x / ({} + exp(-x))", c(1.0)),
        Act::HardSigmoid(a, b) => {
            format!("clamp({} * x + {}, {}, {})", lit(a), c(b), c(0.0), c(1.0))
        }
        Act::HardSwish => format!("x * clamp(x / 6.0 + {}, {}, {})", c(0.5), c(0.0), c(1.0)),
        Act::Tanh => format!("tanh(clamp(x, {}, {}))", c(-15.0), c(15.0)),
        Act::Exp => "exp(x)".to_string(),
        Act::Neg => "-x".to_string(),
        Act::Abs => "abs(x)".to_string(),
        Act::Sqrt => "sqrt(x)".to_string(),
        // WGSL's round() rounds half to even, as ONNX QuantizeLinear does.
        Act::Round => "round(x)".to_string(),
        Act::Quantize {
            scale,
            zero,
            lo,
            hi,
        } => format!(
            "min(max(round(x / {}) + {}, {}), {})",
            c(scale),
            c(zero),
            c(lo),
            c(hi)
        ),
        Act::Dequantize { scale, zero } => format!("(x - {}) * {}", c(zero), c(scale)),
    };
    format!("fn {name}(x: {t}) -> {t} {{ return {body}; }}\n")
}

/// `fn op(a: T, b: T) -> T` for a binary operator.
pub fn binop_fn(op: BinOp, vec4: bool) -> String {
    let t = if vec4 { "vec4<f32>" } else { "f32" };
    let body = match op {
        BinOp::Add => "a + b",
        BinOp::Sub => "a - b",
        BinOp::Mul => "a * b",
        BinOp::Div => "a / b",
        BinOp::Max => "max(a, b)",
        BinOp::Min => "min(a, b)",
        BinOp::Pow => "pow(a, b)",
    };
    format!("fn op(a: {t}, b: {t}) -> {t} {{ return {body}; }}\n")
}

/// `fn op(a, b)` applying a unary function to `a`.
pub fn unary_op_fn(act: Act, vec4: bool) -> String {
    let t = if vec4 { "vec4<f32>" } else { "f32" };
    act_fn("unary_fn", act, vec4)
        + &format!("fn op(a: {t}, b: {t}) -> {t} {{ return unary_fn(a); }}\n")
}

/// WGSL snippets that shaders share, by the name a `#include "name"` line gives.
const SNIPPETS: &[(&str, &str)] = &[
    (
        "common/grid.wgsl",
        include_str!("../../../shaders/common/grid.wgsl"),
    ),
    (
        "common/nhwc.wgsl",
        include_str!("../../../shaders/common/nhwc.wgsl"),
    ),
    (
        "common/window.wgsl",
        include_str!("../../../shaders/common/window.wgsl"),
    ),
];

/// The snippet a `#include "name"` line asks for, if the line is one and the name is known.
fn included(line: &str) -> Option<&'static str> {
    let name = line.trim().strip_prefix("#include \"")?.strip_suffix('"')?;
    SNIPPETS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Splices the shared snippets into `src` where a line `#include "common/....wgsl"` asks for one
/// (an unknown name stays, and fails to compile as WGSL), then substitutes `$NAME` placeholders
/// (longest names first, so none is a prefix of another), in the snippets too.
pub fn template(src: &str, vars: &[(&str, String)]) -> String {
    let mut s = String::with_capacity(src.len());
    for line in src.split_inclusive('\n') {
        s.push_str(included(line).unwrap_or(line));
    }
    let mut vars: Vec<&(&str, String)> = vars.iter().collect();
    vars.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, v) in vars {
        s = s.replace(&format!("${k}"), v);
    }
    s
}

/// Compiled pipelines by source text: each distinct kernel specialization is compiled once.
#[derive(Default)]
pub struct PipelineCache {
    map: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
}

impl PipelineCache {
    /// The pipeline for `src` (entry point `main`), compiled on first use.
    pub fn get(
        &self,
        device: &wgpu::Device,
        label: &str,
        src: &str,
    ) -> Result<Arc<wgpu::ComputePipeline>, InferError> {
        if let Some(p) = self.map.lock().ok().and_then(|m| m.get(src).cloned()) {
            return Ok(p);
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(InferError::Gpu(format!(
                "kernel {label} failed to compile: {e}"
            )));
        }
        let p = Arc::new(pipeline);
        if let Ok(mut m) = self.map.lock() {
            m.insert(src.to_string(), p.clone());
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_wgsl_floats() {
        assert_eq!(lit(1.0), "1.0");
        assert_eq!(lit(0.1), "0.1");
        assert_eq!(lit(f32::INFINITY), lit(f32::MAX));
        assert!(lit(1e-7).contains('e'));
    }

    #[test]
    fn template_replaces_longest_names_first() {
        let s = template("$K $KT $KTu", &[("K", "1".into()), ("KT", "8".into())]);
        assert_eq!(s, "1 8 8u");
    }

    #[test]
    fn includes_are_spliced_before_substitution() {
        let s = template(
            "a\n  #include \"common/window.wgsl\"\nb",
            &[("KH", "3".into())],
        );
        assert!(s.starts_with("a\n"));
        assert!(s.ends_with("const PL: i32 = $PL;\nb"));
        assert!(s.contains("const KH: u32 = 3u;"));
        assert!(s.lines().all(|l| included(l).is_none()));
        // An unknown snippet is left for the WGSL compiler to reject.
        assert!(template("#include \"nope.wgsl\"", &[]).contains("#include"));
    }

    #[test]
    fn every_shader_include_resolves() {
        let shaders = [
            include_str!("../../../shaders/conv_gemm.wgsl"),
            include_str!("../../../shaders/depthwise.wgsl"),
            include_str!("../../../shaders/eltwise.wgsl"),
            include_str!("../../../shaders/generic.wgsl"),
            include_str!("../../../shaders/pool.wgsl"),
            include_str!("../../../shaders/preprocess.wgsl"),
            include_str!("../../../shaders/resize.wgsl"),
            include_str!("../../../shaders/softmax.wgsl"),
        ];
        for src in shaders {
            for line in src
                .lines()
                .filter(|l| l.trim_start().starts_with("#include"))
            {
                assert!(included(line).is_some(), "unknown snippet: {line}");
            }
        }
    }

    #[test]
    fn bindings_number_bound_slots_and_stand_in_for_absent_ones() {
        let s = bindings(&[
            Slot::new("x", Prec::F16, Access::Vec4),
            Slot::optional("res", None, Access::Vec4),
            Slot::words("src"),
            Slot::optional("y", Some(Prec::F32), Access::Scalar),
        ]);
        assert!(s.contains("@binding(1) var<storage, read_write> x: array<vec2<u32>>;"));
        assert!(s.contains("fn ld_res(i: u32) -> vec4<f32> { return vec4<f32>(0.0); }"));
        assert!(!s.contains("res: array"));
        assert!(s.contains("@binding(2) var<storage, read_write> src: array<u32>;"));
        assert!(!s.contains("ld_src"));
        assert!(s.contains("@binding(3) var<storage, read_write> y: array<f32>;"));
        assert!(s.contains("fn st_y(i: u32, v: f32)"));
    }

    #[test]
    fn either_width_stores_go_through_the_slot_width() {
        let s = either_width_stores("out", &Slot::new("y", Prec::F16, Access::Vec4));
        assert!(s.contains("fn out4(i: u32, v: vec4<f32>) { st_y(i, v); }"));
        assert!(s.contains("fn out1(i: u32, v: f32) {  }"));
        let s = either_width_stores("out", &Slot::new("y", Prec::F32, Access::Scalar));
        assert!(s.contains("fn out4(i: u32, v: vec4<f32>) {  }"));
        assert!(s.contains("fn out1(i: u32, v: f32) { st_y(i, v); }"));
    }

    #[test]
    fn f16_round_trip() {
        let b = Prec::F16.encode(&[1.5, -2.0]);
        assert_eq!(Prec::F16.decode(&b, 1), -2.0);
        let b = Prec::F32.encode(&[0.1]);
        assert_eq!(Prec::F32.decode(&b, 0), 0.1);
    }
}
