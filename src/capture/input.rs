//! What a file given as input is, decided from its first bytes before any decoder sees it: a
//! picture lookout decodes (PNG, JPEG: bounded in size and memory), a picture format it does not
//! (a clear error at once, not a video decoder spinning on a GIF), a directory, or, for anything
//! else, a video for GStreamer.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest picture side lookout decodes, in pixels.
pub const MAX_PICTURE_SIDE: u32 = 8192;
/// Most memory a picture decoder may allocate.
pub const MAX_PICTURE_BYTES: u64 = 512 << 20;

/// Why an input file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: is a directory, not a picture or video file", path.display())]
    Directory { path: PathBuf },
    #[error(
        "{}: is a {format} picture, which lookout does not read: convert it to PNG or JPEG",
        path.display()
    )]
    UnsupportedPicture { path: PathBuf, format: String },
    #[error("{}: cannot decode the picture: {message}", path.display())]
    Decode { path: PathBuf, message: String },
}

/// What a file is, by its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A picture lookout decodes (PNG or JPEG).
    Picture(&'static str),
    /// A picture in a format lookout does not decode (GIF, WebP, BMP, TIFF, ...).
    OtherPicture(String),
    /// Anything else: left to GStreamer's video decoders.
    Video,
}

/// A file input, read.
#[derive(Debug)]
pub enum FileInput {
    /// A decoded picture.
    Picture(image::RgbaImage),
    /// A video file, to decode frame by frame.
    Video,
}

/// Classifies `path` by its first bytes (the name does not count: a GIF called `.png` is a GIF).
pub fn sniff(path: &Path) -> Result<Kind, InputError> {
    let read = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        return Err(InputError::Directory {
            path: path.to_path_buf(),
        });
    }
    let mut head = [0u8; 64];
    let mut file = std::fs::File::open(path).map_err(read)?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).map_err(read)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(match image::guess_format(&head[..n]) {
        Ok(image::ImageFormat::Png) => Kind::Picture("PNG"),
        Ok(image::ImageFormat::Jpeg) => Kind::Picture("JPEG"),
        Ok(other) => Kind::OtherPicture(format!("{other:?}").to_uppercase()),
        Err(_) => Kind::Video,
    })
}

/// [`sniff`], with picture formats lookout does not decode turned into their error: what a
/// command checks of each input before it loads a model.
pub fn check(path: &Path) -> Result<Kind, InputError> {
    match sniff(path)? {
        Kind::OtherPicture(format) => Err(InputError::UnsupportedPicture {
            path: path.to_path_buf(),
            format,
        }),
        kind => Ok(kind),
    }
}

/// Reads `path`: a PNG or JPEG picture is decoded (within [`MAX_PICTURE_SIDE`] and
/// [`MAX_PICTURE_BYTES`]); another picture format is an error; anything else is a video.
pub fn open(path: &Path) -> Result<FileInput, InputError> {
    match check(path)? {
        Kind::Picture(_) => decode(path).map(FileInput::Picture),
        _ => Ok(FileInput::Video),
    }
}

fn decode(path: &Path) -> Result<image::RgbaImage, InputError> {
    let bytes = std::fs::read(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode_bytes(&bytes).map_err(|message| InputError::Decode {
        path: path.to_path_buf(),
        message,
    })
}

/// Decodes a PNG or JPEG held in memory, within [`MAX_PICTURE_SIDE`] and [`MAX_PICTURE_BYTES`];
/// any other bytes are an error (the decoder's message).
pub fn decode_bytes(bytes: &[u8]) -> Result<image::RgbaImage, String> {
    let format = image::guess_format(bytes).map_err(|e| e.to_string())?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(format!("{format:?} pictures are not decoded"));
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(MAX_PICTURE_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    Ok(img.to_rgba8())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

    #[test]
    fn pictures_are_told_by_their_bytes_not_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("not-a.png");
        std::fs::write(&fake, GIF).unwrap();
        assert_eq!(sniff(&fake).unwrap(), Kind::OtherPicture("GIF".into()));
        let e = open(&fake).unwrap_err();
        assert!(e.to_string().contains("is a GIF picture"), "{e}");
        let video = dir.path().join("v.avi");
        std::fs::write(&video, b"RIFF\x00\x00\x00\x00AVI LIST").unwrap();
        assert_eq!(sniff(&video).unwrap(), Kind::Video);
        assert!(matches!(
            open(dir.path()),
            Err(InputError::Directory { .. })
        ));
        let astronaut =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/footage/astronaut.png");
        assert!(matches!(open(&astronaut), Ok(FileInput::Picture(p)) if p.width() == 512));
    }

    #[test]
    fn a_huge_picture_is_refused_before_it_is_allocated() {
        // A valid PNG header claiming 100000 x 100000 pixels, and nothing else.
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0]);
        let crc = crc32fast::hash(&png[12..]);
        png.extend_from_slice(&crc.to_be_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.png");
        std::fs::write(&path, &png).unwrap();
        let e = open(&path).unwrap_err();
        assert!(matches!(e, InputError::Decode { .. }), "{e}");
    }
}
