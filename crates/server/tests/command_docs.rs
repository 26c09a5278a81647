//! COMMAND against a real `redis-server` 7.0.15: COMMAND INFO and COMMAND DOCS of every
//! command and subcommand Strata serves are Redis's, in RESP2 and RESP3; COMMAND,
//! COMMAND LIST (with FILTERBY) and COMMAND DOCS name the same entries as Redis does for
//! those commands; and redis-cli, run on a terminal, shows the same argument hints as
//! it does against Redis (it builds them from COMMAND DOCS).
//!
//! Redis lists commands and subcommands in the order of a hash table seeded at random
//! on each start, so lists of commands are compared as sets; everything else is
//! compared exactly.

mod support;

use std::process::Command;

use support::{encode, raw, strata, Client, Proc, Reply};

/// Sort what Redis orders at random: lists of COMMAND INFO entries (arrays that start
/// with the command's name) by name, and maps keyed by `container|subcommand` (RESP2:
/// flat arrays of such names and their docs) by key.
fn normalize(r: Reply) -> Reply {
    match r {
        Reply::Array(Some(items)) | Reply::Set(items) if is_entry_list(&items) => {
            let mut items: Vec<Reply> = items.into_iter().map(normalize).collect();
            items.sort_by_key(entry_name);
            Reply::Array(Some(items))
        }
        Reply::Array(Some(items)) if is_flat_sub_map(&items) => {
            let mut pairs: Vec<(Reply, Reply)> = pairs_of(items);
            pairs.sort_by_key(|(k, _)| k.bulk());
            Reply::Array(Some(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()))
        }
        Reply::Array(Some(items)) => Reply::Array(Some(items.into_iter().map(normalize).collect())),
        Reply::Set(items) => Reply::Set(items.into_iter().map(normalize).collect()),
        Reply::Map(pairs) => {
            let mut pairs: Vec<(Reply, Reply)> =
                pairs.into_iter().map(|(k, v)| (k, normalize(v))).collect();
            if pairs
                .iter()
                .all(|(k, _)| matches!(k, Reply::Bulk(Some(b)) if b.contains(&b'|')))
            {
                pairs.sort_by_key(|(k, _)| k.bulk());
            }
            Reply::Map(pairs)
        }
        other => other,
    }
}

fn pairs_of(items: Vec<Reply>) -> Vec<(Reply, Reply)> {
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, normalize(v)));
    }
    out
}

fn entry_name(r: &Reply) -> Vec<u8> {
    match r {
        Reply::Array(Some(e)) => e.first().map(Reply::bulk).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn is_entry_list(items: &[Reply]) -> bool {
    items.len() > 1
        && items.iter().all(|e| {
            matches!(e, Reply::Array(Some(x)) if x.len() == 10 && matches!(x[0], Reply::Bulk(Some(_))))
        })
}

fn is_flat_sub_map(items: &[Reply]) -> bool {
    !items.is_empty()
        && items.len().is_multiple_of(2)
        && items
            .iter()
            .step_by(2)
            .all(|k| matches!(k, Reply::Bulk(Some(b)) if b.contains(&b'|')))
}

fn hello3(c: &mut Client) {
    c.cmd(&["HELLO", "3"]);
}

/// A client of each server, both speaking RESP `proto`.
fn clients(redis: &Proc, ours: &Proc, proto: u8) -> (Client, Client) {
    let (mut r, mut s) = (redis.client(), ours.client());
    if proto == 3 {
        hello3(&mut r);
        hello3(&mut s);
    }
    (r, s)
}

fn names(r: Reply) -> Vec<Vec<u8>> {
    let mut n: Vec<Vec<u8>> = r.array().iter().map(Reply::bulk).collect();
    n.sort();
    n
}

#[test]
fn command_info_and_docs_are_redis_s_for_every_command_served() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    for proto in [2, 3] {
        let (mut r, mut s) = clients(&redis, &ours, proto);
        let listed = names(s.cmd(&["COMMAND", "LIST"]));
        assert!(
            listed.len() > 250,
            "commands and subcommands: {}",
            listed.len()
        );
        for name in &listed {
            if name == b"bgdump" {
                // Strata's own: Redis has no entry.
                continue;
            }
            for sub in ["INFO", "DOCS"] {
                let req = encode(&[b"COMMAND", sub.as_bytes(), name]);
                let (rb, sb) = (raw(&mut r, &req), raw(&mut s, &req));
                if rb == sb {
                    continue;
                }
                // Only the order of a container's subcommands may differ.
                r.send(&[b"COMMAND", sub.as_bytes(), name]);
                s.send(&[b"COMMAND", sub.as_bytes(), name]);
                assert_eq!(
                    normalize(s.read()),
                    normalize(r.read()),
                    "RESP{proto} COMMAND {sub} {}",
                    String::from_utf8_lossy(name)
                );
            }
        }
        // Names in any case, unknown ones, a subcommand.
        for req in [
            &[
                "COMMAND",
                "INFO",
                "GeT",
                "nosuch",
                "CLIENT|pause",
                "client|nosuch",
            ][..],
            &["COMMAND", "DOCS", "nosuch", "GET", "config|SET"],
            &["COMMAND", "INFO", "get|x"],
            &["COMMAND", "HELP"],
            &["COMMAND", "LIST", "x"],
            &["COMMAND", "LIST", "FILTERBY", "x", "y"],
            &["COMMAND", "LIST", "FILTERBY", "module", "x", "y"],
            &["COMMAND", "LIST", "FILTERBY", "module", "x"],
            &["COMMAND", "LIST", "FILTERBY", "aclcat", "nosuch"],
            &["COMMAND", "LIST", "FILTERBY", "aclcat", "@string"],
            &["COMMAND", "COUNT", "x"],
        ] {
            let req = encode(&req.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
            assert_eq!(
                String::from_utf8_lossy(&raw(&mut s, &req)),
                String::from_utf8_lossy(&raw(&mut r, &req)),
                "RESP{proto} {}",
                String::from_utf8_lossy(&req)
            );
        }
        // Lists name the commands Strata serves, as Redis's would.
        let served: std::collections::BTreeSet<Vec<u8>> = listed.iter().cloned().collect();
        for filter in [
            &["COMMAND", "LIST"][..],
            &["COMMAND", "LIST", "FILTERBY", "aclcat", "hyperloglog"],
            &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "Admin"],
            &["COMMAND", "LIST", "FILTERBY", "pattern", "CLIENT|*"],
            &["COMMAND", "LIST", "FILTERBY", "pattern", "*s[cd]*"],
        ] {
            let theirs: Vec<Vec<u8>> = names(r.cmd(filter))
                .into_iter()
                .filter(|n| served.contains(n))
                .collect();
            let mut want = theirs.clone();
            if filter.len() == 2 {
                want.push(b"bgdump".to_vec());
                want.sort();
            }
            assert_eq!(names(s.cmd(filter)), want, "{filter:?}");
        }
        // COMMAND, COMMAND INFO and COMMAND DOCS without names: every command served.
        let top: Vec<Vec<u8>> = listed
            .iter()
            .filter(|n| !n.contains(&b'|'))
            .cloned()
            .collect();
        for req in [&["COMMAND"][..], &["COMMAND", "INFO"]] {
            let all = s.cmd(req).array();
            let mut got: Vec<Vec<u8>> = all.iter().map(entry_name).collect();
            got.sort();
            assert_eq!(got, top, "{req:?}");
        }
        assert_eq!(s.cmd(&["COMMAND", "COUNT"]), Reply::Int(top.len() as i64));
        let docs = s.cmd(&["COMMAND", "DOCS"]);
        let mut got: Vec<Vec<u8>> = match docs {
            Reply::Map(m) => m.into_iter().map(|(k, _)| k.bulk()).collect(),
            other => other.array().iter().step_by(2).map(Reply::bulk).collect(),
        };
        got.sort();
        assert_eq!(got, top);
    }
}

/// What redis-cli draws on a terminal after `typed`, answering its cursor-position
/// queries (python3's pty; the hints are drawn only on a terminal).
fn hints(port: u16, typed: &str) -> String {
    let script = r#"
import os, pty, sys, time, select, fcntl, termios, struct
port, typed = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ['TERM'] = 'xterm'
    os.execvp('redis-cli', ['redis-cli', '-p', port])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 300, 0, 0))
def drain(until, t):
    out = b''
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 65536)
            except OSError:
                break
            out += d
            if b'\x1b[6n' in d:
                os.write(fd, b'\x1b[1;1R')
            if until and until in out:
                break
    return out
drain(b'> ', 10)
os.write(fd, typed.encode())
out = drain(None, 0.8)
os.write(fd, b'\x03\x04')
sys.stdout.write(out.decode('utf-8', 'replace'))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &port.to_string(), typed])
        .output()
        .expect("python3 is needed (Debian `python3`)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // The last hint drawn (grey text), the port in the prompt aside.
    text.rsplit("\x1b[0;90;49m")
        .next()
        .and_then(|h| h.split("\x1b[0m").next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn redis_cli_shows_redis_s_argument_hints() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    for typed in [
        "set ",
        "zadd k ",
        "client kill ",
        "object encoding ",
        "bgdump ",
    ] {
        let want = hints(redis.port, typed);
        let got = hints(ours.port, typed);
        if typed == "bgdump " {
            // Strata's own command: no arguments described.
            assert_eq!(got, "", "{typed:?}");
            continue;
        }
        assert!(
            !want.trim().is_empty(),
            "redis-cli drew no hint for {typed:?}"
        );
        assert_eq!(got, want, "{typed:?}");
    }
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS name the keys (and their flags) Redis names, by
/// key specs and by each command's own rule where the specs cannot tell (SET's GET,
/// SORT's STORE, MIGRATE's KEYS, EVAL with too few keys, a key count `atoi` reads but
/// the specs refuse, ...), and refuse as Redis does, in RESP2 and RESP3.
#[test]
fn command_getkeys_names_the_keys_redis_names() {
    let cases: &[&[&str]] = &[
        &["ping"],
        &["ping", "x"],
        &["nosuch", "a"],
        &["get", "a"],
        &["get", "a", "b"],
        &["set", "a", "b"],
        &["set", "a", "b", "get"],
        &["set", "a", "b", "GET", "ex", "10"],
        &["set", "a", "b", "ex", "10"],
        &["config", "get", "x"],
        &["config", "nosuch"],
        &["object", "encoding", "k"],
        &["object"],
        &["spublish", "c", "m"],
        &["mset", "a", "1", "b"],
        &["msetnx", "a", "1", "b", "2"],
        &["sort", "a"],
        &[
            "sort", "a", "by", "x", "store", "b", "limit", "0", "1", "get", "#", "store", "c",
        ],
        &["sort", "a", "store"],
        &["sort", "a", "get", "store", "store", "d"],
        &["sort_ro", "a", "by", "x"],
        &["eval", "s", "0"],
        &["eval", "s", "2", "a"],
        &["eval", "s", "x", "a"],
        &["eval", "s", "02", "a", "b"],
        &["eval", "s", "-1", "a"],
        &["evalsha", "s", "1", "a", "b", "c"],
        &["fcall", "f", "1", "k", "a"],
        &["fcall_ro", "f", "0"],
        &["zunionstore", "d", "0", "a"],
        &["zunionstore", "d", "2", "a", "b"],
        &["zunionstore", "d", "02", "a", "b"],
        &["zunionstore", "d", "3", "a", "b"],
        &["zinterstore", "d", "1", "a", "weights", "1"],
        &["zdiff", "2", "a", "b"],
        &["zintercard", "2", "a", "b", "limit", "3"],
        &["sintercard", "3", "a", "b"],
        &["lmpop", "3", "a", "b", "left"],
        &["blmpop", "0", "2", "a", "b", "left"],
        &["bzmpop", "0", "1", "a", "min"],
        &["migrate", "h", "p", "", "0", "5", "KEYS", "a", "b"],
        &["migrate", "h", "p", "k", "0", "5"],
        &["migrate", "h", "p", "k", "0", "5", "KEYS", "a", "b"],
        &[
            "migrate", "h", "p", "", "0", "5", "copy", "auth", "pw", "KEYS", "a", "b",
        ],
        &[
            "migrate", "h", "p", "", "0", "5", "auth2", "u", "KEYS", "KEYS", "a",
        ],
        &[
            "migrate", "h", "p", "", "0", "5", "auth", "keys", "keys", "a",
        ],
        &[
            "georadius",
            "k",
            "1",
            "2",
            "3",
            "m",
            "store",
            "d",
            "storedist",
            "e",
        ],
        &["georadius", "k", "1", "2", "3", "m", "store"],
        &["georadiusbymember", "k", "m", "3", "m", "storedist", "d"],
        &["bitfield", "k", "get", "u8", "0"],
        &[
            "bitfield", "k", "overflow", "wrap", "get", "u8", "0", "set", "u8", "0", "1",
        ],
        &["bitfield", "k", "bad"],
        &["bitfield_ro", "k", "get", "u8", "0"],
        &["del", "a", "b", "c"],
        &["smove", "a", "b", "m"],
        &["blmove", "a", "b", "left", "right", "0"],
        &["copy", "a", "b", "db", "1"],
        &["bitop", "and", "d", "a", "b"],
        &["restore", "k", "0", "p"],
        &["client", "list"],
        &["keys", "*"],
    ];
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    for proto in [2, 3] {
        let (mut r, mut s) = clients(&redis, &ours, proto);
        for case in cases {
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut args: Vec<&[u8]> = vec![b"COMMAND", sub.as_bytes()];
                args.extend(case.iter().map(|a| a.as_bytes()));
                let req = encode(&args);
                let (rb, sb) = (raw(&mut r, &req), raw(&mut s, &req));
                assert_eq!(
                    String::from_utf8_lossy(&sb),
                    String::from_utf8_lossy(&rb),
                    "RESP{proto} COMMAND {sub} {case:?}"
                );
            }
        }
        // Too few arguments: the subcommand's own arity error.
        let req = encode(&[b"COMMAND", b"GETKEYS", b"get"]);
        assert_eq!(raw(&mut s, &req), raw(&mut r, &req));
    }
}
