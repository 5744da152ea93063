//! A durable, bounded, append-only outbox: network sinks write events here first and acknowledge
//! them once delivered, so broker outages and process crashes lose nothing (delivery is at least
//! once; event ids make duplicates detectable).
//!
//! On disk: a folder of segment files `<first seq>.seg`, each a run of records
//! `[seq: u64 LE][len: u32 LE][crc32: u32 LE][payload]` (the CRC covers seq, len and payload), plus
//! an `ack` file with the highest acknowledged seq. Records are delivered in order, so the ack is a
//! prefix. A torn record at the end of the newest segment (a crash mid-write) is cut off at open.
//!
//! Acknowledgements reach the disk at once with `fsync: always`; otherwise at most every
//! [`ACK_EVERY`] while deliveries flow, and as soon as the reader has caught up
//! ([`Outbox::flush_ack`]): writing the `ack` file for every event would cost more than
//! delivering it. After a crash, the deliveries of that last moment are handed out again, which
//! at-least-once delivery with stable ids allows.
//!
//! Size policy: when the outbox exceeds `max_bytes`, its oldest segment of undelivered events is
//! dropped, and every event dropped that way is counted; nothing is lost silently.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod record;

pub use record::MAX_RECORD;
use record::{HEADER, offset_after, read_ack, read_record, scan_segment, segment_path, write_ack};

/// Errors of the outbox; all name the folder or file involved.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("outbox record of {0} bytes is larger than the {MAX_RECORD}-byte limit")]
    TooLarge(usize),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Longest a delivery acknowledged in memory waits before the `ack` file says so (without
/// `fsync: always`).
pub const ACK_EVERY: Duration = Duration::from_millis(50);

/// When appended records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// fsync after every record: survives power loss, costs a disk flush per event.
    Always,
    /// Leave flushing to the OS: survives process crashes (SIGKILL), not power loss.
    #[default]
    Never,
}

/// Limits of an outbox.
#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    /// Total bytes of undelivered records kept on disk.
    pub max_bytes: u64,
    /// Segment size; smaller segments make the drop-oldest policy finer-grained.
    pub segment_bytes: u64,
    pub fsync: FsyncPolicy,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            segment_bytes: 4 << 20,
            fsync: FsyncPolicy::Never,
        }
    }
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    last_seq: u64,
    path: PathBuf,
    bytes: u64,
}

/// Where the reader is: a segment (by first seq) and a byte offset in it.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    segment_first: u64,
    offset: u64,
}

/// What opening an outbox found, for logs and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Undelivered records found on disk (delivered again after a restart).
    pub pending: u64,
    /// Bytes cut off the newest segment because its last record was torn.
    pub truncated_bytes: u64,
    /// Records lost to corruption inside older segments.
    pub corrupt_records: u64,
}

/// A durable FIFO of byte records with acknowledgements.
pub struct Outbox {
    dir: PathBuf,
    limits: OutboxLimits,
    segments: VecDeque<Segment>,
    writer: Option<BufWriter<File>>,
    next_seq: u64,
    acked: u64,
    /// What the `ack` file says, and when it was last brought up to date.
    acked_on_disk: u64,
    ack_written: Instant,
    read: Cursor,
    reader: Option<(u64, BufReader<File>)>,
    /// Records dropped by the size policy since open.
    dropped: u64,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, recovering what a previous run left undelivered.
    pub fn open(dir: &Path, limits: OutboxLimits) -> Result<(Self, Recovery), OutboxError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let limits = OutboxLimits {
            segment_bytes: limits
                .segment_bytes
                .clamp(4096, (limits.max_bytes / 4).max(4096)),
            ..limits
        };
        let acked = read_ack(dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse::<u64>().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut recovery = Recovery::default();
        let mut segments = VecDeque::new();
        let count = firsts.len();
        for (i, first) in firsts.into_iter().enumerate() {
            let path = segment_path(dir, first);
            let scan = scan_segment(&path)?;
            if scan.valid_bytes < scan.file_bytes {
                if i + 1 == count {
                    // A torn tail from a crash mid-append: cut it off.
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io_err(&path))?;
                    f.set_len(scan.valid_bytes).map_err(io_err(&path))?;
                    recovery.truncated_bytes += scan.file_bytes - scan.valid_bytes;
                } else {
                    recovery.corrupt_records += 1;
                    tracing::warn!(path = %path.display(), "outbox segment corrupt after byte {}", scan.valid_bytes);
                }
            }
            match scan.last_seq {
                Some(last) if last > acked => segments.push_back(Segment {
                    first_seq: first,
                    last_seq: last,
                    path,
                    bytes: scan.valid_bytes,
                }),
                _ => fs::remove_file(&path).map_err(io_err(&path))?,
            }
        }
        let next_seq = segments
            .back()
            .map(|s| s.last_seq + 1)
            .unwrap_or(acked + 1)
            .max(acked + 1);
        let read = match segments.front() {
            Some(s) => Cursor {
                segment_first: s.first_seq,
                offset: offset_after(&s.path, acked)?,
            },
            None => Cursor {
                segment_first: next_seq,
                offset: 0,
            },
        };
        recovery.pending = next_seq - 1 - acked;
        let outbox = Outbox {
            dir: dir.to_path_buf(),
            limits,
            segments,
            writer: None,
            next_seq,
            acked,
            acked_on_disk: acked,
            ack_written: Instant::now(),
            read,
            reader: None,
            dropped: 0,
        };
        Ok((outbox, recovery))
    }

    /// Appends a record and returns its sequence number. May drop the oldest undelivered segment
    /// to stay within `max_bytes`; see [`Outbox::dropped`].
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, OutboxError> {
        if payload.len() > MAX_RECORD {
            return Err(OutboxError::TooLarge(payload.len()));
        }
        let need_new = match self.segments.back() {
            Some(s) => s.bytes >= self.limits.segment_bytes || self.writer.is_none(),
            None => true,
        };
        if need_new {
            self.start_segment()?;
        }
        let seq = self.next_seq;
        let rec = record::encode(seq, payload);
        let seg = self
            .segments
            .back_mut()
            .expect("a segment was just ensured");
        let path = seg.path.clone();
        let w = self.writer.as_mut().expect("a writer was just ensured");
        w.write_all(&rec).map_err(io_err(&path))?;
        w.flush().map_err(io_err(&path))?;
        if self.limits.fsync == FsyncPolicy::Always {
            w.get_ref().sync_data().map_err(io_err(&path))?;
        }
        seg.bytes += rec.len() as u64;
        seg.last_seq = seq;
        self.next_seq += 1;
        self.enforce_size()?;
        Ok(seq)
    }

    fn start_segment(&mut self) -> Result<(), OutboxError> {
        // Continue the newest segment after a restart if it still has room.
        if let Some(s) = self.segments.back()
            && self.writer.is_none()
            && s.bytes < self.limits.segment_bytes
        {
            let f = OpenOptions::new()
                .append(true)
                .open(&s.path)
                .map_err(io_err(&s.path))?;
            self.writer = Some(BufWriter::new(f));
            return Ok(());
        }
        if let Some(w) = self.writer.as_mut() {
            w.flush().map_err(io_err(&self.dir))?;
            w.get_ref().sync_data().map_err(io_err(&self.dir))?;
        }
        let first = self.next_seq;
        let path = segment_path(&self.dir, first);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        self.writer = Some(BufWriter::new(f));
        self.segments.push_back(Segment {
            first_seq: first,
            last_seq: first - 1,
            path,
            bytes: 0,
        });
        if self.segments.len() == 1 {
            self.read = Cursor {
                segment_first: first,
                offset: 0,
            };
        }
        Ok(())
    }

    fn enforce_size(&mut self) -> Result<(), OutboxError> {
        while self.bytes() > self.limits.max_bytes && self.segments.len() > 1 {
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            let lost = old
                .last_seq
                .saturating_sub(self.acked.max(old.first_seq - 1));
            self.dropped += lost;
            tracing::warn!(outbox = %self.dir.display(), lost, "outbox full: dropped its oldest undelivered events");
            fs::remove_file(&old.path).map_err(io_err(&old.path))?;
            self.acked = self.acked.max(old.last_seq);
            self.flush_ack()?;
            if self.read.segment_first <= old.first_seq {
                let next = self
                    .segments
                    .front()
                    .map(|s| s.first_seq)
                    .unwrap_or(self.next_seq);
                self.read = Cursor {
                    segment_first: next,
                    offset: 0,
                };
                self.reader = None;
            }
        }
        Ok(())
    }

    /// The next record not yet handed out (in seq order), or `None` when the reader has caught up.
    /// Records stay in the outbox until [`Outbox::ack`]; after a restart they are handed out again.
    pub fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, OutboxError> {
        loop {
            let Some(idx) = self
                .segments
                .iter()
                .position(|s| s.first_seq == self.read.segment_first)
            else {
                return Ok(None);
            };
            let seg_bytes = self.segments[idx].bytes;
            if self.read.offset >= seg_bytes {
                match self.segments.get(idx + 1) {
                    Some(next) => {
                        self.read = Cursor {
                            segment_first: next.first_seq,
                            offset: 0,
                        };
                        self.reader = None;
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            if let Some(w) = self.writer.as_mut() {
                w.flush().map_err(io_err(&self.dir))?;
            }
            let path = self.segments[idx].path.clone();
            let reader = match &mut self.reader {
                Some((first, r)) if *first == self.read.segment_first => r,
                _ => {
                    let mut f = File::open(&path).map_err(io_err(&path))?;
                    f.seek(SeekFrom::Start(self.read.offset))
                        .map_err(io_err(&path))?;
                    &mut self
                        .reader
                        .insert((self.read.segment_first, BufReader::new(f)))
                        .1
                }
            };
            match read_record(reader).map_err(io_err(&path))? {
                Some((seq, payload)) => {
                    self.read.offset += (HEADER + payload.len()) as u64;
                    return Ok(Some((seq, payload)));
                }
                None => {
                    // The rest of this segment is unreadable: skip to the next one.
                    self.read.offset = seg_bytes;
                    self.reader = None;
                }
            }
        }
    }

    /// Marks every record up to `seq` as delivered; whole delivered segments are deleted. The
    /// `ack` file follows at once with `fsync: always` or when a segment goes, else within
    /// [`ACK_EVERY`] or at the next [`Outbox::flush_ack`].
    pub fn ack(&mut self, seq: u64) -> Result<(), OutboxError> {
        if seq <= self.acked {
            return Ok(());
        }
        self.acked = seq.min(self.next_seq - 1);
        let deletes = self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.last_seq <= self.acked);
        if self.limits.fsync == FsyncPolicy::Always
            || deletes
            || self.ack_written.elapsed() >= ACK_EVERY
        {
            self.flush_ack()?;
        }
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.last_seq <= self.acked)
        {
            if let Some(old) = self.segments.pop_front() {
                fs::remove_file(&old.path).map_err(io_err(&old.path))?;
                // Every record of it was handed out: a reader still at its end goes on with the
                // next segment.
                if self.read.segment_first == old.first_seq {
                    self.read = Cursor {
                        segment_first: self
                            .segments
                            .front()
                            .map(|s| s.first_seq)
                            .unwrap_or(self.next_seq),
                        offset: 0,
                    };
                    self.reader = None;
                }
            }
        }
        Ok(())
    }

    /// Brings the `ack` file up to date with what was acknowledged (once the reader has caught
    /// up, and before closing).
    pub fn flush_ack(&mut self) -> Result<(), OutboxError> {
        if self.acked != self.acked_on_disk {
            write_ack(&self.dir, self.acked, self.limits.fsync)?;
            self.acked_on_disk = self.acked;
        }
        self.ack_written = Instant::now();
        Ok(())
    }

    /// Records appended but not yet acknowledged.
    pub fn depth(&self) -> u64 {
        self.next_seq - 1 - self.acked
    }

    /// Bytes on disk of segments that still hold undelivered records.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Records dropped by the size policy since this outbox was opened.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The folder this outbox lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if let Err(e) = self.flush_ack() {
            tracing::error!(error = %e, "cannot record deliveries in the outbox (they may be sent again)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: u64, seg: u64) -> OutboxLimits {
        OutboxLimits {
            max_bytes: max,
            segment_bytes: seg,
            fsync: FsyncPolicy::Never,
        }
    }

    fn drain(o: &mut Outbox) -> Vec<(u64, Vec<u8>)> {
        std::iter::from_fn(|| o.next_record().unwrap()).collect()
    }

    #[test]
    fn records_come_back_in_order_and_acks_persist() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, rec) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert_eq!(rec, Recovery::default());
        for i in 0..10 {
            assert_eq!(o.append(format!("event {i}").as_bytes()).unwrap(), i + 1);
        }
        let got = drain(&mut o);
        assert_eq!(got.len(), 10);
        assert_eq!(got[3], (4, b"event 3".to_vec()));
        o.ack(6).unwrap();
        assert_eq!(o.depth(), 4);
        drop(o);
        // After a restart, only the unacknowledged ones are handed out again.
        let (mut o, rec) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert_eq!(rec.pending, 4);
        let again: Vec<u64> = drain(&mut o).into_iter().map(|r| r.0).collect();
        assert_eq!(again, vec![7, 8, 9, 10]);
        assert_eq!(o.append(b"next").unwrap(), 11);
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        o.append(b"one").unwrap();
        o.append(b"two").unwrap();
        drop(o);
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .unwrap()
            .path();
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        let (mut o, rec) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert_eq!(rec.truncated_bytes, (HEADER + 3 - 2) as u64);
        assert_eq!(drain(&mut o), vec![(1, b"one".to_vec())]);
        assert_eq!(o.append(b"three").unwrap(), 2);
        assert_eq!(drain(&mut o), vec![(2, b"three".to_vec())]);
    }

    #[test]
    fn full_outbox_drops_oldest_segment_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) = Outbox::open(dir.path(), limits(16 * 1024, 4096)).unwrap();
        let payload = vec![b'x'; 984]; // 1000 bytes per record with the header
        for _ in 0..40 {
            o.append(&payload).unwrap();
        }
        assert!(o.bytes() <= 16 * 1024, "{} bytes", o.bytes());
        assert!(o.dropped() > 0);
        assert_eq!(
            o.dropped() + o.depth(),
            40,
            "every record is either kept or counted as dropped"
        );
        let first = o.next_record().unwrap().unwrap().0;
        assert_eq!(
            first,
            o.dropped() + 1,
            "delivery resumes right after the dropped ones"
        );
    }

    #[test]
    fn acked_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) = Outbox::open(dir.path(), limits(1 << 20, 4096)).unwrap();
        let payload = vec![b'y'; 984];
        for _ in 0..20 {
            o.append(&payload).unwrap();
        }
        let segs = |d: &Path| {
            fs::read_dir(d)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "seg")
                })
                .count()
        };
        assert!(segs(dir.path()) >= 4);
        drain(&mut o);
        o.ack(20).unwrap();
        assert_eq!(
            segs(dir.path()),
            1,
            "only the segment being written remains"
        );
        assert_eq!(o.depth(), 0);
    }

    #[test]
    fn reading_goes_on_when_the_segment_it_finished_is_deleted() {
        // Under load the writer starts a new segment before the last record of the old one is
        // acknowledged; that acknowledgement deletes the old segment the reader stands at the end of.
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) = Outbox::open(dir.path(), limits(1 << 20, 4096)).unwrap();
        let payload = vec![b'z'; 984];
        for _ in 0..5 {
            o.append(&payload).unwrap();
        }
        assert_eq!(drain(&mut o).len(), 5);
        assert_eq!(
            o.append(&payload).unwrap(),
            6,
            "the first record of a new segment"
        );
        o.ack(5).unwrap();
        assert_eq!(o.next_record().unwrap().map(|r| r.0), Some(6));
        o.ack(6).unwrap();
        assert_eq!(o.depth(), 0);
    }

    #[test]
    fn acks_reach_the_disk_when_caught_up_and_a_crash_hands_out_the_last_moment_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        for i in 0..4 {
            o.append(format!("e{i}").as_bytes()).unwrap();
        }
        drain(&mut o);
        o.flush_ack().unwrap();
        // Within ACK_EVERY of the last write: acknowledged in memory only.
        o.ack(1).unwrap();
        o.ack(2).unwrap();
        assert_eq!(o.depth(), 2);
        std::mem::forget(o); // a crash: no flush
        let (mut o, rec) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert_eq!(rec.pending, 4, "handed out again: at least once");
        drain(&mut o);
        o.ack(2).unwrap();
        o.flush_ack().unwrap();
        std::mem::forget(o);
        let (_, rec) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert_eq!(rec.pending, 2, "a flushed acknowledgement survives a crash");
        // With `fsync: always` every acknowledgement is written at once.
        let dir = tempfile::tempdir().unwrap();
        let always = OutboxLimits {
            fsync: FsyncPolicy::Always,
            ..OutboxLimits::default()
        };
        let (mut o, _) = Outbox::open(dir.path(), always).unwrap();
        o.append(b"a").unwrap();
        o.append(b"b").unwrap();
        drain(&mut o);
        o.flush_ack().unwrap();
        o.ack(1).unwrap();
        std::mem::forget(o);
        let (_, rec) = Outbox::open(dir.path(), always).unwrap();
        assert_eq!(rec.pending, 1);
    }

    #[test]
    fn oversized_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert!(matches!(
            o.append(&vec![0; MAX_RECORD + 1]),
            Err(OutboxError::TooLarge(_))
        ));
    }

    #[test]
    fn unwritable_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let err = Outbox::open(&file.join("outbox"), OutboxLimits::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
