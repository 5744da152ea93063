//! ONNX model -> [`Graph`] for one concrete input shape.

use std::collections::HashMap;
use std::sync::Arc;

use super::constant::{Const, checked_elements};
use super::{Graph, Node, Op, ValueId, convert, fold, fuse};
use crate::infer::InferError;
use crate::infer::onnx::{Dim, OnnxModel};

/// Largest activation tensor we plan for (2^28 elements = 1 GiB in f32).
pub const MAX_VALUE_ELEMENTS: usize = 1 << 28;

/// The concrete shape of one graph input, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape {
    pub name: String,
    pub shape: Vec<usize>,
}

/// Builds the IR of `model` for the given input shapes: folds constants, infers every shape and
/// folds affine ops into convolutions. Fusions for the GPU are a separate pass ([`fuse::fuse`]).
pub fn build(model: &OnnxModel, inputs: &[InputShape]) -> Result<Graph, InferError> {
    build_with(model, inputs, false)
}

/// Like [`build`], for a model exported for one picture (a leading input dim fixed at 1) run on
/// a batch: the given batch replaces that 1, and a `Reshape` whose constant target starts with 1
/// where its input starts with the batch keeps the batch there instead. Shapes computed from the
/// input (`Shape`, `Gather`, ...) follow by themselves. This rests on an assumption the graph
/// cannot prove (that nothing mixes pictures along dimension 0), so a caller checks the result
/// against batch-1 runs before trusting it.
pub fn build_widened(model: &OnnxModel, inputs: &[InputShape]) -> Result<Graph, InferError> {
    build_with(model, inputs, true)
}

fn build_with(model: &OnnxModel, inputs: &[InputShape], widen: bool) -> Result<Graph, InferError> {
    let mut b = Builder {
        model,
        g: Graph::default(),
        names: HashMap::new(),
        elem_types: HashMap::new(),
        batch: None,
    };
    for spec in &model.inputs {
        let given = inputs.iter().find(|i| i.name == spec.name).ok_or_else(|| {
            InferError::Input(format!("no shape given for input {:?}", spec.name))
        })?;
        let mut dims = spec.dims.clone();
        if widen
            && matches!(dims.first(), Some(Dim::Fixed(1)))
            && let Some(&n) = given.shape.first()
            && n > 1
        {
            dims[0] = Dim::Dynamic("batch".into());
            b.batch = Some(n);
        }
        check_input_shape(&dims, &given.shape, &spec.name)?;
        let id = b.g.add_value(&spec.name, given.shape.clone());
        b.names.insert(spec.name.clone(), id);
        b.g.inputs.push(id);
    }
    for node in &model.nodes {
        convert::convert_node(&mut b, node)?;
    }
    for name in &model.outputs {
        let id = b.value(name).map_err(|_| {
            InferError::BadModel(format!("graph output {name:?} is not produced by any node"))
        })?;
        // An output that is an input or another output's alias gets its own name.
        let id = if b.g.values[id].name != *name {
            let shape = b.g.values[id].shape.clone();
            b.add_node(name, Op::Reshape, vec![id], name, shape)?
        } else {
            id
        };
        b.g.outputs.push(id);
    }
    let mut g = b.g;
    fuse::fold_affine_into_conv(&mut g);
    fuse::remove_dead(&mut g);
    Ok(g)
}

/// Checks a given input shape against the declared dims (fixed dims must match).
fn check_input_shape(dims: &[Dim], shape: &[usize], name: &str) -> Result<(), InferError> {
    if dims.len() != shape.len() {
        return Err(InferError::Input(format!(
            "input {name:?} has rank {}, {} dims given",
            dims.len(),
            shape.len()
        )));
    }
    for (i, (d, &s)) in dims.iter().zip(shape).enumerate() {
        if s == 0 {
            return Err(InferError::Input(format!("input {name:?} dim {i} is 0")));
        }
        if let Dim::Fixed(f) = d
            && *f != s
        {
            return Err(InferError::Input(format!(
                "input {name:?} dim {i} is fixed at {f} in the model, {s} given"
            )));
        }
    }
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_VALUE_ELEMENTS);
    if n.is_none() {
        return Err(InferError::Input(format!(
            "input {name:?} of shape {shape:?} is too large"
        )));
    }
    Ok(())
}

/// State of the conversion: the graph so far and the ONNX name of every value.
pub(super) struct Builder<'m> {
    pub model: &'m OnnxModel,
    pub g: Graph,
    names: HashMap<String, ValueId>,
    /// The ONNX element type of integer values whose type matters: quantized constants and
    /// QuantizeLinear outputs (the IR itself computes in f32). Absent means float or unknown.
    pub elem_types: HashMap<ValueId, i32>,
    /// The batch a model exported for one picture is widened to ([`build_widened`]).
    pub batch: Option<usize>,
}

impl Builder<'_> {
    /// The value an ONNX name refers to (initializers are added on first use).
    pub fn value(&mut self, name: &str) -> Result<ValueId, InferError> {
        if let Some(&id) = self.names.get(name) {
            return Ok(id);
        }
        if let Some(c) = self.model.initializers.get(name) {
            let id = self.g.add_value(name, c.shape.clone());
            self.g.consts.insert(id, c.clone());
            self.names.insert(name.to_string(), id);
            if let Some(&t) = self.model.elem_types.get(name) {
                self.elem_types.insert(id, t);
            }
            return Ok(id);
        }
        Err(InferError::BadModel(format!(
            "value {name:?} is used before it is defined"
        )))
    }

    /// The constant behind a value, if it is one.
    pub fn konst(&self, id: ValueId) -> Option<&Arc<Const>> {
        self.g.consts.get(&id)
    }

    /// Makes `name` refer to an existing value (Identity, Dropout).
    pub fn alias(&mut self, name: &str, id: ValueId) {
        self.names.insert(name.to_string(), id);
    }

    /// Adds a constant value under an ONNX name.
    pub fn add_const(&mut self, name: &str, c: Const) -> Result<ValueId, InferError> {
        checked_elements(&c.shape)?;
        let id = self.g.add_value(name, c.shape.clone());
        self.g.consts.insert(id, Arc::new(c));
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// Adds a node writing a new value named `out` of shape `shape`, or folds it when every
    /// input is a constant.
    pub fn add_node(
        &mut self,
        node_name: &str,
        op: Op,
        inputs: Vec<ValueId>,
        out: &str,
        shape: Vec<usize>,
    ) -> Result<ValueId, InferError> {
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= MAX_VALUE_ELEMENTS);
        if n.is_none() {
            return Err(InferError::Shape {
                op: op.name().into(),
                node: node_name.into(),
                reason: format!("output shape {shape:?} is too large"),
            });
        }
        if !inputs.is_empty() && inputs.iter().all(|i| self.g.consts.contains_key(i)) {
            let consts: Vec<Arc<Const>> = inputs.iter().map(|i| self.g.consts[i].clone()).collect();
            let c = fold::eval(node_name, &op, &consts, &shape)?;
            return self.add_const(out, c);
        }
        let id = self.g.add_value(out, shape);
        self.g.nodes.push(Node {
            name: node_name.to_string(),
            op,
            inputs,
            output: id,
        });
        self.names.insert(out.to_string(), id);
        Ok(id)
    }
}
