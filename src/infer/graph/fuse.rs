//! Graph rewrites: affine ops folded into convolutions (always), and epilogue fusions.

use std::sync::Arc;

use super::{Act, BinOp, Graph, Op, ValueId};

/// Per-channel values of a constant that broadcasts over `[N, C, H, W]` along C only (or a
/// scalar), for `channels` channels.
pub fn per_channel(g: &Graph, id: ValueId, channels: usize) -> Option<Vec<f32>> {
    let c = g.consts.get(&id)?;
    if c.shape.len() > 4 || c.is_empty() {
        return None;
    }
    let v = c.to_f32();
    let mut padded = vec![1; 4 - c.shape.len()];
    padded.extend_from_slice(&c.shape);
    if padded[0] != 1 || padded[2] != 1 || padded[3] != 1 {
        return None;
    }
    match padded[1] {
        1 => Some(vec![v[0]; channels]),
        n if n == channels => Some(v),
        _ => None,
    }
}

/// Folds `Conv -> Mul/Div/Add/Sub by a per-channel constant` (BatchNorm, scales, biases) into the
/// convolution's weights and bias, when the convolution's output has no other reader.
pub fn fold_affine_into_conv(g: &mut Graph) {
    loop {
        let uses = g.use_counts();
        let producers = g.producers();
        let mut done = None;
        for (ni, n) in g.nodes.iter().enumerate() {
            let Op::Binary(op) = n.op else { continue };
            if !matches!(op, BinOp::Mul | BinOp::Div | BinOp::Add | BinOp::Sub) {
                continue;
            }
            // The conv side: for Sub and Div only the left operand.
            let sides: &[(usize, usize)] = if matches!(op, BinOp::Sub | BinOp::Div) {
                &[(0, 1)]
            } else {
                &[(0, 1), (1, 0)]
            };
            for &(ci, ki) in sides {
                let (x, k) = (n.inputs[ci], n.inputs[ki]);
                let Some(pi) = producers[x] else { continue };
                if uses[x] != 1 || g.outputs.contains(&x) || g.shape(n.output) != g.shape(x) {
                    continue;
                }
                let cout = match &g.nodes[pi].op {
                    Op::Conv(c) if c.act == Act::Identity && !c.residual => c.geom.cout,
                    Op::ConvTranspose(c) if c.act == Act::Identity => c.geom.cout,
                    _ => continue,
                };
                let Some(s) = per_channel(g, k, cout) else {
                    continue;
                };
                done = Some((ni, pi, op, s));
                break;
            }
            if done.is_some() {
                break;
            }
        }
        let Some((ni, pi, op, s)) = done else { return };
        let out = g.nodes[ni].output;
        match &mut g.nodes[pi].op {
            Op::Conv(c) => {
                let per_oc = c.weight.len() / c.geom.cout;
                apply_affine(
                    op,
                    &s,
                    Arc::make_mut(&mut c.weight).as_mut_slice(),
                    Arc::make_mut(&mut c.bias).as_mut_slice(),
                    |i| i / per_oc,
                );
            }
            Op::ConvTranspose(c) => {
                let (cout_g, k) = (c.geom.cout_per_group(), c.geom.window.area());
                let cin_g = c.geom.cin_per_group();
                apply_affine(
                    op,
                    &s,
                    Arc::make_mut(&mut c.weight).as_mut_slice(),
                    Arc::make_mut(&mut c.bias).as_mut_slice(),
                    |i| {
                        let ic = i / (cout_g * k);
                        (ic / cin_g) * cout_g + (i / k) % cout_g
                    },
                );
            }
            _ => unreachable!("producer checked above"),
        }
        g.nodes[pi].output = out;
        g.nodes.remove(ni);
    }
}

fn apply_affine(
    op: BinOp,
    s: &[f32],
    w: &mut [f32],
    bias: &mut [f32],
    channel_of: impl Fn(usize) -> usize,
) {
    match op {
        BinOp::Mul | BinOp::Div => {
            let f = |c: usize| if op == BinOp::Mul { s[c] } else { 1.0 / s[c] };
            for (i, v) in w.iter_mut().enumerate() {
                *v *= f(channel_of(i));
            }
            for (c, b) in bias.iter_mut().enumerate() {
                *b *= f(c);
            }
        }
        BinOp::Add => bias.iter_mut().zip(s).for_each(|(b, s)| *b += s),
        BinOp::Sub => bias.iter_mut().zip(s).for_each(|(b, s)| *b -= s),
        _ => {}
    }
}

/// Removes nodes whose results never reach an output, and constants nobody reads.
pub fn remove_dead(g: &mut Graph) {
    let mut live = vec![false; g.values.len()];
    for &o in &g.outputs {
        live[o] = true;
    }
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if live[n.output] {
            keep[i] = true;
            for &x in &n.inputs {
                live[x] = true;
            }
        }
    }
    let mut it = keep.iter();
    g.nodes.retain(|_| *it.next().unwrap_or(&false));
    g.consts.retain(|id, _| live[*id]);
}

/// GPU-oriented fusions: Sigmoid+Mul -> SiLU, Conv+activation, Conv+residual Add(+activation).
///
/// The result computes the same function; the reference executor runs fused graphs too.
pub fn fuse(g: &mut Graph) {
    fuse_silu(g);
    remove_dead(g);
    fuse_conv_act(g, false);
    fuse_residual(g);
    fuse_conv_act(g, true);
    remove_dead(g);
}

fn fuse_silu(g: &mut Graph) {
    let uses = g.use_counts();
    let producers = g.producers();
    for ni in 0..g.nodes.len() {
        if g.nodes[ni].op != Op::Binary(BinOp::Mul) {
            continue;
        }
        let (a, b) = (g.nodes[ni].inputs[0], g.nodes[ni].inputs[1]);
        for (x, s) in [(a, b), (b, a)] {
            let Some(pi) = producers[s] else { continue };
            let p = &g.nodes[pi];
            if p.op == Op::Unary(Act::Sigmoid)
                && p.inputs[0] == x
                && uses[s] == 1
                && !g.outputs.contains(&s)
            {
                g.nodes[ni].op = Op::Unary(Act::Silu);
                g.nodes[ni].inputs = vec![x];
                break;
            }
        }
    }
}

/// Merges `Unary(act)` into the Conv that produces its only input. With `post`, merges into the
/// epilogue after a fused residual instead.
fn fuse_conv_act(g: &mut Graph, post: bool) {
    loop {
        let uses = g.use_counts();
        let producers = g.producers();
        let mut hit = None;
        for (ni, n) in g.nodes.iter().enumerate() {
            let Op::Unary(act) = n.op else { continue };
            let x = n.inputs[0];
            let Some(pi) = producers[x] else { continue };
            if uses[x] != 1 || g.outputs.contains(&x) {
                continue;
            }
            let ok = match &g.nodes[pi].op {
                Op::Conv(c) if !post => c.act == Act::Identity && !c.residual,
                Op::Conv(c) => c.residual && c.post_act == Act::Identity,
                Op::ConvTranspose(c) if !post => c.act == Act::Identity,
                _ => false,
            };
            if ok {
                hit = Some((ni, pi, act));
                break;
            }
        }
        let Some((ni, pi, act)) = hit else { return };
        let out = g.nodes[ni].output;
        match &mut g.nodes[pi].op {
            Op::Conv(c) if post => c.post_act = act,
            Op::Conv(c) => c.act = act,
            Op::ConvTranspose(c) => c.act = act,
            _ => unreachable!("producer checked above"),
        }
        g.nodes[pi].output = out;
        g.nodes.remove(ni);
    }
}

/// `Add(conv(x), r)` with `r` of the output's shape -> conv with a residual input, executed
/// where the Add was (so `r` is ready).
fn fuse_residual(g: &mut Graph) {
    loop {
        let uses = g.use_counts();
        let producers = g.producers();
        let mut hit = None;
        for (ni, n) in g.nodes.iter().enumerate() {
            if n.op != Op::Binary(BinOp::Add) {
                continue;
            }
            let (a, b) = (n.inputs[0], n.inputs[1]);
            if a == b || g.shape(a) != g.shape(n.output) || g.shape(b) != g.shape(n.output) {
                continue;
            }
            // Prefer the conv computed last, so the other operand is usually ready already.
            let mut cands: Vec<(usize, ValueId, ValueId)> = [(a, b), (b, a)]
                .into_iter()
                .filter_map(|(c, r)| {
                    let pi = producers[c]?;
                    let ok = matches!(&g.nodes[pi].op, Op::Conv(cv) if !cv.residual && cv.post_act == Act::Identity)
                        && uses[c] == 1
                        && !g.outputs.contains(&c)
                        && !g.consts.contains_key(&r);
                    ok.then_some((pi, c, r))
                })
                .collect();
            cands.sort_by_key(|&(pi, _, _)| std::cmp::Reverse(pi));
            if let Some(&(pi, _, r)) = cands.first() {
                hit = Some((ni, pi, r));
                break;
            }
        }
        let Some((ni, pi, r)) = hit else { return };
        let out = g.nodes[ni].output;
        let mut conv = g.nodes[pi].clone();
        if let Op::Conv(c) = &mut conv.op {
            c.residual = true;
        }
        conv.inputs.push(r);
        conv.output = out;
        // Replace the Add with the conv, then drop the conv's old position.
        g.nodes[ni] = conv;
        g.nodes.remove(pi);
    }
}
