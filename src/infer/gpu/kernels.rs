//! Emission of dispatches for each IR op: weights repacked for the kernels, parameters, grids.

use super::layout::{Layout, Place, up4};
use super::plan::{BufRef, Dispatch, Planner, Writer, concat_aligned, slice_is_view};
use super::shader::{
    Access, Prec, Slot, absent, act_fn, bindings, binop_fn, template, unary_op_fn,
};
use crate::infer::InferError;
use crate::infer::graph::fuse::per_channel;
use crate::infer::graph::shape::strides as row_major;
use crate::infer::graph::{Act, Conv, ConvGeom, Node, Op, Pool, PoolKind, Resize, ValueId, Window};

const CONV_GEMM: &str = include_str!("../../../shaders/conv_gemm.wgsl");
const DEPTHWISE: &str = include_str!("../../../shaders/depthwise.wgsl");
const POOL: &str = include_str!("../../../shaders/pool.wgsl");
const RESIZE: &str = include_str!("../../../shaders/resize.wgsl");
const ELTWISE: &str = include_str!("../../../shaders/eltwise.wgsl");
const GENERIC: &str = include_str!("../../../shaders/generic.wgsl");
const SOFTMAX: &str = include_str!("../../../shaders/softmax.wgsl");

/// Inner-dimension tile of the GEMM kernel, in vec4 rows (32 scalar inputs).
const KT: usize = 8;
/// Output pixels per thread of the depthwise kernel.
const OWB: usize = 4;

/// Kernel parameters as the u32 words of the WGSL `Params` struct.
#[derive(Default)]
pub(super) struct Params(pub Vec<u32>);

impl Params {
    fn u(mut self, v: usize) -> Self {
        self.0.push(v as u32);
        self
    }
    fn i(mut self, v: i64) -> Self {
        self.0.push(v as i32 as u32);
        self
    }
    fn f(mut self, v: f32) -> Self {
        self.0.push(v.to_bits());
        self
    }
    /// A 6-vector stored as `array<vec4<u32>, 2>`.
    fn v6u(mut self, v: &[usize]) -> Self {
        for k in 0..8 {
            self.0
                .push(v.get(k).map_or(0, |&x| x.min(u32::MAX as usize) as u32));
        }
        self
    }
    fn v6i(mut self, v: &[i64]) -> Self {
        for k in 0..8 {
            self.0.push(v.get(k).map_or(0, |&x| x as i32 as u32));
        }
        self
    }
}

/// Workgroups for `threads` one-dimensional threads of a 64-wide kernel, folding into y when
/// the count exceeds the per-dimension limit; and the thread count of one row.
fn grid(threads: usize) -> ([u32; 3], usize) {
    let wg = threads.div_ceil(64).max(1);
    if wg <= 65535 {
        ([wg as u32, 1, 1], wg * 64)
    } else {
        ([65535, wg.div_ceil(65535) as u32, 1], 65535 * 64)
    }
}

/// The output iteration of a generic kernel: dims in the place's physical order, the logical
/// limits (past them: padding lanes, written as zero), output strides, and the logical dim each
/// iteration dim walks.
fn out_iter(
    place: &Place,
    shape: &[usize],
    pad_lanes: bool,
) -> (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>) {
    match place.layout {
        Layout::Plain => (
            shape.to_vec(),
            shape.to_vec(),
            row_major(shape),
            (0..shape.len()).collect(),
        ),
        Layout::Nhwc => {
            let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
            let ci = if pad_lanes { up4(c) } else { c };
            (
                vec![n, h, w, ci],
                vec![n, h, w, c],
                vec![h * w * place.ps, w * place.ps, place.ps, 1],
                vec![0, 2, 3, 1],
            )
        }
    }
}

/// Strides of a tensor (in its place) along each logical dim of a broadcast output of rank
/// `rank`: zero on broadcast (size-1) dims.
fn logical_strides(place: &Place, shape: &[usize], rank: usize) -> Vec<i64> {
    let s = place.strides(shape);
    let off = rank - shape.len();
    (0..rank)
        .map(|d| {
            if d < off || shape[d - off] == 1 {
                0
            } else {
                s[d - off] as i64
            }
        })
        .collect()
}

/// Template values of a sliding window: kernel, stride, dilation, top/left pads (the kernels
/// need no bottom/right pads: bounds checks cover them).
fn window_vars(w: &Window) -> Vec<(&'static str, String)> {
    vec![
        ("KH", w.kernel[0].to_string()),
        ("KW", w.kernel[1].to_string()),
        ("SH", w.stride[0].to_string()),
        ("SW", w.stride[1].to_string()),
        ("DH", w.dilation[0].to_string()),
        ("DW", w.dilation[1].to_string()),
        ("PT", w.pads[0].to_string()),
        ("PL", w.pads[1].to_string()),
    ]
}

/// Pads per-dim vectors to 6 entries at the front.
fn pad6<T: Copy>(v: &[T], fill: T) -> Vec<T> {
    let mut out = vec![fill; 6 - v.len()];
    out.extend_from_slice(v);
    out
}

/// A generic kernel input.
struct GenIn {
    buf: BufRef,
    prec: Prec,
    base: i64,
    /// Per iteration dim.
    strides: Vec<i64>,
    offs: Vec<i64>,
    lims: Vec<usize>,
}

/// A generic kernel output (always f32).
struct GenOut {
    buf: BufRef,
    base: usize,
    dims: Vec<usize>,
    lims: Vec<usize>,
    strides: Vec<usize>,
}

fn permute<T: Copy>(v: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&p| v[p]).collect()
}

impl Planner<'_> {
    fn err(n: &Node, why: impl Into<String>) -> InferError {
        InferError::Unsupported {
            op: n.op.name().into(),
            node: n.name.clone(),
            reason: why.into(),
        }
    }

    /// Emits the dispatches of one node and records its output's place.
    pub(super) fn emit(&mut self, n: &Node) -> Result<(), InferError> {
        let y = n.output;
        match &n.op {
            Op::Conv(c) if c.geom.is_depthwise() => self.depthwise(n, c),
            Op::Conv(c) => {
                let w = ConvWeights::new(&c.weight, &c.bias, &c.geom);
                self.gemm(n, w, false, Epilogue::of(c));
                Ok(())
            }
            Op::ConvTranspose(c) => {
                let w = ConvWeights::new(&c.weight, &c.bias, &c.geom);
                self.gemm(n, w, true, Epilogue::plain(c.act));
                Ok(())
            }
            Op::Pool(p) => self.pool(n, p),
            Op::Resize(r) => self.resize(n, r),
            Op::Unary(a) if self.writer[y] == Writer::Vec4 => {
                let x = self.nhwc_input(n.inputs[0]);
                let e = EltOp {
                    a: x,
                    b: None,
                    swap: false,
                    op: unary_op_fn(*a, true),
                };
                self.eltwise(n, e)
            }
            Op::Unary(a) => self.generic_map(n, unary_op_fn(*a, false)),
            Op::Binary(b) if self.writer[y] == Writer::Vec4 => {
                let (a0, a1) = (n.inputs[0], n.inputs[1]);
                let c = self.shapes[y][1];
                let (t, other, swap) = if !self.g.consts.contains_key(&a0) {
                    (a0, a1, false)
                } else {
                    (a1, a0, true)
                };
                let tp = self.nhwc_input(t);
                let b = if let Some(v) = self
                    .g
                    .consts
                    .contains_key(&other)
                    .then(|| per_channel(self.g, other, c))
                    .flatten()
                {
                    let mut v = v;
                    v.resize(up4(c), 0.0);
                    let buf = self.add_const(Prec::F32.encode(&v));
                    EltB::Channel(buf)
                } else {
                    EltB::Tensor(self.nhwc_input(other))
                };
                let e = EltOp {
                    a: tp,
                    b: Some(b),
                    swap,
                    op: binop_fn(*b_op(&n.op), true),
                };
                self.eltwise(n, e)
            }
            Op::Binary(b) => self.generic_map(n, binop_fn(*b, false)),
            Op::Concat { axis } => self.concat(n, *axis),
            Op::Slice { starts, steps } => {
                if slice_is_view(self.g, &self.layout, n) {
                    let xp = self.place(n.inputs[0]);
                    self.places[y] = Some(Place {
                        offset: xp.offset + starts[1],
                        ..xp
                    });
                    return Ok(());
                }
                let x = n.inputs[0];
                let xp = self.place(x);
                let xs = self.shapes[x].clone();
                let st = xp.strides(&xs);
                let base: i64 = starts.iter().zip(&st).map(|(&s, &k)| (s * k) as i64).sum();
                let strides: Vec<i64> = st.iter().zip(steps).map(|(&k, &s)| k as i64 * s).collect();
                self.generic_from(n, x, base, strides)
            }
            Op::Transpose { perm } => {
                let x = n.inputs[0];
                let xp = self.place(x);
                let st = xp.strides(&self.shapes[x]);
                let strides: Vec<i64> = perm.iter().map(|&p| st[p] as i64).collect();
                self.generic_from(n, x, 0, strides)
            }
            Op::Reshape => self.reshape(n),
            Op::Pad { pads, value } => self.pad(n, pads, *value),
            Op::Softmax { axis } => self.softmax(n, *axis),
            Op::MatMul | Op::ReduceMean { .. } => {
                Err(Self::err(n, "not implemented on the GPU yet"))
            }
        }
    }

    /// The NHWC place of `v`, converting a plain tensor once (cached) when needed.
    pub(super) fn nhwc_input(&mut self, v: ValueId) -> Place {
        if self.layout[v] == Layout::Nhwc {
            return self.place(v);
        }
        if let Some(&t) = self.nhwc_copies.get(&v) {
            return self.place(t);
        }
        // A plain tensor (or a constant) copied into NHWC.
        let shape = self.shapes[v].clone();
        let out = self.own_nhwc(&shape, Prec::F32);
        let (dims, lims, ostr, perm) = out_iter(&out, &shape, true);
        let a = self.gen_input(v, &shape, &perm, &lims);
        let o = GenOut {
            buf: BufRef::Slot(out.slot),
            base: out.offset,
            dims,
            lims,
            strides: ostr,
        };
        let name = format!(
            "{}/to_nhwc",
            self.g.values.get(v).map_or("", |x| x.name.as_str())
        );
        self.copy(&name, "to_nhwc", o, a);
        self.shapes.push(shape);
        self.places.push(Some(out));
        let t = self.places.len() - 1;
        self.nhwc_copies.insert(v, t);
        out
    }

    /// The input and (when fused) residual of a convolution, both NHWC.
    fn conv_inputs(&mut self, n: &Node, epi: &Epilogue) -> (Place, Option<Place>) {
        let x = self.nhwc_input(n.inputs[0]);
        let res = epi.residual.then(|| self.nhwc_input(n.inputs[1]));
        (x, res)
    }

    /// A (transposed) convolution as an implicit GEMM. The weights become a
    /// `[kh * kw * cin4 * 4, cout4p * 4]` matrix, padded to whole tiles, grouped convolutions
    /// expanded block-diagonally.
    fn gemm(&mut self, n: &Node, w: ConvWeights<'_>, transposed: bool, epi: Epilogue) {
        let (x, res) = self.conv_inputs(n, &epi);
        let xs = self.shapes[n.inputs[0]].clone();
        let ys = self.shapes[n.output].clone();
        let y = self.vec4_out(n.output);
        let g = w.geom;
        let win = &g.window;
        let [kh, kw] = win.kernel;
        let cin4 = up4(g.cin) / 4;
        let k4 = kh * kw * cin4;
        let cout4 = up4(g.cout) / 4;
        let wx = if cout4 <= 4 { 4 } else { 8 };
        let cout4p = cout4.div_ceil(wx) * wx;
        let (cin_g, cout_g) = (g.cin_per_group(), g.cout_per_group());
        let mut weights = vec![0.0f32; k4.div_ceil(KT) * KT * 4 * cout4p * 4];
        for grp in 0..g.group {
            for icg in 0..cin_g {
                for ocg in 0..cout_g {
                    let (ci, co) = (grp * cin_g + icg, grp * cout_g + ocg);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let src = if transposed {
                                ((ci * cout_g + ocg) * kh + ky) * kw + kx
                            } else {
                                ((co * cin_g + icg) * kh + ky) * kw + kx
                            };
                            let row = ((ky * kw + kx) * cin4 + ci / 4) * 4 + ci % 4;
                            weights[row * cout4p * 4 + co] = w.weight[src];
                        }
                    }
                }
            }
        }
        let wy = 64 / wx;
        let mut bias = w.bias.to_vec();
        bias.resize(cout4p * 4, 0.0);
        let wbuf = self.add_const(self.prec.encode(&weights));
        let bbuf = self.add_const(self.prec.encode(&bias));
        let m = ys[0] * ys[2] * ys[3];
        let tiles = m.div_ceil(wy * 4);
        let (ty, tz) = if tiles <= 65535 {
            (tiles, 1)
        } else {
            (65535, tiles.div_ceil(65535))
        };
        let (in_off4, in_ps4) = x.vec4();
        let (out_off4, out_ps4) = y.vec4();
        let (res_off4, res_ps4) = res.map_or((0, 0), |r| r.vec4());
        let (bufs, mut vars) = self.conv_io(x, [wbuf, bbuf], res, y, &epi);
        vars.extend(window_vars(win));
        vars.extend([
            ("WX", wx.to_string()),
            ("WY", wy.to_string()),
            ("KT", KT.to_string()),
            ("TRANSPOSED", transposed.to_string()),
        ]);
        let src = template(CONV_GEMM, &vars);
        let params = Params::default()
            .u(m)
            .u(k4)
            .u(cin4)
            .u(cout4p)
            .u(g.cout)
            .u(xs[2])
            .u(xs[3])
            .u(ys[2])
            .u(ys[3])
            .u(in_ps4 as usize)
            .u(in_off4 as usize)
            .u(out_ps4 as usize)
            .u(out_off4 as usize)
            .u(res_ps4 as usize)
            .u(res_off4 as usize)
            .u(ty);
        let eb = self.prec.bytes() as u64;
        let bytes = (xs.iter().product::<usize>() + ys.iter().product::<usize>() + weights.len())
            as u64
            * eb;
        self.push(Dispatch {
            name: n.name.clone(),
            kind: if transposed {
                "conv_transpose"
            } else if win.kernel == [1, 1] {
                "conv1x1"
            } else {
                "conv_gemm"
            },
            src,
            params: params.0,
            bufs,
            groups: [(cout4p / wx) as u32, ty as u32, tz as u32],
            flops: self.g.node_flops(n),
            bytes,
        });
    }

    /// Bindings and shared template values of the convolution kernels: input, weights, bias,
    /// optional residual, output; the epilogue's activations.
    fn conv_io(
        &self,
        x: Place,
        [wbuf, bbuf]: [BufRef; 2],
        res: Option<Place>,
        y: Place,
        epi: &Epilogue,
    ) -> (Vec<BufRef>, Vec<(&'static str, String)>) {
        let mut slots = vec![
            Slot::new("x", x.prec, Access::Vec4),
            Slot::new("wt", self.prec, Access::Vec4),
            Slot::new("bias", self.prec, Access::Vec4),
        ];
        let mut bufs = vec![BufRef::Slot(x.slot), wbuf, bbuf];
        let mut decl = String::new();
        match res {
            Some(r) => {
                slots.push(Slot::new("res", r.prec, Access::Vec4));
                bufs.push(BufRef::Slot(r.slot));
            }
            None => decl = absent("res", Access::Vec4),
        }
        slots.push(Slot::new("y", y.prec, Access::Vec4));
        bufs.push(BufRef::Slot(y.slot));
        let vars = vec![
            ("BINDINGS", bindings(&slots) + &decl),
            ("RESIDUAL", res.is_some().to_string()),
            (
                "ACT",
                act_fn("act", epi.act, true) + &act_fn("post_act", epi.post_act, true),
            ),
        ];
        (bufs, vars)
    }

    fn depthwise(&mut self, n: &Node, c: &Conv) -> Result<(), InferError> {
        let epi = Epilogue::of(c);
        let (x, res) = self.conv_inputs(n, &epi);
        let xs = self.shapes[n.inputs[0]].clone();
        let ys = self.shapes[n.output].clone();
        let y = self.vec4_out(n.output);
        let (g, win) = (&c.geom, &c.geom.window);
        let [kh, kw] = win.kernel;
        let c4 = up4(g.cout) / 4;
        let mut w = vec![0.0f32; kh * kw * c4 * 4];
        for ch in 0..g.cout {
            for ky in 0..kh {
                for kx in 0..kw {
                    w[(ky * kw + kx) * c4 * 4 + ch] = c.weight[(ch * kh + ky) * kw + kx];
                }
            }
        }
        let mut bias = c.bias.to_vec();
        bias.resize(c4 * 4, 0.0);
        let wbuf = self.add_const(self.prec.encode(&w));
        let bbuf = self.add_const(self.prec.encode(&bias));
        let owb = OWB.min(ys[3]);
        let span = (owb - 1) * win.stride[1] + (kw - 1) * win.dilation[1] + 1;
        let owseg = ys[3].div_ceil(owb);
        let total = ys[0] * ys[2] * owseg * c4;
        let (groups, row) = grid(total);
        let (in_off4, in_ps4) = x.vec4();
        let (out_off4, out_ps4) = y.vec4();
        let (res_off4, res_ps4) = res.map_or((0, 0), |r| r.vec4());
        let (bufs, mut vars) = self.conv_io(x, [wbuf, bbuf], res, y, &epi);
        vars.extend(window_vars(win));
        vars.extend([("OWB", owb.to_string()), ("SPAN", span.to_string())]);
        let src = template(DEPTHWISE, &vars);
        let params = Params::default()
            .u(total)
            .u(c4)
            .u(g.cout)
            .u(xs[2])
            .u(xs[3])
            .u(ys[2])
            .u(ys[3])
            .u(owseg)
            .u(in_ps4 as usize)
            .u(in_off4 as usize)
            .u(out_ps4 as usize)
            .u(out_off4 as usize)
            .u(res_ps4 as usize)
            .u(res_off4 as usize)
            .u(row)
            .u(0);
        let eb = self.prec.bytes() as u64;
        self.push(Dispatch {
            name: n.name.clone(),
            kind: "depthwise",
            src,
            params: params.0,
            bufs,
            groups,
            flops: self.g.node_flops(n),
            bytes: (xs.iter().product::<usize>() + ys.iter().product::<usize>()) as u64 * eb,
        });
        Ok(())
    }

    fn pool(&mut self, n: &Node, p: &Pool) -> Result<(), InferError> {
        let (max, incl) = match p.kind {
            PoolKind::Max => (true, false),
            PoolKind::Avg { count_include_pad } => (false, count_include_pad),
        };
        let mut vars = window_vars(&p.window);
        vars.push(("MAX", max.to_string()));
        vars.push(("INCLUDE_PAD", incl.to_string()));
        let extra = [p.window.pads[2] as u32, p.window.pads[3] as u32];
        self.pixelwise(n, "pool", POOL, vars, extra)
    }

    fn resize(&mut self, n: &Node, r: &Resize) -> Result<(), InferError> {
        use crate::infer::graph::{CoordMode, NearestMode};
        let coord = match r.coord {
            CoordMode::HalfPixel => 0,
            CoordMode::PytorchHalfPixel => 1,
            CoordMode::AlignCorners => 2,
            CoordMode::Asymmetric => 3,
            CoordMode::TfHalfPixelForNn => 4,
        };
        let nearest = match r.nearest {
            None => 0,
            Some(NearestMode::RoundPreferFloor) => 1,
            Some(NearestMode::RoundPreferCeil) => 2,
            Some(NearestMode::Floor) => 3,
            Some(NearestMode::Ceil) => 4,
        };
        let vars = vec![
            ("COORD", coord.to_string()),
            ("NEAREST", nearest.to_string()),
        ];
        let extra = [r.scale[0].to_bits(), r.scale[1].to_bits()];
        self.pixelwise(n, "resize", RESIZE, vars, extra)
    }

    /// A kernel reading one NHWC tensor and writing one, a thread per output pixel and vec4 of
    /// channels (pooling, resize). `extra` fills the two op-specific words of the parameters.
    fn pixelwise(
        &mut self,
        n: &Node,
        kind: &'static str,
        shader: &str,
        mut vars: Vec<(&'static str, String)>,
        extra: [u32; 2],
    ) -> Result<(), InferError> {
        let x = self.nhwc_input(n.inputs[0]);
        let xs = self.shapes[n.inputs[0]].clone();
        let ys = self.shapes[n.output].clone();
        let y = self.vec4_out(n.output);
        let c4 = up4(ys[1]) / 4;
        let total = ys[0] * ys[2] * ys[3] * c4;
        let (groups, row) = grid(total);
        let (in_off4, in_ps4) = x.vec4();
        let (out_off4, out_ps4) = y.vec4();
        let slots = [
            Slot::new("x", x.prec, Access::Vec4),
            Slot::new("y", y.prec, Access::Vec4),
        ];
        vars.push(("BINDINGS", bindings(&slots)));
        let mut params = Params::default()
            .u(total)
            .u(c4)
            .u(ys[1])
            .u(xs[2])
            .u(xs[3])
            .u(ys[2])
            .u(ys[3]);
        params.0.extend_from_slice(&extra);
        let params = params
            .u(in_ps4 as usize)
            .u(in_off4 as usize)
            .u(out_ps4 as usize)
            .u(out_off4 as usize)
            .u(row);
        let eb = self.prec.bytes() as u64;
        self.push(Dispatch {
            name: n.name.clone(),
            kind,
            src: template(shader, &vars),
            params: params.0,
            bufs: vec![BufRef::Slot(x.slot), BufRef::Slot(y.slot)],
            groups,
            flops: self.g.node_flops(n),
            bytes: (xs.iter().product::<usize>() + ys.iter().product::<usize>()) as u64 * eb,
        });
        Ok(())
    }

    /// A vec4 NHWC element-wise dispatch writing the node's output.
    fn eltwise(&mut self, n: &Node, e: EltOp) -> Result<(), InferError> {
        let out = self.vec4_out(n.output);
        let shape = self.shapes[n.output].clone();
        self.eltwise_to(&n.name, e, out, &shape);
        Ok(())
    }

    /// A vec4 NHWC element-wise dispatch writing `out` (a node output or a concat part's view).
    fn eltwise_to(&mut self, name: &str, e: EltOp, out: Place, shape: &[usize]) {
        let EltOp { a, b, swap, op } = e;
        let c = shape[1];
        let c4 = up4(c) / 4;
        let total = shape[0] * shape[2] * shape[3] * c4;
        let (groups, row) = grid(total);
        let (a_off4, a_ps4) = a.vec4();
        let (out_off4, out_ps4) = out.vec4();
        let mut slots = vec![Slot::new("a", a.prec, Access::Vec4)];
        let mut bufs = vec![BufRef::Slot(a.slot)];
        let (mode, b_off4, b_ps4) = match b {
            None => (0, 0, 0),
            Some(EltB::Tensor(bp)) => {
                slots.push(Slot::new("b", bp.prec, Access::Vec4));
                bufs.push(BufRef::Slot(bp.slot));
                let (o, p) = bp.vec4();
                (1, o, p)
            }
            Some(EltB::Channel(buf)) => {
                slots.push(Slot::new("b", Prec::F32, Access::Vec4));
                bufs.push(buf);
                (2, 0, 0)
            }
        };
        slots.push(Slot::new("y", out.prec, Access::Vec4));
        bufs.push(BufRef::Slot(out.slot));
        let src = template(
            ELTWISE,
            &[
                (
                    "BINDINGS",
                    bindings(&slots)
                        + &if mode == 0 {
                            absent("b", Access::Vec4)
                        } else {
                            String::new()
                        },
                ),
                ("B_MODE", mode.to_string()),
                ("SWAP", swap.to_string()),
                ("OP", op),
            ],
        );
        let params = Params::default()
            .u(total)
            .u(c4)
            .u(c)
            .u(a_ps4 as usize)
            .u(a_off4 as usize)
            .u(b_ps4 as usize)
            .u(b_off4 as usize)
            .u(out_ps4 as usize)
            .u(out_off4 as usize)
            .u(row);
        let elems: usize = shape.iter().product();
        self.push(Dispatch {
            name: name.to_string(),
            kind: "eltwise",
            src,
            params: params.0,
            bufs,
            groups,
            flops: elems as u64,
            bytes: elems as u64 * 8,
        });
    }

    /// A generic strided dispatch.
    #[allow(clippy::too_many_arguments)]
    fn generic(
        &mut self,
        name: &str,
        kind: &'static str,
        o: GenOut,
        a: GenIn,
        b: Option<GenIn>,
        op: String,
        pad_value: f32,
    ) {
        let total: usize = o.dims.iter().product();
        let (groups, row) = grid(total);
        let mut slots = vec![Slot::new("a", a.prec, Access::Scalar)];
        let mut bufs = vec![a.buf];
        if let Some(b) = &b {
            slots.push(Slot::new("b", b.prec, Access::Scalar));
            bufs.push(b.buf);
        }
        slots.push(Slot::new("y", Prec::F32, Access::Scalar));
        bufs.push(o.buf);
        let src = template(
            GENERIC,
            &[
                (
                    "BINDINGS",
                    bindings(&slots)
                        + &if b.is_none() {
                            absent("b", Access::Scalar)
                        } else {
                            String::new()
                        },
                ),
                ("NB", if b.is_some() { "2" } else { "1" }.to_string()),
                ("OP", op),
            ],
        );
        let (b_base, b_str) = b
            .as_ref()
            .map_or((0, vec![0; o.dims.len()]), |b| (b.base, b.strides.clone()));
        let params = Params::default()
            .u(total)
            .u(row)
            .u(o.base)
            .i(a.base)
            .u(b_base as usize)
            .f(pad_value)
            .u(0)
            .u(0)
            .v6u(&pad6(&o.dims, 1))
            .v6u(&pad6(&o.lims, 1))
            .v6u(&pad6(&o.strides, 0))
            .v6i(&pad6(&a.strides, 0))
            .v6i(&pad6(&a.offs, 0))
            .v6u(&pad6(&a.lims, 1))
            .v6u(&pad6(
                &b_str.iter().map(|&s| s.max(0) as usize).collect::<Vec<_>>(),
                0,
            ));
        self.push(Dispatch {
            name: name.to_string(),
            kind,
            src,
            params: params.0,
            bufs,
            groups,
            flops: total as u64,
            bytes: total as u64 * 8,
        });
    }

    /// A generic kernel copying `a` to `o`.
    fn copy(&mut self, name: &str, kind: &'static str, o: GenOut, a: GenIn) {
        self.generic(
            name,
            kind,
            o,
            a,
            None,
            unary_op_fn(Act::Identity, false),
            0.0,
        );
    }

    /// Output place for a generic kernel writing value `y`: NHWC f32 or plain f32.
    /// A plain value placed in a concat gets its block of the concat's storage.
    fn generic_out(&mut self, y: ValueId) -> Place {
        if let Some(p) = self.places[y] {
            // A concat whose storage a part already created.
            return p;
        }
        let shape = self.shapes[y].clone();
        let p = if self.layout[y] == Layout::Nhwc {
            self.own_nhwc(&shape, Prec::F32)
        } else if let Some(&(c, off)) = self.plain_placement.get(&y) {
            let cp = self.generic_out(c);
            Place {
                offset: cp.offset + off,
                ..cp
            }
        } else {
            self.own_plain(&shape)
        };
        self.places[y] = Some(p);
        p
    }

    /// Input of a generic kernel: a planned tensor or a constant, strides along the output's
    /// logical dims (broadcast), permuted into iteration order.
    fn gen_input(
        &mut self,
        v: ValueId,
        out_shape: &[usize],
        perm: &[usize],
        lims: &[usize],
    ) -> GenIn {
        let shape = self.shapes[v].clone();
        let (buf, place) = if self.g.consts.contains_key(&v) {
            let buf = self.const_plain(v);
            (
                buf,
                Place {
                    slot: 0,
                    offset: 0,
                    layout: Layout::Plain,
                    prec: Prec::F32,
                    ps: 0,
                },
            )
        } else {
            let p = self.place(v);
            (BufRef::Slot(p.slot), p)
        };
        GenIn {
            buf,
            prec: place.prec,
            base: place.offset as i64,
            strides: permute(&logical_strides(&place, &shape, out_shape.len()), perm),
            offs: vec![0; perm.len()],
            lims: lims.to_vec(),
        }
    }

    /// Unary or binary op on any layouts through the generic kernel.
    fn generic_map(&mut self, n: &Node, op: String) -> Result<(), InferError> {
        let y = n.output;
        let shape = self.shapes[y].clone();
        let out = self.generic_out(y);
        let (dims, lims, ostr, perm) = out_iter(&out, &shape, true);
        let a = self.gen_input(n.inputs[0], &shape, &perm, &lims);
        let b = (n.inputs.len() > 1).then(|| self.gen_input(n.inputs[1], &shape, &perm, &lims));
        let o = GenOut {
            buf: BufRef::Slot(out.slot),
            base: out.offset,
            dims,
            lims,
            strides: ostr,
        };
        self.generic(&n.name, "elementwise", o, a, b, op, 0.0);
        Ok(())
    }

    /// Copy from input `x` with explicit logical strides (Slice, Transpose) through the generic kernel.
    fn generic_from(
        &mut self,
        n: &Node,
        x: ValueId,
        base: i64,
        strides: Vec<i64>,
    ) -> Result<(), InferError> {
        let y = n.output;
        let shape = self.shapes[y].clone();
        let xp = self.place(x);
        let out = self.generic_out(y);
        let (dims, lims, ostr, perm) = out_iter(&out, &shape, true);
        let a = GenIn {
            buf: BufRef::Slot(xp.slot),
            prec: xp.prec,
            base: xp.offset as i64 + base,
            strides: permute(&strides, &perm),
            offs: vec![0; perm.len()],
            lims: lims.clone(),
        };
        let o = GenOut {
            buf: BufRef::Slot(out.slot),
            base: out.offset,
            dims,
            lims,
            strides: ostr,
        };
        self.copy(&n.name, "copy", o, a);
        Ok(())
    }

    fn reshape(&mut self, n: &Node) -> Result<(), InferError> {
        let (x, y) = (n.inputs[0], n.output);
        let xp = self.place(x);
        if xp.layout == Layout::Plain {
            self.places[y] = Some(xp);
            return Ok(());
        }
        // NHWC -> row-major: iterate over the input's logical shape, write in flat order.
        let xs = self.shapes[x].clone();
        let out = self.generic_out(y);
        let a = GenIn {
            buf: BufRef::Slot(xp.slot),
            prec: xp.prec,
            base: xp.offset as i64,
            strides: xp.strides(&xs).iter().map(|&s| s as i64).collect(),
            offs: vec![0; xs.len()],
            lims: xs.clone(),
        };
        let o = GenOut {
            buf: BufRef::Slot(out.slot),
            base: out.offset,
            dims: xs.clone(),
            lims: xs.clone(),
            strides: row_major(&xs),
        };
        self.copy(&n.name, "copy", o, a);
        Ok(())
    }

    fn pad(&mut self, n: &Node, pads: &[(usize, usize)], value: f32) -> Result<(), InferError> {
        let (x, y) = (n.inputs[0], n.output);
        let xs = self.shapes[x].clone();
        let shape = self.shapes[y].clone();
        let xp = self.place(x);
        let out = self.generic_out(y);
        let (dims, lims, ostr, perm) = out_iter(&out, &shape, true);
        let offs: Vec<i64> = pads.iter().map(|&(b, _)| -(b as i64)).collect();
        let a = GenIn {
            buf: BufRef::Slot(xp.slot),
            prec: xp.prec,
            base: xp.offset as i64,
            strides: permute(
                &xp.strides(&xs)
                    .iter()
                    .map(|&s| s as i64)
                    .collect::<Vec<_>>(),
                &perm,
            ),
            offs: permute(&offs, &perm),
            lims: permute(&xs, &perm),
        };
        let o = GenOut {
            buf: BufRef::Slot(out.slot),
            base: out.offset,
            dims,
            lims,
            strides: ostr,
        };
        self.generic(
            &n.name,
            "pad",
            o,
            a,
            None,
            unary_op_fn(Act::Identity, false),
            value,
        );
        Ok(())
    }

    fn softmax(&mut self, n: &Node, axis: usize) -> Result<(), InferError> {
        let (x, y) = (n.inputs[0], n.output);
        let shape = self.shapes[y].clone();
        let xp = self.place(x);
        let out = self.generic_out(y);
        let xst = xp.strides(&shape);
        let ost = row_major(&shape);
        let mut dims = shape.clone();
        dims[axis] = 1;
        let total: usize = dims.iter().product();
        let (groups, row) = grid(total);
        let slots = [
            Slot::new("a", xp.prec, Access::Scalar),
            Slot::new("y", Prec::F32, Access::Scalar),
        ];
        let src = template(SOFTMAX, &[("BINDINGS", bindings(&slots))]);
        let params = Params::default()
            .u(total)
            .u(row)
            .u(shape[axis])
            .u(xp.offset)
            .u(out.offset)
            .u(xst[axis])
            .u(ost[axis])
            .u(0)
            .v6u(&pad6(&dims, 1))
            .v6u(&pad6(&xst, 0))
            .v6u(&pad6(&ost, 0));
        let elems: usize = shape.iter().product();
        self.push(Dispatch {
            name: n.name.clone(),
            kind: "softmax",
            src,
            params: params.0,
            bufs: vec![BufRef::Slot(xp.slot), BufRef::Slot(out.slot)],
            groups,
            flops: elems as u64 * 4,
            bytes: elems as u64 * 8,
        });
        Ok(())
    }

    fn concat(&mut self, n: &Node, axis: usize) -> Result<(), InferError> {
        let y = n.output;
        let ys = self.shapes[y].clone();
        if self.layout[y] == Layout::Nhwc && concat_aligned(self.g, n) {
            // Parts already written in place by their producers are skipped; the rest are copied.
            let out = self.concat_storage(y);
            let mut off = 0;
            for (i, &part) in n.inputs.iter().enumerate() {
                let ps = self.shapes[part].clone();
                let here = self.places[part].is_some_and(|p| {
                    p.layout == Layout::Nhwc
                        && p.slot == out.slot
                        && p.offset == out.offset + off
                        && p.prec == out.prec
                });
                if !here {
                    let a = self.nhwc_input(part);
                    let view = Place {
                        offset: out.offset + off,
                        ..out
                    };
                    let name = format!("{}:{i}", n.name);
                    let e = EltOp {
                        a,
                        b: None,
                        swap: false,
                        op: unary_op_fn(Act::Identity, true),
                    };
                    self.eltwise_to(&name, e, view, &ps);
                }
                off += ps[1];
            }
            return Ok(());
        }
        let out = self.generic_out(y);
        let ost = out.strides(&ys);
        let mut off = 0;
        let k = n.inputs.len();
        for (i, &part) in n.inputs.iter().enumerate() {
            let ps = self.shapes[part].clone();
            let block = out.offset + off * ost.get(axis).copied().unwrap_or(0);
            let in_place = out.layout == Layout::Plain
                && self.places[part].is_some_and(|p| {
                    p.layout == Layout::Plain && p.slot == out.slot && p.offset == block
                });
            if in_place {
                off += ps[axis];
                continue;
            }
            let (dims, lims, ostr, perm, base) = match out.layout {
                Layout::Nhwc => {
                    // Channels [off, off + C) of each pixel; the last part also zeroes the tail.
                    let (nb, c, h, w) = (ps[0], ps[1], ps[2], ps[3]);
                    let ci = if i + 1 == k { up4(ys[1]) - off } else { c };
                    (
                        vec![nb, h, w, ci],
                        vec![nb, h, w, c],
                        vec![h * w * out.ps, w * out.ps, out.ps, 1],
                        vec![0, 2, 3, 1],
                        out.offset + off,
                    )
                }
                Layout::Plain => (
                    ps.clone(),
                    ps.clone(),
                    ost.clone(),
                    (0..ps.len()).collect(),
                    out.offset + off * ost[axis],
                ),
            };
            let a = self.gen_input(part, &ps, &perm, &lims);
            let o = GenOut {
                buf: BufRef::Slot(out.slot),
                base,
                dims,
                lims,
                strides: ostr,
            };
            let name = format!("{}:{i}", n.name);
            self.copy(&name, "concat", o, a);
            off += ps[axis];
        }
        Ok(())
    }
}

/// A vec4 element-wise operation: `op(a, b)` (or `op(b, a)` with `swap`).
struct EltOp {
    a: Place,
    b: Option<EltB>,
    swap: bool,
    op: String,
}

/// The second operand of a vec4 element-wise kernel.
enum EltB {
    Tensor(Place),
    /// A per-channel constant (vec4 per 4 channels, f32).
    Channel(BufRef),
}

/// What the convolution kernels read of a (transposed) convolution: its constants and geometry.
#[derive(Clone, Copy)]
struct ConvWeights<'a> {
    /// `[cout, cin / group, kh, kw]`, or `[cin, cout / group, kh, kw]` when transposed.
    weight: &'a [f32],
    bias: &'a [f32],
    geom: &'a ConvGeom,
}

impl<'a> ConvWeights<'a> {
    fn new(weight: &'a [f32], bias: &'a [f32], geom: &'a ConvGeom) -> Self {
        ConvWeights { weight, bias, geom }
    }
}

/// The fused epilogue of a convolution kernel: `post_act(act(acc + bias) + residual)`.
struct Epilogue {
    act: Act,
    residual: bool,
    post_act: Act,
}

impl Epilogue {
    /// A convolution's epilogue as fusion left it.
    fn of(c: &Conv) -> Self {
        Epilogue {
            act: c.act,
            residual: c.residual,
            post_act: c.post_act,
        }
    }

    /// One activation, no residual.
    fn plain(act: Act) -> Self {
        Epilogue {
            act,
            residual: false,
            post_act: Act::Identity,
        }
    }
}

fn b_op(op: &Op) -> &crate::infer::graph::BinOp {
    match op {
        Op::Binary(b) => b,
        _ => &crate::infer::graph::BinOp::Add,
    }
}
