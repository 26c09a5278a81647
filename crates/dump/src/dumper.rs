//! The dumper thread: one dump at a time, from an engine snapshot taken when the dump
//! starts, by glob pattern (all 16384 slots in slot order) or by slot, to a temporary
//! file that is fsynced and renamed atomically to its final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use strata_lsm::{keys, Db, IterOptions, Snapshot};
use strata_rdb::{EncodeConfig, RdbWriter, Target};

use crate::escape::escape_into;
use crate::glob::Glob;
use crate::records::{self, Meta};

/// Append `args` as a RESP multibulk command (the `resp` format; MIGRATE's pipeline).
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Prefix of temporary files; leftovers are removed when a [`Dumper`] is created.
pub const TEMP_PREFIX: &str = ".strata-dump-";

/// Which keys a dump takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Keys matching a Redis glob pattern, over all slots in slot order.
    Pattern(Vec<u8>),
    /// Every key of one cluster slot.
    Slot(u16),
}

impl Selector {
    /// A slot selector, validated before any narrowing: 0..=16383 only.
    pub fn slot(n: i64) -> Option<Selector> {
        (0..16384).contains(&n).then_some(Selector::Slot(n as u16))
    }

    fn describe(&self) -> String {
        match self {
            Selector::Pattern(p) => format!("pattern {}", String::from_utf8_lossy(p)),
            Selector::Slot(s) => format!("slot {s}"),
        }
    }

    fn default_name(&self) -> String {
        match self {
            Selector::Pattern(_) => "keys".into(),
            Selector::Slot(s) => format!("slot-{s}"),
        }
    }
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One escaped key per line (docs/dump-format.md).
    Keys,
    /// One `RESTORE key ttl payload REPLACE [ABSTTL]` per key, for `redis-cli --pipe`.
    Resp,
    /// An RDB file (version 10) that Redis 7.0 loads.
    Rdb,
}

impl Format {
    /// Parse `keys`, `resp` or `rdb` (any case).
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "keys" => Some(Format::Keys),
            "resp" => Some(Format::Resp),
            "rdb" => Some(Format::Rdb),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Keys => "keys",
            Format::Resp => "resp",
            Format::Rdb => "rdb",
        }
    }
}

/// A dump to run.
#[derive(Clone, Debug)]
pub struct Request {
    /// Which keys.
    pub selector: Selector,
    /// How they are written.
    pub format: Format,
    /// Final file name in the dump directory (default `keys` or `slot-<n>`).
    pub name: Option<String>,
    /// Physical database id (the key layout's db byte) to read.
    pub phys_db: u8,
    /// Database number written in `rdb` output.
    pub logical_db: u64,
    /// Most bytes per second written (0 = unlimited).
    pub throttle_bytes_per_sec: u64,
}

/// State of the current or last dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No dump has run.
    Idle,
    /// Running.
    Running,
    /// Finished; the file is in place.
    Done,
    /// Failed; no file under the final name.
    Failed,
    /// Cancelled; no file under the final name.
    Cancelled,
}

impl State {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }
}

/// What STATUS shows.
#[derive(Clone, Debug)]
pub struct Status {
    /// State.
    pub state: State,
    /// Selector, as text.
    pub selector: String,
    /// Format.
    pub format: &'static str,
    /// Slots finished.
    pub slots_done: u64,
    /// Slots the dump covers.
    pub slots_total: u64,
    /// Keys looked at (expired and non-matching included).
    pub keys_scanned: u64,
    /// Keys written.
    pub keys_written: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Time since the dump started (or its whole duration once over).
    pub elapsed: Duration,
    /// Final path (once known).
    pub path: Option<PathBuf>,
    /// Last error.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Progress {
    slots_done: AtomicU64,
    keys_scanned: AtomicU64,
    keys_written: AtomicU64,
    bytes: AtomicU64,
}

struct Current {
    state: State,
    selector: String,
    format: &'static str,
    slots_total: u64,
    started: Instant,
    finished: Option<Duration>,
    path: Option<PathBuf>,
    last_error: Option<String>,
    progress: Arc<Progress>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Why a dump did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    /// Another dump is running (its description).
    Busy(String),
    /// The requested file name is not a plain file name.
    BadName,
}

/// The dumper: owns the dump directory and at most one running dump.
pub struct Dumper {
    dir: PathBuf,
    current: Arc<Mutex<Current>>,
    counter: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n != "."
        && n != ".."
        && !n.starts_with(TEMP_PREFIX)
        && !n.contains(['/', '\\', '\0'])
        && n.len() <= 255
}

impl Dumper {
    /// Use `dir` for dump files (created if missing); remove temporary files left by a
    /// dump that was interrupted (crash, kill -9).
    pub fn new(dir: impl AsRef<Path>) -> std::io::Result<Dumper> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        for e in std::fs::read_dir(&dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Dumper {
            dir,
            current: Arc::new(Mutex::new(Current {
                state: State::Idle,
                selector: String::new(),
                format: "",
                slots_total: 0,
                started: Instant::now(),
                finished: None,
                path: None,
                last_error: None,
                progress: Arc::new(Progress::default()),
                cancel: Arc::new(AtomicBool::new(false)),
                thread: None,
            })),
            counter: AtomicU64::new(0),
        })
    }

    /// The dump directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Start a dump of `db` as it is now (the snapshot is taken before this returns).
    pub fn start(&self, db: &Db, req: Request) -> Result<PathBuf, StartError> {
        let name = req
            .name
            .clone()
            .unwrap_or_else(|| req.selector.default_name());
        if !valid_name(&name) {
            return Err(StartError::BadName);
        }
        let mut cur = lock(&self.current);
        if cur.state == State::Running {
            return Err(StartError::Busy(format!(
                "{} to {} ({} keys written so far)",
                cur.selector,
                cur.path
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                cur.progress.keys_written.load(Ordering::Relaxed)
            )));
        }
        if let Some(t) = cur.thread.take() {
            let _ = t.join();
        }
        let snapshot = db.snapshot();
        let snap_ms = records::now_ms();
        let final_path = self.dir.join(&name);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{name}-{}-{n}.tmp",
            std::process::id()
        ));
        let progress = Arc::new(Progress::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let (slots, glob) = match &req.selector {
            Selector::Slot(s) => (*s..*s + 1, None),
            Selector::Pattern(p) => {
                let g = Glob::new(p);
                let slots = match tag_slot(&g) {
                    Some(s) => s..s + 1,
                    None => 0..16384,
                };
                (slots, Some(g))
            }
        };
        *cur = Current {
            state: State::Running,
            selector: req.selector.describe(),
            format: req.format.name(),
            slots_total: u64::from(slots.end - slots.start),
            started: Instant::now(),
            finished: None,
            path: Some(final_path.clone()),
            last_error: None,
            progress: Arc::clone(&progress),
            cancel: Arc::clone(&cancel),
            thread: None,
        };
        let job = Job {
            snapshot,
            snap_ms,
            req,
            slots,
            glob,
            temp,
            final_path: final_path.clone(),
            dir: self.dir.clone(),
            progress,
            cancel,
        };
        let shared = Arc::clone(&self.current);
        let spawned = std::thread::Builder::new()
            .name("strata-dump".into())
            .spawn(move || {
                lower_priority();
                let temp = job.temp.clone();
                // A bug in the dump must not leave it "running" forever: a panic ends
                // it as failed, and its temporary file goes.
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()))
                    .unwrap_or_else(|_| {
                        let _ = std::fs::remove_file(&temp);
                        Err("internal error: the dump thread panicked".into())
                    });
                let mut cur = lock(&shared);
                cur.finished = Some(cur.started.elapsed());
                match res {
                    Ok(()) => cur.state = State::Done,
                    Err(e) if e == "cancelled" => cur.state = State::Cancelled,
                    Err(e) => {
                        cur.state = State::Failed;
                        cur.last_error = Some(e);
                    }
                }
            });
        match spawned {
            Ok(h) => cur.thread = Some(h),
            Err(e) => {
                cur.state = State::Failed;
                cur.last_error = Some(format!("cannot start the dump thread: {e}"));
            }
        }
        Ok(final_path)
    }

    /// Current or last dump.
    pub fn status(&self) -> Status {
        let cur = lock(&self.current);
        let p = &cur.progress;
        Status {
            state: cur.state,
            selector: cur.selector.clone(),
            format: cur.format,
            slots_done: p.slots_done.load(Ordering::Relaxed),
            slots_total: cur.slots_total,
            keys_scanned: p.keys_scanned.load(Ordering::Relaxed),
            keys_written: p.keys_written.load(Ordering::Relaxed),
            bytes: p.bytes.load(Ordering::Relaxed),
            elapsed: cur.finished.unwrap_or_else(|| cur.started.elapsed()),
            path: cur.path.clone(),
            last_error: cur.last_error.clone(),
        }
    }

    /// Ask the running dump to stop; false if none runs.
    pub fn cancel(&self) -> bool {
        let cur = lock(&self.current);
        if cur.state != State::Running {
            return false;
        }
        cur.cancel.store(true, Ordering::Relaxed);
        true
    }

    /// Wait for the running dump (if any) to end; its final status.
    pub fn wait(&self) -> Status {
        let t = lock(&self.current).thread.take();
        if let Some(t) = t {
            let _ = t.join();
        }
        self.status()
    }
}

impl Drop for Dumper {
    fn drop(&mut self) {
        self.cancel();
        self.wait();
    }
}

/// Run the dump thread only on idle CPU time (Linux `SCHED_IDLE`; nice 19 where that
/// is refused): on a busy machine the event loops serving clients always come first.
/// Measured on 2 cores (docs/benchmarks.md): GET p99 under load while dumps run back
/// to back.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: both calls act on the calling thread only (pid 0 / our own tid) and read
    // a parameter struct we own.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
}

/// The slot a pattern's literal prefix fixes through a complete `{tag}`.
pub fn tag_slot(g: &Glob) -> Option<u16> {
    let p = g.literal_prefix();
    let open = p.iter().position(|&b| b == b'{')?;
    let close = p[open + 1..].iter().position(|&b| b == b'}')?;
    if close == 0 {
        return None;
    }
    Some(keys::slot(&p[open..open + close + 2]))
}

struct Job {
    snapshot: Snapshot,
    snap_ms: u64,
    req: Request,
    slots: std::ops::Range<u16>,
    glob: Option<Glob>,
    temp: PathBuf,
    final_path: PathBuf,
    dir: PathBuf,
    progress: Arc<Progress>,
    cancel: Arc<AtomicBool>,
}

/// Where output goes: counts bytes.
struct Out {
    w: BufWriter<File>,
    bytes: u64,
    progress: Arc<Progress>,
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.w.write(buf)?;
        self.bytes += n as u64;
        self.progress.bytes.store(self.bytes, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// Sleep as needed to keep `bytes` written since `started` under `rate` bytes/s.
fn throttle(bytes: u64, started: Instant, rate: u64, cancel: &AtomicBool) {
    if rate == 0 {
        return;
    }
    let due = Duration::from_secs_f64(bytes as f64 / rate as f64);
    while !cancel.load(Ordering::Relaxed) {
        let left = due.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// The output, plain or inside an RDB writer.
enum Sink {
    Plain(Out),
    Rdb(Box<RdbWriter<Out>>),
}

impl Job {
    fn run(self) -> Result<(), String> {
        let res = self.write_all();
        if res.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        res
    }

    fn write_all(&self) -> Result<(), String> {
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        let file = File::create(&self.temp)
            .map_err(|e| io(&format!("create {}", self.temp.display()), e))?;
        let started = Instant::now();
        let rate = self.req.throttle_bytes_per_sec;
        let out = Out {
            w: BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            progress: Arc::clone(&self.progress),
        };
        let mut sink = match self.req.format {
            Format::Rdb => {
                let mut w =
                    RdbWriter::new(out, "7.0.15", self.snap_ms / 1000, EncodeConfig::default())
                        .map_err(|e| io("write", e))?;
                w.select_db(self.req.logical_db, 0, 0)
                    .map_err(|e| io("write", e))?;
                Sink::Rdb(Box::new(w))
            }
            _ => Sink::Plain(out),
        };
        let phys = self.req.phys_db;
        let mut it = self
            .snapshot
            .iter(IterOptions {
                lower: Some(keys::slot_range(self.slots.start).0),
                upper: Some(records::next_slot_start(self.slots.end - 1)),
                no_fill_cache: true,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        let match_all = self.glob.as_ref().is_none_or(Glob::matches_all);
        let mut line = Vec::new();
        let mut slot = self.slots.start;
        it.seek(&keys::metadata_range(slot, phys).0);
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err("cancelled".into());
            }
            // Where the iterator stands: a metadata record of ours in `slot`, or past it.
            let here = it.valid().then(|| it.key().to_vec());
            let in_slot = here.as_ref().is_some_and(|k| {
                k.len() >= 4
                    && u16::from_be_bytes([k[0], k[1]]) == slot
                    && k[2] == phys
                    && k[3] == 0
            });
            if !in_slot {
                // This slot is done; jump to the next slot that has data.
                let next = match &here {
                    Some(k) if k.len() >= 4 => {
                        let s = u16::from_be_bytes([k[0], k[1]]);
                        if s <= slot {
                            // Past our metadata in this slot.
                            slot + 1
                        } else if k[2] > phys || (k[2] == phys && k[3] != 0) {
                            // Slot `s` holds nothing (more) for this database.
                            s.saturating_add(1)
                        } else {
                            s
                        }
                    }
                    Some(_) => slot + 1,
                    None => self.slots.end,
                };
                let next = next.min(self.slots.end);
                self.progress
                    .slots_done
                    .fetch_add(u64::from(next - slot), Ordering::Relaxed);
                if next >= self.slots.end {
                    break;
                }
                slot = next;
                it.seek(&keys::metadata_range(slot, phys).0);
                continue;
            }
            let k = &it.key()[4..];
            self.progress.keys_scanned.fetch_add(1, Ordering::Relaxed);
            let meta = Meta::decode(it.value()).map_err(|e| e.to_string())?;
            let live = !meta.expired(self.snap_ms);
            let wanted = live && (match_all || self.glob.as_ref().is_some_and(|g| g.matches(k)));
            if wanted {
                match self.req.format {
                    Format::Keys => {
                        line.clear();
                        escape_into(k, &mut line);
                        line.push(b'\n');
                        if let Sink::Plain(out) = &mut sink {
                            out.write_all(&line).map_err(|e| io("write", e))?;
                        }
                    }
                    Format::Resp => {
                        let payload =
                            records::dump_payload(&self.snapshot, phys, k, &meta, Target::Redis7_0)
                                .map_err(|e| e.to_string())?;
                        let exp = meta.expire.to_string();
                        let mut args: Vec<&[u8]> = vec![b"RESTORE", k];
                        if meta.expire == 0 {
                            args.extend_from_slice(&[b"0", &payload, b"REPLACE"]);
                        } else {
                            args.extend_from_slice(&[
                                exp.as_bytes(),
                                &payload,
                                b"REPLACE",
                                b"ABSTTL",
                            ]);
                        }
                        line.clear();
                        encode_command(&args, &mut line);
                        if let Sink::Plain(out) = &mut sink {
                            out.write_all(&line).map_err(|e| io("write", e))?;
                        }
                    }
                    Format::Rdb => {
                        let v = records::read_value(&self.snapshot, phys, k, &meta)
                            .map_err(|e| e.to_string())?;
                        let exp = (meta.expire != 0).then_some(meta.expire as i64);
                        if let Sink::Rdb(w) = &mut sink {
                            w.key(k, &v, exp).map_err(|e| io("write", e))?;
                        }
                    }
                }
                self.progress.keys_written.fetch_add(1, Ordering::Relaxed);
                throttle(
                    self.progress.bytes.load(Ordering::Relaxed),
                    started,
                    rate,
                    &self.cancel,
                );
            }
            it.advance();
        }
        it.status().map_err(|e| e.to_string())?;
        let mut out = match sink {
            Sink::Plain(out) => out,
            Sink::Rdb(w) => w.finish().map_err(|e| io("write", e))?,
        };
        out.flush().map_err(|e| io("write", e))?;
        let file = out
            .w
            .into_inner()
            .map_err(|e| io("write", e.into_error()))?;
        file.sync_all().map_err(|e| io("fsync", e))?;
        drop(file);
        if self.cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        std::fs::rename(&self.temp, &self.final_path).map_err(|e| io("rename", e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("fsync directory", e))?;
        Ok(())
    }
}
