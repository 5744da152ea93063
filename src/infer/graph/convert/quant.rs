//! QuantizeLinear and DequantizeLinear, the operators of static QDQ models (what `lookout
//! quantize` and ONNX Runtime's quantizer write).
//!
//! The IR computes in f32, so a quantized tensor is its integers held in f32 (exact for 8- and
//! 16-bit types): one scale and zero point become one element-wise function
//! ([`Act::Quantize`], [`Act::Dequantize`]); per-axis ones are lowered to broadcast division,
//! [`Act::Round`], addition and a clip (or subtraction and multiplication), which every backend
//! already runs. Quantized weights (`int8 initializer -> DequantizeLinear -> Conv`) fold into
//! float constants at load time, so convolutions see float weights as before. The ONNX element
//! types the checks need (int8 vs uint8) are kept beside the values in [`Builder::elem_types`].

use super::super::build::Builder;
use super::super::constant::Const;
use super::super::{Act, BinOp, Op, ValueId};
use super::ctx::Ctx;
use crate::infer::InferError;
use crate::infer::onnx::proto::data_type as dt;

/// The integer range of a quantized element type, or `None` for types lookout does not quantize.
fn int_range(t: i32) -> Option<(f32, f32)> {
    match t {
        dt::UINT8 => Some((0.0, 255.0)),
        dt::INT8 => Some((-128.0, 127.0)),
        dt::UINT16 => Some((0.0, 65535.0)),
        dt::INT16 => Some((-32768.0, 32767.0)),
        dt::INT32 => Some((i32::MIN as f32, i32::MAX as f32)),
        _ => None,
    }
}

/// An ONNX element type as errors name it.
fn type_name(t: i32) -> String {
    match t {
        dt::FLOAT => "float".into(),
        dt::UINT8 => "uint8".into(),
        dt::INT8 => "int8".into(),
        dt::UINT16 => "uint16".into(),
        dt::INT16 => "int16".into(),
        dt::INT32 => "int32".into(),
        dt::INT64 => "int64".into(),
        other => format!("element type {other}"),
    }
}

/// The model is wrong at this node (not merely beyond what lookout runs).
fn bad(cx: &Ctx<'_>, reason: impl std::fmt::Display) -> InferError {
    InferError::BadModel(format!("node {:?} ({}): {reason}", cx.name(), cx.op()))
}

/// Scale and zero point: one of each, or one per slice along `axis`.
struct Params {
    scale: Vec<f32>,
    zero: Vec<f32>,
    /// `None` for per-tensor parameters.
    axis: Option<usize>,
}

/// Reads and checks inputs 1 (scale) and 2 (zero point, of type `zero_type` when present) for
/// the node's input `x`.
fn params(b: &Builder<'_>, cx: &Ctx<'_>, x: ValueId, zero_type: i32) -> Result<Params, InferError> {
    if cx.attrs.int("block_size", 0)? != 0 {
        return Err(cx.unsupported("blocked quantization (block_size) is not supported"));
    }
    let s = cx.konst(b, cx.input(1)?, "the scale")?;
    if s.is_int() {
        return Err(bad(cx, "the scale must be a float tensor"));
    }
    let scale = s.to_f32();
    if let Some((i, v)) = scale
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > 0.0))
    {
        return Err(bad(
            cx,
            format!("scale {v} (element {i}) is not a positive finite number"),
        ));
    }
    let zero = match cx.opt_input(2) {
        None => vec![0.0; scale.len()],
        Some(z) => {
            let zc = cx.konst(b, z, "the zero point")?;
            if zc.shape != s.shape {
                return Err(bad(
                    cx,
                    format!(
                        "zero point of shape {:?} does not match the scale's {:?}",
                        zc.shape, s.shape
                    ),
                ));
            }
            let (lo, hi) = int_range(zero_type).unwrap_or((f32::MIN, f32::MAX));
            let zero: Vec<f32> = zc.to_i64().iter().map(|&v| v as f32).collect();
            if let Some(v) = zero.iter().find(|v| !(lo..=hi).contains(*v)) {
                return Err(bad(
                    cx,
                    format!(
                        "zero point {v} is outside the {} range",
                        type_name(zero_type)
                    ),
                ));
            }
            zero
        }
    };
    let shape = b.g.shape(x);
    let axis = match s.shape.len() {
        0 => None,
        1 if scale.len() == 1 => None,
        1 => {
            let a = cx.attrs.int("axis", 1)?;
            let axis = cx.axis(a, shape.len()).map_err(|_| {
                bad(
                    cx,
                    format!(
                        "axis {a} is out of range for an input of shape {shape:?} (per-axis scales)"
                    ),
                )
            })?;
            if shape[axis] != scale.len() {
                return Err(bad(
                    cx,
                    format!(
                        "{} scales for axis {axis} of an input of shape {shape:?}: one per slice needed",
                        scale.len()
                    ),
                ));
            }
            Some(axis)
        }
        _ => {
            return Err(cx.unsupported(format!(
                "a scale of shape {:?}: only per-tensor and per-axis (1-D) quantization",
                s.shape
            )));
        }
    };
    Ok(Params { scale, zero, axis })
}

/// A constant of `values` shaped to broadcast along `axis` of a rank-`rank` tensor.
fn along_axis(
    b: &mut Builder<'_>,
    name: &str,
    values: &[f32],
    axis: usize,
    rank: usize,
) -> Result<ValueId, InferError> {
    let mut shape = vec![1; rank];
    shape[axis] = values.len();
    b.add_const(name, Const::f32(shape, values.to_vec()))
}

/// The ONNX element type of an input, when known (constants and QuantizeLinear outputs).
fn elem_type(b: &Builder<'_>, id: ValueId) -> Option<i32> {
    b.elem_types.get(&id).copied()
}

/// `QuantizeLinear(x, scale, zero_point?)`: float to int8/uint8/int16/uint16.
pub(super) fn quantize(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    if b.konst(x).is_some_and(|c| c.is_int()) || elem_type(b, x).is_some_and(|t| t != dt::FLOAT) {
        return Err(bad(cx, "the input must be a float tensor"));
    }
    let asked = cx.attrs.int("output_dtype", 0)? as i32;
    let out_type = match cx.opt_input(2) {
        Some(z) => {
            let t = elem_type(b, z).ok_or_else(|| {
                bad(
                    cx,
                    "the zero point's element type is unknown (it must be an int8, uint8, int16 or uint16 constant)",
                )
            })?;
            if asked != 0 && asked != t {
                return Err(bad(
                    cx,
                    format!(
                        "output_dtype {} differs from the zero point's type {}",
                        type_name(asked),
                        type_name(t)
                    ),
                ));
            }
            t
        }
        None if asked != 0 => asked,
        None => dt::UINT8,
    };
    let (lo, hi) = match int_range(out_type) {
        Some(r) if out_type != dt::INT32 => r,
        _ => {
            return Err(cx.unsupported(format!(
                "quantizing to {}: lookout reads int8, uint8, int16 and uint16",
                type_name(out_type)
            )));
        }
    };
    let p = params(b, cx, x, out_type)?;
    let shape = b.g.shape(x).to_vec();
    let out = cx.out(0)?;
    let id = match p.axis {
        None => b.add_node(
            cx.name(),
            Op::Unary(Act::Quantize {
                scale: p.scale[0],
                zero: p.zero[0],
                lo,
                hi,
            }),
            vec![x],
            out,
            shape,
        )?,
        Some(axis) => {
            let rank = shape.len();
            let s = along_axis(b, &format!("{out}::scale"), &p.scale, axis, rank)?;
            let z = along_axis(b, &format!("{out}::zero"), &p.zero, axis, rank)?;
            let name = cx.name();
            let div = b.add_node(
                name,
                Op::Binary(BinOp::Div),
                vec![x, s],
                &format!("{out}::div"),
                shape.clone(),
            )?;
            let round = b.add_node(
                name,
                Op::Unary(Act::Round),
                vec![div],
                &format!("{out}::round"),
                shape.clone(),
            )?;
            let add = b.add_node(
                name,
                Op::Binary(BinOp::Add),
                vec![round, z],
                &format!("{out}::add"),
                shape.clone(),
            )?;
            b.add_node(name, Op::Unary(Act::Clip(lo, hi)), vec![add], out, shape)?
        }
    };
    b.elem_types.insert(id, out_type);
    Ok(())
}

/// `DequantizeLinear(x, scale, zero_point?)`: int8/uint8/int16/uint16/int32 to float.
pub(super) fn dequantize(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.input(0)?;
    let x_type = elem_type(b, x).ok_or_else(|| {
        bad(
            cx,
            "the input is not a quantized tensor (an integer constant or a QuantizeLinear output)",
        )
    })?;
    if int_range(x_type).is_none() {
        return Err(bad(
            cx,
            format!(
                "the input is {}; DequantizeLinear reads int8, uint8, int16, uint16 or int32",
                type_name(x_type)
            ),
        ));
    }
    if let Some(z) = cx.opt_input(2) {
        let zt = elem_type(b, z);
        if zt != Some(x_type) {
            return Err(bad(
                cx,
                format!(
                    "the zero point is {} and the input {}: they must have the same type",
                    zt.map_or_else(|| "of unknown type".into(), type_name),
                    type_name(x_type)
                ),
            ));
        }
    }
    let p = params(b, cx, x, x_type)?;
    let shape = b.g.shape(x).to_vec();
    let out = cx.out(0)?;
    match p.axis {
        None => {
            b.add_node(
                cx.name(),
                Op::Unary(Act::Dequantize {
                    scale: p.scale[0],
                    zero: p.zero[0],
                }),
                vec![x],
                out,
                shape,
            )?;
        }
        Some(axis) => {
            let rank = shape.len();
            let s = along_axis(b, &format!("{out}::scale"), &p.scale, axis, rank)?;
            let z = along_axis(b, &format!("{out}::zero"), &p.zero, axis, rank)?;
            let sub = b.add_node(
                cx.name(),
                Op::Binary(BinOp::Sub),
                vec![x, z],
                &format!("{out}::sub"),
                shape.clone(),
            )?;
            b.add_node(cx.name(), Op::Binary(BinOp::Mul), vec![sub, s], out, shape)?;
        }
    }
    Ok(())
}
