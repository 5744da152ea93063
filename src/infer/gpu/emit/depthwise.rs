//! Depthwise convolutions (one filter per channel) through the register-blocked
//! `depthwise.wgsl` kernel.

use super::super::layout::up4;
use super::super::plan::{Dispatch, Planner};
use super::super::shader::template;
use super::conv::Epilogue;
use super::{Params, grid, io_bytes, window_vars};
use crate::infer::InferError;
use crate::infer::graph::{Conv, Node};

const DEPTHWISE: &str = include_str!("../../../../shaders/depthwise.wgsl");

/// Output pixels per thread of the depthwise kernel.
const OWB: usize = 4;

impl Planner<'_> {
    /// A depthwise convolution: weights repacked as `[kh * kw, c4 * 4]`, a thread per `OWB`
    /// output pixels of a row and vec4 of channels.
    pub(super) fn depthwise(&mut self, n: &Node, c: &Conv) -> Result<(), InferError> {
        let epi = Epilogue::of(c);
        let v = self.conv_views(n, &epi);
        let xs = self.shapes[n.inputs[0]].clone();
        let ys = self.shapes[n.output].clone();
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
        let (bufs, mut vars) = self.conv_io(&v, &w, &c.bias, c4 * 4, &epi);
        let owb = OWB.min(ys[3]);
        let span = (owb - 1) * win.stride[1] + (kw - 1) * win.dilation[1] + 1;
        let owseg = ys[3].div_ceil(owb);
        let total = ys[0] * ys[2] * owseg * c4;
        let (groups, row) = grid(total);
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
            .view4(Some(v.x))
            .view4(Some(v.y))
            .view4(v.res)
            .u(row)
            .u(0);
        self.push(Dispatch {
            name: n.name.clone(),
            kind: "depthwise",
            src,
            params: params.0,
            bufs,
            groups,
            flops: self.g.node_flops(n),
            bytes: io_bytes(self, n),
        });
        Ok(())
    }
}
