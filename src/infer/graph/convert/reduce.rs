//! Reductions along axes: Softmax and ReduceMean.

use super::super::Op;
use super::super::build::Builder;
use super::ctx::Ctx;
use super::reshape::reshape_to;
use crate::infer::InferError;

/// `Softmax`; before opset 13 over the input flattened to 2-D at `axis`.
pub(super) fn softmax(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    let xs = b.g.shape(x).to_vec();
    let default = if cx.opset < 13 { 1 } else { -1 };
    let a = cx.axis(cx.attrs.int("axis", default)?, xs.len())?;
    let out = cx.out(0)?.to_string();
    if cx.opset < 13 && a + 1 < xs.len() {
        // Before opset 13, Softmax works on the input flattened to 2-D at `axis`.
        let flat = vec![xs[..a].iter().product(), xs[a..].iter().product()];
        let f = b.add_node(
            cx.name(),
            Op::Reshape,
            vec![x],
            &format!("{out}/flat"),
            flat.clone(),
        )?;
        let s = b.add_node(
            cx.name(),
            Op::Softmax { axis: 1 },
            vec![f],
            &format!("{out}/softmax"),
            flat,
        )?;
        b.add_node(cx.name(), Op::Reshape, vec![s], &out, xs)?;
        return Ok(());
    }
    b.add_node(cx.name(), Op::Softmax { axis: a }, vec![x], &out, xs)?;
    Ok(())
}

/// `ReduceMean`: axes from the attribute (before opset 18) or input 1, all when absent.
pub(super) fn reduce_mean(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.first_input()?;
    let xs = b.g.shape(x).to_vec();
    let axes = cx.axes_arg(b, 18)?;
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => cx.axes(&a, xs.len())?,
        _ => (0..xs.len()).collect(),
    };
    let keep = cx.attrs.int("keepdims", 1)? != 0;
    let kept: Vec<usize> = xs
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let out = cx.out(0)?.to_string();
    if keep {
        b.add_node(cx.name(), Op::ReduceMean { axes }, vec![x], &out, kept)?;
    } else {
        let r = b.add_node(
            cx.name(),
            Op::ReduceMean { axes: axes.clone() },
            vec![x],
            &format!("{out}/keep"),
            kept,
        )?;
        let shape: Vec<usize> = xs
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect();
        reshape_to(b, cx, r, shape, &out)?;
    }
    Ok(())
}
