//! Operators computed at load time: Constant, Shape, Size, Cast, and the shape-arithmetic
//! operators (Gather, Range, Expand, ...) that lookout runs only on constants.

use std::sync::Arc;

use super::super::build::Builder;
use super::super::constant::Const;
use super::super::fold;
use super::ctx::Ctx;
use crate::infer::InferError;

/// `Constant`: a tensor, float(s) or int(s) attribute.
pub(super) fn constant(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let c = constant_value(cx)?;
    let id = b.add_const(cx.out(0)?, c)?;
    if let Some(t) = cx.attrs.tensor_type("value") {
        b.elem_types.insert(id, t);
    }
    Ok(())
}

/// The value of a `Constant` node, from whichever attribute holds it.
fn constant_value(cx: &Ctx<'_>) -> Result<Const, InferError> {
    if let Some(t) = cx.attrs.tensor("value")? {
        return Ok(t);
    }
    if cx.attrs.has("value_float") {
        return Ok(Const::f32(
            vec![],
            vec![cx.attrs.float("value_float", 0.0)?],
        ));
    }
    if let Some(v) = cx.attrs.floats("value_floats")? {
        return Ok(Const::f32(vec![v.len()], v));
    }
    if cx.attrs.has("value_int") {
        return Ok(Const::i64(vec![], vec![cx.attrs.int("value_int", 0)?]));
    }
    if let Some(v) = cx.attrs.ints("value_ints")? {
        return Ok(Const::i64(vec![v.len()], v));
    }
    Err(cx.unsupported("Constant without a tensor, float(s) or int(s) value"))
}

/// `Shape`: the input's dims (from `start` to `end`) as an integer constant.
pub(super) fn shape(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let s = b.g.shape(cx.input(0)?).to_vec();
    let r = s.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clampi(cx.attrs.int("start", 0)?);
    let end = clampi(cx.attrs.int("end", r)?);
    let dims: Vec<i64> = s[start..end.max(start)].iter().map(|&d| d as i64).collect();
    b.add_const(cx.out(0)?, Const::i64(vec![dims.len()], dims))?;
    Ok(())
}

/// `Size`: the input's element count as an integer constant.
pub(super) fn size(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let n = b.g.shape(cx.input(0)?).iter().product::<usize>() as i64;
    b.add_const(cx.out(0)?, Const::i64(vec![], vec![n]))?;
    Ok(())
}

/// `Cast`: constants converted at load time; a run-time tensor only to a float type (a no-op,
/// since activations are always f32).
pub(super) fn cast(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    let to = cx.attrs.int("to", 1)? as i32;
    let is_float = matches!(to, 1 | 10 | 11 | 16);
    match b.konst(x).cloned() {
        Some(c) => {
            let c = if is_float {
                Const::f32(c.shape.clone(), c.to_f32())
            } else if to == 9 {
                Const::i64(
                    c.shape.clone(),
                    c.to_i64().iter().map(|&v| (v != 0) as i64).collect(),
                )
            } else {
                Const::i64(c.shape.clone(), c.to_i64())
            };
            b.add_const(cx.out(0)?, c)?;
        }
        None if is_float => b.alias(cx.out(0)?, x),
        None => return Err(cx.unsupported("cast of a run-time tensor to integers")),
    }
    Ok(())
}

/// Gather, Range, ConstantOfShape, Expand, Equal, Where, Floor, Ceil, ReduceProd, Not, Less,
/// Greater: evaluated when every input is a constant (an Expand to the input's own shape is an
/// alias).
pub(super) fn const_only(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let ins = &cx.ins;
    let consts: Vec<Option<Arc<Const>>> = ins
        .iter()
        .map(|i| i.and_then(|i| b.konst(i).cloned()))
        .collect();
    if ins
        .iter()
        .zip(&consts)
        .any(|(i, c)| i.is_some() && c.is_none())
    {
        // Expand to the shape a tensor already has is a no-op.
        if cx.op() == "Expand"
            && let (Some(x), Some(Some(s))) = (cx.opt_input(0), consts.get(1))
            && s.to_i64().iter().all(|&d| d == 1)
            && s.len() <= b.g.shape(x).len()
        {
            b.alias(cx.out(0)?, x);
            return Ok(());
        }
        return Err(cx.unsupported("only supported on constants (after folding)"));
    }
    let c = fold::eval_const_only(cx.op(), &cx.attrs, &consts).map_err(|e| match e {
        InferError::Other(reason) => cx.unsupported(reason),
        InferError::Shape { reason, .. } => cx.shape_err(reason),
        other => other,
    })?;
    b.add_const(cx.out(0)?, c)?;
    Ok(())
}
