//! One ONNX node -> IR nodes or constants: the dispatch table from ONNX op type to converter,
//! one file per op family (attribute parsing, shape inference, folding on constants).

mod activation;
mod binary;
mod constant;
mod conv;
mod ctx;
mod matmul;
mod pool;
mod quant;
mod reduce;
mod reshape;
mod resize;
mod slice;
mod window;

use super::BinOp;
use super::build::Builder;
use crate::infer::InferError;
use crate::infer::onnx::Attrs;
use crate::infer::onnx::proto::NodeProto;
use ctx::Ctx;

/// A converter: reads the node through its context and adds IR nodes or constants.
type Convert = fn(&mut Builder<'_>, &Ctx<'_>) -> Result<(), InferError>;

/// The converter of each supported ONNX op type (default domain), or `None`.
fn converter(op: &str) -> Option<Convert> {
    Some(match op {
        "Identity" | "Dropout" => reshape::identity,
        "Constant" => constant::constant,
        "Conv" => conv::conv,
        "ConvTranspose" => conv::conv_transpose,
        "BatchNormalization" => binary::batch_norm,
        "MaxPool" | "AveragePool" => pool::pool,
        "GlobalAveragePool" | "GlobalMaxPool" => pool::global_pool,
        "Resize" | "Upsample" => resize::resize,
        "Relu" | "Sigmoid" | "Tanh" | "Exp" | "Neg" | "Abs" | "Sqrt" | "LeakyRelu"
        | "HardSigmoid" | "HardSwish" | "Clip" => activation::unary,
        "Add" => |b, cx| binary::binary_node(b, cx, BinOp::Add),
        "Sub" => |b, cx| binary::binary_node(b, cx, BinOp::Sub),
        "Mul" => |b, cx| binary::binary_node(b, cx, BinOp::Mul),
        "Div" => |b, cx| binary::binary_node(b, cx, BinOp::Div),
        "Pow" => |b, cx| binary::binary_node(b, cx, BinOp::Pow),
        "Max" => |b, cx| binary::variadic(b, cx, BinOp::Max),
        "Min" => |b, cx| binary::variadic(b, cx, BinOp::Min),
        "Sum" => |b, cx| binary::variadic(b, cx, BinOp::Add),
        "Concat" => slice::concat,
        "Split" => slice::split,
        "Slice" => slice::slice,
        "Pad" => slice::pad,
        "Transpose" => reshape::transpose,
        "Reshape" => reshape::reshape,
        "Flatten" => reshape::flatten,
        "Squeeze" | "Unsqueeze" => reshape::squeeze,
        "Softmax" => reduce::softmax,
        "ReduceMean" => reduce::reduce_mean,
        "QuantizeLinear" => quant::quantize,
        "DequantizeLinear" => quant::dequantize,
        "MatMul" => matmul::matmul,
        "Gemm" => matmul::gemm,
        "Shape" => constant::shape,
        "Size" => constant::size,
        "Cast" => constant::cast,
        "Gather" | "Range" | "ConstantOfShape" | "Expand" | "Equal" | "Where" | "Floor"
        | "Ceil" | "ReduceProd" | "Not" | "Less" | "Greater" => constant::const_only,
        _ => return None,
    })
}

/// Converts one node, adding its outputs to the builder.
pub(super) fn convert_node(b: &mut Builder<'_>, node: &NodeProto) -> Result<(), InferError> {
    let mut cx = Ctx {
        node,
        attrs: Attrs::new(node),
        opset: b.model.opset,
        ins: Vec::with_capacity(node.input.len()),
    };
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return Err(cx.unsupported(format!("operator domain {:?}", node.domain)));
    }
    if cx.attrs.has_graph() {
        return Err(cx.unsupported("sub-graphs (control flow) are not supported"));
    }
    if node.output.is_empty() {
        return Err(cx.shape_err("node has no outputs"));
    }
    // Inputs: "" means an omitted optional input.
    for name in &node.input {
        cx.ins.push(if name.is_empty() {
            None
        } else {
            Some(b.value(name)?)
        });
    }
    let convert =
        converter(&node.op_type).ok_or_else(|| cx.unsupported("operator not implemented"))?;
    convert(b, &cx)
}
