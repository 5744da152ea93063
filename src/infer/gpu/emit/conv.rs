//! Convolutions and transposed convolutions as one implicit-GEMM kernel (`conv_gemm.wgsl`), and
//! what the convolution kernels share: inputs, bindings and the fused epilogue.

use super::super::layout::{Place, up4};
use super::super::plan::{BufRef, Dispatch, Planner};
use super::super::shader::{Access, Slot, act_fn, bindings, template};
use super::{Params, window_vars};
use crate::infer::InferError;
use crate::infer::graph::{Act, Conv, ConvGeom, Node};

const CONV_GEMM: &str = include_str!("../../../../shaders/conv_gemm.wgsl");

/// Inner-dimension tile of the GEMM kernel, in vec4 rows (32 scalar inputs).
const KT: usize = 8;

/// The NHWC views a convolution kernel reads and writes.
#[derive(Clone, Copy)]
pub(super) struct ConvViews {
    pub x: Place,
    pub res: Option<Place>,
    pub y: Place,
}

/// The fused epilogue of a convolution kernel: `post_act(act(acc + bias) + residual)`.
pub(super) struct Epilogue {
    act: Act,
    residual: bool,
    post_act: Act,
}

impl Epilogue {
    /// A convolution's epilogue as fusion left it.
    pub fn of(c: &Conv) -> Self {
        Epilogue {
            act: c.act,
            residual: c.residual,
            post_act: c.post_act,
        }
    }

    /// One activation, no residual: a transposed convolution's epilogue.
    pub fn act(act: Act) -> Self {
        Epilogue {
            act,
            residual: false,
            post_act: Act::Identity,
        }
    }
}

impl Planner<'_> {
    /// The NHWC views a convolution kernel binds: input, residual when fused, and output.
    pub(super) fn conv_views(&mut self, n: &Node, epi: &Epilogue) -> ConvViews {
        let x = self.nhwc_input(n.inputs[0]);
        let res = epi.residual.then(|| self.nhwc_input(n.inputs[1]));
        let y = self.vec4_out(n.output);
        ConvViews { x, res, y }
    }

    /// A (transposed) convolution as an implicit GEMM. The weights (`[cout, cin / group, kh, kw]`,
    /// or `[cin, cout / group, kh, kw]` when transposed) become a `[kh * kw * cin4 * 4, cout4p * 4]`
    /// matrix, padded to whole tiles, grouped convolutions expanded block-diagonally.
    pub(super) fn gemm(
        &mut self,
        n: &Node,
        g: &ConvGeom,
        [weight, bias]: [&[f32]; 2],
        transposed: bool,
        epi: Epilogue,
    ) -> Result<(), InferError> {
        let v = self.conv_views(n, &epi);
        let xs = self.shapes[n.inputs[0]].clone();
        let ys = self.shapes[n.output].clone();
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
                            weights[row * cout4p * 4 + co] = weight[src];
                        }
                    }
                }
            }
        }
        let wy = 64 / wx;
        let (bufs, mut vars) = self.conv_io(&v, &weights, bias, cout4p * 4, &epi);
        let m = ys[0] * ys[2] * ys[3];
        let tiles = m.div_ceil(wy * 4);
        let (ty, tz) = if tiles <= 65535 {
            (tiles, 1)
        } else {
            (65535, tiles.div_ceil(65535))
        };
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
            .view4(Some(v.x))
            .view4(Some(v.y))
            .view4(v.res)
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
        Ok(())
    }

    /// Uploads a convolution kernel's repacked weights and its bias (zero-padded to `bias_len`),
    /// and returns its buffers and shared template values: bindings (input, weights, bias,
    /// optional residual, output) and the epilogue's activations.
    pub(super) fn conv_io(
        &mut self,
        v: &ConvViews,
        weights: &[f32],
        bias: &[f32],
        bias_len: usize,
        epi: &Epilogue,
    ) -> (Vec<BufRef>, Vec<(&'static str, String)>) {
        let ConvViews { x, res, y } = *v;
        let mut bias = bias.to_vec();
        bias.resize(bias_len, 0.0);
        let wbuf = self.add_const(self.prec.encode(weights));
        let bbuf = self.add_const(self.prec.encode(&bias));
        let slots = [
            Slot::new("x", x.prec, Access::Vec4),
            Slot::new("wt", self.prec, Access::Vec4),
            Slot::new("bias", self.prec, Access::Vec4),
            Slot::optional("res", res.map(|r| r.prec), Access::Vec4),
            Slot::new("y", y.prec, Access::Vec4),
        ];
        let mut bufs = vec![BufRef::Slot(x.slot), wbuf, bbuf];
        bufs.extend(res.map(|r| BufRef::Slot(r.slot)));
        bufs.push(BufRef::Slot(y.slot));
        let vars = vec![
            ("BINDINGS", bindings(&slots)),
            ("RESIDUAL", res.is_some().to_string()),
            (
                "ACT",
                act_fn("act", epi.act, true) + &act_fn("post_act", epi.post_act, true),
            ),
        ];
        (bufs, vars)
    }
}
