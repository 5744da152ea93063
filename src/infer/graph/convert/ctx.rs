//! The node being converted: its inputs, attributes and opset, and errors that name it.

use std::sync::Arc;

use super::super::ValueId;
use super::super::build::Builder;
use super::super::constant::Const;
use super::super::shape::axis;
use crate::infer::InferError;
use crate::infer::onnx::Attrs;
use crate::infer::onnx::proto::NodeProto;

/// One ONNX node as every converter reads it, so that each error names the node and its op.
pub(super) struct Ctx<'a> {
    pub node: &'a NodeProto,
    pub attrs: Attrs<'a>,
    pub opset: i64,
    /// The node's inputs; `None` for an omitted optional input (`""` in ONNX).
    pub ins: Vec<Option<ValueId>>,
}

impl Ctx<'_> {
    /// The operator cannot run here (an unsupported form or attribute).
    pub fn unsupported(&self, reason: impl Into<String>) -> InferError {
        InferError::Unsupported {
            op: self.node.op_type.clone(),
            node: self.node.name.clone(),
            reason: reason.into(),
        }
    }

    /// The node's shapes or arguments do not fit together.
    pub fn shape_err(&self, reason: impl Into<String>) -> InferError {
        InferError::Shape {
            op: self.node.op_type.clone(),
            node: self.node.name.clone(),
            reason: reason.into(),
        }
    }

    /// The ONNX name of output `i`.
    pub fn out(&self, i: usize) -> Result<&str, InferError> {
        self.node
            .output
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| self.shape_err(format!("node has no output {i}")))
    }

    /// The node's name, which its IR nodes carry for errors and profiles.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// The ONNX op type, for converters that serve several.
    pub fn op(&self) -> &str {
        &self.node.op_type
    }

    /// Input `i`, which the operator requires.
    pub fn input(&self, i: usize) -> Result<ValueId, InferError> {
        self.opt_input(i)
            .ok_or_else(|| self.shape_err(format!("missing input {i}")))
    }

    /// Input `i`, which may be omitted.
    pub fn opt_input(&self, i: usize) -> Option<ValueId> {
        self.ins.get(i).copied().flatten()
    }

    /// The node's first input (for operators whose later inputs are optional).
    pub fn first_input(&self) -> Result<ValueId, InferError> {
        self.opt_input(0).ok_or_else(|| self.shape_err("no input"))
    }

    /// Every input that is present, in order (variadic operators).
    pub fn present_inputs(&self) -> Vec<ValueId> {
        self.ins.iter().flatten().copied().collect()
    }

    /// An ONNX axis (possibly negative) normalized against `rank`.
    pub fn axis(&self, a: i64, rank: usize) -> Result<usize, InferError> {
        axis(a, rank)
            .ok_or_else(|| self.shape_err(format!("axis {a} out of range for rank {rank}")))
    }

    /// A list of ONNX axes normalized against `rank`.
    pub fn axes(&self, axes: &[i64], rank: usize) -> Result<Vec<usize>, InferError> {
        axes.iter().map(|&a| self.axis(a, rank)).collect()
    }

    /// An `axes` list: an attribute before opset `since`, the (constant) second input from it on.
    pub fn axes_arg(&self, b: &Builder<'_>, since: i64) -> Result<Option<Vec<i64>>, InferError> {
        if self.opset < since {
            return self.attrs.ints("axes");
        }
        self.opt_input(1)
            .map(|v| self.const_ints(b, v, "axes"))
            .transpose()
    }

    /// The integers of a constant input (shape, axes, pads, ...).
    pub fn const_ints(
        &self,
        b: &Builder<'_>,
        id: ValueId,
        what: &str,
    ) -> Result<Vec<i64>, InferError> {
        Ok(self.konst(b, id, what)?.to_i64())
    }

    /// The constant behind an input that the operator needs at load time.
    pub fn konst(
        &self,
        b: &Builder<'_>,
        id: ValueId,
        what: &str,
    ) -> Result<Arc<Const>, InferError> {
        b.konst(id)
            .cloned()
            .ok_or_else(|| self.unsupported(format!("{what} must be a constant")))
    }

    /// The scalar of an optional constant input (Clip bounds, Pad value), `default` when omitted.
    pub fn const_scalar(
        &self,
        b: &Builder<'_>,
        i: usize,
        default: f32,
        why: &str,
    ) -> Result<f32, InferError> {
        match self.opt_input(i) {
            None => Ok(default),
            Some(v) => b
                .konst(v)
                .and_then(|c| c.scalar_f32())
                .ok_or_else(|| self.unsupported(why)),
        }
    }

    /// The shape of a 4-D (NCHW) input, the only rank spatial operators take.
    pub fn rank4(&self, b: &Builder<'_>, x: ValueId) -> Result<Vec<usize>, InferError> {
        let s = b.g.shape(x);
        if s.len() != 4 {
            return Err(self.unsupported(format!("input of shape {s:?}: only 4-D (NCHW) inputs")));
        }
        Ok(s.to_vec())
    }

    /// Errors unless the node's outputs past the first are unused (training or index outputs).
    pub fn single_output(&self, what: &str) -> Result<(), InferError> {
        if self.node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(self.unsupported(what));
        }
        Ok(())
    }
}
