//! Matrix products: MatMul, and Gemm as transposes, a MatMul, scaling and a broadcast add.

use super::super::build::Builder;
use super::super::constant::Const;
use super::super::shape::broadcast;
use super::super::{BinOp, Op, ValueId};
use super::binary::binary;
use super::ctx::Ctx;
use crate::infer::InferError;

/// `MatMul` of rank >= 2 operands, batch axes broadcast.
pub(super) fn matmul(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let (x, y) = (cx.input(0)?, cx.input(1)?);
    let (xs, ys) = (b.g.shape(x).to_vec(), b.g.shape(y).to_vec());
    if xs.len() < 2 || ys.len() < 2 || xs[xs.len() - 1] != ys[ys.len() - 2] {
        return Err(cx.unsupported(format!("shapes {xs:?} x {ys:?}: only rank >= 2 products")));
    }
    let batch = broadcast(&xs[..xs.len() - 2], &ys[..ys.len() - 2])
        .ok_or_else(|| cx.shape_err(format!("batch dims of {xs:?} and {ys:?}")))?;
    let mut shape = batch;
    shape.push(xs[xs.len() - 2]);
    shape.push(ys[ys.len() - 1]);
    b.add_node(cx.name(), Op::MatMul, vec![x, y], cx.out(0)?, shape)?;
    Ok(())
}

/// Gemm = (transposed) MatMul scaled, plus C.
pub(super) fn gemm(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let (Some(a), Some(w)) = (cx.opt_input(0), cx.opt_input(1)) else {
        return Err(cx.shape_err("Gemm needs A and B"));
    };
    let out = cx.out(0)?.to_string();
    let (alpha, beta) = (cx.attrs.float("alpha", 1.0)?, cx.attrs.float("beta", 1.0)?);
    let a = transposed_if(b, cx, a, "transA", &format!("{out}/at"))?;
    let w = transposed_if(b, cx, w, "transB", &format!("{out}/bt"))?;
    let (xs, ys) = (b.g.shape(a).to_vec(), b.g.shape(w).to_vec());
    if xs.len() != 2 || ys.len() != 2 || xs[1] != ys[0] {
        return Err(cx.shape_err(format!("shapes {xs:?} x {ys:?}")));
    }
    let shape = vec![xs[0], ys[1]];
    let mut y = b.add_node(
        cx.name(),
        Op::MatMul,
        vec![a, w],
        &format!("{out}/mm"),
        shape.clone(),
    )?;
    if alpha != 1.0 {
        let s = b.add_const(&format!("{out}/alpha"), Const::f32(vec![], vec![alpha]))?;
        y = b.add_node(
            cx.name(),
            Op::Binary(BinOp::Mul),
            vec![y, s],
            &format!("{out}/scaled"),
            shape.clone(),
        )?;
    }
    match cx.opt_input(2) {
        Some(c) => {
            let mut c = c;
            if beta != 1.0 {
                let s = b.add_const(&format!("{out}/beta"), Const::f32(vec![], vec![beta]))?;
                let cs = b.g.shape(c).to_vec();
                c = b.add_node(
                    cx.name(),
                    Op::Binary(BinOp::Mul),
                    vec![c, s],
                    &format!("{out}/cb"),
                    cs,
                )?;
            }
            binary(b, cx, BinOp::Add, y, c, &out)?;
        }
        None => b.alias(&out, y),
    }
    Ok(())
}

/// `v` transposed (a 2-D matrix) when the attribute `flag` is set, else `v`.
fn transposed_if(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    v: ValueId,
    flag: &str,
    name: &str,
) -> Result<ValueId, InferError> {
    if cx.attrs.int(flag, 0)? == 0 {
        return Ok(v);
    }
    let s = b.g.shape(v).to_vec();
    if s.len() != 2 {
        let which = if flag == "transA" { "A" } else { "B" };
        return Err(cx.shape_err(format!("{which} of shape {s:?}")));
    }
    let perm = vec![1, 0];
    b.add_node(
        cx.name(),
        Op::Transpose { perm },
        vec![v],
        name,
        vec![s[1], s[0]],
    )
}
