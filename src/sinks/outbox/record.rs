//! The outbox's bytes on disk: segment files of checksummed records, and the ack file. Kept apart
//! from the outbox's bookkeeping so the reader can be fuzzed and reasoned about on its own.
//!
//! A record is `[seq: u64 LE][len: u32 LE][crc32: u32 LE][payload]`, the CRC covering seq, len and
//! payload. A reader stops at the first record that is short, too large or fails its CRC: what
//! follows a torn write is never trusted.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::{FsyncPolicy, OutboxError, io_err};

/// Bytes of a record's header.
pub(super) const HEADER: usize = 16;
/// Events are small JSON documents; anything larger is a bug or an attack, not an event.
pub const MAX_RECORD: usize = 1 << 20;

/// The bytes of one record.
pub(super) fn encode(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(HEADER + payload.len());
    rec.extend_from_slice(&seq.to_le_bytes());
    rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    rec.extend_from_slice(&crc(seq, payload).to_le_bytes());
    rec.extend_from_slice(payload);
    rec
}

pub(super) fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

fn crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Reads one record; `None` at a clean end, a short tail or a bad CRC.
pub(super) fn read_record(r: &mut impl Read) -> io::Result<Option<(u64, Vec<u8>)>> {
    let mut header = [0u8; HEADER];
    if !read_full(r, &mut header)? {
        return Ok(None);
    }
    let seq = u64::from_le_bytes(header[0..8].try_into().unwrap_or_default());
    let len = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default()) as usize;
    let want = u32::from_le_bytes(header[12..16].try_into().unwrap_or_default());
    if len > MAX_RECORD {
        return Ok(None);
    }
    let mut payload = vec![0u8; len];
    if !read_full(r, &mut payload)? || crc(seq, &payload) != want {
        return Ok(None);
    }
    Ok(Some((seq, payload)))
}

/// Fills `buf`; false if the stream ended first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

pub(super) struct Scan {
    pub(super) last_seq: Option<u64>,
    pub(super) valid_bytes: u64,
    pub(super) file_bytes: u64,
}

pub(super) fn scan_segment(path: &Path) -> Result<Scan, OutboxError> {
    let f = File::open(path).map_err(io_err(path))?;
    let file_bytes = f.metadata().map_err(io_err(path))?.len();
    let mut r = BufReader::new(f);
    let (mut last_seq, mut valid_bytes) = (None, 0u64);
    while let Some((seq, payload)) = read_record(&mut r).map_err(io_err(path))? {
        last_seq = Some(seq);
        valid_bytes += (HEADER + payload.len()) as u64;
    }
    Ok(Scan {
        last_seq,
        valid_bytes,
        file_bytes,
    })
}

/// Byte offset of the first record with seq > `acked` in a segment.
pub(super) fn offset_after(path: &Path, acked: u64) -> Result<u64, OutboxError> {
    let f = File::open(path).map_err(io_err(path))?;
    let mut r = BufReader::new(f);
    let mut offset = 0u64;
    while let Some((seq, payload)) = read_record(&mut r).map_err(io_err(path))? {
        if seq > acked {
            break;
        }
        offset += (HEADER + payload.len()) as u64;
    }
    Ok(offset)
}

pub(super) fn read_ack(dir: &Path) -> Result<u64, OutboxError> {
    let path = dir.join("ack");
    match fs::read(&path) {
        Ok(b) if b.len() == 12 => {
            let seq = u64::from_le_bytes(b[0..8].try_into().unwrap_or_default());
            let want = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
            if crc(seq, &[]) == want {
                Ok(seq)
            } else {
                tracing::warn!(path = %path.display(), "outbox ack file corrupt: redelivering from the start");
                Ok(0)
            }
        }
        Ok(_) => Ok(0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Replaces the ack file atomically (write a temporary file, then rename over).
pub(super) fn write_ack(dir: &Path, seq: u64, fsync: FsyncPolicy) -> Result<(), OutboxError> {
    let tmp = dir.join("ack.tmp");
    let mut bytes = seq.to_le_bytes().to_vec();
    bytes.extend_from_slice(&crc(seq, &[]).to_le_bytes());
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        if fsync == FsyncPolicy::Always {
            f.sync_data().map_err(io_err(&tmp))?;
        }
    }
    fs::rename(&tmp, dir.join("ack")).map_err(io_err(dir))
}
