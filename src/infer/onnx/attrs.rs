//! Typed access to a node's attributes, with errors that name the node.

use super::proto::{AttributeProto, NodeProto, attribute_type as at};
use super::tensor_to_const;
use crate::infer::InferError;
use crate::infer::graph::constant::Const;

/// A node's attributes, looked up by name.
pub struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    /// Attributes of `node`.
    pub fn new(node: &'a NodeProto) -> Self {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn bad(&self, name: &str, why: &str) -> InferError {
        InferError::BadModel(format!(
            "node {:?} ({}): attribute {name:?} {why}",
            self.node.name, self.node.op_type
        ))
    }

    fn typed(&self, name: &str, ty: i32) -> Result<Option<&'a AttributeProto>, InferError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if !a.ref_attr_name.is_empty() => {
                Err(self.bad(name, "refers to a function attribute"))
            }
            // Type 0 (undefined) comes from very old exporters: trust the field that is asked for.
            Some(a) if a.r#type == ty || a.r#type == 0 => Ok(Some(a)),
            Some(a) => Err(self.bad(name, &format!("has type {}, expected {ty}", a.r#type))),
        }
    }

    /// True when the attribute is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An integer attribute, or `default`.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, InferError> {
        Ok(self
            .typed(name, at::INT)?
            .map_or(default, |a| a.i.unwrap_or(0)))
    }

    /// A float attribute, or `default`.
    pub fn float(&self, name: &str, default: f32) -> Result<f32, InferError> {
        Ok(self.typed(name, at::FLOAT)?.map_or(default, |a| a.f))
    }

    /// A list-of-integers attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, InferError> {
        Ok(self.typed(name, at::INTS)?.map(|a| a.ints.clone()))
    }

    /// A list-of-floats attribute, if present.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, InferError> {
        Ok(self.typed(name, at::FLOATS)?.map(|a| a.floats.clone()))
    }

    /// A string attribute, or `default`.
    pub fn string(&self, name: &str, default: &str) -> Result<String, InferError> {
        match self.typed(name, at::STRING)? {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone()).map_err(|_| self.bad(name, "is not UTF-8")),
        }
    }

    /// A tensor attribute (Constant's `value`), converted with the usual checks.
    pub fn tensor(&self, name: &str) -> Result<Option<Const>, InferError> {
        match self.typed(name, at::TENSOR)? {
            None => Ok(None),
            Some(a) => match &a.t {
                Some(t) => tensor_to_const(t).map(Some),
                None => Err(self.bad(name, "has no tensor")),
            },
        }
    }

    /// The ONNX element type of a tensor attribute, if present (what [`Attrs::tensor`] drops).
    pub fn tensor_type(&self, name: &str) -> Option<i32> {
        self.get(name)
            .and_then(|a| a.t.as_ref())
            .map(|t| t.data_type)
    }

    /// Names of attributes present whose type we do not read (graphs): such nodes are unsupported.
    pub fn has_graph(&self) -> bool {
        self.node.attribute.iter().any(|a| a.r#type == at::GRAPH)
    }

    /// Strings attribute, if present.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, InferError> {
        match self.typed(name, at::STRINGS)? {
            None => Ok(None),
            Some(a) => a
                .strings
                .iter()
                .map(|s| String::from_utf8(s.clone()).map_err(|_| self.bad(name, "is not UTF-8")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
}
