//! Element-wise operators of two or more tensors with numpy broadcasting (Add, Mul, Max, Sum,
//! ...), and BatchNormalization, which becomes a per-channel Mul and Add.

use super::super::build::Builder;
use super::super::constant::Const;
use super::super::shape::broadcast;
use super::super::{BinOp, Op, ValueId};
use super::ctx::Ctx;
use crate::infer::InferError;

/// Adds `op(x, y)` under the name `out`, with the broadcast shape.
pub(super) fn binary(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    op: BinOp,
    x: ValueId,
    y: ValueId,
    out: &str,
) -> Result<ValueId, InferError> {
    let (xs, ys) = (b.g.shape(x).to_vec(), b.g.shape(y).to_vec());
    let shape = broadcast(&xs, &ys)
        .ok_or_else(|| cx.shape_err(format!("shapes {xs:?} and {ys:?} do not broadcast")))?;
    b.add_node(cx.name(), Op::Binary(op), vec![x, y], out, shape)
}

/// A two-input operator (Add, Sub, Mul, Div, Pow).
pub(super) fn binary_node(b: &mut Builder<'_>, cx: &Ctx<'_>, op: BinOp) -> Result<(), InferError> {
    let out = cx.out(0)?.to_string();
    binary(b, cx, op, cx.input(0)?, cx.input(1)?, &out)?;
    Ok(())
}

/// A variadic operator (Max, Min, Sum): a chain of binary ops, an alias for a single input.
pub(super) fn variadic(b: &mut Builder<'_>, cx: &Ctx<'_>, op: BinOp) -> Result<(), InferError> {
    let xs = cx.present_inputs();
    let Some((&first, rest)) = xs.split_first() else {
        return Err(cx.shape_err("no inputs"));
    };
    let mut acc = first;
    for (i, &x) in rest.iter().enumerate() {
        let name = if i + 1 == rest.len() {
            cx.out(0)?.to_string()
        } else {
            format!("{}/{}{i}", cx.out(0)?, cx.op())
        };
        acc = binary(b, cx, op, acc, x, &name)?;
    }
    if rest.is_empty() {
        b.alias(cx.out(0)?, acc);
    }
    Ok(())
}

/// BatchNorm becomes a per-channel Mul and Add; both fold into a preceding Conv later.
pub(super) fn batch_norm(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let ins = &cx.ins;
    if ins.len() < 5 || ins.iter().take(5).any(Option::is_none) {
        return Err(cx.shape_err("BatchNormalization needs 5 inputs"));
    }
    cx.single_output("training mode outputs")?;
    let x = cx.input(0)?;
    let xs = b.g.shape(x).to_vec();
    if xs.len() < 2 {
        return Err(cx.shape_err(format!("input shape {xs:?}")));
    }
    let c = xs[1];
    let get = |i: usize, what: &str| -> Result<Vec<f32>, InferError> {
        let v = cx.konst(b, cx.input(i)?, what)?.to_f32();
        if v.len() != c {
            return Err(cx.shape_err(format!("{what} has {} values for {c} channels", v.len())));
        }
        Ok(v)
    };
    let (scale, beta, mean, var) = (
        get(1, "scale")?,
        get(2, "bias")?,
        get(3, "mean")?,
        get(4, "var")?,
    );
    let eps = cx.attrs.float("epsilon", 1e-5)?;
    let mul: Vec<f32> = (0..c).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
    let add: Vec<f32> = (0..c).map(|i| beta[i] - mean[i] * mul[i]).collect();
    let mut cshape = vec![1; xs.len() - 1];
    cshape[0] = c;
    let out = cx.out(0)?.to_string();
    let m = b.add_const(&format!("{out}/bn_scale"), Const::f32(cshape.clone(), mul))?;
    let a = b.add_const(&format!("{out}/bn_shift"), Const::f32(cshape, add))?;
    let y = b.add_node(
        cx.name(),
        Op::Binary(BinOp::Mul),
        vec![x, m],
        &format!("{out}/bn_mul"),
        xs.clone(),
    )?;
    b.add_node(cx.name(), Op::Binary(BinOp::Add), vec![y, a], &out, xs)?;
    Ok(())
}
