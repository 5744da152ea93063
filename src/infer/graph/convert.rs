//! One ONNX node -> IR nodes or constants, with attribute parsing and shape inference.

use std::sync::Arc;

use super::build::Builder;
use super::constant::Const;
use super::shape::{axis, broadcast, window_out};
use super::{
    Act, BinOp, Conv, ConvGeom, ConvTranspose, CoordMode, NearestMode, Op, Pool, PoolKind, Resize,
    ValueId, Window as IrWindow,
};
use crate::infer::InferError;
use crate::infer::onnx::Attrs;
use crate::infer::onnx::proto::NodeProto;

/// Context of the node being converted, for errors.
struct Ctx<'a> {
    node: &'a NodeProto,
    attrs: Attrs<'a>,
    opset: i64,
}

impl Ctx<'_> {
    fn unsupported(&self, reason: impl Into<String>) -> InferError {
        InferError::Unsupported {
            op: self.node.op_type.clone(),
            node: self.node.name.clone(),
            reason: reason.into(),
        }
    }

    fn shape_err(&self, reason: impl Into<String>) -> InferError {
        InferError::Shape {
            op: self.node.op_type.clone(),
            node: self.node.name.clone(),
            reason: reason.into(),
        }
    }

    fn out(&self, i: usize) -> Result<&str, InferError> {
        self.node
            .output
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| self.shape_err(format!("node has no output {i}")))
    }

    fn name(&self) -> &str {
        &self.node.name
    }
}

/// Converts one node, adding its outputs to the builder.
pub(super) fn convert_node(b: &mut Builder<'_>, node: &NodeProto) -> Result<(), InferError> {
    let cx = Ctx {
        node,
        attrs: Attrs::new(node),
        opset: b.model.opset,
    };
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return Err(cx.unsupported(format!("operator domain {:?}", node.domain)));
    }
    if cx.attrs.has_graph() {
        return Err(cx.unsupported("sub-graphs (control flow) are not supported"));
    }
    if node.output.is_empty() {
        return Err(cx.shape_err("node has no outputs"));
    }
    // Inputs: "" means an omitted optional input.
    let mut ins: Vec<Option<ValueId>> = Vec::with_capacity(node.input.len());
    for name in &node.input {
        ins.push(if name.is_empty() {
            None
        } else {
            Some(b.value(name)?)
        });
    }
    let input = |i: usize| -> Result<ValueId, InferError> {
        ins.get(i)
            .copied()
            .flatten()
            .ok_or_else(|| cx.shape_err(format!("missing input {i}")))
    };
    let op = node.op_type.as_str();
    match op {
        "Identity" | "Dropout" => {
            let x = input(0)?;
            b.alias(cx.out(0)?, x);
        }
        "Constant" => {
            let c = constant_value(&cx)?;
            b.add_const(cx.out(0)?, c)?;
        }
        "Conv" => conv(b, &cx, input(0)?, input(1)?, ins.get(2).copied().flatten())?,
        "ConvTranspose" => {
            conv_transpose(b, &cx, input(0)?, input(1)?, ins.get(2).copied().flatten())?
        }
        "BatchNormalization" => batch_norm(b, &cx, &ins)?,
        "MaxPool" | "AveragePool" => pool(b, &cx, input(0)?)?,
        "GlobalAveragePool" | "GlobalMaxPool" => global_pool(b, &cx, input(0)?)?,
        "Resize" | "Upsample" => resize(b, &cx, &ins)?,
        "Relu" | "Sigmoid" | "Tanh" | "Exp" | "Neg" | "Abs" | "Sqrt" | "LeakyRelu"
        | "HardSigmoid" | "HardSwish" | "Clip" => unary(b, &cx, &ins)?,
        "Add" | "Sub" | "Mul" | "Div" | "Pow" => {
            let bop = match op {
                "Add" => BinOp::Add,
                "Sub" => BinOp::Sub,
                "Mul" => BinOp::Mul,
                "Div" => BinOp::Div,
                _ => BinOp::Pow,
            };
            let out = cx.out(0)?.to_string();
            binary(b, &cx, bop, input(0)?, input(1)?, &out)?;
        }
        "Max" | "Min" | "Sum" => {
            let bop = match op {
                "Max" => BinOp::Max,
                "Min" => BinOp::Min,
                _ => BinOp::Add,
            };
            let xs: Vec<ValueId> = ins.iter().flatten().copied().collect();
            let Some((&first, rest)) = xs.split_first() else {
                return Err(cx.shape_err("no inputs"));
            };
            let mut acc = first;
            for (i, &x) in rest.iter().enumerate() {
                let name = if i + 1 == rest.len() {
                    cx.out(0)?.to_string()
                } else {
                    format!("{}/{op}{i}", cx.out(0)?)
                };
                acc = binary(b, &cx, bop, acc, x, &name)?;
            }
            if rest.is_empty() {
                b.alias(cx.out(0)?, acc);
            }
        }
        "Concat" => concat(b, &cx, &ins)?,
        "Split" => split(b, &cx, &ins)?,
        "Slice" => slice(b, &cx, &ins)?,
        "Transpose" => transpose(b, &cx, input(0)?)?,
        "Reshape" => {
            let x = input(0)?;
            let target = const_ints(b, &cx, input(1)?, "shape")?;
            let allowzero = cx.attrs.int("allowzero", 0)? != 0;
            let shape = reshape_shape(&cx, b.g.shape(x), &target, allowzero)?;
            reshape_to(b, &cx, x, shape, cx.out(0)?)?;
        }
        "Flatten" => {
            let x = input(0)?;
            let s = b.g.shape(x).to_vec();
            let a = axis_or_err(&cx, cx.attrs.int("axis", 1)?, s.len() + 1)?;
            let shape = vec![s[..a].iter().product(), s[a..].iter().product()];
            reshape_to(b, &cx, x, shape, cx.out(0)?)?;
        }
        "Squeeze" | "Unsqueeze" => squeeze(b, &cx, &ins)?,
        "Pad" => pad(b, &cx, &ins)?,
        "Softmax" => softmax(b, &cx, input(0)?)?,
        "MatMul" => matmul(b, &cx, input(0)?, input(1)?)?,
        "Gemm" => gemm(b, &cx, &ins)?,
        "ReduceMean" => reduce_mean(b, &cx, &ins)?,
        "Shape" => {
            let s = b.g.shape(input(0)?).to_vec();
            let r = s.len() as i64;
            let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let start = clampi(cx.attrs.int("start", 0)?);
            let end = clampi(cx.attrs.int("end", r)?);
            let dims: Vec<i64> = s[start..end.max(start)].iter().map(|&d| d as i64).collect();
            b.add_const(cx.out(0)?, Const::i64(vec![dims.len()], dims))?;
        }
        "Size" => {
            let n = b.g.shape(input(0)?).iter().product::<usize>() as i64;
            b.add_const(cx.out(0)?, Const::i64(vec![], vec![n]))?;
        }
        "Cast" => {
            let x = input(0)?;
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
        }
        "Gather" | "Range" | "ConstantOfShape" | "Expand" | "Equal" | "Where" | "Floor"
        | "Ceil" | "ReduceProd" | "Not" | "Less" | "Greater" => {
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
                if op == "Expand"
                    && let (Some(x), Some(Some(s))) = (ins[0], consts.get(1))
                    && s.to_i64().iter().all(|&d| d == 1)
                    && s.len() <= b.g.shape(x).len()
                {
                    b.alias(cx.out(0)?, x);
                    return Ok(());
                }
                return Err(cx.unsupported("only supported on constants (after folding)"));
            }
            let c = super::fold::eval_const_only(&cx.node.op_type, &cx.attrs, &consts).map_err(
                |e| match e {
                    InferError::Other(reason) => cx.unsupported(reason),
                    InferError::Shape { reason, .. } => cx.shape_err(reason),
                    other => other,
                },
            )?;
            b.add_const(cx.out(0)?, c)?;
        }
        _ => return Err(cx.unsupported("operator not implemented")),
    }
    Ok(())
}

fn axis_or_err(cx: &Ctx<'_>, a: i64, rank: usize) -> Result<usize, InferError> {
    axis(a, rank).ok_or_else(|| cx.shape_err(format!("axis {a} out of range for rank {rank}")))
}

/// The node's first input.
fn first_input(cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<ValueId, InferError> {
    ins.first()
        .copied()
        .flatten()
        .ok_or_else(|| cx.shape_err("no input"))
}

/// An `axes` list: an attribute before opset `since`, the (constant) second input from it on.
fn axes_arg(
    b: &Builder<'_>,
    cx: &Ctx<'_>,
    ins: &[Option<ValueId>],
    since: i64,
) -> Result<Option<Vec<i64>>, InferError> {
    if cx.opset < since {
        return cx.attrs.ints("axes");
    }
    ins.get(1)
        .copied()
        .flatten()
        .map(|v| const_ints(b, cx, v, "axes"))
        .transpose()
}

/// The integers of a constant input (shape, axes, pads, ...).
fn const_ints(
    b: &Builder<'_>,
    cx: &Ctx<'_>,
    id: ValueId,
    what: &str,
) -> Result<Vec<i64>, InferError> {
    b.konst(id)
        .map(|c| c.to_i64())
        .ok_or_else(|| cx.unsupported(format!("{what} must be a constant")))
}

fn const_floats(
    b: &Builder<'_>,
    cx: &Ctx<'_>,
    id: ValueId,
    what: &str,
) -> Result<Vec<f32>, InferError> {
    b.konst(id)
        .map(|c| c.to_f32())
        .ok_or_else(|| cx.unsupported(format!("{what} must be a constant")))
}

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

/// Spatial attributes shared by Conv, ConvTranspose and pooling.
struct Window {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    /// Explicit pads (t, l, b, r), or `None` for auto_pad SAME_* (computed from the input).
    pads: Option<[usize; 4]>,
    same_upper: bool,
}

fn pair(
    cx: &Ctx<'_>,
    name: &str,
    v: Option<Vec<i64>>,
    default: usize,
) -> Result<[usize; 2], InferError> {
    match v {
        None => Ok([default; 2]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| (1..=1 << 16).contains(&x)) => {
            Ok([v[0] as usize, v[1] as usize])
        }
        Some(v) => Err(cx.unsupported(format!(
            "{name} {v:?}: only 2-D windows with positive sizes"
        ))),
    }
}

fn window(cx: &Ctx<'_>, kernel_from_weight: Option<[usize; 2]>) -> Result<Window, InferError> {
    let kernel = match (cx.attrs.ints("kernel_shape")?, kernel_from_weight) {
        (Some(k), _) => pair(cx, "kernel_shape", Some(k), 1)?,
        (None, Some(k)) => k,
        (None, None) => return Err(cx.shape_err("no kernel_shape")),
    };
    let stride = pair(cx, "strides", cx.attrs.ints("strides")?, 1)?;
    let dilation = pair(cx, "dilations", cx.attrs.ints("dilations")?, 1)?;
    let auto_pad = cx.attrs.string("auto_pad", "NOTSET")?;
    let (pads, same_upper) = match auto_pad.as_str() {
        "NOTSET" | "" => {
            let p = cx.attrs.ints("pads")?.unwrap_or_else(|| vec![0; 4]);
            if p.len() != 4 || p.iter().any(|&x| !(0..=1 << 16).contains(&x)) {
                return Err(cx.unsupported(format!("pads {p:?}: only 2-D non-negative pads")));
            }
            // ONNX order: [top, left, bottom, right].
            (
                Some([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]),
                false,
            )
        }
        "VALID" => (Some([0; 4]), false),
        "SAME_UPPER" => (None, true),
        "SAME_LOWER" => (None, false),
        other => return Err(cx.unsupported(format!("auto_pad {other}"))),
    };
    Ok(Window {
        kernel,
        stride,
        dilation,
        pads,
        same_upper,
    })
}

impl Window {
    /// Pads for input size (h, w): explicit, or SAME_* so that out = ceil(in / stride).
    fn resolve_pads(&self, h: usize, w: usize) -> [usize; 4] {
        if let Some(p) = self.pads {
            return p;
        }
        let total = |i: usize, d: usize| {
            let out = d.div_ceil(self.stride[i]);
            let span = (self.kernel[i] - 1) * self.dilation[i] + 1;
            ((out - 1) * self.stride[i] + span).saturating_sub(d)
        };
        let (th, tw) = (total(0, h), total(1, w));
        if self.same_upper {
            [th / 2, tw / 2, th - th / 2, tw - tw / 2]
        } else {
            [th - th / 2, tw - tw / 2, th / 2, tw / 2]
        }
    }
}

fn rank4<'a>(b: &'a Builder<'_>, cx: &Ctx<'_>, x: ValueId) -> Result<&'a [usize], InferError> {
    let s = b.g.shape(x);
    if s.len() != 4 {
        return Err(cx.unsupported(format!("input of shape {s:?}: only 4-D (NCHW) inputs")));
    }
    Ok(s)
}

/// A convolution's weights: a constant 4-D tensor.
fn conv_weights(b: &Builder<'_>, cx: &Ctx<'_>, w: ValueId) -> Result<Arc<Const>, InferError> {
    let wc = b
        .konst(w)
        .cloned()
        .ok_or_else(|| cx.unsupported("weights must be constant"))?;
    if wc.shape.len() != 4 {
        return Err(cx.unsupported(format!("weight shape {:?}: only 2-D convolution", wc.shape)));
    }
    Ok(wc)
}

/// A convolution's bias: one constant per output channel, zeros when absent.
fn conv_bias(
    b: &Builder<'_>,
    cx: &Ctx<'_>,
    bias: Option<ValueId>,
    cout: usize,
) -> Result<Vec<f32>, InferError> {
    let Some(bv) = bias else {
        return Ok(vec![0.0; cout]);
    };
    let v = const_floats(b, cx, bv, "bias")?;
    if v.len() != cout {
        return Err(cx.shape_err(format!("bias has {} values for {cout} channels", v.len())));
    }
    Ok(v)
}

fn conv(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    x: ValueId,
    w: ValueId,
    bias: Option<ValueId>,
) -> Result<(), InferError> {
    let xs = rank4(b, cx, x)?.to_vec();
    let wc = conv_weights(b, cx, w)?;
    let (cout, cin_g, kh, kw) = (wc.shape[0], wc.shape[1], wc.shape[2], wc.shape[3]);
    let win = window(cx, Some([kh, kw]))?;
    if win.kernel != [kh, kw] {
        return Err(cx.shape_err(format!(
            "kernel_shape {:?} vs weights {:?}",
            win.kernel, wc.shape
        )));
    }
    let group = cx.attrs.int("group", 1)?;
    if group < 1 || cin_g == 0 || cout == 0 {
        return Err(cx.shape_err(format!("group {group}, weights {:?}", wc.shape)));
    }
    let group = group as usize;
    if cin_g * group != xs[1] || cout % group != 0 {
        return Err(cx.shape_err(format!(
            "input has {} channels, weights {:?} with group {group}",
            xs[1], wc.shape
        )));
    }
    let pads = win.resolve_pads(xs[2], xs[3]);
    let oh = window_out(
        xs[2],
        kh,
        win.stride[0],
        win.dilation[0],
        pads[0] + pads[2],
        false,
    );
    let ow = window_out(
        xs[3],
        kw,
        win.stride[1],
        win.dilation[1],
        pads[1] + pads[3],
        false,
    );
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(cx.shape_err(format!("kernel larger than padded input {xs:?}")));
    };
    let bias = conv_bias(b, cx, bias, cout)?;
    let op = Op::Conv(Box::new(Conv {
        weight: Arc::new(wc.to_f32()),
        bias: Arc::new(bias),
        geom: ConvGeom {
            cin: xs[1],
            cout,
            group,
            window: IrWindow {
                kernel: [kh, kw],
                stride: win.stride,
                pads,
                dilation: win.dilation,
            },
        },
        act: Act::Identity,
        residual: false,
        post_act: Act::Identity,
    }));
    b.add_node(
        cx.name(),
        op,
        vec![x],
        cx.out(0)?,
        vec![xs[0], cout, oh, ow],
    )?;
    Ok(())
}

fn conv_transpose(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    x: ValueId,
    w: ValueId,
    bias: Option<ValueId>,
) -> Result<(), InferError> {
    let xs = rank4(b, cx, x)?.to_vec();
    let wc = conv_weights(b, cx, w)?;
    let group = cx.attrs.int("group", 1)?.max(1) as usize;
    let (cin, cout_g, kh, kw) = (wc.shape[0], wc.shape[1], wc.shape[2], wc.shape[3]);
    if cin != xs[1] || cin % group != 0 || cout_g == 0 {
        return Err(cx.shape_err(format!("input {xs:?} vs weights {:?}", wc.shape)));
    }
    let cout = cout_g * group;
    let win = window(cx, Some([kh, kw]))?;
    let out_pad = pair(
        cx,
        "output_padding",
        cx.attrs
            .ints("output_padding")?
            .map(|v| v.iter().map(|&x| x + 1).collect()),
        1,
    )?;
    let out_pad = [out_pad[0] - 1, out_pad[1] - 1];
    let full = |i: usize, d: usize| {
        win.stride[i] * (d - 1) + out_pad[i] + (win.kernel[i] - 1) * win.dilation[i] + 1
    };
    let (fh, fw) = (full(0, xs[2]), full(1, xs[3]));
    let pads = if let Some(os) = cx.attrs.ints("output_shape")? {
        let os = &os[os.len().saturating_sub(2)..];
        if os.len() != 2 || os.iter().any(|&v| v <= 0) {
            return Err(cx.shape_err(format!("output_shape {os:?}")));
        }
        let th = fh
            .checked_sub(os[0] as usize)
            .ok_or_else(|| cx.shape_err("output_shape too large"))?;
        let tw = fw
            .checked_sub(os[1] as usize)
            .ok_or_else(|| cx.shape_err("output_shape too large"))?;
        if win.same_upper {
            [th / 2, tw / 2, th - th / 2, tw - tw / 2]
        } else {
            [th - th / 2, tw - tw / 2, th / 2, tw / 2]
        }
    } else if let Some(p) = win.pads {
        p
    } else {
        // SAME_*: output = input * stride.
        let th = fh.saturating_sub(xs[2] * win.stride[0]);
        let tw = fw.saturating_sub(xs[3] * win.stride[1]);
        if win.same_upper {
            [th / 2, tw / 2, th - th / 2, tw - tw / 2]
        } else {
            [th - th / 2, tw - tw / 2, th / 2, tw / 2]
        }
    };
    let (Some(oh), Some(ow)) = (
        fh.checked_sub(pads[0] + pads[2]),
        fw.checked_sub(pads[1] + pads[3]),
    ) else {
        return Err(cx.shape_err("pads larger than the output"));
    };
    if oh == 0 || ow == 0 {
        return Err(cx.shape_err("empty output"));
    }
    let bias = conv_bias(b, cx, bias, cout)?;
    let op = Op::ConvTranspose(Box::new(ConvTranspose {
        weight: Arc::new(wc.to_f32()),
        bias: Arc::new(bias),
        geom: ConvGeom {
            cin,
            cout,
            group,
            window: IrWindow {
                kernel: [kh, kw],
                stride: win.stride,
                pads,
                dilation: win.dilation,
            },
        },
        act: Act::Identity,
    }));
    b.add_node(
        cx.name(),
        op,
        vec![x],
        cx.out(0)?,
        vec![xs[0], cout, oh, ow],
    )?;
    Ok(())
}

/// BatchNorm becomes a per-channel Mul and Add; both fold into a preceding Conv later.
fn batch_norm(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    ins: &[Option<ValueId>],
) -> Result<(), InferError> {
    if ins.len() < 5 || ins.iter().take(5).any(Option::is_none) {
        return Err(cx.shape_err("BatchNormalization needs 5 inputs"));
    }
    if cx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(cx.unsupported("training mode outputs"));
    }
    let x = ins[0].unwrap_or_default();
    let xs = b.g.shape(x).to_vec();
    if xs.len() < 2 {
        return Err(cx.shape_err(format!("input shape {xs:?}")));
    }
    let c = xs[1];
    let get = |i: usize, what: &str| -> Result<Vec<f32>, InferError> {
        let v = const_floats(b, cx, ins[i].unwrap_or_default(), what)?;
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

fn pool(b: &mut Builder<'_>, cx: &Ctx<'_>, x: ValueId) -> Result<(), InferError> {
    if cx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(cx.unsupported("the indices output of MaxPool"));
    }
    let xs = rank4(b, cx, x)?.to_vec();
    let win = window(cx, None)?;
    let ceil = cx.attrs.int("ceil_mode", 0)? != 0;
    let pads = win.resolve_pads(xs[2], xs[3]);
    let oh = window_out(
        xs[2],
        win.kernel[0],
        win.stride[0],
        win.dilation[0],
        pads[0] + pads[2],
        ceil,
    );
    let ow = window_out(
        xs[3],
        win.kernel[1],
        win.stride[1],
        win.dilation[1],
        pads[1] + pads[3],
        ceil,
    );
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(cx.shape_err(format!("window larger than padded input {xs:?}")));
    };
    let kind = if cx.node.op_type == "MaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Avg {
            count_include_pad: cx.attrs.int("count_include_pad", 0)? != 0,
        }
    };
    let op = Op::Pool(Pool {
        kind,
        window: IrWindow {
            kernel: win.kernel,
            stride: win.stride,
            pads,
            dilation: win.dilation,
        },
    });
    b.add_node(
        cx.name(),
        op,
        vec![x],
        cx.out(0)?,
        vec![xs[0], xs[1], oh, ow],
    )?;
    Ok(())
}

fn global_pool(b: &mut Builder<'_>, cx: &Ctx<'_>, x: ValueId) -> Result<(), InferError> {
    let xs = rank4(b, cx, x)?.to_vec();
    let kind = if cx.node.op_type == "GlobalMaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Avg {
            count_include_pad: false,
        }
    };
    let op = Op::Pool(Pool {
        kind,
        window: IrWindow {
            kernel: [xs[2], xs[3]],
            stride: [1, 1],
            pads: [0; 4],
            dilation: [1, 1],
        },
    });
    b.add_node(cx.name(), op, vec![x], cx.out(0)?, vec![xs[0], xs[1], 1, 1])?;
    Ok(())
}

fn resize(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let x = first_input(cx, ins)?;
    let xs = rank4(b, cx, x)?.to_vec();
    let upsample = cx.node.op_type == "Upsample";
    let mode = cx.attrs.string("mode", "nearest")?;
    let coord = if upsample {
        CoordMode::Asymmetric
    } else {
        match cx
            .attrs
            .string("coordinate_transformation_mode", "half_pixel")?
            .as_str()
        {
            "half_pixel" => CoordMode::HalfPixel,
            "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
            "align_corners" => CoordMode::AlignCorners,
            "asymmetric" => CoordMode::Asymmetric,
            "tf_half_pixel_for_nn" => CoordMode::TfHalfPixelForNn,
            other => return Err(cx.unsupported(format!("coordinate_transformation_mode {other}"))),
        }
    };
    let coord = if cx.opset < 11 && !upsample {
        CoordMode::Asymmetric
    } else {
        coord
    };
    let nearest = match mode.as_str() {
        "nearest" => Some(if upsample || cx.opset < 11 {
            NearestMode::Floor
        } else {
            match cx
                .attrs
                .string("nearest_mode", "round_prefer_floor")?
                .as_str()
            {
                "round_prefer_floor" => NearestMode::RoundPreferFloor,
                "round_prefer_ceil" => NearestMode::RoundPreferCeil,
                "floor" => NearestMode::Floor,
                "ceil" => NearestMode::Ceil,
                other => return Err(cx.unsupported(format!("nearest_mode {other}"))),
            }
        }),
        "linear" | "bilinear" => None,
        other => return Err(cx.unsupported(format!("mode {other}"))),
    };
    if cx.attrs.int("antialias", 0)? != 0 {
        return Err(cx.unsupported("antialias"));
    }
    if cx.attrs.string("keep_aspect_ratio_policy", "stretch")? != "stretch" {
        return Err(cx.unsupported("keep_aspect_ratio_policy other than stretch"));
    }
    if cx.attrs.ints("axes")?.is_some() {
        return Err(cx.unsupported("the axes attribute"));
    }
    // Scales and sizes: Upsample-7 attribute, Upsample-9/Resize-10 input 1, Resize-11+ inputs 2/3.
    let (scales_in, sizes_in) = if upsample && cx.opset < 9 {
        (None, None)
    } else if upsample || cx.opset < 11 {
        (ins.get(1).copied().flatten(), None)
    } else {
        (ins.get(2).copied().flatten(), ins.get(3).copied().flatten())
    };
    let scales: Option<Vec<f32>> = match (scales_in, upsample && cx.opset < 9) {
        (_, true) => cx.attrs.floats("scales")?,
        (Some(s), _) => Some(const_floats(b, cx, s, "scales")?).filter(|v| !v.is_empty()),
        (None, _) => None,
    };
    let (out_hw, scale) = match (scales, sizes_in) {
        (Some(s), _) => {
            if s.len() != 4 || s[0] != 1.0 || s[1] != 1.0 {
                return Err(cx.unsupported(format!("scales {s:?}: only H and W may be resized")));
            }
            if !(s[2] > 0.0 && s[3] > 0.0 && s[2] < 1e4 && s[3] < 1e4) {
                return Err(cx.shape_err(format!("scales {s:?}")));
            }
            let oh = (xs[2] as f32 * s[2]).floor() as usize;
            let ow = (xs[3] as f32 * s[3]).floor() as usize;
            ([oh, ow], [s[2], s[3]])
        }
        (None, Some(sz)) => {
            let sz = const_ints(b, cx, sz, "sizes")?;
            if sz.len() != 4
                || sz[0] as usize != xs[0]
                || sz[1] as usize != xs[1]
                || sz[2] <= 0
                || sz[3] <= 0
            {
                return Err(cx.unsupported(format!("sizes {sz:?}: only H and W may be resized")));
            }
            let (oh, ow) = (sz[2] as usize, sz[3] as usize);
            (
                [oh, ow],
                [oh as f32 / xs[2] as f32, ow as f32 / xs[3] as f32],
            )
        }
        (None, None) => return Err(cx.shape_err("neither scales nor sizes given")),
    };
    if out_hw[0] == 0 || out_hw[1] == 0 {
        return Err(cx.shape_err("empty output"));
    }
    let op = Op::Resize(Resize {
        nearest,
        coord,
        scale,
    });
    b.add_node(
        cx.name(),
        op,
        vec![x],
        cx.out(0)?,
        vec![xs[0], xs[1], out_hw[0], out_hw[1]],
    )?;
    Ok(())
}

fn unary(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let x = first_input(cx, ins)?;
    let act = match cx.node.op_type.as_str() {
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
                let get = |i: usize, d: f32| -> Result<f32, InferError> {
                    match ins.get(i).copied().flatten() {
                        None => Ok(d),
                        Some(v) => b
                            .konst(v)
                            .and_then(|c| c.scalar_f32())
                            .ok_or_else(|| cx.unsupported("Clip bounds must be constant scalars")),
                    }
                };
                (get(1, f32::MIN)?, get(2, f32::MAX)?)
            };
            Act::Clip(lo, hi)
        }
    };
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

fn binary(
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

fn concat(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let xs: Vec<ValueId> = ins.iter().flatten().copied().collect();
    let Some(&first) = xs.first() else {
        return Err(cx.shape_err("no inputs"));
    };
    let rank = b.g.shape(first).len();
    let a = axis_or_err(cx, cx.attrs.int("axis", 0)?, rank)?;
    let mut shape = b.g.shape(first).to_vec();
    shape[a] = 0;
    let mut parts = Vec::new();
    for &x in &xs {
        let s = b.g.shape(x);
        if s.len() != rank || (0..rank).any(|d| d != a && s[d] != shape[d]) {
            return Err(cx.shape_err(format!(
                "input shape {s:?} does not match {shape:?} off axis {a}"
            )));
        }
        if s[a] > 0 {
            parts.push(x);
        }
        shape[a] += s[a];
    }
    if parts.len() == 1 {
        b.alias(cx.out(0)?, parts[0]);
        return Ok(());
    }
    b.add_node(cx.name(), Op::Concat { axis: a }, parts, cx.out(0)?, shape)?;
    Ok(())
}

/// Split becomes one Slice per output (a view on the GPU when channel-aligned).
fn split(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let x = first_input(cx, ins)?;
    let xs = b.g.shape(x).to_vec();
    let a = axis_or_err(cx, cx.attrs.int("axis", 0)?, xs.len())?;
    let n_out = cx.node.output.len();
    let sizes: Vec<i64> = if let Some(s) = ins.get(1).copied().flatten() {
        const_ints(b, cx, s, "split")?
    } else if let Some(s) = cx.attrs.ints("split")? {
        s
    } else {
        let n = cx.attrs.int("num_outputs", n_out as i64)?.max(1) as usize;
        let chunk = xs[a].div_ceil(n);
        (0..n)
            .map(|i| chunk.min(xs[a].saturating_sub(i * chunk)) as i64)
            .collect()
    };
    if sizes.len() != n_out
        || sizes.iter().any(|&s| s < 0)
        || sizes.iter().sum::<i64>() != xs[a] as i64
    {
        return Err(cx.shape_err(format!(
            "split {sizes:?} of axis size {} into {n_out} outputs",
            xs[a]
        )));
    }
    let mut start = 0usize;
    for (i, &s) in sizes.iter().enumerate() {
        let out = cx.out(i)?;
        let mut starts = vec![0; xs.len()];
        starts[a] = start;
        let mut shape = xs.clone();
        shape[a] = s as usize;
        start += s as usize;
        if out.is_empty() {
            continue;
        }
        let op = Op::Slice {
            starts,
            steps: vec![1; xs.len()],
        };
        b.add_node(&format!("{}:{i}", cx.name()), op, vec![x], out, shape)?;
    }
    Ok(())
}

fn slice(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let x = first_input(cx, ins)?;
    let xs = b.g.shape(x).to_vec();
    let (starts, ends, axes, steps) = if cx.opset < 10 {
        (
            cx.attrs.ints("starts")?.unwrap_or_default(),
            cx.attrs.ints("ends")?.unwrap_or_default(),
            cx.attrs.ints("axes")?,
            None,
        )
    } else {
        let get = |i: usize, what: &str| -> Result<Option<Vec<i64>>, InferError> {
            ins.get(i)
                .copied()
                .flatten()
                .map(|v| const_ints(b, cx, v, what))
                .transpose()
        };
        (
            get(1, "starts")?.ok_or_else(|| cx.shape_err("no starts"))?,
            get(2, "ends")?.ok_or_else(|| cx.shape_err("no ends"))?,
            get(3, "axes")?,
            get(4, "steps")?,
        )
    };
    let axes: Vec<i64> = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(cx.shape_err("starts, ends, axes and steps differ in length"));
    }
    let mut out_starts = vec![0usize; xs.len()];
    let mut out_steps = vec![1i64; xs.len()];
    let mut shape = xs.clone();
    for i in 0..starts.len() {
        let a = axis_or_err(cx, axes[i], xs.len())?;
        let d = xs[a] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(cx.shape_err("step 0"));
        }
        let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (s, e, count) = if step > 0 {
            let s = norm(starts[i]).clamp(0, d);
            let e = norm(ends[i]).clamp(0, d);
            (s, e, if e > s { (e - s + step - 1) / step } else { 0 })
        } else {
            let s = norm(starts[i]).clamp(0, d - 1);
            let e = norm(ends[i]).clamp(-1, d - 1);
            (
                s,
                e,
                if s > e {
                    (s - e + (-step) - 1) / (-step)
                } else {
                    0
                },
            )
        };
        let _ = e;
        out_starts[a] = s as usize;
        out_steps[a] = step;
        shape[a] = count as usize;
    }
    if shape.contains(&0) {
        return Err(cx.unsupported(format!("empty slice result {shape:?}")));
    }
    if shape == xs && out_steps.iter().all(|&s| s == 1) {
        b.alias(cx.out(0)?, x);
        return Ok(());
    }
    let op = Op::Slice {
        starts: out_starts,
        steps: out_steps,
    };
    b.add_node(cx.name(), op, vec![x], cx.out(0)?, shape)?;
    Ok(())
}

fn transpose(b: &mut Builder<'_>, cx: &Ctx<'_>, x: ValueId) -> Result<(), InferError> {
    let xs = b.g.shape(x).to_vec();
    let perm: Vec<usize> = match cx.attrs.ints("perm")? {
        Some(p) => p
            .iter()
            .map(|&a| axis_or_err(cx, a, xs.len()))
            .collect::<Result<_, _>>()?,
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

fn reshape_to(
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

fn squeeze(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let x = first_input(cx, ins)?;
    let xs = b.g.shape(x).to_vec();
    let axes = axes_arg(b, cx, ins, 13)?;
    let shape = if cx.node.op_type == "Squeeze" {
        let axes: Vec<usize> = match axes {
            Some(a) => a
                .iter()
                .map(|&a| axis_or_err(cx, a, xs.len()))
                .collect::<Result<_, _>>()?,
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
        let axes: Vec<usize> = axes
            .iter()
            .map(|&a| axis_or_err(cx, a, r))
            .collect::<Result<_, _>>()?;
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

fn pad(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let x = first_input(cx, ins)?;
    let xs = b.g.shape(x).to_vec();
    let mode = cx.attrs.string("mode", "constant")?;
    if mode != "constant" {
        return Err(cx.unsupported(format!("mode {mode}")));
    }
    let (pads, value) = if cx.opset < 11 {
        (
            cx.attrs
                .ints("pads")?
                .ok_or_else(|| cx.shape_err("no pads"))?,
            cx.attrs.float("value", 0.0)?,
        )
    } else {
        let p = const_ints(
            b,
            cx,
            ins.get(1)
                .copied()
                .flatten()
                .ok_or_else(|| cx.shape_err("no pads"))?,
            "pads",
        )?;
        let v = match ins.get(2).copied().flatten() {
            None => 0.0,
            Some(v) => b
                .konst(v)
                .and_then(|c| c.scalar_f32())
                .ok_or_else(|| cx.unsupported("constant_value must be a constant scalar"))?,
        };
        (p, v)
    };
    let axes: Vec<usize> = match ins.get(3).copied().flatten() {
        Some(a) => const_ints(b, cx, a, "axes")?
            .iter()
            .map(|&a| axis_or_err(cx, a, xs.len()))
            .collect::<Result<_, _>>()?,
        None => (0..xs.len()).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(cx.shape_err(format!("pads {pads:?} for {} axes", axes.len())));
    }
    if pads.iter().any(|&p| !(0..=1 << 16).contains(&p)) {
        return Err(cx.unsupported(format!("pads {pads:?}: only non-negative pads")));
    }
    let mut per_axis = vec![(0usize, 0usize); xs.len()];
    for (i, &a) in axes.iter().enumerate() {
        per_axis[a] = (pads[i] as usize, pads[i + axes.len()] as usize);
    }
    let shape: Vec<usize> = xs
        .iter()
        .zip(&per_axis)
        .map(|(&d, &(p, q))| d + p + q)
        .collect();
    if per_axis.iter().all(|&(p, q)| p == 0 && q == 0) {
        b.alias(cx.out(0)?, x);
        return Ok(());
    }
    if let Some(c) = b.konst(x).cloned()
        && c.is_int()
    {
        let v = crate::infer::reference::pad(&c.shape, &c.to_i64(), &per_axis, value as i64);
        b.add_const(cx.out(0)?, Const::i64(shape, v))?;
        return Ok(());
    }
    b.add_node(
        cx.name(),
        Op::Pad {
            pads: per_axis,
            value,
        },
        vec![x],
        cx.out(0)?,
        shape,
    )?;
    Ok(())
}

fn softmax(b: &mut Builder<'_>, cx: &Ctx<'_>, x: ValueId) -> Result<(), InferError> {
    let xs = b.g.shape(x).to_vec();
    let default = if cx.opset < 13 { 1 } else { -1 };
    let a = axis_or_err(cx, cx.attrs.int("axis", default)?, xs.len())?;
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

fn matmul(b: &mut Builder<'_>, cx: &Ctx<'_>, x: ValueId, y: ValueId) -> Result<(), InferError> {
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
fn gemm(b: &mut Builder<'_>, cx: &Ctx<'_>, ins: &[Option<ValueId>]) -> Result<(), InferError> {
    let (Some(a), Some(w)) = (
        ins.first().copied().flatten(),
        ins.get(1).copied().flatten(),
    ) else {
        return Err(cx.shape_err("Gemm needs A and B"));
    };
    let out = cx.out(0)?.to_string();
    let (alpha, beta) = (cx.attrs.float("alpha", 1.0)?, cx.attrs.float("beta", 1.0)?);
    let mut a = a;
    if cx.attrs.int("transA", 0)? != 0 {
        let s = b.g.shape(a).to_vec();
        a = b.add_node(
            cx.name(),
            Op::Transpose { perm: vec![1, 0] },
            vec![a],
            &format!("{out}/at"),
            vec![s[1], s[0]],
        )?;
    }
    let mut w = w;
    if cx.attrs.int("transB", 0)? != 0 {
        let s = b.g.shape(w).to_vec();
        if s.len() != 2 {
            return Err(cx.shape_err(format!("B of shape {s:?}")));
        }
        w = b.add_node(
            cx.name(),
            Op::Transpose { perm: vec![1, 0] },
            vec![w],
            &format!("{out}/bt"),
            vec![s[1], s[0]],
        )?;
    }
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
    match ins.get(2).copied().flatten() {
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

fn reduce_mean(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    ins: &[Option<ValueId>],
) -> Result<(), InferError> {
    let x = first_input(cx, ins)?;
    let xs = b.g.shape(x).to_vec();
    let axes = axes_arg(b, cx, ins, 18)?;
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&a| axis_or_err(cx, a, xs.len()))
            .collect::<Result<_, _>>()?,
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
