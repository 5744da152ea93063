//! Reading ONNX files without `protoc`: hand-written prost messages and checked conversion of weights.
//!
//! Everything here treats the file as hostile: sizes are capped before allocation, element counts
//! use checked arithmetic, and raw data lengths must match the declared dims exactly.

pub mod attrs;
pub mod proto;

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;

use crate::infer::InferError;
use crate::infer::graph::constant::{Const, checked_elements};

pub use attrs::Attrs;

/// Largest model file we accept (512 MiB): far above any detector, far below an OOM.
pub const MAX_MODEL_BYTES: usize = 512 << 20;
/// Largest total of decoded initializer bytes (1 GiB), counted as they are converted.
pub const MAX_INITIALIZER_BYTES: usize = 1 << 30;
/// Largest single dimension we accept anywhere (2^24).
pub const MAX_DIM: i64 = 1 << 24;

/// One dimension of a declared graph input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    /// A symbolic or unknown dimension, resolved from the sizes the caller gives.
    Dynamic(String),
}

/// A graph input that is not an initializer: what the caller must feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub name: String,
    pub dims: Vec<Dim>,
}

/// A decoded, validated ONNX model: nodes still in ONNX form, weights converted.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    /// Version of the default ("" / "ai.onnx") operator set.
    pub opset: i64,
    pub nodes: Vec<proto::NodeProto>,
    pub initializers: HashMap<String, Arc<Const>>,
    /// The ONNX element type of each initializer (`proto::data_type`): constants keep only
    /// float or integer storage, and DequantizeLinear must tell int8 from uint8.
    pub elem_types: HashMap<String, i32>,
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<String>,
}

/// Decodes and validates an ONNX file.
pub fn load(bytes: &[u8]) -> Result<OnnxModel, InferError> {
    if bytes.len() > MAX_MODEL_BYTES {
        return Err(InferError::BadModel(format!(
            "model file is {} bytes, more than the {MAX_MODEL_BYTES} byte limit",
            bytes.len()
        )));
    }
    if bytes.is_empty() {
        return Err(InferError::BadModel("model file is empty".into()));
    }
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| InferError::BadModel(format!("not a valid ONNX protobuf: {e}")))?;
    let graph = model
        .graph
        .ok_or_else(|| InferError::BadModel("model has no graph".into()))?;
    if graph.node.is_empty() {
        return Err(InferError::BadModel("graph has no nodes".into()));
    }
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .ok_or_else(|| InferError::BadModel("model imports no default operator set".into()))?;

    let mut initializers = HashMap::new();
    let mut elem_types = HashMap::new();
    let mut total_bytes: usize = 0;
    for t in &graph.initializer {
        let c = tensor_to_const(t)?;
        let bytes = c.len().saturating_mul(match c.data {
            crate::infer::graph::constant::ConstData::F32(_) => 4,
            crate::infer::graph::constant::ConstData::I64(_) => 8,
        });
        total_bytes = total_bytes
            .checked_add(bytes)
            .filter(|&b| b <= MAX_INITIALIZER_BYTES)
            .ok_or_else(|| {
                InferError::BadModel(format!(
                    "initializers need more than {MAX_INITIALIZER_BYTES} bytes"
                ))
            })?;
        initializers.insert(t.name.clone(), Arc::new(c));
        elem_types.insert(t.name.clone(), t.data_type);
    }

    let mut inputs = Vec::new();
    for vi in &graph.input {
        if initializers.contains_key(&vi.name) {
            continue;
        }
        inputs.push(InputSpec {
            name: vi.name.clone(),
            dims: input_dims(vi)?,
        });
    }
    if inputs.is_empty() {
        return Err(InferError::BadModel("graph has no runtime input".into()));
    }
    let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    if outputs.is_empty() {
        return Err(InferError::BadModel("graph has no output".into()));
    }
    Ok(OnnxModel {
        opset,
        nodes: graph.node,
        initializers,
        elem_types,
        inputs,
        outputs,
    })
}

fn input_dims(vi: &proto::ValueInfoProto) -> Result<Vec<Dim>, InferError> {
    let tensor = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| InferError::BadModel(format!("input {:?} is not a tensor", vi.name)))?;
    if tensor.elem_type != proto::data_type::FLOAT {
        return Err(InferError::BadModel(format!(
            "input {:?} has element type {}, only float inputs are supported",
            vi.name, tensor.elem_type
        )));
    }
    let shape = tensor
        .shape
        .as_ref()
        .ok_or_else(|| InferError::BadModel(format!("input {:?} has no shape", vi.name)))?;
    shape
        .dim
        .iter()
        .enumerate()
        .map(|(i, d)| match &d.value {
            Some(proto::dimension::Value::DimValue(v)) if *v > 0 && *v <= MAX_DIM => {
                Ok(Dim::Fixed(*v as usize))
            }
            Some(proto::dimension::Value::DimValue(v)) if *v <= 0 => {
                Ok(Dim::Dynamic(format!("dim{i}")))
            }
            Some(proto::dimension::Value::DimValue(v)) => Err(InferError::BadModel(format!(
                "input {:?} dimension {i} is {v}, more than {MAX_DIM}",
                vi.name
            ))),
            Some(proto::dimension::Value::DimParam(p)) => Ok(Dim::Dynamic(p.clone())),
            None => Ok(Dim::Dynamic(format!("dim{i}"))),
        })
        .collect()
}

/// Converts a serialized tensor into a constant, checking every length against its dims.
///
/// Floats (float, float16, double) become f32; integers and booleans become i64.
pub fn tensor_to_const(t: &proto::TensorProto) -> Result<Const, InferError> {
    let bad = |why: String| InferError::BadModel(format!("tensor {:?}: {why}", t.name));
    if t.data_location == proto::DATA_LOCATION_EXTERNAL || !t.external_data.is_empty() {
        return Err(bad("external data files are not supported".into()));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if !(0..=MAX_DIM).contains(&d) {
            return Err(bad(format!("dimension {d} out of range 0..={MAX_DIM}")));
        }
        shape.push(d as usize);
    }
    let n = checked_elements(&shape).map_err(|e| bad(e.to_string()))?;
    let raw = &t.raw_data;
    let raw_len = |width: usize| -> Result<bool, InferError> {
        if raw.is_empty() {
            return Ok(false);
        }
        // n <= 2^28, width <= 8: no overflow.
        if raw.len() != n * width {
            return Err(bad(format!(
                "raw_data has {} bytes, dims {:?} need {}",
                raw.len(),
                shape,
                n * width
            )));
        }
        Ok(true)
    };
    let count = |len: usize, field: &str| -> Result<(), InferError> {
        if len != n {
            return Err(bad(format!(
                "{field} has {len} values, dims {shape:?} need {n}"
            )));
        }
        Ok(())
    };
    use proto::data_type as dt;
    let c = match t.data_type {
        dt::FLOAT => {
            if raw_len(4)? {
                let v = raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Const::f32(shape, v)
            } else {
                count(t.float_data.len(), "float_data")?;
                Const::f32(shape, t.float_data.clone())
            }
        }
        dt::FLOAT16 => {
            if raw_len(2)? {
                let v = raw
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect();
                Const::f32(shape, v)
            } else {
                count(t.int32_data.len(), "int32_data")?;
                let v = t
                    .int32_data
                    .iter()
                    .map(|&b| half::f16::from_bits(b as u16).to_f32())
                    .collect();
                Const::f32(shape, v)
            }
        }
        dt::DOUBLE => {
            if raw_len(8)? {
                let v = raw
                    .chunks_exact(8)
                    .map(|b| {
                        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    })
                    .collect();
                Const::f32(shape, v)
            } else {
                count(t.double_data.len(), "double_data")?;
                Const::f32(shape, t.double_data.iter().map(|&x| x as f32).collect())
            }
        }
        dt::INT64 => {
            if raw_len(8)? {
                let v = raw
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect();
                Const::i64(shape, v)
            } else {
                count(t.int64_data.len(), "int64_data")?;
                Const::i64(shape, t.int64_data.clone())
            }
        }
        dt::INT32 => {
            if raw_len(4)? {
                let v = raw
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                    .collect();
                Const::i64(shape, v)
            } else {
                count(t.int32_data.len(), "int32_data")?;
                Const::i64(shape, t.int32_data.iter().map(|&x| x as i64).collect())
            }
        }
        dt::INT16 | dt::UINT16 => {
            let signed = t.data_type == dt::INT16;
            if raw_len(2)? {
                let v = raw
                    .chunks_exact(2)
                    .map(|b| {
                        let u = u16::from_le_bytes([b[0], b[1]]);
                        if signed { u as i16 as i64 } else { u as i64 }
                    })
                    .collect();
                Const::i64(shape, v)
            } else {
                count(t.int32_data.len(), "int32_data")?;
                Const::i64(shape, t.int32_data.iter().map(|&x| x as i64).collect())
            }
        }
        dt::INT8 | dt::UINT8 | dt::BOOL => {
            let signed = t.data_type == dt::INT8;
            if raw_len(1)? {
                let v = raw
                    .iter()
                    .map(|&b| if signed { b as i8 as i64 } else { b as i64 })
                    .collect();
                Const::i64(shape, v)
            } else {
                count(t.int32_data.len(), "int32_data")?;
                Const::i64(shape, t.int32_data.iter().map(|&x| x as i64).collect())
            }
        }
        other => {
            return Err(bad(format!(
                "element type {other} is not supported (float, float16, double, int64, int32, int16, uint16, int8, uint8, bool are)"
            )));
        }
    };
    Ok(c)
}
