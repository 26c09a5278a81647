//! BGDUMP (the background key dumper) and the CLUSTER key-slot commands.

use strata_dump::{Format, Request, Selector, StartError};
use strata_lsm::{keys, IterOptions};

use super::{done, err, int_arg, is, CmdErr, Ctx, R};
use crate::lock;

/// `BGDUMP PATTERN <glob> | SLOT <n> [FORMAT keys|resp|rdb] [TO <name>]`,
/// `BGDUMP STATUS`, `BGDUMP CANCEL`.
pub fn bgdump(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "status" if a.len() == 2 => {
            let st = c.sh.dumper.status();
            c.out.map(11);
            let pairs: [(&str, String); 11] = [
                ("state", st.state.name().into()),
                ("selector", st.selector.clone()),
                ("format", st.format.into()),
                ("slots_done", st.slots_done.to_string()),
                ("slots_total", st.slots_total.to_string()),
                ("keys_scanned", st.keys_scanned.to_string()),
                ("keys_written", st.keys_written.to_string()),
                ("bytes", st.bytes.to_string()),
                ("elapsed_ms", st.elapsed.as_millis().to_string()),
                ("path", st.path.map(|p| p.display().to_string()).unwrap_or_default()),
                ("last_error", st.last_error.unwrap_or_default()),
            ];
            for (k, v) in pairs {
                c.out.bulk(k.as_bytes());
                c.out.bulk(v.as_bytes());
            }
            done()
        }
        "cancel" if a.len() == 2 => {
            if c.sh.dumper.cancel() {
                c.ok()
            } else {
                Err("ERR no dump is running".into())
            }
        }
        "pattern" | "slot" if a.len() >= 3 => {
            let selector = if sub == "pattern" {
                Selector::Pattern(a[2].clone())
            } else {
                // Validated as a full integer before any narrowing: 16384, -1 and 65536
                // are refused, never wrapped.
                let n = int_arg(&a[2])?;
                Selector::slot(n).ok_or_else(|| CmdErr("ERR Invalid slot".into()))?
            };
            let mut format = Format::Keys;
            let mut name = None;
            let mut i = 3;
            while i < a.len() {
                if is(&a[i], "format") && i + 1 < a.len() {
                    format = Format::parse(&String::from_utf8_lossy(&a[i + 1]))
                        .ok_or_else(|| CmdErr("ERR FORMAT must be keys, resp or rdb".into()))?;
                } else if is(&a[i], "to") && i + 1 < a.len() {
                    name = Some(String::from_utf8_lossy(&a[i + 1]).into_owned());
                } else {
                    return Err(err::SYNTAX.into());
                }
                i += 2;
            }
            let throttle = lock(&c.sh.config).dump_throttle;
            let req = Request {
                selector,
                format,
                name,
                phys_db: c.sh.store.phys(c.s.db),
                logical_db: c.s.db as u64,
                throttle_bytes_per_sec: throttle,
            };
            match c.sh.dumper.start(&c.sh.store.db, req) {
                Ok(path) => {
                    c.out.simple(&format!("Background dump started: {}", path.display()));
                    done()
                }
                Err(StartError::Busy(what)) => {
                    Err(CmdErr(format!("ERR a dump is already running: {what}")))
                }
                Err(StartError::BadName) => Err(
                    "ERR invalid dump file name (a plain file name is needed)".into(),
                ),
            }
        }
        _ => Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try BGDUMP PATTERN <glob> | SLOT <n> [FORMAT keys|resp|rdb] [TO <name>], BGDUMP STATUS, BGDUMP CANCEL.",
            String::from_utf8_lossy(&a[1])
        ))),
    }
}

/// The INFO `dump` section.
pub fn info_section(sh: &crate::Shared) -> String {
    let st = sh.dumper.status();
    format!(
        "# Dump\r\ndump_state:{}\r\ndump_selector:{}\r\ndump_format:{}\r\ndump_slots_done:{}\r\ndump_slots_total:{}\r\ndump_keys_scanned:{}\r\ndump_keys_written:{}\r\ndump_bytes:{}\r\ndump_elapsed_ms:{}\r\ndump_path:{}\r\ndump_last_error:{}\r\ndump_dir:{}\r\n",
        st.state.name(),
        st.selector,
        st.format,
        st.slots_done,
        st.slots_total,
        st.keys_scanned,
        st.keys_written,
        st.bytes,
        st.elapsed.as_millis(),
        st.path.map(|p| p.display().to_string()).unwrap_or_default(),
        st.last_error.unwrap_or_default().replace(['\r', '\n'], " "),
        sh.dumper.dir().display(),
    )
}

fn slot_arg(a: &[u8]) -> Result<u16, CmdErr> {
    let n = int_arg(a)?;
    if !(0..16384).contains(&n) {
        return Err("ERR Invalid slot".into());
    }
    Ok(n as u16)
}

/// Visit the live keys of `slot` in the client's database; `f` returns false to stop.
fn slot_keys(c: &Ctx, slot: u16, mut f: impl FnMut(&[u8]) -> bool) -> Result<(), CmdErr> {
    let phys = c.sh.store.phys(c.s.db);
    let (lo, hi) = keys::metadata_range(slot, phys);
    let now = crate::store::now_ms();
    let mut it =
        c.sh.store
            .db
            .iter(IterOptions {
                lower: Some(lo),
                upper: Some(hi),
                ..Default::default()
            })
            .map_err(crate::store::Error::from)?;
    while it.valid() {
        let m = crate::store::Meta::decode(it.value())?;
        if !m.expired(now) && !f(&it.key()[4..]) {
            break;
        }
        it.advance();
    }
    it.status().map_err(crate::store::Error::from)?;
    Ok(())
}

/// CLUSTER KEYSLOT / COUNTKEYSINSLOT / GETKEYSINSLOT, answered from the slot prefix in
/// time proportional to the keys counted or returned. Other subcommands: cluster mode
/// is not supported.
pub fn cluster(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let arity = || {
        CmdErr(format!(
            "ERR wrong number of arguments for 'cluster|{sub}' command"
        ))
    };
    match sub.as_str() {
        "keyslot" => {
            if a.len() != 3 {
                return Err(arity());
            }
            c.int(i64::from(keys::slot(&a[2])))
        }
        "countkeysinslot" => {
            if a.len() != 3 {
                return Err(arity());
            }
            let slot = slot_arg(&a[2])?;
            let mut n = 0i64;
            slot_keys(c, slot, |_| {
                n += 1;
                true
            })?;
            c.int(n)
        }
        "getkeysinslot" => {
            if a.len() != 4 {
                return Err(arity());
            }
            let slot = int_arg(&a[2])?;
            let max = int_arg(&a[3])?;
            if !(0..16384).contains(&slot) || max < 0 {
                return Err("ERR Invalid slot or number of keys".into());
            }
            let mut found: Vec<Vec<u8>> = Vec::new();
            if max > 0 {
                slot_keys(c, slot as u16, |k| {
                    found.push(k.to_vec());
                    (found.len() as i64) < max
                })?;
            }
            c.out.bulks(found.iter().map(Vec::as_slice));
            done()
        }
        "info" => {
            let text = "cluster_enabled:0\r\ncluster_state:fail\r\ncluster_slots_assigned:0\r\n";
            c.out.verbatim(text.as_bytes());
            done()
        }
        _ => Err("ERR This instance has cluster support disabled".into()),
    }
}
