//! Sandbox garbage collection. A finished executor's sandbox and run metadata are deleted
//! `--gc_delay` after it ended, or sooner when the disk fills: every
//! `--disk_watch_interval` the agent keeps only what is younger than
//! `gc_delay × max(0, 1 − gc_disk_headroom − disk usage)`, as Mesos does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A path to delete once its time comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// When its executor ended.
    pub ended: Instant,
    pub path: PathBuf,
}

/// The longest a finished sandbox may be kept at disk usage `usage` (0 to 1).
pub fn max_allowed_age(gc_delay: Duration, headroom: f64, usage: f64) -> Duration {
    let factor = (1.0 - headroom - usage).clamp(0.0, 1.0);
    gc_delay.mul_f64(factor)
}

/// Splits `scheduled` into what is due (older than `max_age` at `now`) and what is kept.
pub fn due(
    scheduled: Vec<Scheduled>,
    now: Instant,
    max_age: Duration,
) -> (Vec<Scheduled>, Vec<Scheduled>) {
    scheduled
        .into_iter()
        .partition(|s| now.saturating_duration_since(s.ended) >= max_age)
}

/// The used fraction of the filesystem holding `path`.
pub fn disk_usage(path: &Path) -> std::io::Result<f64> {
    let stats = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let blocks = stats.blocks() as f64;
    if blocks == 0.0 {
        return Ok(0.0);
    }
    Ok((blocks - stats.blocks_free() as f64) / blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    #[test]
    fn a_fuller_disk_keeps_sandboxes_for_less_time() {
        assert_eq!(max_allowed_age(WEEK, 0.1, 0.0), WEEK.mul_f64(0.9));
        assert_eq!(max_allowed_age(WEEK, 0.1, 0.5), WEEK.mul_f64(0.4));
        assert_eq!(max_allowed_age(WEEK, 0.1, 0.95), Duration::ZERO);
        assert_eq!(max_allowed_age(WEEK, 0.0, 0.0), WEEK);
    }

    #[test]
    fn only_entries_older_than_the_allowed_age_are_due() {
        let now = Instant::now() + Duration::from_secs(1000);
        let at = |ago: u64| Scheduled {
            ended: now - Duration::from_secs(ago),
            path: PathBuf::from(format!("/x/{ago}")),
        };
        let (gone, kept) = due(
            vec![at(10), at(500), at(900)],
            now,
            Duration::from_secs(500),
        );
        assert_eq!(gone, vec![at(500), at(900)]);
        assert_eq!(kept, vec![at(10)]);
    }

    #[test]
    fn usage_of_a_real_filesystem_is_a_fraction() {
        let usage = disk_usage(Path::new("/")).unwrap();
        assert!((0.0..=1.0).contains(&usage), "{usage}");
    }
}
