//! Constant folding: evaluating nodes whose inputs are all known at load time.
//!
//! Float tensors go through the reference executor (one definition of every op); integer tensors
//! (shape arithmetic) through the generic data-movement functions and integer arithmetic here.

use std::sync::Arc;

use super::constant::{Const, ConstData, checked_elements};
use super::shape::{axis, broadcast};
use super::{BinOp, Graph, Node, Op};
use crate::infer::InferError;
use crate::infer::onnx::Attrs;
use crate::infer::reference;
use crate::infer::tensor::Tensor;

/// Evaluates an IR op on constant inputs.
pub(super) fn eval(
    node: &str,
    op: &Op,
    ins: &[Arc<Const>],
    out_shape: &[usize],
) -> Result<Const, InferError> {
    checked_elements(out_shape)?;
    let err = |reason: String| InferError::Unsupported {
        op: op.name().into(),
        node: node.into(),
        reason,
    };
    if ins.iter().any(|c| c.is_int()) {
        let ints: Vec<Vec<i64>> = ins.iter().map(|c| c.to_i64()).collect();
        let shape = out_shape.to_vec();
        let v = match op {
            Op::Concat { axis } => {
                let parts: Vec<(&[usize], &[i64])> = ins
                    .iter()
                    .zip(&ints)
                    .map(|(c, v)| (c.shape.as_slice(), v.as_slice()))
                    .collect();
                reference::concat(&parts, *axis)
            }
            Op::Slice { starts, steps } => {
                reference::slice(&ins[0].shape, &ints[0], starts, steps, out_shape)
            }
            Op::Transpose { perm } => reference::transpose(&ins[0].shape, &ints[0], perm),
            Op::Reshape => ints[0].clone(),
            Op::Binary(b) if ins.iter().all(|c| c.is_int()) => {
                let f = |x: i64, y: i64| -> i64 {
                    match b {
                        BinOp::Add => x.wrapping_add(y),
                        BinOp::Sub => x.wrapping_sub(y),
                        BinOp::Mul => x.wrapping_mul(y),
                        BinOp::Div => x.checked_div(y).unwrap_or(0),
                        BinOp::Max => x.max(y),
                        BinOp::Min => x.min(y),
                        BinOp::Pow => x.checked_pow(y.clamp(0, 63) as u32).unwrap_or(0),
                    }
                };
                reference::binary(
                    &ins[0].shape,
                    &ints[0],
                    &ins[1].shape,
                    &ints[1],
                    out_shape,
                    f,
                )
            }
            Op::Binary(_) | Op::Unary(_) => {
                // Mixed integer and float, or a function of integers (DequantizeLinear of
                // quantized weights): compute in float.
                return eval_f32(node, op, ins, out_shape);
            }
            _ => return Err(err("folding this op on integer tensors".into())),
        };
        return Ok(Const::i64(shape, v));
    }
    eval_f32(node, op, ins, out_shape)
}

fn eval_f32(
    node: &str,
    op: &Op,
    ins: &[Arc<Const>],
    out_shape: &[usize],
) -> Result<Const, InferError> {
    let mut g = Graph::default();
    let inputs: Vec<usize> = ins
        .iter()
        .enumerate()
        .map(|(i, c)| g.add_value(format!("in{i}"), c.shape.clone()))
        .collect();
    let output = g.add_value("out", out_shape.to_vec());
    let n = Node {
        name: node.to_string(),
        op: op.clone(),
        inputs,
        output,
    };
    let tensors: Vec<Tensor> = ins
        .iter()
        .map(|c| Tensor::new(c.shape.clone(), c.to_f32()))
        .collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let t = reference::run_node(&g, &n, &refs)?;
    Ok(Const::f32(t.shape, t.data))
}

/// Ops that exist only to compute constants (shape arithmetic): evaluated here, never run.
pub(super) fn eval_const_only(
    op: &str,
    attrs: &Attrs<'_>,
    ins: &[Option<Arc<Const>>],
) -> Result<Const, InferError> {
    let shape_err = |reason: String| InferError::Shape {
        op: op.into(),
        node: String::new(),
        reason,
    };
    let get = |i: usize| -> Result<&Arc<Const>, InferError> {
        ins.get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| shape_err(format!("missing input {i}")))
    };
    match op {
        "Gather" => {
            let data = get(0)?;
            let idx = get(1)?;
            let a = axis(attrs.int("axis", 0)?, data.shape.len().max(1))
                .ok_or_else(|| shape_err("axis out of range".into()))?;
            if data.shape.is_empty() {
                return Err(shape_err("gather from a scalar".into()));
            }
            let d = data.shape[a] as i64;
            let indices: Vec<usize> = idx
                .to_i64()
                .iter()
                .map(|&i| {
                    let i = if i < 0 { i + d } else { i };
                    if (0..d).contains(&i) {
                        Ok(i as usize)
                    } else {
                        Err(shape_err(format!("index {i} out of range {d}")))
                    }
                })
                .collect::<Result<_, _>>()?;
            let outer: usize = data.shape[..a].iter().product();
            let inner: usize = data.shape[a + 1..].iter().product();
            let mut shape = data.shape[..a].to_vec();
            shape.extend_from_slice(&idx.shape);
            shape.extend_from_slice(&data.shape[a + 1..]);
            checked_elements(&shape)?;
            let pick = |src: &[f32]| -> Vec<f32> {
                let mut out = Vec::new();
                for o in 0..outer {
                    for &i in &indices {
                        out.extend_from_slice(&src[(o * data.shape[a] + i) * inner..][..inner]);
                    }
                }
                out
            };
            Ok(match &data.data {
                ConstData::F32(v) => Const::f32(shape, pick(v)),
                ConstData::I64(v) => {
                    let mut out = Vec::new();
                    for o in 0..outer {
                        for &i in &indices {
                            out.extend_from_slice(&v[(o * data.shape[a] + i) * inner..][..inner]);
                        }
                    }
                    Const::i64(shape, out)
                }
            })
        }
        "Range" => {
            let (s, l, d) = (get(0)?, get(1)?, get(2)?);
            if s.is_int() && l.is_int() && d.is_int() {
                let (s, l, d) = (
                    s.scalar_i64().unwrap_or(0),
                    l.scalar_i64().unwrap_or(0),
                    d.scalar_i64().unwrap_or(0),
                );
                if d == 0 {
                    return Err(shape_err("delta 0".into()));
                }
                let n = ((l - s) as f64 / d as f64).ceil().max(0.0) as usize;
                checked_elements(&[n])?;
                Ok(Const::i64(
                    vec![n],
                    (0..n as i64).map(|i| s + i * d).collect(),
                ))
            } else {
                let (s, l, d) = (
                    s.scalar_f32().unwrap_or(0.0),
                    l.scalar_f32().unwrap_or(0.0),
                    d.scalar_f32().unwrap_or(0.0),
                );
                let n = ((l - s) / d).ceil();
                if !n.is_finite() {
                    return Err(shape_err("range length is not finite".into()));
                }
                let n = n.max(0.0) as usize;
                checked_elements(&[n])?;
                Ok(Const::f32(
                    vec![n],
                    (0..n).map(|i| s + i as f32 * d).collect(),
                ))
            }
        }
        "ConstantOfShape" => {
            let shape = dims(&get(0)?.to_i64())?;
            let n = checked_elements(&shape)?;
            match attrs.tensor("value")? {
                Some(v) if v.is_int() => Ok(Const::i64(
                    shape,
                    vec![v.to_i64().first().copied().unwrap_or(0); n],
                )),
                Some(v) => Ok(Const::f32(
                    shape,
                    vec![v.to_f32().first().copied().unwrap_or(0.0); n],
                )),
                None => Ok(Const::f32(shape, vec![0.0; n])),
            }
        }
        "Expand" => {
            let x = get(0)?;
            let target = dims(&get(1)?.to_i64())?;
            let shape = broadcast(&x.shape, &target)
                .ok_or_else(|| shape_err(format!("cannot expand {:?} to {target:?}", x.shape)))?;
            checked_elements(&shape)?;
            Ok(match &x.data {
                ConstData::F32(v) => Const::f32(
                    shape.clone(),
                    reference::binary(&x.shape, v, &[], &[0.0], &shape, |a, _| a),
                ),
                ConstData::I64(v) => Const::i64(
                    shape.clone(),
                    reference::binary(&x.shape, v, &[], &[0], &shape, |a, _| a),
                ),
            })
        }
        "Equal" | "Less" | "Greater" => {
            let (a, b) = (get(0)?, get(1)?);
            let shape = broadcast(&a.shape, &b.shape)
                .ok_or_else(|| shape_err("shapes do not broadcast".into()))?;
            checked_elements(&shape)?;
            let f = |x: f32, y: f32| -> f32 {
                let r = match op {
                    "Equal" => x == y,
                    "Less" => x < y,
                    _ => x > y,
                };
                r as i32 as f32
            };
            let v = reference::binary(&a.shape, &a.to_f32(), &b.shape, &b.to_f32(), &shape, f);
            Ok(Const::i64(shape, v.iter().map(|&x| x as i64).collect()))
        }
        "Not" => {
            let a = get(0)?;
            Ok(Const::i64(
                a.shape.clone(),
                a.to_i64().iter().map(|&v| (v == 0) as i64).collect(),
            ))
        }
        "Where" => {
            let (c, x, y) = (get(0)?, get(1)?, get(2)?);
            let xy = broadcast(&x.shape, &y.shape)
                .ok_or_else(|| shape_err("shapes do not broadcast".into()))?;
            let shape = broadcast(&c.shape, &xy)
                .ok_or_else(|| shape_err("shapes do not broadcast".into()))?;
            checked_elements(&shape)?;
            let cond: Vec<f32> = c.to_i64().iter().map(|&v| v as f32).collect();
            let expand =
                |t: &Const| reference::binary(&t.shape, &t.to_f32(), &[], &[0.0], &shape, |a, _| a);
            let cv = reference::binary(&c.shape, &cond, &[], &[0.0], &shape, |a, _| a);
            let (xv, yv) = (expand(x), expand(y));
            let v: Vec<f32> = (0..cv.len())
                .map(|i| if cv[i] != 0.0 { xv[i] } else { yv[i] })
                .collect();
            if x.is_int() && y.is_int() {
                Ok(Const::i64(shape, v.iter().map(|&f| f as i64).collect()))
            } else {
                Ok(Const::f32(shape, v))
            }
        }
        "Floor" | "Ceil" => {
            let a = get(0)?;
            if a.is_int() {
                return Ok((**a).clone());
            }
            let f = if op == "Floor" { f32::floor } else { f32::ceil };
            Ok(Const::f32(
                a.shape.clone(),
                a.to_f32().into_iter().map(f).collect(),
            ))
        }
        "ReduceProd" => {
            let a = get(0)?;
            if a.shape.len() > 1 {
                return Err(InferError::Other(
                    "ReduceProd of more than 1-D constants".into(),
                ));
            }
            let keep = attrs.int("keepdims", 1)? != 0;
            let shape = if keep { vec![1; a.shape.len()] } else { vec![] };
            Ok(if a.is_int() {
                Const::i64(shape, vec![a.to_i64().iter().product()])
            } else {
                Const::f32(shape, vec![a.to_f32().iter().product()])
            })
        }
        _ => Err(InferError::Other(format!("{op} is not a constant-only op"))),
    }
}

fn dims(v: &[i64]) -> Result<Vec<usize>, InferError> {
    v.iter()
        .map(|&d| {
            if (0..=crate::infer::onnx::MAX_DIM).contains(&d) {
                Ok(d as usize)
            } else {
                Err(InferError::BadModel(format!("dimension {d} out of range")))
            }
        })
        .collect()
}
