//! The attributes conv-like operators share (kernel_shape, strides, dilations, pads or auto_pad,
//! group), parsed once for Conv, ConvTranspose and pooling.

use super::super::Window;
use super::super::shape::window_out;
use super::ctx::Ctx;
use crate::infer::InferError;

/// A node's window attributes before the input size is known, so SAME_* pads stay unresolved.
pub(super) struct WindowAttrs {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Explicit pads (t, l, b, r), or `None` for auto_pad SAME_* (computed from the input).
    pub pads: Option<[usize; 4]>,
    pub same_upper: bool,
}

/// A 2-element attribute of positive sizes (`kernel_shape`, `strides`, ...), `default` if absent.
pub(super) fn pair(
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

/// Parses the window attributes; the kernel comes from the weights when the attribute is absent.
pub(super) fn window_attrs(
    cx: &Ctx<'_>,
    kernel_from_weight: Option<[usize; 2]>,
) -> Result<WindowAttrs, InferError> {
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
    Ok(WindowAttrs {
        kernel,
        stride,
        dilation,
        pads,
        same_upper,
    })
}

/// The `group` attribute of a (transposed) convolution, 1 when absent.
pub(super) fn group(cx: &Ctx<'_>) -> Result<i64, InferError> {
    cx.attrs.int("group", 1)
}

impl WindowAttrs {
    /// Pads for input size (h, w): explicit, or SAME_* so that out = ceil(in / stride).
    pub fn resolve_pads(&self, h: usize, w: usize) -> [usize; 4] {
        if let Some(p) = self.pads {
            return p;
        }
        let total = |i: usize, d: usize| {
            let out = d.div_ceil(self.stride[i]);
            let span = (self.kernel[i] - 1) * self.dilation[i] + 1;
            ((out - 1) * self.stride[i] + span).saturating_sub(d)
        };
        self.split_same(total(0, h), total(1, w))
    }

    /// Splits total pads (th, tw) the SAME_* way: the odd cell at the end (UPPER) or start (LOWER).
    pub fn split_same(&self, th: usize, tw: usize) -> [usize; 4] {
        if self.same_upper {
            [th / 2, tw / 2, th - th / 2, tw - tw / 2]
        } else {
            [th - th / 2, tw - tw / 2, th / 2, tw / 2]
        }
    }

    /// The IR window with its pads resolved.
    pub fn window(&self, pads: [usize; 4]) -> Window {
        Window {
            kernel: self.kernel,
            stride: self.stride,
            pads,
            dilation: self.dilation,
        }
    }
}

/// Output (H, W) of `win` swept over an `h` x `w` input, `None` when the window does not fit.
pub(super) fn sweep(win: &Window, h: usize, w: usize, ceil: bool) -> Option<[usize; 2]> {
    let along = |i: usize, len: usize| {
        let pad = win.pads[i] + win.pads[i + 2];
        window_out(
            len,
            win.kernel[i],
            win.stride[i],
            win.dilation[i],
            pad,
            ceil,
        )
    };
    Some([along(0, h)?, along(1, w)?])
}
