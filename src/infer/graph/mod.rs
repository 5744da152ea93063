//! lookout's own small IR: a topologically ordered list of ops with concrete shapes.
//!
//! An ONNX model becomes a [`Graph`] for one input size and batch ([`build::build`]): constant
//! subgraphs are folded, BatchNorm is folded into convolutions, Split becomes channel slices,
//! Flatten/Squeeze/Unsqueeze become reshapes, and every value has a concrete shape. Fusion passes
//! ([`fuse::fuse`]) then merge activations and residual adds into convolutions. The CPU reference
//! executor and the GPU planner both run this IR, so they agree on semantics by construction.

pub mod build;
pub mod constant;
mod convert;
mod fold;
pub mod fuse;
pub mod shape;

use std::collections::HashMap;
use std::sync::Arc;

pub use build::{InputShape, build, build_widened};
pub use constant::{Const, ConstData};

/// Index of a value (tensor) in [`Graph::values`].
pub type ValueId = usize;

/// A tensor flowing through the graph: always f32 at run time, shape fully known.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// ONNX name, for errors and output naming.
    pub name: String,
    pub shape: Vec<usize>,
}

/// Element-wise functions, used alone or fused into a convolution's epilogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Identity,
    Relu,
    LeakyRelu(f32),
    /// Clamp to `[min, max]` (Relu6 is `Clip(0, 6)`).
    Clip(f32, f32),
    Sigmoid,
    /// `x * sigmoid(x)`: YOLO's activation, from a Sigmoid+Mul pair.
    Silu,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid(f32, f32),
    /// `x * hardsigmoid(x)` with alpha 1/6, beta 0.5.
    HardSwish,
    Tanh,
    Exp,
    Neg,
    Abs,
    Sqrt,
    /// Round half to even (ONNX QuantizeLinear's rounding): per-axis quantization is lowered to
    /// a division, this, an addition and a clip.
    Round,
    /// ONNX QuantizeLinear with one scale and zero point: `clamp(round(x / scale) + zero, lo,
    /// hi)`, the integer held in an f32 (exact for 8- and 16-bit types).
    Quantize {
        scale: f32,
        zero: f32,
        lo: f32,
        hi: f32,
    },
    /// ONNX DequantizeLinear with one scale and zero point: `(x - zero) * scale`.
    Dequantize {
        scale: f32,
        zero: f32,
    },
}

impl Act {
    /// Applies the function to one value: the CPU definition every GPU kernel must match.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Identity => x,
            Act::Relu => x.max(0.0),
            Act::LeakyRelu(a) => {
                if x < 0.0 {
                    a * x
                } else {
                    x
                }
            }
            Act::Clip(lo, hi) => x.max(lo).min(hi),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Silu => x / (1.0 + (-x).exp()),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Act::Tanh => x.tanh(),
            Act::Exp => x.exp(),
            Act::Neg => -x,
            Act::Abs => x.abs(),
            Act::Sqrt => x.sqrt(),
            Act::Round => x.round_ties_even(),
            // `max` then `min`: NaN saturates to `lo` instead of passing through.
            Act::Quantize {
                scale,
                zero,
                lo,
                hi,
            } => ((x / scale).round_ties_even() + zero).max(lo).min(hi),
            Act::Dequantize { scale, zero } => (x - zero) * scale,
        }
    }
}

/// Element-wise binary operators with numpy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
}

impl BinOp {
    /// Applies the operator: the CPU definition every GPU kernel must match.
    #[inline]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Max => a.max(b),
            BinOp::Min => a.min(b),
            BinOp::Pow => a.powf(b),
        }
    }
}

/// A 2-D sliding window (NCHW semantics): one type for convolutions and pooling, so that shape
/// inference, the reference executor and the GPU emitters read the same fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Top, left, bottom, right.
    pub pads: [usize; 4],
    pub dilation: [usize; 2],
}

impl Window {
    /// Cells of one window position, for FLOP counts.
    pub fn area(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

/// The geometry of a convolution or transposed convolution: both ops and every consumer
/// (reference executor, weight repacking, GPU emitters) share it instead of near-copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub cin: usize,
    pub cout: usize,
    pub group: usize,
    /// For a transposed convolution the pads are removed from the full output.
    pub window: Window,
}

impl ConvGeom {
    /// Input channels each filter sees, which sizes the weight tensor.
    pub fn cin_per_group(&self) -> usize {
        self.cin / self.group
    }

    /// Output channels of each group, which sizes the weight tensor.
    pub fn cout_per_group(&self) -> usize {
        self.cout / self.group
    }

    /// True when every input channel has its own filter (and one output channel per filter):
    /// the GPU runs these with a dedicated kernel.
    pub fn is_depthwise(&self) -> bool {
        self.group == self.cin && self.group == self.cout && self.group > 1
    }
}

/// A 2-D convolution (NCHW semantics), with its fused epilogue.
///
/// Output = `post_act(act(conv(x) + bias) + residual)` where the residual (a second input of the
/// node, same shape as the output) is present when `residual` is true.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// `[cout, cin / group, kh, kw]`, BatchNorm already folded in.
    pub weight: Arc<Vec<f32>>,
    /// One per output channel (zeros when the model has none).
    pub bias: Arc<Vec<f32>>,
    pub geom: ConvGeom,
    pub act: Act,
    pub residual: bool,
    pub post_act: Act,
}

/// A 2-D transposed convolution (NCHW semantics).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTranspose {
    /// `[cin, cout / group, kh, kw]` as in ONNX.
    pub weight: Arc<Vec<f32>>,
    pub bias: Arc<Vec<f32>>,
    pub geom: ConvGeom,
    pub act: Act,
}

/// Max or average pooling over H and W.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub window: Window,
}

/// Which reduction a pooling window applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// Average; `count_include_pad` says whether padded cells count in the divisor.
    Avg {
        count_include_pad: bool,
    },
}

/// How Resize maps an output coordinate to an input coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordMode {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
}

/// How Resize picks a pixel in nearest mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// Resize of H and W (4-D NCHW input), ONNX semantics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resize {
    /// `None` means linear (bilinear) interpolation.
    pub nearest: Option<NearestMode>,
    pub coord: CoordMode,
    /// Scale factors (output / input) for H and W, as ONNX uses them in the coordinate transform.
    pub scale: [f32; 2],
}

impl Resize {
    /// Input coordinate of output coordinate `x` on an axis (before nearest rounding or clamping).
    #[inline]
    pub fn source(&self, x: usize, axis: usize, in_len: usize, out_len: usize) -> f32 {
        let s = self.scale[axis];
        let x = x as f32;
        match self.coord {
            CoordMode::HalfPixel => (x + 0.5) / s - 0.5,
            CoordMode::PytorchHalfPixel => {
                if out_len > 1 {
                    (x + 0.5) / s - 0.5
                } else {
                    0.0
                }
            }
            CoordMode::AlignCorners => {
                if out_len > 1 {
                    x * (in_len as f32 - 1.0) / (out_len as f32 - 1.0)
                } else {
                    0.0
                }
            }
            CoordMode::Asymmetric => x / s,
            CoordMode::TfHalfPixelForNn => (x + 0.5) / s,
        }
    }

    /// The input index nearest mode picks for source coordinate `c` (clamped into the input).
    #[inline]
    pub fn nearest_index(mode: NearestMode, c: f32, in_len: usize) -> usize {
        let i = match mode {
            NearestMode::RoundPreferFloor => {
                if c.fract() == 0.5 {
                    c.floor()
                } else {
                    c.round()
                }
            }
            NearestMode::RoundPreferCeil => c.round(),
            NearestMode::Floor => c.floor(),
            NearestMode::Ceil => c.ceil(),
        };
        i.max(0.0).min(in_len as f32 - 1.0) as usize
    }
}

/// What a node computes. Shapes live in the values, not here.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Conv(Box<Conv>),
    ConvTranspose(Box<ConvTranspose>),
    Pool(Pool),
    Resize(Resize),
    Unary(Act),
    Binary(BinOp),
    /// Concatenation along `axis` of all inputs.
    Concat {
        axis: usize,
    },
    /// Per-axis start and step (the output shape gives the count); steps may be negative.
    Slice {
        starts: Vec<usize>,
        steps: Vec<i64>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    /// Row-major reinterpretation to the output's shape (also Flatten, Squeeze, Unsqueeze).
    Reshape,
    /// Constant padding: `(before, after)` per axis.
    Pad {
        pads: Vec<(usize, usize)>,
        value: f32,
    },
    Softmax {
        axis: usize,
    },
    /// Matrix product of the last two axes, batch axes broadcast (second input often a constant).
    MatMul,
    /// Mean over the given axes (kept as size 1).
    ReduceMean {
        axes: Vec<usize>,
    },
}

impl Op {
    /// Short name for errors, logs and profiles.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv(_) => "Conv",
            Op::ConvTranspose(_) => "ConvTranspose",
            Op::Pool(p) => match p.kind {
                PoolKind::Max => "MaxPool",
                PoolKind::Avg { .. } => "AveragePool",
            },
            Op::Resize(_) => "Resize",
            Op::Unary(_) => "Unary",
            Op::Binary(_) => "Binary",
            Op::Concat { .. } => "Concat",
            Op::Slice { .. } => "Slice",
            Op::Transpose { .. } => "Transpose",
            Op::Reshape => "Reshape",
            Op::Pad { .. } => "Pad",
            Op::Softmax { .. } => "Softmax",
            Op::MatMul => "MatMul",
            Op::ReduceMean { .. } => "ReduceMean",
        }
    }
}

/// One operation: reads `inputs`, writes `output`.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// ONNX node name (or a derived one), for errors and profiles.
    pub name: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
}

/// A model for one concrete input shape: values, constants, nodes in execution order.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub values: Vec<Value>,
    /// Values known at load time (weights used by non-conv ops, folded results).
    pub consts: HashMap<ValueId, Arc<Const>>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
}

impl Graph {
    /// Adds a value and returns its id.
    pub fn add_value(&mut self, name: impl Into<String>, shape: Vec<usize>) -> ValueId {
        self.values.push(Value {
            name: name.into(),
            shape,
        });
        self.values.len() - 1
    }

    /// Shape of a value.
    pub fn shape(&self, v: ValueId) -> &[usize] {
        &self.values[v].shape
    }

    /// How many node inputs and graph outputs read each value.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut uses = vec![0; self.values.len()];
        for n in &self.nodes {
            for &i in &n.inputs {
                uses[i] += 1;
            }
        }
        for &o in &self.outputs {
            uses[o] += 1;
        }
        uses
    }

    /// The node that writes each value, if any.
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.values.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            p[n.output] = Some(i);
        }
        p
    }

    /// Floating-point operations of one inference (multiply-adds count 2), for GFLOP/s reports.
    pub fn flops(&self) -> u64 {
        self.nodes.iter().map(|n| self.node_flops(n)).sum()
    }

    /// Floating-point operations of one node.
    pub fn node_flops(&self, n: &Node) -> u64 {
        let out: u64 = self.shape(n.output).iter().product::<usize>() as u64;
        match &n.op {
            Op::Conv(c) => out * 2 * (c.geom.cin_per_group() * c.geom.window.area()) as u64,
            Op::ConvTranspose(c) => {
                let inp: u64 = self.shape(n.inputs[0]).iter().product::<usize>() as u64;
                inp * 2 * (c.geom.cout_per_group() * c.geom.window.area()) as u64
            }
            Op::Pool(p) => out * p.window.area() as u64,
            Op::MatMul => {
                let a = self.shape(n.inputs[0]);
                out * 2 * a.last().copied().unwrap_or(1) as u64
            }
            _ => out,
        }
    }
}
