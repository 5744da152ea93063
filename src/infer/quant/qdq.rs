//! Rewrites a float ONNX model into a static QDQ int8 model, in the layout ONNX Runtime's graph
//! optimizer turns into int8 kernels:
//!
//! - every convolution with constant weights gets `DequantizeLinear` on its weights (int8,
//!   symmetric, one scale per output channel) and bias (int32, scale = input scale x weight
//!   scale), a `QuantizeLinear -> DequantizeLinear` pair (uint8, asymmetric, one scale for the
//!   tensor) on its input and on its output, or on the output of the Relu/Clip right after it
//!   (ONNX Runtime then drops the activation: saturating at the zero point does its work), so the
//!   runtime fuses `DQ -> Conv -> Q` into one int8 convolution;
//! - quantized tensors are followed back through the operators ONNX Runtime also runs on int8
//!   (Add, Concat, pooling, Resize, LeakyRelu, Sigmoid, data movement), so chains of them stay
//!   in int8 between convolutions; data movement shares its input's scale (the runtime then drops
//!   its Q/DQ pair, as its rules require);
//! - what follows the last convolutions (box decoding in the graph, reshapes to the outputs)
//!   stays float, fed by `DequantizeLinear`.
//!
//! Ranges come from [`super::Calibrator`]; a convolution whose input or output was not measured
//! stays float. Everything else in the file is kept as it was.

use std::collections::{HashMap, HashSet};

use prost::Message;

use super::{QuantError, Ranges};
use crate::infer::onnx::proto::{
    AttributeProto, ModelProto, NodeProto, StringStringEntryProto, TensorProto, attribute_type,
    data_type,
};
use crate::infer::onnx::{MAX_MODEL_BYTES, tensor_to_const};

/// What to leave in float.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QdqOptions {
    /// Names of Conv nodes to keep in float (e.g. a detection head that loses accuracy in int8).
    pub keep_float: Vec<String>,
}

/// What the rewrite did, for reports.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QdqSummary {
    /// Convolutions now int8.
    pub convs_quantized: usize,
    /// Convolutions left float (kept on purpose, weights not constant, or ranges missing).
    pub convs_float: usize,
    /// Activation tensors with a QuantizeLinear/DequantizeLinear pair.
    pub tensors_quantized: usize,
    /// The model's operator set before it was raised to 13 (per-axis DequantizeLinear), if it was.
    pub opset_raised_from: Option<i64>,
}

/// Operators whose meaning did not change between their opset-9 form and opset 13, so a model
/// made only of these can be raised to opset 13 (per-axis DequantizeLinear needs it).
const SAME_SINCE_9: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Concat",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Transpose",
    "Reshape",
    "Flatten",
    "Identity",
    "Constant",
    "Shape",
    "Gather",
    "Exp",
    "Abs",
    "Neg",
    "Sqrt",
    "MatMul",
    "BatchNormalization",
];

/// Operators ONNX Runtime runs on int8 when quantized on both sides, with how many of their
/// leading inputs are activations (`usize::MAX`: all).
const INT8_OPS: &[(&str, usize)] = &[
    ("Add", 2),
    ("Mul", 2),
    ("Concat", usize::MAX),
    ("MaxPool", 1),
    ("AveragePool", 1),
    ("GlobalAveragePool", 1),
    ("Resize", 1),
    ("LeakyRelu", 1),
    ("Sigmoid", 1),
    ("Relu", 1),
    ("Clip", 1),
    ("Transpose", 1),
    ("Reshape", 1),
    ("Flatten", 1),
    ("Squeeze", 1),
    ("Unsqueeze", 1),
];

/// Operators that only move or select values: their output takes their input's scale and zero
/// point (ONNX Runtime drops their Q/DQ pair only then; the output's range is within the input's).
const SHARES_INPUT_PARAMS: &[&str] = &[
    "MaxPool",
    "Resize",
    "Transpose",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
];

/// Scale and zero point of a uint8 activation tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Params {
    scale: f32,
    zero: u8,
}

/// uint8 parameters covering `[min, max]` and zero (asymmetric, as ONNX Runtime computes them).
fn uint8_params(min: f32, max: f32) -> Params {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    let scale = (hi - lo) / 255.0;
    if !(scale.is_normal() && scale.is_finite()) {
        return Params {
            scale: 1.0,
            zero: 0,
        };
    }
    let zero = (-lo / scale).round_ties_even().clamp(0.0, 255.0) as u8;
    Params { scale, zero }
}

/// Symmetric int8 quantization of one output channel: its scale and values in -127..=127.
fn int8_channel(w: &[f32]) -> (f32, Vec<i8>) {
    let amax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if amax.is_normal() { amax / 127.0 } else { 1.0 };
    let q = w
        .iter()
        .map(|&v| (v / scale).round_ties_even().clamp(-127.0, 127.0) as i8)
        .collect();
    (scale, q)
}

/// One convolution to quantize.
struct ConvPlan {
    node: usize,
    /// Its activation input.
    input: String,
    /// The tensor quantized after it: its output, or the output of the Relu/Clip that follows.
    output: String,
    /// That Relu/Clip node, whose input stays float (the runtime fuses it away).
    fused_act: Option<usize>,
}

/// Names already used in the graph, for new ones that must not collide.
struct Names(HashSet<String>);

impl Names {
    fn fresh(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut k = 1;
        while self.0.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

fn tensor(name: String, dims: Vec<i64>, data_type: i32, raw: Vec<u8>) -> TensorProto {
    TensorProto {
        name,
        dims,
        data_type,
        raw_data: raw,
        ..Default::default()
    }
}

fn f32_tensor(name: String, dims: Vec<i64>, v: &[f32]) -> TensorProto {
    let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    tensor(name, dims, data_type::FLOAT, raw)
}

fn node(
    op: &str,
    name: String,
    inputs: Vec<String>,
    output: String,
    axis: Option<i64>,
) -> NodeProto {
    NodeProto {
        name,
        op_type: op.into(),
        input: inputs,
        output: vec![output],
        attribute: axis
            .map(|a| AttributeProto {
                name: "axis".into(),
                r#type: attribute_type::INT,
                i: Some(a),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

fn is_default_domain(n: &NodeProto) -> bool {
    n.domain.is_empty() || n.domain == "ai.onnx"
}

/// Names of the activation tensors whose ranges the rewrite may use (inputs and outputs of
/// convolutions and of the operators in `INT8_OPS`), so a runtime calibrating the model exposes
/// only these as extra outputs.
pub fn calibration_tensors(onnx: &[u8]) -> Result<HashSet<String>, QuantError> {
    let model = ModelProto::decode(onnx)
        .map_err(|e| QuantError::Model(format!("not a valid ONNX protobuf: {e}")))?;
    let graph = model
        .graph
        .ok_or_else(|| QuantError::Model("the model has no graph".into()))?;
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut out = HashSet::new();
    for n in graph.node.iter().filter(|n| is_default_domain(n)) {
        let count = match n.op_type.as_str() {
            "Conv" => 1,
            op => match INT8_OPS.iter().find(|(o, _)| *o == op) {
                Some(&(_, c)) => c,
                None => continue,
            },
        };
        let acts = n.input.iter().take(count).chain(n.output.iter().take(1));
        out.extend(
            acts.filter(|x| !x.is_empty() && !inits.contains(x.as_str()))
                .cloned(),
        );
    }
    Ok(out)
}

/// Rewrites the float model in `onnx` into a QDQ int8 model with the activation `ranges`.
pub fn quantize(
    onnx: &[u8],
    ranges: &Ranges,
    opts: &QdqOptions,
) -> Result<(Vec<u8>, QdqSummary), QuantError> {
    if onnx.len() > MAX_MODEL_BYTES {
        return Err(QuantError::Model(format!(
            "the model is {} bytes, more than {MAX_MODEL_BYTES}",
            onnx.len()
        )));
    }
    let mut model = ModelProto::decode(onnx)
        .map_err(|e| QuantError::Model(format!("not a valid ONNX protobuf: {e}")))?;
    let mut summary = QdqSummary::default();
    let mut graph = model
        .graph
        .take()
        .ok_or_else(|| QuantError::Model("the model has no graph".into()))?;

    // Per-axis DequantizeLinear needs opset 13.
    let opset = model
        .opset_import
        .iter_mut()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .max_by_key(|o| o.version)
        .ok_or_else(|| QuantError::Model("no default operator set".into()))?;
    if opset.version < 13 {
        let changed: Vec<&str> = graph
            .node
            .iter()
            .filter(|n| {
                is_default_domain(n)
                    && (opset.version < 9 || !SAME_SINCE_9.contains(&n.op_type.as_str()))
            })
            .map(|n| n.op_type.as_str())
            .collect();
        if !changed.is_empty() {
            return Err(QuantError::Model(format!(
                "operator set {} is older than 13, which per-channel QDQ needs, and raising it would change the meaning of {:?}; re-export the model with opset 13 or later",
                opset.version, changed
            )));
        }
        summary.opset_raised_from = Some(opset.version);
        opset.version = 13;
    }
    model.ir_version = model.ir_version.max(7);

    let mut names = Names(
        graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().chain(&n.output).chain([&n.name]))
            .chain(graph.initializer.iter().map(|t| &t.name))
            .chain(graph.input.iter().map(|v| &v.name))
            .chain(graph.output.iter().map(|v| &v.name))
            .cloned()
            .collect(),
    );
    let inits: HashMap<String, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in &n.output {
            producer.insert(o, i);
        }
        for x in n.input.iter().filter(|x| !x.is_empty()) {
            consumers.entry(x).or_default().push(i);
        }
    }
    let graph_outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    // Initializers also reached through Identity nodes (PyTorch's exporter shares equal biases
    // that way).
    let mut aliases: HashMap<String, usize> = HashMap::new();
    for n in graph.node.iter().filter(|n| n.op_type == "Identity") {
        let (Some(x), Some(y)) = (n.input.first(), n.output.first()) else {
            continue;
        };
        if let Some(&i) = inits.get(x).or_else(|| aliases.get(x)) {
            aliases.insert(y.clone(), i);
        }
    }
    let init_of = |name: &str| inits.get(name).or_else(|| aliases.get(name)).copied();
    let is_float_init = |name: &str| {
        init_of(name).is_some_and(|i| graph.initializer[i].data_type == data_type::FLOAT)
    };

    // 1. The convolutions to quantize.
    let mut plans = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        if n.op_type != "Conv" || !is_default_domain(n) {
            continue;
        }
        let float = |why: &str| {
            tracing::debug!(node = %n.name, "convolution left in float: {why}");
        };
        if opts.keep_float.contains(&n.name) {
            float("asked for");
            summary.convs_float += 1;
            continue;
        }
        let (Some(x), Some(w), Some(y)) = (n.input.first(), n.input.get(1), n.output.first())
        else {
            continue;
        };
        let bias_ok = n
            .input
            .get(2)
            .is_none_or(|b| b.is_empty() || is_float_init(b));
        if inits.contains_key(x) || !is_float_init(w) || !bias_ok {
            float("weights or bias are not float constants");
            summary.convs_float += 1;
            continue;
        }
        let (output, fused_act) = match consumers.get(y.as_str()).map(Vec::as_slice) {
            Some(&[a])
                if matches!(graph.node[a].op_type.as_str(), "Relu" | "Clip")
                    && is_default_domain(&graph.node[a])
                    && !graph_outputs.contains(y.as_str()) =>
            {
                match graph.node[a].output.first() {
                    Some(o) => (o.clone(), Some(a)),
                    None => (y.clone(), None),
                }
            }
            _ => (y.clone(), None),
        };
        if ranges.get(x).is_none() || ranges.get(&output).is_none() {
            float("its input or output range was not measured");
            summary.convs_float += 1;
            continue;
        }
        plans.push(ConvPlan {
            node: i,
            input: x.clone(),
            output,
            fused_act,
        });
    }
    if plans.is_empty() {
        return Err(QuantError::Calibration(
            "no convolution could be quantized (no measured ranges for their inputs and outputs)"
                .into(),
        ));
    }

    // 2. The activation tensors to quantize: around each convolution, then back through the
    // operators the runtime runs on int8.
    let fused: HashSet<usize> = plans.iter().filter_map(|p| p.fused_act).collect();
    let mut quantized: HashSet<String> = HashSet::new();
    let mut work: Vec<String> = Vec::new();
    for p in &plans {
        for t in [&p.input, &p.output] {
            if quantized.insert(t.clone()) {
                work.push(t.clone());
            }
        }
    }
    while let Some(t) = work.pop() {
        let Some(&pi) = producer.get(t.as_str()) else {
            continue;
        };
        let pn = &graph.node[pi];
        if fused.contains(&pi) || !is_default_domain(pn) {
            continue;
        }
        let Some(&(_, count)) = INT8_OPS.iter().find(|(op, _)| *op == pn.op_type) else {
            continue;
        };
        for x in pn.input.iter().take(count) {
            if x.is_empty() || inits.contains_key(x) || ranges.get(x).is_none() {
                continue;
            }
            if quantized.insert(x.clone()) {
                work.push(x.clone());
            }
        }
    }

    // 3. Their scales and zero points, in graph order (so shared ones are known first).
    let mut params: HashMap<String, Params> = HashMap::new();
    for v in &graph.input {
        if let (true, Some((lo, hi))) = (quantized.contains(&v.name), ranges.get(&v.name)) {
            params.insert(v.name.clone(), uint8_params(lo, hi));
        }
    }
    for n in &graph.node {
        for o in n.output.iter().filter(|o| quantized.contains(*o)) {
            let shared = SHARES_INPUT_PARAMS
                .contains(&n.op_type.as_str())
                .then(|| n.input.first().and_then(|x| params.get(x)).copied())
                .flatten();
            let p = match (shared, ranges.get(o)) {
                (Some(p), _) => p,
                (None, Some((lo, hi))) => uint8_params(lo, hi),
                (None, None) => continue,
            };
            params.insert(o.clone(), p);
        }
    }
    summary.tensors_quantized = params.len();

    // 4. The new graph: weight and bias DequantizeLinear first, then each node followed by the
    // Q/DQ pairs of its outputs; every reader of a quantized tensor reads its DQ output.
    let mut front: Vec<NodeProto> = Vec::new();
    let mut new_inits: Vec<TensorProto> = Vec::new();
    let mut rename: HashMap<String, String> = HashMap::new();
    let mut pairs: HashMap<String, Vec<NodeProto>> = HashMap::new();
    let mut sorted: Vec<&String> = params.keys().collect();
    sorted.sort();
    for t in sorted {
        let p = params[t];
        let scale = names.fresh(format!("{t}_scale"));
        let zero = names.fresh(format!("{t}_zero_point"));
        let q = names.fresh(format!("{t}_QuantizeLinear_Output"));
        let dq = names.fresh(format!("{t}_DequantizeLinear_Output"));
        new_inits.push(f32_tensor(scale.clone(), vec![], &[p.scale]));
        new_inits.push(tensor(zero.clone(), vec![], data_type::UINT8, vec![p.zero]));
        let qn = node(
            "QuantizeLinear",
            names.fresh(format!("{t}_QuantizeLinear")),
            vec![t.clone(), scale.clone(), zero.clone()],
            q.clone(),
            None,
        );
        let dqn = node(
            "DequantizeLinear",
            names.fresh(format!("{t}_DequantizeLinear")),
            vec![q, scale, zero],
            dq.clone(),
            None,
        );
        pairs.insert(t.clone(), vec![qn, dqn]);
        rename.insert(t.clone(), dq);
    }

    let mut weight_dq: HashMap<String, (String, Vec<f32>)> = HashMap::new();
    let mut conv_inputs: HashMap<usize, Vec<String>> = HashMap::new();
    for p in &plans {
        let n = &graph.node[p.node];
        let (Some(x_params), true) = (params.get(&p.input), params.contains_key(&p.output)) else {
            summary.convs_float += 1;
            continue;
        };
        let w = &n.input[1];
        if !weight_dq.contains_key(w) {
            let t = init_of(w).map(|i| &graph.initializer[i]).ok_or_else(|| {
                QuantError::Model(format!("weight {w:?} of {:?} is not a constant", n.name))
            })?;
            let c = tensor_to_const(t)?;
            let data = c.as_f32().ok_or_else(|| {
                QuantError::Model(format!("weight {w:?} of {:?} is not float", n.name))
            })?;
            let cout = c.shape.first().copied().unwrap_or(0);
            if c.shape.len() < 2 || cout == 0 {
                return Err(QuantError::Model(format!(
                    "weight {w:?} of {:?} has shape {:?}",
                    n.name, c.shape
                )));
            }
            let per = data.len() / cout;
            let (scales, q): (Vec<f32>, Vec<Vec<i8>>) =
                data.chunks_exact(per).map(int8_channel).unzip();
            let raw: Vec<u8> = q.iter().flatten().map(|&v| v as u8).collect();
            let dims: Vec<i64> = c.shape.iter().map(|&d| d as i64).collect();
            let qname = names.fresh(format!("{w}_quantized"));
            let sname = names.fresh(format!("{w}_scale"));
            let zname = names.fresh(format!("{w}_zero_point"));
            let out = names.fresh(format!("{w}_DequantizeLinear_Output"));
            new_inits.push(tensor(qname.clone(), dims, data_type::INT8, raw));
            new_inits.push(f32_tensor(sname.clone(), vec![cout as i64], &scales));
            new_inits.push(tensor(
                zname.clone(),
                vec![cout as i64],
                data_type::INT8,
                vec![0; cout],
            ));
            front.push(node(
                "DequantizeLinear",
                names.fresh(format!("{w}_DequantizeLinear")),
                vec![qname, sname, zname],
                out.clone(),
                Some(0),
            ));
            weight_dq.insert(w.clone(), (out, scales));
        }
        let (w_out, w_scales) = &weight_dq[w];
        let mut inputs = n.input.clone();
        inputs[1] = w_out.clone();
        if let Some(b) = n.input.get(2).filter(|b| !b.is_empty()) {
            let t = init_of(b).map(|i| &graph.initializer[i]).ok_or_else(|| {
                QuantError::Model(format!("bias {b:?} of {:?} is not a constant", n.name))
            })?;
            let c = tensor_to_const(t)?;
            let data = c.as_f32().unwrap_or_default();
            if data.len() != w_scales.len() {
                return Err(QuantError::Model(format!(
                    "bias {b:?} of {:?} has {} values for {} output channels",
                    n.name,
                    data.len(),
                    w_scales.len()
                )));
            }
            let scales: Vec<f32> = w_scales.iter().map(|s| s * x_params.scale).collect();
            let raw: Vec<u8> = data
                .iter()
                .zip(&scales)
                .flat_map(|(&v, &s)| {
                    let q = (v as f64 / s as f64)
                        .round_ties_even()
                        .clamp(i32::MIN as f64, i32::MAX as f64) as i32;
                    q.to_le_bytes()
                })
                .collect();
            let len = data.len() as i64;
            let qname = names.fresh(format!("{b}_quantized"));
            let sname = names.fresh(format!("{b}_scale"));
            let zname = names.fresh(format!("{b}_zero_point"));
            let out = names.fresh(format!("{b}_DequantizeLinear_Output"));
            new_inits.push(tensor(qname.clone(), vec![len], data_type::INT32, raw));
            new_inits.push(f32_tensor(sname.clone(), vec![len], &scales));
            new_inits.push(tensor(
                zname.clone(),
                vec![len],
                data_type::INT32,
                vec![0; 4 * data.len()],
            ));
            front.push(node(
                "DequantizeLinear",
                names.fresh(format!("{b}_DequantizeLinear")),
                vec![qname, sname, zname],
                out.clone(),
                Some(0),
            ));
            inputs[2] = out;
        }
        conv_inputs.insert(p.node, inputs);
        summary.convs_quantized += 1;
    }

    let mut nodes = front;
    for v in &graph.input {
        if let Some(pair) = pairs.remove(&v.name) {
            nodes.extend(pair);
        }
    }
    for (i, mut n) in std::mem::take(&mut graph.node).into_iter().enumerate() {
        if let Some(inputs) = conv_inputs.remove(&i) {
            n.input = inputs;
        }
        for x in n.input.iter_mut() {
            if let Some(r) = rename.get(x) {
                *x = r.clone();
            }
        }
        let outs = n.output.clone();
        nodes.push(n);
        for o in &outs {
            if let Some(pair) = pairs.remove(o) {
                nodes.extend(pair);
            }
        }
    }
    graph.node = nodes;

    // 5. Float weights and biases nothing reads any more go (also from the inputs old exporters
    // list them in).
    graph.initializer.extend(new_inits);
    let used: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(graph.output.iter().map(|o| o.name.as_str()))
        .collect();
    let unused: HashSet<String> = graph
        .initializer
        .iter()
        .filter(|t| !used.contains(t.name.as_str()))
        .map(|t| t.name.clone())
        .collect();
    graph.initializer.retain(|t| !unused.contains(&t.name));
    graph.input.retain(|v| !unused.contains(&v.name));

    model.metadata_props.push(StringStringEntryProto {
        key: "lookout.quantize".into(),
        value: format!(
            "static QDQ: int8 per-channel weights, uint8 per-tensor activations; {} convolutions int8, {} float; calibrated on {} inputs",
            summary.convs_quantized, summary.convs_float, ranges.samples
        ),
    });
    model.graph = Some(graph);
    Ok((model.encode_to_vec(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint8_parameters_cover_zero_and_the_range() {
        let p = uint8_params(-1.0, 3.0);
        assert!((p.scale - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(p.zero, 64);
        // A range that is all positive still holds zero exactly (zero point 0).
        assert_eq!(uint8_params(0.5, 6.0).zero, 0);
        // A constant zero range gets a usable scale, not 0.
        assert_eq!(
            uint8_params(0.0, 0.0),
            Params {
                scale: 1.0,
                zero: 0
            }
        );
    }

    #[test]
    fn int8_channels_are_symmetric_and_saturate_at_127() {
        let (s, q) = int8_channel(&[-2.0, 1.0, 0.0, 2.0]);
        assert!((s - 2.0 / 127.0).abs() < 1e-7);
        assert_eq!(q, vec![-127, 64, 0, 127]);
        // An all-zero channel: scale 1, values 0 (no division by zero).
        assert_eq!(int8_channel(&[0.0, 0.0]), (1.0, vec![0, 0]));
    }
}
