//! Resize and Upsample: coordinate transform, nearest or linear mode, and the output size from
//! scales or sizes (attribute, input 1 or inputs 2/3 depending on op and opset).

use super::super::build::Builder;
use super::super::{CoordMode, NearestMode, Op, Resize};
use super::ctx::Ctx;
use crate::infer::InferError;

/// `Resize` (any opset) and `Upsample`: H and W only.
pub(super) fn resize(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.first_input()?;
    let xs = cx.rank4(b, x)?;
    let upsample = cx.op() == "Upsample";
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
        (cx.opt_input(1), None)
    } else {
        (cx.opt_input(2), cx.opt_input(3))
    };
    let scales: Option<Vec<f32>> = match (scales_in, upsample && cx.opset < 9) {
        (_, true) => cx.attrs.floats("scales")?,
        (Some(s), _) => Some(cx.konst(b, s, "scales")?.to_f32()).filter(|v| !v.is_empty()),
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
            let sz = cx.const_ints(b, sz, "sizes")?;
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
