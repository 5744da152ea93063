//! The CPU reference executor: plain loops over NCHW f32 tensors, written to be obviously correct.
//!
//! It runs the same [`Graph`] the GPU planner runs and is the per-op oracle of the GPU tests.
//! Data-movement functions are generic so that constant folding reuses them on integer tensors.

mod backend;
mod ops;

use std::collections::HashMap;

use crate::infer::InferError;
use crate::infer::graph::{Graph, Node, Op, ValueId};
use crate::infer::tensor::{NamedTensor, Tensor};

pub use backend::ReferenceBackend;
pub use ops::{binary, concat, pad, slice, transpose};

/// Runs `graph` on `inputs` (one per graph input, in order) and returns the graph's outputs.
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<NamedTensor>, InferError> {
    run_observed(graph, inputs, |_, _| {})
}

/// [`run`], showing `observe` each graph input and every node's output as it is computed:
/// calibration for `lookout quantize` collects activation ranges this way.
pub fn run_observed(
    graph: &Graph,
    inputs: &[Tensor],
    mut observe: impl FnMut(ValueId, &Tensor),
) -> Result<Vec<NamedTensor>, InferError> {
    if inputs.len() != graph.inputs.len() {
        return Err(InferError::Input(format!(
            "model has {} inputs, {} given",
            graph.inputs.len(),
            inputs.len()
        )));
    }
    let mut env: HashMap<usize, Tensor> = graph
        .consts
        .iter()
        .map(|(&id, c)| (id, Tensor::new(c.shape.clone(), c.to_f32())))
        .collect();
    for (&id, t) in graph.inputs.iter().zip(inputs) {
        if t.shape != graph.shape(id) {
            return Err(InferError::Input(format!(
                "input {:?} has shape {:?}, the model was built for {:?}",
                graph.values[id].name,
                t.shape,
                graph.shape(id)
            )));
        }
        observe(id, t);
        env.insert(id, t.clone());
    }
    let mut remaining = graph.use_counts();
    for node in &graph.nodes {
        let out = {
            let ins: Vec<&Tensor> = node
                .inputs
                .iter()
                .map(|&i| lookup(graph, &env, i))
                .collect::<Result<_, _>>()?;
            run_node(graph, node, &ins)?
        };
        observe(node.output, &out);
        env.insert(node.output, out);
        for &i in &node.inputs {
            remaining[i] -= 1;
            if remaining[i] == 0 && !graph.outputs.contains(&i) && !graph.consts.contains_key(&i) {
                env.remove(&i);
            }
        }
    }
    graph
        .outputs
        .iter()
        .map(|&o| {
            Ok(NamedTensor {
                name: graph.values[o].name.clone(),
                tensor: lookup(graph, &env, o)?.clone(),
            })
        })
        .collect()
}

fn lookup<'a>(
    graph: &Graph,
    env: &'a HashMap<usize, Tensor>,
    id: usize,
) -> Result<&'a Tensor, InferError> {
    env.get(&id).ok_or_else(|| {
        InferError::Other(format!(
            "reference: value {:?} used before it was computed",
            graph.values[id].name
        ))
    })
}

/// Evaluates one node on its input tensors (constants included), returning its output.
pub fn run_node(graph: &Graph, node: &Node, ins: &[&Tensor]) -> Result<Tensor, InferError> {
    let out_shape = graph.shape(node.output).to_vec();
    let data = match &node.op {
        Op::Conv(c) => ops::conv(c, ins[0], ins.get(1).copied(), &out_shape),
        Op::ConvTranspose(c) => ops::conv_transpose(c, ins[0], &out_shape),
        Op::Pool(p) => ops::pool(p, ins[0], &out_shape),
        Op::Resize(r) => ops::resize(r, ins[0], &out_shape),
        Op::Unary(a) => ins[0].data.iter().map(|&x| a.apply(x)).collect(),
        Op::Binary(b) => ops::binary(
            &ins[0].shape,
            &ins[0].data,
            &ins[1].shape,
            &ins[1].data,
            &out_shape,
            |x, y| b.apply(x, y),
        ),
        Op::Concat { axis } => {
            let parts: Vec<(&[usize], &[f32])> = ins
                .iter()
                .map(|t| (t.shape.as_slice(), t.data.as_slice()))
                .collect();
            concat(&parts, *axis)
        }
        Op::Slice { starts, steps } => {
            slice(&ins[0].shape, &ins[0].data, starts, steps, &out_shape)
        }
        Op::Transpose { perm } => transpose(&ins[0].shape, &ins[0].data, perm),
        Op::Reshape => ins[0].data.clone(),
        Op::Pad { pads, value } => pad(&ins[0].shape, &ins[0].data, pads, *value),
        Op::Softmax { axis } => ops::softmax(&ins[0].shape, &ins[0].data, *axis),
        Op::MatMul => ops::matmul(ins[0], ins[1], &out_shape),
        Op::ReduceMean { axes } => ops::reduce_mean(&ins[0].shape, &ins[0].data, axes, &out_shape),
    };
    if data.len() != out_shape.iter().product::<usize>() {
        return Err(InferError::Shape {
            op: node.op.name().into(),
            node: node.name.clone(),
            reason: format!(
                "reference produced {} elements for shape {out_shape:?}",
                data.len()
            ),
        });
    }
    Ok(Tensor::new(out_shape, data))
}
