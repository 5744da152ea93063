//! Operators that cut or join tensors along axes: Concat, Split (channel slices in the IR),
//! Slice and Pad.

use super::super::Op;
use super::super::build::Builder;
use super::super::constant::Const;
use super::ctx::Ctx;
use crate::infer::InferError;

/// `Concat`: empty parts dropped, an alias when one part remains.
pub(super) fn concat(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let xs = cx.present_inputs();
    let Some(&first) = xs.first() else {
        return Err(cx.shape_err("no inputs"));
    };
    let rank = b.g.shape(first).len();
    let a = cx.axis(cx.attrs.int("axis", 0)?, rank)?;
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
pub(super) fn split(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.first_input()?;
    let xs = b.g.shape(x).to_vec();
    let a = cx.axis(cx.attrs.int("axis", 0)?, xs.len())?;
    let n_out = cx.node.output.len();
    let sizes: Vec<i64> = if let Some(s) = cx.opt_input(1) {
        cx.const_ints(b, s, "split")?
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

/// `Slice`: starts/ends/axes from attributes (before opset 10) or constant inputs, any steps.
pub(super) fn slice(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.first_input()?;
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
            cx.opt_input(i)
                .map(|v| cx.const_ints(b, v, what))
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
        let a = cx.axis(axes[i], xs.len())?;
        let d = xs[a] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(cx.shape_err("step 0"));
        }
        let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (s, count) = if step > 0 {
            let s = norm(starts[i]).clamp(0, d);
            let e = norm(ends[i]).clamp(0, d);
            (s, if e > s { (e - s + step - 1) / step } else { 0 })
        } else {
            let s = norm(starts[i]).clamp(0, d - 1);
            let e = norm(ends[i]).clamp(-1, d - 1);
            (s, if s > e { (s - e - step - 1) / -step } else { 0 })
        };
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

/// `Pad` in constant mode; integer constants are padded at load time.
pub(super) fn pad(b: &mut Builder<'_>, cx: &Ctx<'_>) -> Result<(), InferError> {
    let x = cx.first_input()?;
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
        let pads_in = cx.opt_input(1).ok_or_else(|| cx.shape_err("no pads"))?;
        let p = cx.const_ints(b, pads_in, "pads")?;
        let v = cx.const_scalar(b, 2, 0.0, "constant_value must be a constant scalar")?;
        (p, v)
    };
    let axes: Vec<usize> = match cx.opt_input(3) {
        Some(a) => cx.axes(&cx.const_ints(b, a, "axes")?, xs.len())?,
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
