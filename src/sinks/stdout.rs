//! The `stdout` sink: events as they happen, for people (or as JSON lines for pipes).

use std::io::Write;

use crate::events::{Event, EventKind, ObjectChange};

use super::config::StdoutFormat;

/// One readable line for an event, e.g.
/// `12:04:31 vtest  line_crossed  person #12  footpath a_to_b (a_to_b 3, b_to_a 1)`.
pub fn human_line(e: &Event) -> String {
    let clock = e.time.get(11..19).unwrap_or(&e.time);
    let who = match e.track_id {
        Some(t) => format!("{} #{t}", e.label),
        None => e.label.clone(),
    };
    let score = e
        .score
        .map(|s| format!(" {:.0}%", s * 100.0))
        .unwrap_or_default();
    let what = match &e.kind {
        EventKind::Object { change, after, .. } => {
            let change = match change {
                ObjectChange::New => "new",
                ObjectChange::Update => "update",
                ObjectChange::End => "end",
            };
            let zones = if after.current_zones.is_empty() {
                String::new()
            } else {
                format!(" in {}", after.current_zones.join(","))
            };
            format!("{change}{zones}")
        }
        EventKind::ZoneEnter { zone } => format!("entered {zone}"),
        EventKind::ZoneExit {
            zone,
            duration_seconds,
        } => match duration_seconds {
            Some(d) => format!("left {zone} after {d:.1} s"),
            None => format!("left {zone}"),
        },
        EventKind::LineCrossed {
            line,
            direction,
            counts,
        } => format!(
            "crossed {line} {} (a_to_b {}, b_to_a {})",
            direction.name(),
            counts.a_to_b,
            counts.b_to_a
        ),
        EventKind::Loitering {
            zone,
            duration_seconds,
        } => {
            format!("loitering in {zone} for {duration_seconds:.1} s")
        }
        EventKind::Occupancy {
            zone,
            count,
            previous,
            ..
        } => format!("{zone}: {count} (was {previous})"),
    };
    format!(
        "{clock} {:<10} {:<12} {who}{score}  {what}",
        e.camera,
        e.kind.name()
    )
}

/// Writes events to standard output.
pub struct StdoutSink {
    format: StdoutFormat,
}

impl StdoutSink {
    /// A stdout sink in `format`.
    pub fn new(format: StdoutFormat) -> Self {
        Self { format }
    }

    /// Prints one event; returns the bytes written.
    pub fn write(&mut self, e: &Event) -> std::io::Result<usize> {
        let line = match self.format {
            StdoutFormat::Human => human_line(e),
            StdoutFormat::Json => serde_json::to_string(e).map_err(std::io::Error::other)?,
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(line.len() + 1)
    }
}
