//! `cargo xtask gen-commands`: capture Redis 7.0.15's command metadata (the RESP3
//! replies of `COMMAND INFO` and `COMMAND DOCS`) from a real redis-server into
//! `crates/server/data/redis-7.0.15-commands.resp3`, which strata-server serves for the
//! commands it implements (docs/commands.md, "COMMAND"; docs/decisions.md).
//!
//! Redis lists its commands (and a container's subcommands) in the order of a hash
//! table seeded at random on each start; the file keeps them sorted by name, so that a
//! capture is the same bytes every time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const OUT: &str = "crates/server/data/redis-7.0.15-commands.resp3";

/// The end of the RESP3 value starting at `pos`, if `buf` holds all of it.
fn value_end(buf: &[u8], pos: usize) -> Option<usize> {
    let line_end = pos + buf.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&buf[pos + 1..line_end]).ok()?;
    let after = line_end + 2;
    match *buf.get(pos)? {
        b'+' | b'-' | b':' | b',' | b'_' | b'#' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        t @ (b'*' | b'~' | b'%' | b'>' | b'|') => {
            let n: i64 = head.parse().ok()?;
            let items = if matches!(t, b'%' | b'|') { 2 * n } else { n };
            let mut p = after;
            for _ in 0..items.max(0) {
                p = value_end(buf, p)?;
            }
            Some(p)
        }
        _ => None,
    }
}

/// A RESP3 value, as far as COMMAND's replies need.
enum V {
    /// A line-typed value (`+`, `:`, ...), with its type byte and text.
    Line(u8, Vec<u8>),
    /// A length-prefixed string (`$`, `=`).
    Blob(u8, Vec<u8>),
    /// An aggregate (`*`, `~`, `%`): type and elements (a map's keys and values in turn).
    Agg(u8, Vec<V>),
}

fn parse(buf: &[u8], pos: &mut usize) -> Option<V> {
    let t = *buf.get(*pos)?;
    let line_end = *pos + buf[*pos..].windows(2).position(|w| w == b"\r\n")?;
    let head = &buf[*pos + 1..line_end];
    *pos = line_end + 2;
    let v = match t {
        b'$' | b'=' => {
            let n: usize = std::str::from_utf8(head).ok()?.parse().ok()?;
            let body = buf.get(*pos..*pos + n)?.to_vec();
            *pos += n + 2;
            V::Blob(t, body)
        }
        b'*' | b'~' | b'%' => {
            let n: usize = std::str::from_utf8(head).ok()?.parse().ok()?;
            let items = if t == b'%' { 2 * n } else { n };
            let mut v = Vec::with_capacity(items);
            for _ in 0..items {
                v.push(parse(buf, pos)?);
            }
            V::Agg(t, v)
        }
        _ => V::Line(t, head.to_vec()),
    };
    Some(v)
}

fn write(v: &V, out: &mut Vec<u8>) {
    match v {
        V::Line(t, text) => {
            out.push(*t);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        V::Blob(t, body) => {
            out.push(*t);
            out.extend_from_slice(format!("{}\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        V::Agg(t, items) => {
            let n = if *t == b'%' {
                items.len() / 2
            } else {
                items.len()
            };
            out.push(*t);
            out.extend_from_slice(format!("{n}\r\n").as_bytes());
            for i in items {
                write(i, out);
            }
        }
    }
}

/// The text of a string value (a name).
fn text(v: &V) -> &[u8] {
    match v {
        V::Line(_, t) | V::Blob(_, t) => t,
        V::Agg(..) => b"",
    }
}

/// A COMMAND INFO entry with its subcommands (element 10) sorted by name.
fn sort_info_entry(v: &mut V) {
    if let V::Agg(_, items) = v {
        if let Some(V::Agg(_, subs)) = items.get_mut(9) {
            for s in subs.iter_mut() {
                sort_info_entry(s);
            }
            subs.sort_by(|a, b| name_of_entry(a).cmp(name_of_entry(b)));
        }
    }
}

fn name_of_entry(v: &V) -> &[u8] {
    match v {
        V::Agg(_, items) => items.first().map_or(&b""[..], text),
        _ => b"",
    }
}

/// A map of docs sorted by key, and each doc's `subcommands` map the same way.
fn sort_docs(v: &mut V) {
    let V::Agg(b'%', items) = v else {
        return;
    };
    let mut pairs: Vec<(V, V)> = Vec::new();
    let mut it = std::mem::take(items).into_iter();
    while let (Some(k), Some(mut doc)) = (it.next(), it.next()) {
        if let V::Agg(b'%', fields) = &mut doc {
            for kv in fields.chunks_exact_mut(2) {
                if text(&kv[0]) == b"subcommands" {
                    sort_docs(&mut kv[1]);
                }
            }
        }
        pairs.push((k, doc));
    }
    pairs.sort_by(|a, b| text(&a.0).cmp(text(&b.0)));
    *items = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
}

/// The two replies, with every list of commands sorted by name.
fn canonical(info: &[u8], docs: &[u8]) -> Option<Vec<u8>> {
    let mut info = parse(info, &mut 0)?;
    let mut docs = parse(docs, &mut 0)?;
    if let V::Agg(_, entries) = &mut info {
        for e in entries.iter_mut() {
            sort_info_entry(e);
        }
        entries.sort_by(|a, b| name_of_entry(a).cmp(name_of_entry(b)));
    }
    sort_docs(&mut docs);
    let mut out = Vec::new();
    write(&info, &mut out);
    write(&docs, &mut out);
    Some(out)
}

fn request(s: &mut TcpStream, args: &[&str]) -> Option<Vec<u8>> {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        if let Some(end) = value_end(&buf, 0) {
            buf.truncate(end);
            return Some(buf);
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub(crate) fn run() -> bool {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(7000);
    let Ok(mut child) = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        eprintln!("xtask gen-commands: cannot start redis-server");
        return false;
    };
    let mut stream = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = stream.and_then(|mut s| {
        let hello = request(&mut s, &["HELLO", "3"])?;
        let version = String::from_utf8_lossy(&hello).contains("7.0.15");
        if !version {
            eprintln!("xtask gen-commands: the server is not redis 7.0.15");
            return None;
        }
        let info = request(&mut s, &["COMMAND", "INFO"])?;
        let docs = request(&mut s, &["COMMAND", "DOCS"])?;
        canonical(&info, &docs)
    });
    let _ = child.kill();
    let _ = child.wait();
    let Some(data) = result else {
        eprintln!("xtask gen-commands: no reply from redis-server");
        return false;
    };
    match std::fs::write(OUT, &data) {
        Ok(()) => {
            eprintln!("xtask gen-commands: wrote {OUT} ({} bytes)", data.len());
            true
        }
        Err(e) => {
            eprintln!("xtask gen-commands: {OUT}: {e}");
            false
        }
    }
}
