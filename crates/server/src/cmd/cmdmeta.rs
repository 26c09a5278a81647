//! What COMMAND INFO and COMMAND DOCS say of each command: Redis 7.0.15's own replies,
//! captured from a real redis-server by `cargo xtask gen-commands` into
//! `data/redis-7.0.15-commands.resp3` (the RESP3 replies of `COMMAND INFO` and
//! `COMMAND DOCS`, commands and subcommands sorted by name). Clients read these
//! (redis-cli builds its argument hints from COMMAND DOCS; cluster clients route by
//! COMMAND INFO's key positions and flags), so they are Redis's bytes rather than a
//! second description kept by hand. Strata serves the entries of the commands it
//! implements; a command Redis does not have (BGDUMP) gets an entry built from the
//! command table.

use std::sync::OnceLock;

use crate::resp::Out;

static DATA: &[u8] = include_bytes!("../../data/redis-7.0.15-commands.resp3");

/// A RESP3 value of the captured replies, borrowing the data.
pub(crate) enum V {
    /// `+text`.
    Simple(&'static [u8]),
    /// `:n`.
    Int(i64),
    /// `$len` string.
    Bulk(&'static [u8]),
    /// `*n`.
    Array(Vec<V>),
    /// `~n`.
    Set(Vec<V>),
    /// `%n`: keys and values in turn.
    Map(Vec<V>),
}

impl V {
    pub(crate) fn text(&self) -> &'static [u8] {
        match self {
            V::Simple(t) | V::Bulk(t) => t,
            _ => b"",
        }
    }

    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            V::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn items(&self) -> &[V] {
        match self {
            V::Array(v) | V::Set(v) | V::Map(v) => v,
            _ => &[],
        }
    }

    /// Write the value in the client's protocol (RESP2: maps and sets as arrays).
    pub(crate) fn emit(&self, o: &mut Out) {
        match self {
            V::Simple(t) => {
                o.buf.push(b'+');
                o.buf.extend_from_slice(t);
                o.buf.extend_from_slice(b"\r\n");
            }
            V::Int(n) => o.int(*n),
            V::Bulk(b) => o.bulk(b),
            V::Array(v) => {
                o.array(v.len());
                v.iter().for_each(|x| x.emit(o));
            }
            V::Set(v) => {
                o.set(v.len());
                v.iter().for_each(|x| x.emit(o));
            }
            V::Map(v) => {
                o.map(v.len() / 2);
                v.iter().for_each(|x| x.emit(o));
            }
        }
    }
}

fn parse(buf: &'static [u8], pos: &mut usize, depth: usize) -> Option<V> {
    if depth > 16 {
        return None;
    }
    let rest = buf.get(*pos..)?;
    let eol = rest.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&rest[1..eol]).ok()?;
    let t = rest[0];
    *pos += eol + 2;
    Some(match t {
        b'+' => V::Simple(&rest[1..eol]),
        b':' => V::Int(head.parse().ok()?),
        b'$' => {
            let n: usize = head.parse().ok()?;
            let body = buf.get(*pos..*pos + n)?;
            *pos += n + 2;
            V::Bulk(body)
        }
        b'*' | b'~' | b'%' => {
            let n: usize = head.parse().ok()?;
            let items = if t == b'%' { n.checked_mul(2)? } else { n };
            let mut v = Vec::with_capacity(items.min(1024));
            for _ in 0..items {
                v.push(parse(buf, pos, depth + 1)?);
            }
            match t {
                b'*' => V::Array(v),
                b'~' => V::Set(v),
                _ => V::Map(v),
            }
        }
        _ => return None,
    })
}

/// The captured metadata: COMMAND INFO entries (`*10` arrays) and COMMAND DOCS
/// entries (name, doc map), each sorted by name.
pub(crate) struct Meta {
    info: Vec<V>,
    docs: Vec<(&'static [u8], V)>,
}

fn entry_name(e: &V) -> &'static [u8] {
    e.items().first().map_or(&b""[..], V::text)
}

impl Meta {
    fn load() -> Option<Meta> {
        let mut pos = 0;
        let V::Array(info) = parse(DATA, &mut pos, 0)? else {
            return None;
        };
        let V::Map(docs) = parse(DATA, &mut pos, 0)? else {
            return None;
        };
        let mut pairs = Vec::with_capacity(docs.len() / 2);
        let mut it = docs.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k.text(), v));
        }
        Some(Meta { info, docs: pairs })
    }

    /// The COMMAND INFO entry of `name`: a command, or `container|sub`.
    pub(crate) fn info(&self, name: &str) -> Option<&V> {
        let (top, sub) = match name.split_once('|') {
            Some((t, s)) => (t, Some(s)),
            None => (name, None),
        };
        let i = self
            .info
            .binary_search_by(|e| entry_name(e).cmp(top.as_bytes()))
            .ok()?;
        let e = &self.info[i];
        match sub {
            None => Some(e),
            Some(_) => subcommands(e)
                .iter()
                .find(|s| entry_name(s) == name.as_bytes()),
        }
    }

    /// The COMMAND DOCS map of `name`: a command, or `container|sub`.
    pub(crate) fn docs(&self, name: &str) -> Option<&V> {
        let top = name.split_once('|').map_or(name, |(t, _)| t);
        let i = self
            .docs
            .binary_search_by(|(n, _)| n.cmp(&top.as_bytes()))
            .ok()?;
        let doc = &self.docs[i].1;
        if top.len() == name.len() {
            return Some(doc);
        }
        let subs = map_get(doc, b"subcommands")?;
        map_get(subs, name.as_bytes())
    }
}

/// A COMMAND INFO entry's subcommand entries.
pub(crate) fn subcommands(entry: &V) -> &[V] {
    entry.items().get(9).map_or(&[], V::items)
}

/// An entry's name.
pub(crate) fn name(entry: &V) -> &'static [u8] {
    entry_name(entry)
}

/// Does the entry belong to ACL category `cat` (given without `@`, any case)?
pub(crate) fn in_category(entry: &V, cat: &[u8]) -> bool {
    entry.items().get(6).is_some_and(|cats| {
        cats.items().iter().any(|c| {
            let t = c.text();
            t.len() == cat.len() + 1 && t[0] == b'@' && t[1..].eq_ignore_ascii_case(cat)
        })
    })
}

pub(crate) fn map_get<'a>(m: &'a V, key: &[u8]) -> Option<&'a V> {
    let V::Map(items) = m else {
        return None;
    };
    items
        .chunks_exact(2)
        .find(|kv| kv[0].text() == key)
        .map(|kv| &kv[1])
}

/// The captured metadata (parsed once; `None` only if the data file were damaged,
/// which a unit test rules out).
pub(crate) fn meta() -> Option<&'static Meta> {
    static META: OnceLock<Option<Meta>> = OnceLock::new();
    META.get_or_init(Meta::load).as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_captured_data_parses_whole_and_covers_every_command_strata_has_but_bgdump() {
        let m = meta().expect("the data parses");
        let mut pos = 0;
        parse(DATA, &mut pos, 0).unwrap();
        parse(DATA, &mut pos, 0).unwrap();
        assert_eq!(pos, DATA.len(), "nothing after the two replies");
        assert!(m
            .info
            .windows(2)
            .all(|w| entry_name(&w[0]) < entry_name(&w[1])));
        assert!(m.docs.windows(2).all(|w| w[0].0 < w[1].0));
        for c in super::super::COMMANDS {
            if c.name == "bgdump" {
                assert!(m.info(c.name).is_none());
                continue;
            }
            assert!(m.info(c.name).is_some(), "{} has no COMMAND INFO", c.name);
            assert!(m.docs(c.name).is_some(), "{} has no COMMAND DOCS", c.name);
        }
        assert!(m.info("client|pause").is_some());
        assert!(m.docs("client|pause").is_some());
        assert!(m.info("client|nosuch").is_none());
        assert!(m.info("get|x").is_none());
    }
}
