//! The server log: Redis's line format and `loglevel`.
//!
//! Lines go to standard error, which the binary points at `logfile` when one is set
//! (and at /dev/null when it daemonizes without one, as Redis). Each line is
//! `pid:M dd Mon yyyy hh:mm:ss.mmm c message`, in local time, with `c` one of `. - * #`
//! for debug, verbose, notice and warning, as Redis writes them, so tools that read
//! Redis logs read these.

use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};

/// `loglevel debug`.
pub const DEBUG: u8 = 0;
/// `loglevel verbose`.
pub const VERBOSE: u8 = 1;
/// `loglevel notice` (the default).
pub const NOTICE: u8 = 2;
/// `loglevel warning`.
pub const WARNING: u8 = 3;
/// `loglevel nothing`: no lines at all.
pub const NOTHING: u8 = 4;

static LEVEL: AtomicU8 = AtomicU8::new(NOTICE);

/// Set the level from its `loglevel` name (unknown names leave it unchanged).
pub fn set_level(name: &str) {
    let l = match name {
        "debug" => DEBUG,
        "verbose" => VERBOSE,
        "notice" => NOTICE,
        "warning" => WARNING,
        "nothing" => NOTHING,
        _ => return,
    };
    LEVEL.store(l, Ordering::Relaxed);
}

/// Would a line of this level be written?
pub fn enabled(level: u8) -> bool {
    level < NOTHING && level >= LEVEL.load(Ordering::Relaxed)
}

/// Write one line at `level`, if the configured level lets it through.
pub fn log(level: u8, msg: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mark = match level {
        DEBUG => '.',
        VERBOSE => '-',
        NOTICE => '*',
        _ => '#',
    };
    let line = format!("{}:M {} {mark} {msg}\n", std::process::id(), timestamp());
    // One write per line, so lines from different threads do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A notice line (start-up, shutdown).
pub fn notice(msg: std::fmt::Arguments<'_>) {
    log(NOTICE, msg);
}

/// A warning line (errors the server survives).
pub fn warning(msg: std::fmt::Arguments<'_>) {
    log(WARNING, msg);
}

/// `22 Nov 2026 18:42:52.395`, local time.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: `tm` is plain data, filled by localtime_r from `secs`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
    let ok = !unsafe { libc::localtime_r(&secs, &mut tm) }.is_null();
    if !ok {
        return format!("{}.{:03}", now.as_secs(), now.subsec_millis());
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_filter_and_the_timestamp_has_redis_shape() {
        set_level("warning");
        assert!(!enabled(NOTICE) && enabled(WARNING));
        set_level("nothing");
        assert!(!enabled(WARNING));
        set_level("bogus");
        assert!(!enabled(WARNING));
        set_level("notice");
        assert!(enabled(NOTICE) && !enabled(VERBOSE));
        let t = timestamp();
        // "22 Nov 2026 18:42:52.395"
        let parts: Vec<&str> = t.split(' ').collect();
        assert_eq!(parts.len(), 4, "{t}");
        assert_eq!(parts[3].len(), 12, "{t}");
    }
}
