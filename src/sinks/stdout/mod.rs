//! The `stdout` sink: events as they happen, for people (the event's `Display` line) or as JSON
//! lines for pipes.

pub mod config;

use std::io::Write;

use crate::events::Event;

use config::StdoutFormat;

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
            StdoutFormat::Human => e.to_string(),
            StdoutFormat::Json => serde_json::to_string(e).map_err(std::io::Error::other)?,
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(line.len() + 1)
    }
}
