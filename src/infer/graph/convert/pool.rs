//! MaxPool, AveragePool and their global forms: one IR pooling op over H and W.

use super::super::build::Builder;
use super::super::{Op, Pool, PoolKind, Window};
use super::ctx::Ctx;
use super::window::{sweep, window_attrs};
use crate::infer::InferError;

/// `MaxPool` / `AveragePool`, floor or ceil mode.
pub(super) fn pool(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    cx.single_output("the indices output of MaxPool")?;
    let xs = cx.rank4(b, x)?;
    let attrs = window_attrs(cx, None)?;
    let ceil = cx.attrs.int("ceil_mode", 0)? != 0;
    let window = attrs.window(attrs.resolve_pads(xs[2], xs[3]));
    let Some([oh, ow]) = sweep(&window, xs[2], xs[3], ceil) else {
        return Err(cx.shape_err(format!("window larger than padded input {xs:?}")));
    };
    let kind = if cx.op() == "MaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Avg {
            count_include_pad: cx.attrs.int("count_include_pad", 0)? != 0,
        }
    };
    let op = Op::Pool(Pool { kind, window });
    b.add_node(
        cx.name(),
        op,
        vec![x],
        cx.out(0)?,
        vec![xs[0], xs[1], oh, ow],
    )?;
    Ok(())
}

/// `GlobalAveragePool` / `GlobalMaxPool`: a window the size of the input.
pub(super) fn global_pool(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    let xs = cx.rank4(b, x)?;
    let kind = if cx.op() == "GlobalMaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Avg {
            count_include_pad: false,
        }
    };
    let window = Window {
        kernel: [xs[2], xs[3]],
        stride: [1, 1],
        pads: [0; 4],
        dilation: [1, 1],
    };
    let op = Op::Pool(Pool { kind, window });
    b.add_node(cx.name(), op, vec![x], cx.out(0)?, vec![xs[0], xs[1], 1, 1])?;
    Ok(())
}
