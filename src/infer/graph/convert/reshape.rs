//! Operators that only reinterpret or reorder a tensor: Identity, Reshape, Flatten, Squeeze,
//! Unsqueeze (all reshapes in the IR) and Transpose.

use super::super::build::Builder;
use super::super::{Op, ValueId};
use super::ctx::Ctx;
use crate::infer::InferError;

/// `Identity` / `Dropout` (inference): the output is the input.
pub(super) fn identity(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    b.alias(cx.out(0)?, x);
    Ok(())
}

/// `Reshape` to a constant target shape.
pub(super) fn reshape(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    let mut target = cx.const_ints(b, cx.input(1)?, "shape")?;
    // A model exported for one picture spells its batch as a literal 1 (build_widened).
    if let Some(n) = b.batch
        && b.g.shape(x).first() == Some(&n)
        && target.first() == Some(&1)
    {
        target[0] = n as i64;
    }
    let allowzero = cx.attrs.int("allowzero", 0)? != 0;
    let shape = reshape_shape(cx, b.g.shape(x), &target, allowzero)?;
    reshape_to(b, cx, x, shape, cx.out(0)?)
}

/// `Flatten`: 2-D, split at `axis`.
pub(super) fn flatten(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    let s = b.g.shape(x).to_vec();
    let a = cx.axis(cx.attrs.int("axis", 1)?, s.len() + 1)?;
    let shape = vec![s[..a].iter().product(), s[a..].iter().product()];
    reshape_to(b, cx, x, shape, cx.out(0)?)
}

/// The output shape of `Reshape` with ONNX's -1 (inferred) and 0 (copied unless allowzero).
fn reshape_shape(
    cx: &Ctx<'_>,
    xs: &[usize],
    target: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, InferError> {
    let n: usize = xs.iter().product();
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            0 if !allowzero => shape.push(*xs.get(i).ok_or_else(|| {
                cx.shape_err(format!("shape {target:?}: 0 copies a missing dim"))
            })?),
            t if t > 0 && t <= crate::infer::onnx::MAX_DIM => shape.push(t as usize),
            _ => return Err(cx.shape_err(format!("shape {target:?} for input {xs:?}"))),
        }
    }
    let known = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if let Some(i) = infer {
        match known {
            Some(k) if k > 0 && n.is_multiple_of(k) => shape[i] = n / k,
            _ => return Err(cx.shape_err(format!("shape {target:?} for input {xs:?}"))),
        }
    }
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(n) {
        return Err(cx.shape_err(format!("shape {target:?} for input {xs:?}")));
    }
    Ok(shape)
}

/// A reshape of `x` to `shape` named `out`, an alias when the shape does not change.
pub(super) fn reshape_to(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    x: ValueId,
    shape: Vec<usize>,
    out: &str,
) -> Result<(), InferError> {
    if b.g.shape(x) == shape.as_slice() {
        b.alias(out, x);
        return Ok(());
    }
    b.add_node(cx.name(), Op::Reshape, vec![x], out, shape)?;
    Ok(())
}

/// `Squeeze` / `Unsqueeze`: axes from the attribute (before opset 13) or input 1.
pub(super) fn squeeze(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.first_input()?;
    let xs = b.g.shape(x).to_vec();
    let axes = cx.axes_arg(b, 13)?;
    let shape = if cx.op() == "Squeeze" {
        let axes: Vec<usize> = match axes {
            Some(a) => cx.axes(&a, xs.len())?,
            None => (0..xs.len()).filter(|&i| xs[i] == 1).collect(),
        };
        if axes.iter().any(|&a| xs[a] != 1) {
            return Err(cx.shape_err(format!("squeezing axes {axes:?} of {xs:?}")));
        }
        xs.iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    } else {
        let axes = axes.ok_or_else(|| cx.shape_err("no axes"))?;
        let r = xs.len() + axes.len();
        let axes: Vec<usize> = cx.axes(&axes, r)?;
        let mut it = xs.iter();
        (0..r)
            .map(|i| {
                if axes.contains(&i) {
                    Some(1)
                } else {
                    it.next().copied()
                }
            })
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| cx.shape_err(format!("axes {axes:?} for rank {}", xs.len())))?
    };
    reshape_to(b, cx, x, shape, cx.out(0)?)
}

/// `Transpose`: an alias for the identity permutation.
pub(super) fn transpose(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    let xs = b.g.shape(x).to_vec();
    let perm: Vec<usize> = match cx.attrs.ints("perm")? {
        Some(p) => cx.axes(&p, xs.len())?,
        None => (0..xs.len()).rev().collect(),
    };
    let mut seen = vec![false; xs.len()];
    for &p in &perm {
        if std::mem::replace(&mut seen[p], true) {
            return Err(cx.shape_err(format!("perm {perm:?} is not a permutation")));
        }
    }
    if perm.len() != xs.len() {
        return Err(cx.shape_err(format!("perm {perm:?} for rank {}", xs.len())));
    }
    let shape: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        b.alias(cx.out(0)?, x);
        return Ok(());
    }
    b.add_node(
        cx.name(),
        Op::Transpose { perm },
        vec![x],
        cx.out(0)?,
        shape,
    )?;
    Ok(())
}
