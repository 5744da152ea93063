//! Looking up model outputs by name and checking their shapes, shared by every decoder.

use crate::infer::{NamedTensor, Tensor};

use super::DetectError;

/// The output called `name`, or an error that lists the outputs the model does have.
pub(crate) fn find<'a>(outputs: &'a [NamedTensor], name: &str) -> Result<&'a Tensor, DetectError> {
    outputs
        .iter()
        .find(|o| o.name == name)
        .map(|o| &o.tensor)
        .ok_or_else(|| DetectError::MissingOutput {
            name: name.to_string(),
            available: outputs
                .iter()
                .map(|o| format!("`{}`", o.name))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The output called `name`, checked against `expected` (`None` = any size) after dropping
/// leading dimensions of size 1 beyond the expected rank, and with data matching its shape.
///
/// Returns the dimensions that matched, so `[1, 896, 16]` and `[896, 16]` both read as `[896, 16]`
/// when `expected` is `[None, Some(16)]`.
pub(crate) fn shaped<'a>(
    decoder: &'static str,
    outputs: &'a [NamedTensor],
    name: &str,
    expected: &[Option<usize>],
) -> Result<(&'a Tensor, Vec<usize>), DetectError> {
    let t = find(outputs, name)?;
    let mut dims: &[usize] = &t.shape;
    while dims.len() > expected.len() && dims[0] == 1 {
        dims = &dims[1..];
    }
    let fits = dims.len() == expected.len()
        && dims
            .iter()
            .zip(expected)
            .all(|(d, e)| e.is_none_or(|e| e == *d))
        && dims.iter().product::<usize>() == t.data.len();
    if !fits {
        let want = expected
            .iter()
            .map(|e| e.map_or("N".to_string(), |v| v.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(DetectError::Shape {
            decoder,
            name: name.to_string(),
            expected: format!("[1, {want}]"),
            actual: t.shape.clone(),
        });
    }
    Ok((t, dims.to_vec()))
}

/// Logistic function, for models that output logits.
#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(name: &str, shape: Vec<usize>) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            tensor: Tensor::zeros(shape),
        }
    }

    #[test]
    fn drops_leading_ones_and_checks_sizes() {
        let o = [out("a", vec![1, 1, 7, 16])];
        let (_, dims) = shaped("t", &o, "a", &[None, Some(16)]).unwrap();
        assert_eq!(dims, vec![7, 16]);
        let err = shaped("t", &o, "a", &[None, Some(15)]).unwrap_err();
        assert!(err.to_string().contains("[1, N, 15]"), "{err}");
    }

    #[test]
    fn missing_output_lists_the_real_ones() {
        let o = [out("x", vec![1]), out("y", vec![1])];
        let err = find(&o, "z").unwrap_err().to_string();
        assert!(err.contains("`z`") && err.contains("`x`, `y`"), "{err}");
    }
}
