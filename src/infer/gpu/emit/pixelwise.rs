//! Kernels with one NHWC input and one NHWC output, a thread per output pixel and vec4 of
//! channels: pooling (`pool.wgsl`) and resize (`resize.wgsl`).

use super::super::layout::up4;
use super::super::plan::{BufRef, Dispatch, Planner};
use super::super::shader::{Access, Slot, bindings, template};
use super::{Params, grid, io_bytes, window_vars};
use crate::infer::InferError;
use crate::infer::graph::{CoordMode, NearestMode, Node, Pool, PoolKind, Resize};

const POOL: &str = include_str!("../../../../shaders/pool.wgsl");
const RESIZE: &str = include_str!("../../../../shaders/resize.wgsl");

impl Planner<'_> {
    /// Max or average pooling; the bottom/right pads go to the kernel for `count_include_pad`.
    pub(super) fn pool(&mut self, n: &Node, p: &Pool) -> Result<(), InferError> {
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

    /// Resize, its modes as the shader's integer codes and its scales as parameters.
    pub(super) fn resize(&mut self, n: &Node, r: &Resize) -> Result<(), InferError> {
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
        let params = params.view4(Some(x)).view4(Some(y)).u(row);
        self.push(Dispatch {
            name: n.name.clone(),
            kind,
            src: template(shader, &vars),
            params: params.0,
            bufs: vec![BufRef::Slot(x.slot), BufRef::Slot(y.slot)],
            groups,
            flops: self.g.node_flops(n),
            bytes: io_bytes(self, n),
        });
        Ok(())
    }
}
