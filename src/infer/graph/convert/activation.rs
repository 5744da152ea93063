//! Element-wise functions of one tensor (Relu, Sigmoid, Clip, ...): one IR unary op each, folded
//! on integer constants where the function makes sense there.

use super::super::build::Builder;
use super::super::constant::Const;
use super::super::{Act, Op};
use super::ctx::Ctx;
use crate::infer::InferError;

/// The IR function of an activation node, attributes and constant bounds read.
fn act_of(b: &Builder<'_>, cx: &Ctx<'_>) -> Result<Act, InferError> {
    Ok(match cx.op() {
        "Relu" => Act::Relu,
        "Sigmoid" => Act::Sigmoid,
        "Tanh" => Act::Tanh,
        "Exp" => Act::Exp,
        "Neg" => Act::Neg,
        "Abs" => Act::Abs,
        "Sqrt" => Act::Sqrt,
        "LeakyRelu" => Act::LeakyRelu(cx.attrs.float("alpha", 0.01)?),
        "HardSigmoid" => {
            Act::HardSigmoid(cx.attrs.float("alpha", 0.2)?, cx.attrs.float("beta", 0.5)?)
        }
        "HardSwish" => Act::HardSwish,
        _ => {
            // Clip: attributes before opset 11, optional inputs after.
            let (lo, hi) = if cx.opset < 11 {
                (
                    cx.attrs.float("min", f32::MIN)?,
                    cx.attrs.float("max", f32::MAX)?,
                )
            } else {
                let why = "Clip bounds must be constant scalars";
                (
                    cx.const_scalar(b, 1, f32::MIN, why)?,
                    cx.const_scalar(b, 2, f32::MAX, why)?,
                )
            };
            Act::Clip(lo, hi)
        }
    })
}

/// Any activation operator.
pub(super) fn unary(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.first_input()?;
    let act = act_of(b, cx)?;
    let shape = b.g.shape(x).to_vec();
    if let Some(c) = b.konst(x).cloned()
        && c.is_int()
    {
        // Integer folding: only sign functions make sense.
        let v: Vec<i64> = match act {
            Act::Neg => c.to_i64().iter().map(|v| -v).collect(),
            Act::Abs => c.to_i64().iter().map(|v| v.abs()).collect(),
            Act::Relu => c.to_i64().iter().map(|&v| v.max(0)).collect(),
            _ => return Err(cx.unsupported("on integers")),
        };
        b.add_const(cx.out(0)?, Const::i64(shape, v))?;
        return Ok(());
    }
    b.add_node(cx.name(), Op::Unary(act), vec![x], cx.out(0)?, shape)?;
    Ok(())
}
