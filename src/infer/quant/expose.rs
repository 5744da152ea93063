//! The float model with chosen intermediate tensors added as graph outputs, so that a runtime
//! (ONNX Runtime) shows their values to the calibration: runtimes keep graph outputs when they
//! fuse operators, so every exposed tensor is computed as the float model defines it.

use std::collections::HashSet;

use prost::Message;

use super::QuantError;
use crate::infer::onnx::proto::{
    ModelProto, TypeProto, TypeProtoTensor, ValueInfoProto, data_type,
};

/// `onnx` with each tensor of `names` (float activations) that is not already an output added
/// as a float graph output; returns the new bytes and how many outputs were added.
pub fn with_outputs(onnx: &[u8], names: &[String]) -> Result<(Vec<u8>, usize), QuantError> {
    let mut model = ModelProto::decode(onnx)
        .map_err(|e| QuantError::Model(format!("not a valid ONNX protobuf: {e}")))?;
    let graph = model
        .graph
        .as_mut()
        .ok_or_else(|| QuantError::Model("the model has no graph".into()))?;
    let mut present: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut added = 0;
    for name in names {
        if !present.insert(name.clone()) {
            continue;
        }
        graph.output.push(ValueInfoProto {
            name: name.clone(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: data_type::FLOAT,
                    shape: None,
                }),
            }),
        });
        added += 1;
    }
    Ok((model.encode_to_vec(), added))
}
