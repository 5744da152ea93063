//! Snapshots: a redacted frame as JPEG, written so that a file is either complete or absent.

use std::io::Write;
use std::path::Path;

use super::PrivacyError;

/// Encodes a tightly packed RGBA picture as JPEG (alpha dropped).
pub fn encode_jpeg(
    rgba: &[u8],
    width: u32,
    height: u32,
    quality: u8,
) -> Result<Vec<u8>, PrivacyError> {
    let n = width as usize * height as usize;
    if rgba.len() < n * 4 {
        return Err(PrivacyError::Frame(format!(
            "{width}x{height} RGBA needs {} bytes, got {}",
            n * 4,
            rgba.len()
        )));
    }
    let rgb: Vec<u8> = rgba[..n * 4]
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::with_capacity(n / 4);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode(&rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| PrivacyError::Encode(e.to_string()))?;
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, creating
/// the folder if needed: readers never see half a picture.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PrivacyError> {
    let io = |source| PrivacyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_round_trip_keeps_the_picture() {
        let (w, h) = (32u32, 16u32);
        let mut rgba = vec![0u8; (w * h * 4) as usize];
        for (i, p) in rgba.chunks_exact_mut(4).enumerate() {
            let x = (i as u32 % w) as u8;
            p.copy_from_slice(&[x * 8, 100, 200, 255]);
        }
        let jpeg = encode_jpeg(&rgba, w, h, 95).unwrap();
        assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff]);
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (w, h));
        let px = back.get_pixel(20, 8);
        assert!((i32::from(px[0]) - 160).abs() < 12, "{px:?}");
        assert!(encode_jpeg(&rgba[..10], w, h, 90).is_err());
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cam/x.jpg");
        write_atomic(&p, b"abc").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cam"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }
}
