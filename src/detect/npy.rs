//! A minimal reader for NumPy `.npy` files (little-endian f32/f64, C order): enough for anchor tables.

use crate::infer::Tensor;

/// Why a `.npy` file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a .npy file (no \\x93NUMPY magic)")]
    Magic,
    #[error("unsupported .npy version {0}.{1}")]
    Version(u8, u8),
    #[error("truncated header")]
    Truncated,
    #[error("bad header: {0}")]
    Header(String),
    #[error("unsupported dtype `{0}` (need '<f4' or '<f8')")]
    Dtype(String),
    #[error("Fortran-ordered arrays are not supported")]
    FortranOrder,
    #[error("data is {have} bytes, the header's shape {shape:?} needs {need}")]
    Size {
        have: usize,
        need: usize,
        shape: Vec<usize>,
    },
}

/// Reads a `.npy` file into an f32 tensor.
pub fn read(path: &std::path::Path) -> Result<Tensor, NpyError> {
    parse(&std::fs::read(path)?)
}

/// Parses the bytes of a `.npy` file into an f32 tensor (f64 data is narrowed).
pub fn parse(bytes: &[u8]) -> Result<Tensor, NpyError> {
    if bytes.len() < 8 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError::Magic);
    }
    let (major, minor) = (bytes[6], bytes[7]);
    // Little-endian unsigned integer in `bytes[range]`.
    let le = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .map(|b| {
                b.iter()
                    .rev()
                    .fold(0usize, |acc, &x| (acc << 8) | x as usize)
            })
            .ok_or(NpyError::Truncated)
    };
    let (header_len, start) = match major {
        1 => (le(8..10)?, 10),
        2 | 3 => (le(8..12)?, 12),
        _ => return Err(NpyError::Version(major, minor)),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or(NpyError::Truncated)?;
    let header = std::str::from_utf8(header).map_err(|_| NpyError::Header("not UTF-8".into()))?;
    let descr = dict_value(header, "descr")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if dict_value(header, "fortran_order")? != "False" {
        return Err(NpyError::FortranOrder);
    }
    let shape = parse_shape(dict_value(header, "shape")?)?;
    let width = match descr {
        "<f4" => 4,
        "<f8" => 8,
        other => return Err(NpyError::Dtype(other.to_string())),
    };
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NpyError::Header("shape overflows".into()))?;
    let data = &bytes[start + header_len..];
    let need = count
        .checked_mul(width)
        .ok_or_else(|| NpyError::Header("shape overflows".into()))?;
    if data.len() != need {
        return Err(NpyError::Size {
            have: data.len(),
            need,
            shape,
        });
    }
    let values = if width == 4 {
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect()
    };
    Ok(Tensor::new(shape, values))
}

/// The raw text of `'key': value` in the header dict (up to the next top-level comma).
fn dict_value<'a>(header: &'a str, key: &str) -> Result<&'a str, NpyError> {
    let pat = format!("'{key}':");
    let at = header
        .find(&pat)
        .ok_or_else(|| NpyError::Header(format!("no `{key}`")))?;
    let rest = header[at + pat.len()..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else {
        rest.find([',', '}'])
    }
    .ok_or_else(|| NpyError::Header(format!("unterminated `{key}`")))?;
    Ok(rest[..end].trim())
}

/// `(1917, 4)`, `(5,)` or `()` -> dimensions.
fn parse_shape(text: &str) -> Result<Vec<usize>, NpyError> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| NpyError::Header(format!("shape `{text}` is not a tuple")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| NpyError::Header(format!("bad dimension `{s}` in shape {text}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .npy file as NumPy writes it: header padded with spaces to a multiple of 64 bytes.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn reads_f32_and_f64() {
        let data: Vec<u8> = [1.5f32, -2.0, 3.25, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = parse(&npy("<f4", "(3, 2)", &data)).unwrap();
        assert_eq!(t.shape, vec![3, 2]);
        assert_eq!(t.data, vec![1.5, -2.0, 3.25, 4.0, 5.0, 6.0]);
        let data: Vec<u8> = [0.5f64, 7.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = parse(&npy("<f8", "(2,)", &data)).unwrap();
        assert_eq!((t.shape, t.data), (vec![2], vec![0.5, 7.0]));
    }

    #[test]
    fn rejects_bad_files() {
        assert!(matches!(parse(b"PK\x03\x04"), Err(NpyError::Magic)));
        assert!(matches!(
            parse(&npy("<i8", "(1,)", &[0; 8])),
            Err(NpyError::Dtype(_))
        ));
        assert!(matches!(
            parse(&npy("<f4", "(2, 2)", &[0; 12])),
            Err(NpyError::Size { need: 16, .. })
        ));
        let mut f = npy("<f4", "(1,)", &[0; 4]);
        f.truncate(20);
        assert!(matches!(parse(&f), Err(NpyError::Truncated)));
        assert!(matches!(
            parse(&npy("<f4", "(99999999999, 99999999999, 99999999999)", &[])),
            Err(NpyError::Header(_))
        ));
    }

    #[test]
    fn reads_the_shipped_ssd_anchors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/ssdlite-mobilenetv2-person-300.anchors.npy");
        let t = read(&path).unwrap();
        assert_eq!(t.shape, vec![1917, 4]);
        // Normalized corners, ymin < ymax, xmin < xmax.
        for a in t.data.chunks_exact(4) {
            assert!(a[0] < a[2] && a[1] < a[3], "{a:?}");
        }
    }
}
