//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH, SPUBLISH
//! and PUBSUB, as Redis 7.0 (messages are not stored: a subscriber gets what is
//! published while it is subscribed).
//!
//! The registry (`Shared::pubsub`) maps channels and patterns to subscribers; PUBLISH
//! builds each subscriber's message in its protocol (RESP2 array or RESP3 push) and
//! hands it to the subscriber's event loop, which appends it to the output. A
//! subscriber whose unsent output passes `PUBSUB_HARD_LIMIT` is closed, as Redis's
//! `client-output-buffer-limit pubsub 32mb` does.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use strata_dump::glob::Glob;

use super::{done, CmdErr, Ctx, R};
use crate::resp::Out;
use crate::{lock, ClientInfo, LoopMsg, Shared};

/// Unsent output past which a subscriber is closed (Redis's default hard limit for
/// pub/sub clients).
pub const PUBSUB_HARD_LIMIT: usize = 32 << 20;

/// The three kinds of subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }
    fn unsubscribe(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// Who is subscribed to what.
#[derive(Default)]
pub struct Registry {
    channels: HashMap<Vec<u8>, Vec<Arc<ClientInfo>>>,
    shard: HashMap<Vec<u8>, Vec<Arc<ClientInfo>>>,
    /// Pattern → its compiled glob and subscribers.
    patterns: HashMap<Vec<u8>, (Glob, Vec<Arc<ClientInfo>>)>,
}

/// A connection's subscriptions.
#[derive(Default)]
pub struct Subs {
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shard: BTreeSet<Vec<u8>>,
}

impl Subs {
    /// Subscribed to anything (RESP2 clients are then limited to pub/sub commands).
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
    /// Channels, patterns and shard channels subscribed to.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }
    /// Redis's count in (un)subscribe replies: channels and patterns, or for the shard
    /// commands, shard channels.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }
    fn set(&mut self, kind: Kind) -> &mut BTreeSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// Commands a RESP2 client may send while subscribed.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// `*3`/`>3` header of a pub/sub frame in `proto`.
fn frame(out: &mut Vec<u8>, proto: u8, n: usize) {
    out.push(if proto == 3 { b'>' } else { b'*' });
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The (un)subscribe confirmation: kind, channel (or null), count.
fn confirm(c: &mut Ctx, what: &[u8], channel: Option<&[u8]>, count: usize) {
    let proto = c.s.proto;
    frame(c.out.buf, proto, 3);
    c.out.bulk(what);
    match channel {
        Some(ch) => c.out.bulk(ch),
        None => c.out.null(),
    }
    c.out.int(count as i64);
}

fn subscribe_kind(c: &mut Ctx, a: &[Vec<u8>], kind: Kind) -> R {
    let me = lock(&c.sh.clients).get(&c.info.id).cloned();
    for ch in &a[1..] {
        if c.s.subs.set(kind).insert(ch.clone()) {
            if let Some(me) = &me {
                let mut reg = lock(&c.sh.pubsub);
                match kind {
                    Kind::Channel => reg.channels.entry(ch.clone()).or_default(),
                    Kind::Shard => reg.shard.entry(ch.clone()).or_default(),
                    Kind::Pattern => {
                        &mut reg
                            .patterns
                            .entry(ch.clone())
                            .or_insert_with(|| (Glob::new(ch), Vec::new()))
                            .1
                    }
                }
                .push(Arc::clone(me));
            }
        }
        let n = c.s.subs.count(kind);
        confirm(c, kind.subscribe(), Some(ch), n);
    }
    done()
}

fn unsubscribe_kind(c: &mut Ctx, a: &[Vec<u8>], kind: Kind) -> R {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a[1..].to_vec()
    } else {
        c.s.subs.set(kind).iter().cloned().collect()
    };
    if names.is_empty() {
        let n = c.s.subs.count(kind);
        confirm(c, kind.unsubscribe(), None, n);
        return done();
    }
    for ch in names {
        if c.s.subs.set(kind).remove(&ch) {
            remove(c.sh, kind, &ch, c.info.id);
        }
        let n = c.s.subs.count(kind);
        confirm(c, kind.unsubscribe(), Some(&ch), n);
    }
    done()
}

/// Take `client` off `name`'s subscribers.
fn remove(sh: &Shared, kind: Kind, name: &[u8], client: u64) {
    let mut reg = lock(&sh.pubsub);
    let list = match kind {
        Kind::Channel => reg.channels.get_mut(name),
        Kind::Shard => reg.shard.get_mut(name),
        Kind::Pattern => reg.patterns.get_mut(name).map(|(_, l)| l),
    };
    let Some(list) = list else { return };
    list.retain(|i| i.id != client);
    if list.is_empty() {
        match kind {
            Kind::Channel => reg.channels.remove(name),
            Kind::Shard => reg.shard.remove(name),
            Kind::Pattern => reg.patterns.remove(name).map(|(_, l)| l),
        };
    }
}

/// Drop every subscription of a connection (RESET, disconnection).
pub fn forget(sh: &Shared, subs: &mut Subs, client: u64) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(subs.set(kind)) {
            remove(sh, kind, &name, client);
        }
    }
}

pub fn subscribe(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    subscribe_kind(c, a, Kind::Channel)
}
pub fn psubscribe(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    subscribe_kind(c, a, Kind::Pattern)
}
pub fn ssubscribe(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    subscribe_kind(c, a, Kind::Shard)
}
pub fn unsubscribe(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    unsubscribe_kind(c, a, Kind::Channel)
}
pub fn punsubscribe(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    unsubscribe_kind(c, a, Kind::Pattern)
}
pub fn sunsubscribe(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    unsubscribe_kind(c, a, Kind::Shard)
}

/// Send `msg` on `channel` to its subscribers (and, unless sharded, to matching
/// patterns' subscribers); the number of deliveries.
/// A message to the publishing client itself (a RESP3 client may publish to its own
/// channel) goes into `own`, ahead of PUBLISH's reply, as in Redis.
fn publish_kind(
    sh: &Shared,
    channel: &[u8],
    msg: &[u8],
    shard: bool,
    me: u64,
    own: &mut Vec<u8>,
) -> usize {
    let reg = lock(&sh.pubsub);
    let mut n = 0;
    // One frame per (pattern, protocol), built the first time a subscriber needs it,
    // not once per subscriber.
    let encode = |proto: u8, pattern: Option<&[u8]>| {
        let mut b = Vec::with_capacity(64 + channel.len() + msg.len());
        let mut o = Out { buf: &mut b, proto };
        match pattern {
            Some(p) => {
                frame(o.buf, proto, 4);
                o.bulk(b"pmessage");
                o.bulk(p);
            }
            None => {
                frame(o.buf, proto, 3);
                o.bulk(if shard { b"smessage" } else { b"message" });
            }
        }
        o.bulk(channel);
        o.bulk(msg);
        b
    };
    let mut deliver = |subs: &[Arc<ClientInfo>], pattern: Option<&[u8]>| {
        let mut frames: [Option<Vec<u8>>; 2] = [None, None];
        for info in subs {
            let proto = info.resp.load(Ordering::Relaxed);
            let b = frames[usize::from(proto == 3)].get_or_insert_with(|| encode(proto, pattern));
            if info.id == me {
                own.extend_from_slice(b);
            } else if let Some(l) = sh.loops.get(info.loop_idx) {
                l.send(LoopMsg::Message(info.id, b.clone()));
            }
        }
        subs.len()
    };
    let direct = if shard {
        reg.shard.get(channel)
    } else {
        reg.channels.get(channel)
    };
    if let Some(subs) = direct {
        n += deliver(subs, None);
    }
    if !shard {
        for (p, (g, subs)) in &reg.patterns {
            if g.matches(channel) {
                n += deliver(subs, Some(p));
            }
        }
    }
    n
}

pub fn publish(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = publish_kind(c.sh, &a[1], &a[2], false, c.info.id, c.out.buf);
    c.int(n as i64)
}

pub fn spublish(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = publish_kind(c.sh, &a[1], &a[2], true, c.info.id, c.out.buf);
    c.int(n as i64)
}

pub fn pubsub(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let reg = lock(&c.sh.pubsub);
    match (sub.as_str(), a.len()) {
        ("channels" | "shardchannels", 2 | 3) => {
            let map = if sub == "channels" {
                &reg.channels
            } else {
                &reg.shard
            };
            let g = a.get(2).map(|p| Glob::new(p));
            let names: Vec<&[u8]> = map
                .keys()
                .filter(|k| g.as_ref().is_none_or(|g| g.matches(k)))
                .map(Vec::as_slice)
                .collect();
            c.out.bulks(names.into_iter());
        }
        ("numsub" | "shardnumsub", _) => {
            let map = if sub == "numsub" {
                &reg.channels
            } else {
                &reg.shard
            };
            let pairs: Vec<(&[u8], usize)> = a[2..]
                .iter()
                .map(|ch| (ch.as_slice(), map.get(ch).map_or(0, Vec::len)))
                .collect();
            if c.s.proto == 3 {
                c.out.map(pairs.len());
            } else {
                c.out.array(pairs.len() * 2);
            }
            for (ch, n) in pairs {
                c.out.bulk(ch);
                c.out.int(n as i64);
            }
        }
        ("numpat", 2) => c.out.int(reg.patterns.len() as i64),
        ("help", 2) => {
            let lines: [&[u8]; 4] = [
                b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"CHANNELS [<pattern>]",
                b"NUMPAT",
                b"NUMSUB [<channel> ...]",
            ];
            c.out.array(lines.len());
            for l in lines {
                c.out.simple(&String::from_utf8_lossy(l));
            }
        }
        ("channels" | "shardchannels" | "numpat", _) => {
            return Err(CmdErr(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&a[1])
            )))
        }
        _ => return Err(super::unknown_subcommand(a)),
    }
    done()
}
