//! Logs go to `<data dir>/logs/spoke.log`, every line passed through the secret redactor.

use std::io::{self, Write};
use std::path::Path;
use tracing_subscriber::{fmt, EnvFilter};

pub const LOG_FILE: &str = "spoke.log";

/// A writer that redacts secrets from each formatted event before it reaches the file.
struct RedactingWriter<W: Write>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(spoke_hubspot::secret::redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Installs the global subscriber. Returns the guard that flushes the file on drop; keep it
/// alive for the life of the app. `SPOKE_LOG` sets the filter (default `info`).
pub fn init(log_dir: &Path) -> tracing_appender::non_blocking::WorkerGuard {
    let appender = tracing_appender::rolling::never(log_dir, LOG_FILE);
    let (writer, guard) = tracing_appender::non_blocking(RedactingWriter(appender));
    let filter = EnvFilter::try_from_env("SPOKE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt().with_env_filter(filter).with_ansi(false).with_writer(writer).try_init();
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_redacted_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        {
            let file = std::fs::File::create(&path).unwrap();
            let mut w = RedactingWriter(file);
            w.write_all(b"exchanging code=AUTHCODE42 with Bearer TOKEN99\n").unwrap();
        }
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(!written.contains("AUTHCODE42") && !written.contains("TOKEN99"), "{written}");
        assert!(written.contains("code=***"), "{written}");
    }
}
