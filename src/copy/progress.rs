//! The copy's progress on standard error: on a terminal one line per table
//! redrawn with a bar; otherwise (a log, a pipe) a line as each table ends.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::Progress;

const BAR_WIDTH: usize = 30;
/// A terminal line is redrawn at most this often.
const REDRAW: Duration = Duration::from_millis(100);

pub struct Reporter {
    terminal: bool,
    table: String,
    started: Instant,
    drawn: Option<Instant>,
    /// The current table's last line is out.
    finished: bool,
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::new(std::io::stderr().is_terminal())
    }
}

impl Reporter {
    pub fn new(terminal: bool) -> Reporter {
        Reporter {
            terminal,
            table: String::new(),
            started: Instant::now(),
            drawn: None,
            finished: false,
        }
    }

    pub fn report(&mut self, progress: Progress) {
        let mut err = std::io::stderr().lock();
        let line = match progress {
            Progress::Copying {
                table,
                copied,
                total,
            } => {
                if table != self.table {
                    self.table = table.to_string();
                    self.started = Instant::now();
                    self.drawn = None;
                    self.finished = false;
                }
                if self.finished {
                    return;
                }
                let done = copied >= total;
                self.finished = done;
                let due = self.drawn.is_none_or(|at| at.elapsed() >= REDRAW);
                match (self.terminal, done) {
                    (true, true) => format!("\r{}\n", self.line(copied, total)),
                    (true, false) if due => format!("\r{}", self.line(copied, total)),
                    (false, true) => format!("{}\n", self.line(copied, total)),
                    _ => return,
                }
            }
            Progress::Verifying { table } => match self.terminal {
                true => format!("\rverifying {table:<40}"),
                false => return,
            },
        };
        self.drawn = Some(Instant::now());
        // Progress is a courtesy: a closed stderr must not stop the copy.
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }

    fn line(&self, copied: u64, total: u64) -> String {
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            copied as f64 / seconds
        } else {
            0.0
        };
        format!(
            "{:<32} [{}] {copied:>10} / {total:<10} {rate:>9.0} rows/s",
            self.table,
            bar(copied, total)
        )
    }
}

/// `####......` filled in proportion to `copied / total`.
pub fn bar(copied: u64, total: u64) -> String {
    let filled = match total {
        0 => BAR_WIDTH,
        _ => ((copied.min(total) as f64 / total as f64) * BAR_WIDTH as f64).round() as usize,
    };
    format!("{}{}", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion() {
        assert_eq!(bar(0, 10), ".".repeat(30));
        assert_eq!(bar(5, 10), format!("{}{}", "#".repeat(15), ".".repeat(15)));
        assert_eq!(bar(10, 10), "#".repeat(30));
        assert_eq!(bar(0, 0), "#".repeat(30), "an empty table is done");
        assert_eq!(bar(12, 10), "#".repeat(30));
    }
}
