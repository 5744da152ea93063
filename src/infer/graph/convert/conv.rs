//! Conv and ConvTranspose: constant weights and bias, the shared window attributes, and the
//! output size of each.

use std::sync::Arc;

use super::super::build::Builder;
use super::super::constant::Const;
use super::super::{Act, Conv, ConvGeom, ConvTranspose, Op, ValueId};
use super::ctx::Ctx;
use super::window::{WindowAttrs, group, pair, sweep, window_attrs};
use crate::infer::InferError;

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
    let v = cx.konst(b, bv, "bias")?.to_f32();
    if v.len() != cout {
        return Err(cx.shape_err(format!("bias has {} values for {cout} channels", v.len())));
    }
    Ok(v)
}

/// Adds the node of a (transposed) convolution reading `x`, writing `[n, cout, oh, ow]`.
fn add_conv(
    b: &mut Builder<'_>,
    cx: &Ctx<'_>,
    x: ValueId,
    op: Op,
    shape: [usize; 4],
) -> Result<(), InferError> {
    b.add_node(cx.name(), op, vec![x], cx.out(0)?, shape.to_vec())?;
    Ok(())
}

/// `Conv`: output = floor-mode window sweep of the padded input.
pub(super) fn conv(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let (x, w, bias) = (cx.input(0)?, cx.input(1)?, cx.opt_input(2));
    let xs = cx.rank4(b, x)?;
    let wc = conv_weights(b, cx, w)?;
    let (cout, cin_g, kh, kw) = (wc.shape[0], wc.shape[1], wc.shape[2], wc.shape[3]);
    let attrs = window_attrs(cx, Some([kh, kw]))?;
    if attrs.kernel != [kh, kw] {
        return Err(cx.shape_err(format!(
            "kernel_shape {:?} vs weights {:?}",
            attrs.kernel, wc.shape
        )));
    }
    let group = group(cx)?;
    if group < 1 || cin_g == 0 || cout == 0 {
        return Err(cx.shape_err(format!(
            "group {group} must be at least 1 and the weights {:?} non-empty",
            wc.shape
        )));
    }
    let group = group as usize;
    if cin_g * group != xs[1] || cout % group != 0 {
        return Err(cx.shape_err(format!(
            "input has {} channels, weights {:?} with group {group}",
            xs[1], wc.shape
        )));
    }
    let window = attrs.window(attrs.resolve_pads(xs[2], xs[3]));
    let Some([oh, ow]) = sweep(&window, xs[2], xs[3], false) else {
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
            window,
        },
        act: Act::Identity,
        residual: false,
        post_act: Act::Identity,
    }));
    add_conv(b, cx, x, op, [xs[0], cout, oh, ow])
}

/// `ConvTranspose`: the full output (stride * (in - 1) + output_padding + span) less the pads,
/// which come from `pads`, auto_pad SAME_* (output = input * stride) or `output_shape`.
pub(super) fn conv_transpose(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let (x, w, bias) = (cx.input(0)?, cx.input(1)?, cx.opt_input(2));
    let xs = cx.rank4(b, x)?;
    let wc = conv_weights(b, cx, w)?;
    let group = group(cx)?;
    if group < 1 {
        return Err(cx.shape_err(format!("group {group} must be at least 1")));
    }
    let group = group as usize;
    let (cin, cout_g, kh, kw) = (wc.shape[0], wc.shape[1], wc.shape[2], wc.shape[3]);
    if cin != xs[1] || cin % group != 0 || cout_g == 0 {
        return Err(cx.shape_err(format!("input {xs:?} vs weights {:?}", wc.shape)));
    }
    let cout = cout_g * group;
    let attrs = window_attrs(cx, Some([kh, kw]))?;
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
        attrs.stride[i] * (d - 1) + out_pad[i] + (attrs.kernel[i] - 1) * attrs.dilation[i] + 1
    };
    let (fh, fw) = (full(0, xs[2]), full(1, xs[3]));
    let pads = transposed_pads(cx, &attrs, [fh, fw], &xs)?;
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
            window: attrs.window(pads),
        },
        act: Act::Identity,
    }));
    add_conv(b, cx, x, op, [xs[0], cout, oh, ow])
}

/// Pads removed from a transposed convolution's full output `[fh, fw]`.
fn transposed_pads(
    cx: &Ctx<'_>,
    attrs: &WindowAttrs,
    [fh, fw]: [usize; 2],
    xs: &[usize],
) -> Result<[usize; 4], InferError> {
    if let Some(os) = cx.attrs.ints("output_shape")? {
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
        return Ok(attrs.split_same(th, tw));
    }
    if let Some(p) = attrs.pads {
        return Ok(p);
    }
    // SAME_*: output = input * stride.
    let th = fh.saturating_sub(xs[2] * attrs.stride[0]);
    let tw = fw.saturating_sub(xs[3] * attrs.stride[1]);
    Ok(attrs.split_same(th, tw))
}
