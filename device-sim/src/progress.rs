//! Live progress on the terminal (indicatif): phase, connections, reply rate, errors and losses,
//! refreshed each second. Hidden when stderr is not a terminal or the output is JSON.

use crate::report::group_digits;
use crate::runner::{Observer, Phase};
use crate::stats::Snapshot;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// The live progress line.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    last: Option<(Duration, u64)>,
}

impl Progress {
    /// A progress bar over `total` (ramp-up plus duration), shown only when `enabled`.
    pub fn new(enabled: bool, total: Duration) -> Progress {
        let bar = enabled.then(|| {
            let bar = ProgressBar::new(total.as_secs().max(1));
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:24}] {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress { bar, last: None }
    }

    /// Removes the bar before the report is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn tick(&mut self, elapsed: Duration, phase: Phase, groups: &[Snapshot]) {
        let Some(bar) = &self.bar else {
            return;
        };
        let mut sum = Snapshot::default();
        for g in groups {
            sum.add(g);
        }
        let c = &sum.counts;
        let rate = match self.last {
            Some((t, received)) if elapsed > t => {
                (c.received.saturating_sub(received)) as f64 / (elapsed - t).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((elapsed, c.received));
        bar.set_position(elapsed.as_secs());
        bar.set_message(format!(
            "{} | {} connected | {} replies/s | {} connect errors | {} drops | lost {} dup {} ooo {} bad {}",
            phase.name(),
            group_digits(sum.connected),
            group_digits(rate.round() as u64),
            group_digits(sum.connect_errors),
            group_digits(sum.disconnects),
            group_digits(c.lost() + c.lost_in_disconnect),
            group_digits(c.duplicated),
            group_digits(c.out_of_order),
            group_digits(c.corrupted),
        ));
    }
}
