//! Test helper for the crash tests (`tests/crash_*.rs`): writes numbered keys with sync
//! `always` and prints each acknowledged sequence number on stdout, until killed.
//!
//! Usage: `lsm-crash-writer DIR START THREADS [always|everysec|syncwal]` (`syncwal`:
//! `EverySec`, and `Db::sync_wal` before each write is acknowledged). Key `t<thread>-<n:08>` gets value
//! `v<n>` repeated; every 50th write is a batch of a put and a delete of the previous
//! batch's marker key, so atomicity is visible. Every third marker is
//! [`LARGE_MARKER`] bytes long, so those batches take the engine's large-batch path (WAL
//! record written on a helper thread while the memtable fills).

use std::io::Write;
use std::sync::Arc;

use strata_lsm::{Db, Options, SyncPolicy, WriteBatch, WriteOptions};

/// Above the engine's large-batch threshold (1 MiB).
const LARGE_MARKER: usize = (1 << 20) + (1 << 18);

/// The length of marker `n`'s value (the tests check it).
fn marker_len(n: u64) -> usize {
    if n.is_multiple_of(150) {
        LARGE_MARKER
    } else {
        1
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or("missing DIR")?;
    let start: u64 = args.get(2).ok_or("missing START")?.parse()?;
    let threads: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let mode = args.get(4).map(String::as_str);
    let sync_wal = mode == Some("syncwal");
    let sync = match mode {
        None | Some("always") => SyncPolicy::Always,
        Some("everysec" | "syncwal") => SyncPolicy::EverySec,
        Some(other) => return Err(format!("unknown sync policy {other}").into()),
    };
    let opts = Options {
        sync,
        memtable_budget: 256 << 10,
        target_file_size: 64 << 10,
        level1_max_bytes: 256 << 10,
        l0_compaction_trigger: 2,
        ..Default::default()
    };
    let db = Arc::new(Db::open(dir, opts)?);
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut handles = Vec::new();
    for t in 0..threads {
        let (db, out) = (Arc::clone(&db), Arc::clone(&out));
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let mut n = start;
            loop {
                let key = format!("t{t}-{n:08}");
                let value = format!("v{n}-").repeat(1 + (n % 20) as usize);
                let mut b = WriteBatch::new();
                b.put(key.as_bytes(), value.as_bytes());
                if n.is_multiple_of(50) {
                    b.put(
                        format!("t{t}-marker-{n}").as_bytes(),
                        &vec![b'm'; marker_len(n)],
                    );
                    if n >= 50 {
                        b.delete(format!("t{t}-marker-{}", n - 50).as_bytes());
                    }
                }
                db.write(WriteOptions::default(), b)
                    .map_err(|e| e.to_string())?;
                if sync_wal {
                    db.sync_wal().map_err(|e| e.to_string())?;
                }
                let mut o = out.lock().map_err(|e| e.to_string())?;
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                writeln!(o, "{t} {n} {ms}")
                    .and_then(|_| o.flush())
                    .map_err(|e| e.to_string())?;
                n += 1;
            }
        }));
    }
    for h in handles {
        h.join().map_err(|_| "writer thread panicked")??;
    }
    Ok(())
}
