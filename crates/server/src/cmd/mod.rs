//! Commands: the table, dispatch (arity, authentication, unknown commands), and the
//! helpers every command family uses.

mod admin;
mod bgdump;
mod bitops;
pub mod blocking;
pub(crate) mod cmdmeta;
pub mod cmdstats;
pub mod coll;
pub mod dump;
pub mod function;
mod geo;
pub(crate) mod getkeys;
mod hash;
mod hyperloglog;
pub mod keys;
mod lcs;
pub mod list;
mod memory;
pub mod multi;
mod ops;
pub mod pubsub;
pub mod script;
mod set;
pub mod slowlog;
mod sort;
pub(crate) mod stream;
mod strings;
mod zset;

use std::sync::atomic::Ordering;

use crate::resp::{parse_i64, Out};
use crate::store::{self, Kind, Meta};
use crate::{lock, ClientInfo, Job, Shared};

/// Per-connection state the commands change.
pub struct Session {
    /// Selected logical database.
    pub db: usize,
    /// RESP version (2 or 3).
    pub proto: u8,
    /// Passed AUTH.
    pub authed: bool,
    /// Between MULTI and EXEC: the queued commands.
    pub multi: Option<multi::Multi>,
    /// Running an EXEC's commands (blocking commands do not block).
    pub in_exec: bool,
    /// WATCHed keys: (logical db, key).
    pub watched: Vec<(usize, Vec<u8>)>,
    /// Set by any write of a watched key.
    pub watch_dirty: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Pub/sub subscriptions.
    pub subs: pubsub::Subs,
    /// A script's session (its commands are slow-logged as its Lua client's).
    pub in_script: bool,
    /// Keys that gained elements while an EXEC or a script ran: their blocked clients
    /// are served when it ends, as Redis serves its ready keys after the whole command
    /// (`Ctx::signal_key`).
    pub ready: Vec<(usize, Vec<u8>)>,
    /// CLIENT REPLY's state.
    pub reply: ReplyMode,
}

/// CLIENT REPLY's flags, as Redis keeps them: OFF mutes every reply until ON; SKIP mutes
/// the next command's (it arms `skip_next`, which becomes `skip` when the SKIP command
/// ends and is cleared when the command after it ends). Pub/sub confirmations and
/// messages are never muted (Redis sends them as pushes).
#[derive(Default, Clone, Copy, Debug)]
pub struct ReplyMode {
    pub off: bool,
    pub skip: bool,
    pub skip_next: bool,
    /// The command that blocked (or went to a worker) was muted: so is its reply.
    pub mute_waiting: bool,
    /// EXEC ran its transaction (set by EXEC, taken by `execute`).
    pub exec_ran: bool,
}

impl ReplyMode {
    pub fn muted(&self) -> bool {
        self.off || self.skip
    }

    /// A request ended (Redis's `resetClient`): SKIP's command has had its turn.
    pub fn after_command(&mut self) {
        self.skip = self.skip_next;
        self.skip_next = false;
    }
}

impl Default for Session {
    fn default() -> Self {
        Session {
            db: 0,
            proto: 2,
            authed: false,
            multi: None,
            in_exec: false,
            watched: Vec::new(),
            watch_dirty: Default::default(),
            subs: Default::default(),
            in_script: false,
            ready: Vec::new(),
            reply: ReplyMode::default(),
        }
    }
}

impl Session {
    /// May this client run commands? (Authenticated, or no password is set.)
    pub fn authenticated(&self, sh: &Shared) -> bool {
        self.authed || !sh.hot.password_set.load(Ordering::Relaxed)
    }
}

/// What the connection does after a command.
pub enum Flow {
    /// Go on; `wrote` = the command may have written (an fsync is due under `always`).
    Continue {
        /// The command may have written.
        wrote: bool,
    },
    /// Close the connection once the reply is sent.
    Close,
    /// The reply is computed by a worker; the connection waits for it.
    Defer(Job),
    /// The client blocks (BLPOP, ...) until served or until the deadline.
    Block(Option<std::time::Instant>),
    /// CLIENT PAUSE holds the request: the connection keeps it, and runs it again
    /// (from the start, refusals included) when the pause ends.
    Postpone,
}

/// A command's error reply (full text, starting with its code).
#[derive(Debug)]
pub struct CmdErr(pub String);

impl From<store::Error> for CmdErr {
    fn from(e: store::Error) -> Self {
        CmdErr(format!("ERR {e}"))
    }
}

impl From<&str> for CmdErr {
    fn from(s: &str) -> Self {
        CmdErr(s.to_string())
    }
}

/// Result of a command handler.
pub type R = Result<Flow, CmdErr>;

/// (field, value) pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
/// (member, score) pairs.
pub type Scored = Vec<(Vec<u8>, f64)>;
/// What an *MPOP took: the key and its elements.
pub type Popped<T> = Option<(Vec<u8>, Vec<T>)>;

/// Redis's error texts.
pub mod err {
    /// Wrong type.
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// Syntax.
    pub const SYNTAX: &str = "ERR syntax error";
    /// Integer argument or value.
    pub const NOT_INT: &str = "ERR value is not an integer or out of range";
    /// Float argument or value.
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    /// SELECT/MOVE/COPY out of range.
    pub const DB_RANGE: &str = "ERR DB index is out of range";
    /// RENAME of a missing key.
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// Not authenticated.
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
    /// Bad password.
    pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
    /// Overflow.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// Same source and destination.
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
}

/// What a handler gets.
pub struct Ctx<'a> {
    /// The server.
    pub sh: &'a Shared,
    /// The connection's state.
    pub s: &'a mut Session,
    /// The client's shared info.
    pub info: &'a ClientInfo,
    /// Where the reply goes.
    pub out: Out<'a>,
    /// The command's table entry.
    pub cmd: &'static Cmd,
}

/// Continue, no write.
pub fn done() -> R {
    Ok(Flow::Continue { wrote: false })
}

impl Ctx<'_> {
    /// Elements were added to `key` in logical db `db`: serve the clients blocked on it
    /// now, or, inside an EXEC or a script, once it ends (a key pushed to and deleted
    /// within one transaction wakes nobody).
    pub fn signal_key(&mut self, db: usize, key: &[u8]) {
        if self.s.in_exec {
            if !self.s.ready.iter().any(|(d, k)| *d == db && k == key) {
                self.s.ready.push((db, key.to_vec()));
            }
        } else {
            self.sh.signal_key(db, key);
        }
    }

    /// Serve the keys that became ready while an EXEC or a script ran (see
    /// [`Ctx::signal_key`]); a script inside an EXEC hands them to the EXEC.
    pub fn signal_ready(&mut self, ready: Vec<(usize, Vec<u8>)>) {
        for (db, key) in ready {
            self.signal_key(db, &key);
        }
    }

    /// Reply `+OK`.
    pub fn ok(&mut self) -> R {
        self.out.ok();
        done()
    }
    /// Reply an integer.
    pub fn int(&mut self, n: i64) -> R {
        self.out.int(n);
        done()
    }
    /// Reply a bulk string or null.
    pub fn bulk_opt(&mut self, b: Option<&[u8]>) -> R {
        self.out.bulk_opt(b);
        done()
    }
    /// The live metadata of a key in the selected database (counts hits and misses).
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Meta>, CmdErr> {
        let m = self.sh.store.get(self.s.db, key)?;
        let st = &self.sh.stats;
        if m.is_some() {
            st.keyspace_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            st.keyspace_misses.fetch_add(1, Ordering::Relaxed);
        }
        Ok(m)
    }
    /// Count a read lookup made some other way (through a `Txn`) in INFO's keyspace
    /// hits and misses, as Redis counts its read lookups.
    pub fn count_read(&self, hit: bool) {
        let st = &self.sh.stats;
        let counter = if hit {
            &st.keyspace_hits
        } else {
            &st.keyspace_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    /// [`Ctx::lookup`] of each key, the engine lookups done at once.
    pub fn lookup_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Meta>>, CmdErr> {
        let metas = self.sh.store.get_many(self.s.db, keys)?;
        let hits = metas.iter().filter(|m| m.is_some()).count() as u64;
        let st = &self.sh.stats;
        st.keyspace_hits.fetch_add(hits, Ordering::Relaxed);
        st.keyspace_misses
            .fetch_add(metas.len() as u64 - hits, Ordering::Relaxed);
        Ok(metas)
    }
    /// A string key's value; WRONGTYPE for other types.
    pub fn get_string(&self, key: &[u8]) -> Result<Option<Vec<u8>>, CmdErr> {
        match self.lookup(key)? {
            None => Ok(None),
            Some(m) if m.kind == Kind::String => Ok(Some(m.body)),
            Some(_) => Err(err::WRONGTYPE.into()),
        }
    }
    /// The command's name for error texts.
    pub fn name(&self) -> &'static str {
        self.cmd.name
    }
}

/// Reply an array of status lines (the HELP subcommands).
pub fn reply_lines(c: &mut Ctx, lines: &[&str]) -> R {
    c.out.array(lines.len());
    for l in lines {
        c.out.simple(l);
    }
    done()
}

/// Parse an integer argument (Redis's `string2ll` rules).
pub fn int_arg(a: &[u8]) -> Result<i64, CmdErr> {
    parse_i64(a).ok_or_else(|| err::NOT_INT.into())
}

/// A double argument as Redis's `string2d` reads it (`strtod`: decimal or hex, "inf"
/// allowed; no blanks, NaN, overflow or underflow to zero).
pub fn float_arg(a: &[u8]) -> Option<f64> {
    crate::cfloat::string2d(a)
}

/// Case-insensitive ASCII comparison of an argument with a keyword.
pub fn is(a: &[u8], kw: &str) -> bool {
    a.eq_ignore_ascii_case(kw.as_bytes())
}

/// One command.
pub struct Cmd {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis arity: n = exactly n arguments (with the name), -n = at least n.
    pub arity: i32,
    /// Redis command flags (COMMAND INFO); `write`, `noauth` and `admin` matter here.
    pub flags: &'static [&'static str],
    /// First key argument, last (negative from the end), step (COMMAND INFO).
    pub keys: (i32, i32, i32),
    /// Group (COMMAND DOCS).
    pub group: &'static str,
    /// Summary (COMMAND DOCS).
    pub summary: &'static str,
    /// The handler.
    pub run: fn(&mut Ctx, &[Vec<u8>]) -> R,
}

impl Cmd {
    fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

macro_rules! cmds {
    ($( $name:literal, $arity:expr, [$($flag:literal),*], ($f:expr, $l:expr, $s:expr), $group:literal, $run:path, $summary:literal; )*) => {
        /// Every command Strata implements.
        pub static COMMANDS: &[Cmd] = &[
            $( Cmd { name: $name, arity: $arity, flags: &[$($flag),*], keys: ($f, $l, $s), group: $group, summary: $summary, run: $run }, )*
        ];
    };
}

cmds! {
    // Connection.
    "ping", -1, ["fast", "stale"], (0, 0, 0), "connection", admin::ping, "Returns the server's liveliness response.";
    "echo", 2, ["fast"], (0, 0, 0), "connection", admin::echo, "Returns the given string.";
    "hello", -1, ["noauth", "fast", "stale", "noscript"], (0, 0, 0), "connection", admin::hello, "Handshakes with the Redis server.";
    "auth", -2, ["noauth", "fast", "stale", "noscript"], (0, 0, 0), "connection", admin::auth, "Authenticates the connection.";
    "select", 2, ["fast", "loading", "stale"], (0, 0, 0), "connection", admin::select, "Changes the selected database.";
    "quit", -1, ["noauth", "fast", "stale", "noscript"], (0, 0, 0), "connection", admin::quit, "Closes the connection.";
    "reset", 1, ["noauth", "fast", "stale", "noscript"], (0, 0, 0), "connection", admin::reset, "Resets the connection.";
    "subscribe", -2, ["pubsub", "noscript", "loading", "stale"], (0, 0, 0), "pubsub", pubsub::subscribe, "Listens for messages published to channels.";
    "psubscribe", -2, ["pubsub", "noscript", "loading", "stale"], (0, 0, 0), "pubsub", pubsub::psubscribe, "Listens for messages published to channels that match one or more patterns.";
    "ssubscribe", -2, ["pubsub", "noscript", "loading", "stale"], (1, -1, 1), "pubsub", pubsub::ssubscribe, "Listens for messages published to shard channels.";
    "unsubscribe", -1, ["pubsub", "noscript", "loading", "stale"], (0, 0, 0), "pubsub", pubsub::unsubscribe, "Stops listening to messages posted to channels.";
    "punsubscribe", -1, ["pubsub", "noscript", "loading", "stale"], (0, 0, 0), "pubsub", pubsub::punsubscribe, "Stops listening to messages published to channels that match one or more patterns.";
    "sunsubscribe", -1, ["pubsub", "noscript", "loading", "stale"], (1, -1, 1), "pubsub", pubsub::sunsubscribe, "Stops listening to messages posted to shard channels.";
    "publish", 3, ["pubsub", "loading", "stale", "fast", "may_replicate"], (0, 0, 0), "pubsub", pubsub::publish, "Posts a message to a channel.";
    "spublish", 3, ["pubsub", "loading", "stale", "fast", "may_replicate"], (1, 1, 1), "pubsub", pubsub::spublish, "Post a message to a shard channel";
    "pubsub", -2, [], (0, 0, 0), "pubsub", pubsub::pubsub, "A container for Pub/Sub commands.";
    "eval", -3, ["noscript", "skip_monitor", "may_replicate", "no_mandatory_keys", "stale"], (0, 0, 0), "scripting", script::eval, "Executes a server-side Lua script.";
    "evalsha", -3, ["noscript", "skip_monitor", "may_replicate", "no_mandatory_keys", "stale"], (0, 0, 0), "scripting", script::evalsha, "Executes a server-side Lua script by SHA1 digest.";
    "eval_ro", -3, ["readonly", "noscript", "skip_monitor", "no_mandatory_keys", "stale"], (0, 0, 0), "scripting", script::eval_ro, "Executes a read-only server-side Lua script.";
    "evalsha_ro", -3, ["readonly", "noscript", "skip_monitor", "no_mandatory_keys", "stale"], (0, 0, 0), "scripting", script::evalsha_ro, "Executes a read-only server-side Lua script by SHA1 digest.";
    "script", -2, ["noscript"], (0, 0, 0), "scripting", script::script, "A container for Lua scripts management commands.";
    "multi", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], (0, 0, 0), "transactions", multi::multi, "Starts a transaction.";
    "exec", 1, ["noscript", "loading", "stale", "skip_slowlog"], (0, 0, 0), "transactions", multi::exec, "Executes all commands in a transaction.";
    "discard", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], (0, 0, 0), "transactions", multi::discard, "Discards a transaction.";
    "watch", -2, ["noscript", "loading", "stale", "fast", "allow_busy"], (1, -1, 1), "transactions", multi::watch, "Monitors changes to keys to determine the execution of a transaction.";
    "unwatch", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], (0, 0, 0), "transactions", multi::unwatch, "Forgets about watched keys of a transaction.";
    "client", -2, [], (0, 0, 0), "connection", admin::client, "A container for client connection commands.";
    // Strings.
    "get", 2, ["readonly", "fast"], (1, 1, 1), "string", strings::get, "Returns the string value of a key.";
    "set", -3, ["write", "denyoom"], (1, 1, 1), "string", strings::set, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.";
    "setnx", 3, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::setnx, "Set the string value of a key only when the key doesn't exist.";
    "setex", 4, ["write", "denyoom"], (1, 1, 1), "string", strings::setex, "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.";
    "psetex", 4, ["write", "denyoom"], (1, 1, 1), "string", strings::psetex, "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.";
    "getset", 3, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::getset, "Returns the previous string value of a key after setting it to a new value.";
    "getdel", 2, ["write", "fast"], (1, 1, 1), "string", strings::getdel, "Returns the string value of a key after deleting the key.";
    "getex", -2, ["write", "fast"], (1, 1, 1), "string", strings::getex, "Returns the string value of a key after setting its expiration time.";
    "mget", -2, ["readonly", "fast"], (1, -1, 1), "string", strings::mget, "Atomically returns the string values of one or more keys.";
    "mset", -3, ["write", "denyoom"], (1, -1, 2), "string", strings::mset, "Atomically creates or modifies the string values of one or more keys.";
    "msetnx", -3, ["write", "denyoom"], (1, -1, 2), "string", strings::msetnx, "Atomically modifies the string values of one or more keys only when all keys don't exist.";
    "incr", 2, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::incr, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    "decr", 2, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::decr, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    "incrby", 3, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::incrby, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    "decrby", 3, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::decrby, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.";
    "incrbyfloat", 3, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::incrbyfloat, "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    "append", 3, ["write", "denyoom", "fast"], (1, 1, 1), "string", strings::append, "Appends a string to the value of a key. Creates the key if it doesn't exist.";
    "strlen", 2, ["readonly", "fast"], (1, 1, 1), "string", strings::strlen, "Returns the length of a string value.";
    "getrange", 4, ["readonly"], (1, 1, 1), "string", strings::getrange, "Returns a substring of the string stored at a key.";
    "substr", 4, ["readonly"], (1, 1, 1), "string", strings::getrange, "Returns a substring from a string value.";
    "setrange", 4, ["write", "denyoom"], (1, 1, 1), "string", strings::setrange, "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.";
    "setbit", 4, ["write", "denyoom"], (1, 1, 1), "bitmap", strings::setbit, "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.";
    "getbit", 3, ["readonly", "fast"], (1, 1, 1), "bitmap", strings::getbit, "Returns a bit value by offset.";
    "bitcount", -2, ["readonly"], (1, 1, 1), "bitmap", strings::bitcount, "Counts the number of set bits (population counting) in a string.";
    "bitpos", -3, ["readonly"], (1, 1, 1), "bitmap", strings::bitpos, "Finds the first set (1) or clear (0) bit in a string.";
    "lcs", -3, ["readonly"], (1, 2, 1), "string", lcs::lcs, "Finds the longest common substring.";
    "bitop", -4, ["write", "denyoom"], (2, -1, 1), "bitmap", bitops::bitop, "Performs bitwise operations on multiple strings, and stores the result.";
    "bitfield", -2, ["write", "denyoom"], (1, 1, 1), "bitmap", bitops::bitfield, "Performs arbitrary bitfield integer operations on strings.";
    "bitfield_ro", -2, ["readonly", "fast"], (1, 1, 1), "bitmap", bitops::bitfield_ro, "Performs arbitrary read-only bitfield integer operations on strings.";
    // Geo.
    "geoadd", -5, ["write", "denyoom"], (1, 1, 1), "geo", geo::geoadd, "Adds one or more members to a geospatial index. The key is created if it doesn't exist.";
    "geopos", -2, ["readonly"], (1, 1, 1), "geo", geo::geopos, "Returns the longitude and latitude of members from a geospatial index.";
    "geodist", -4, ["readonly"], (1, 1, 1), "geo", geo::geodist, "Returns the distance between two members of a geospatial index.";
    "geohash", -2, ["readonly"], (1, 1, 1), "geo", geo::geohash, "Returns members from a geospatial index as geohash strings.";
    "georadius", -6, ["write", "denyoom", "movablekeys"], (1, 1, 1), "geo", geo::georadius, "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.";
    "georadius_ro", -6, ["readonly"], (1, 1, 1), "geo", geo::georadius_ro, "Returns members from a geospatial index that are within a distance from a coordinate.";
    "georadiusbymember", -5, ["write", "denyoom", "movablekeys"], (1, 1, 1), "geo", geo::georadiusbymember, "Queries a geospatial index for members within a distance from a member, optionally stores the result.";
    "georadiusbymember_ro", -5, ["readonly"], (1, 1, 1), "geo", geo::georadiusbymember_ro, "Returns members from a geospatial index that are within a distance from a member.";
    "geosearch", -7, ["readonly"], (1, 1, 1), "geo", geo::geosearch, "Queries a geospatial index for members inside an area of a box or a circle.";
    "geosearchstore", -8, ["write", "denyoom"], (1, 2, 1), "geo", geo::geosearchstore, "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.";
    // HyperLogLog.
    "pfadd", -2, ["write", "denyoom", "fast"], (1, 1, 1), "hyperloglog", hyperloglog::pfadd, "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.";
    "pfcount", -2, ["readonly", "may_replicate"], (1, -1, 1), "hyperloglog", hyperloglog::pfcount, "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).";
    "pfmerge", -2, ["write", "denyoom"], (1, -1, 1), "hyperloglog", hyperloglog::pfmerge, "Merges one or more HyperLogLog values into a single key.";
    "pfdebug", 3, ["write", "denyoom", "admin"], (2, 2, 1), "hyperloglog", hyperloglog::pfdebug, "Internal commands for debugging HyperLogLog values.";
    "pfselftest", 1, ["admin"], (0, 0, 0), "hyperloglog", hyperloglog::pfselftest, "An internal command for testing HyperLogLog values.";
    // Keys.
    "del", -2, ["write"], (1, -1, 1), "generic", keys::del, "Deletes one or more keys.";
    "unlink", -2, ["write", "fast"], (1, -1, 1), "generic", keys::del, "Asynchronously deletes one or more keys.";
    "exists", -2, ["readonly", "fast"], (1, -1, 1), "generic", keys::exists, "Determines whether one or more keys exist.";
    "type", 2, ["readonly", "fast"], (1, 1, 1), "generic", keys::type_, "Determines the type of value stored at a key.";
    "touch", -2, ["readonly", "fast"], (1, -1, 1), "generic", keys::exists, "Returns the number of existing keys out of those specified after updating the time they were last accessed.";
    "expire", -3, ["write", "fast"], (1, 1, 1), "generic", keys::expire, "Sets the expiration time of a key in seconds.";
    "pexpire", -3, ["write", "fast"], (1, 1, 1), "generic", keys::pexpire, "Sets the expiration time of a key in milliseconds.";
    "expireat", -3, ["write", "fast"], (1, 1, 1), "generic", keys::expireat, "Sets the expiration time of a key to a Unix timestamp.";
    "pexpireat", -3, ["write", "fast"], (1, 1, 1), "generic", keys::pexpireat, "Sets the expiration time of a key to a Unix milliseconds timestamp.";
    "ttl", 2, ["readonly", "fast"], (1, 1, 1), "generic", keys::ttl, "Returns the expiration time in seconds of a key.";
    "pttl", 2, ["readonly", "fast"], (1, 1, 1), "generic", keys::pttl, "Returns the expiration time in milliseconds of a key.";
    "expiretime", 2, ["readonly", "fast"], (1, 1, 1), "generic", keys::expiretime, "Returns the expiration time of a key as a Unix timestamp.";
    "pexpiretime", 2, ["readonly", "fast"], (1, 1, 1), "generic", keys::pexpiretime, "Returns the expiration time of a key as a Unix milliseconds timestamp.";
    "persist", 2, ["write", "fast"], (1, 1, 1), "generic", keys::persist, "Removes the expiration time of a key.";
    "rename", 3, ["write"], (1, 2, 1), "generic", keys::rename, "Renames a key and overwrites the destination.";
    "renamenx", 3, ["write", "fast"], (1, 2, 1), "generic", keys::renamenx, "Renames a key only when the target key name doesn't exist.";
    "copy", -3, ["write", "denyoom"], (1, 2, 1), "generic", keys::copy, "Copies the value of a key to a new key.";
    "move", 3, ["write", "fast"], (1, 1, 1), "generic", keys::move_, "Moves a key to another database.";
    "sort", -2, ["write", "denyoom", "movablekeys"], (1, 1, 1), "generic", sort::sort, "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.";
    "sort_ro", -2, ["readonly", "movablekeys"], (1, 1, 1), "generic", sort::sort_ro, "Returns the sorted elements of a list, a set, or a sorted set.";
    "keys", 2, ["readonly"], (0, 0, 0), "generic", keys::keys, "Returns all key names that match a pattern.";
    "scan", -2, ["readonly"], (0, 0, 0), "generic", keys::scan, "Iterates over the key names in the database.";
    "randomkey", 1, ["readonly"], (0, 0, 0), "generic", keys::randomkey, "Returns a random key name from the database.";
    "dbsize", 1, ["readonly", "fast"], (0, 0, 0), "server", keys::dbsize, "Returns the number of keys in the database.";
    "flushdb", -1, ["write"], (0, 0, 0), "server", keys::flushdb, "Removes all keys from the current database.";
    "flushall", -1, ["write"], (0, 0, 0), "server", keys::flushall, "Removes all keys from all databases.";
    "swapdb", 3, ["write", "fast"], (0, 0, 0), "server", keys::swapdb, "Swaps two Redis databases.";
    "object", -2, ["readonly"], (2, 2, 1), "generic", keys::object, "A container for object introspection commands.";
    "memory", -2, ["readonly"], (2, 2, 1), "server", memory::memory, "A container for memory diagnostics commands.";
    "module", -2, [], (0, 0, 0), "server", ops::module, "A container for module commands";
    "latency", -2, [], (0, 0, 0), "server", ops::latency, "A container for latency diagnostics commands";
    "acl", -2, [], (0, 0, 0), "server", ops::acl, "A container for Access List Control commands";
    "bgrewriteaof", 1, ["admin", "noscript"], (0, 0, 0), "server", ops::bgrewriteaof, "Asynchronously rewrite the append-only file";
    "asking", 1, ["fast"], (0, 0, 0), "cluster", admin::cluster_mode_only, "Sent by cluster clients after an -ASK redirect";
    "dump", 2, ["readonly"], (1, 1, 1), "generic", dump::dump, "Returns a serialized representation of the value stored at a key.";
    "xlen", 2, ["readonly", "fast"], (1, 1, 1), "stream", stream::xlen, "Return the number of messages in a stream.";
    "xrange", -4, ["readonly"], (1, 1, 1), "stream", stream::xrange, "Return a range of elements in a stream, with IDs matching the specified IDs interval";
    "xrevrange", -4, ["readonly"], (1, 1, 1), "stream", stream::xrevrange, "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE";
    "xinfo", -2, [], (0, 0, 0), "stream", stream::xinfo, "A container for stream introspection commands";
    "xpending", -3, ["readonly"], (1, 1, 1), "stream", stream::xpending, "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.";
    "restore", -4, ["write", "denyoom"], (1, 1, 1), "generic", dump::restore, "Creates a key from the serialized representation of a value.";
    "restore-asking", -4, ["write", "denyoom", "asking"], (1, 1, 1), "generic", dump::restore, "An internal command for migrating keys in a cluster.";
    "migrate", -6, ["write"], (3, 3, 1), "generic", dump::migrate, "Atomically transfers a key from one Redis instance to another.";
    "bgdump", -2, ["admin", "noscript"], (0, 0, 0), "server", bgdump::bgdump, "Strata: dumps the keys matching a pattern, or every key of a slot, from a snapshot, in the background.";
    "cluster", -2, [], (0, 0, 0), "cluster", bgdump::cluster, "A container for Redis Cluster commands (KEYSLOT, COUNTKEYSINSLOT and GETKEYSINSLOT are answered).";
    // Hashes.
    "hset", -4, ["write", "denyoom", "fast"], (1, 1, 1), "hash", hash::hset, "Creates or modifies the value of a field in a hash.";
    "hsetnx", 4, ["write", "denyoom", "fast"], (1, 1, 1), "hash", hash::hsetnx, "Sets the value of a field in a hash only when the field doesn't exist.";
    "hmset", -4, ["write", "denyoom", "fast"], (1, 1, 1), "hash", hash::hmset, "Sets the values of multiple fields.";
    "hget", 3, ["readonly", "fast"], (1, 1, 1), "hash", hash::hget, "Returns the value of a field in a hash.";
    "hmget", -3, ["readonly", "fast"], (1, 1, 1), "hash", hash::hmget, "Returns the values of all fields in a hash.";
    "hdel", -3, ["write", "fast"], (1, 1, 1), "hash", hash::hdel, "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.";
    "hlen", 2, ["readonly", "fast"], (1, 1, 1), "hash", hash::hlen, "Returns the number of fields in a hash.";
    "hstrlen", 3, ["readonly", "fast"], (1, 1, 1), "hash", hash::hstrlen, "Returns the length of the value of a field.";
    "hexists", 3, ["readonly", "fast"], (1, 1, 1), "hash", hash::hexists, "Determines whether a field exists in a hash.";
    "hkeys", 2, ["readonly"], (1, 1, 1), "hash", hash::hkeys, "Returns all fields in a hash.";
    "hvals", 2, ["readonly"], (1, 1, 1), "hash", hash::hvals, "Returns all values in a hash.";
    "hgetall", 2, ["readonly"], (1, 1, 1), "hash", hash::hgetall, "Returns all fields and values in a hash.";
    "hincrby", 4, ["write", "denyoom", "fast"], (1, 1, 1), "hash", hash::hincrby, "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.";
    "hincrbyfloat", 4, ["write", "denyoom", "fast"], (1, 1, 1), "hash", hash::hincrbyfloat, "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.";
    "hrandfield", -2, ["readonly"], (1, 1, 1), "hash", hash::hrandfield, "Returns one or more random fields from a hash.";
    "hscan", -3, ["readonly"], (1, 1, 1), "hash", hash::hscan, "Iterates over fields and values of a hash.";
    // Lists.
    "lpush", -3, ["write", "denyoom", "fast"], (1, 1, 1), "list", list::lpush, "Prepends one or more elements to a list. Creates the key if it doesn't exist.";
    "rpush", -3, ["write", "denyoom", "fast"], (1, 1, 1), "list", list::rpush, "Appends one or more elements to a list. Creates the key if it doesn't exist.";
    "lpushx", -3, ["write", "denyoom", "fast"], (1, 1, 1), "list", list::lpushx, "Prepends one or more elements to a list only when the list exists.";
    "rpushx", -3, ["write", "denyoom", "fast"], (1, 1, 1), "list", list::rpushx, "Appends an element to a list only when the list exists.";
    "lpop", -2, ["write", "fast"], (1, 1, 1), "list", list::lpop, "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.";
    "rpop", -2, ["write", "fast"], (1, 1, 1), "list", list::rpop, "Returns and removes the last elements of a list. Deletes the list if the last element was popped.";
    "llen", 2, ["readonly", "fast"], (1, 1, 1), "list", list::llen, "Returns the length of a list.";
    "lrange", 4, ["readonly"], (1, 1, 1), "list", list::lrange, "Returns a range of elements from a list.";
    "lindex", 3, ["readonly"], (1, 1, 1), "list", list::lindex, "Returns an element from a list by its index.";
    "lset", 4, ["write", "denyoom"], (1, 1, 1), "list", list::lset, "Sets the value of an element in a list by its index.";
    "linsert", 5, ["write", "denyoom"], (1, 1, 1), "list", list::linsert, "Inserts an element before or after another element in a list.";
    "lrem", 4, ["write"], (1, 1, 1), "list", list::lrem, "Removes elements from a list. Deletes the list if the last element was removed.";
    "ltrim", 4, ["write"], (1, 1, 1), "list", list::ltrim, "Removes elements from both ends a list. Deletes the list if all elements were trimmed.";
    "lpos", -3, ["readonly"], (1, 1, 1), "list", list::lpos, "Returns the index of matching elements in a list.";
    "lmove", 5, ["write", "denyoom"], (1, 2, 1), "list", list::lmove, "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.";
    "rpoplpush", 3, ["write", "denyoom"], (1, 2, 1), "list", list::rpoplpush, "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.";
    "lmpop", -4, ["write"], (0, 0, 0), "list", list::lmpop, "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.";
    "blpop", -3, ["write", "noscript", "blocking"], (1, -2, 1), "list", blocking::blpop, "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "brpop", -3, ["write", "noscript", "blocking"], (1, -2, 1), "list", blocking::brpop, "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "blmove", 6, ["write", "denyoom", "noscript", "blocking"], (1, 2, 1), "list", blocking::blmove, "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.";
    "brpoplpush", 4, ["write", "denyoom", "noscript", "blocking"], (1, 2, 1), "list", blocking::brpoplpush, "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.";
    "blmpop", -5, ["write", "blocking"], (0, 0, 0), "list", blocking::blmpop, "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    // Sets.
    "sadd", -3, ["write", "denyoom", "fast"], (1, 1, 1), "set", set::sadd, "Adds one or more members to a set. Creates the key if it doesn't exist.";
    "srem", -3, ["write", "fast"], (1, 1, 1), "set", set::srem, "Removes one or more members from a set. Deletes the set if the last member was removed.";
    "smembers", 2, ["readonly"], (1, 1, 1), "set", set::smembers, "Returns all members of a set.";
    "sismember", 3, ["readonly", "fast"], (1, 1, 1), "set", set::sismember, "Determines whether a member belongs to a set.";
    "smismember", -3, ["readonly", "fast"], (1, 1, 1), "set", set::smismember, "Determines whether multiple members belong to a set.";
    "scard", 2, ["readonly", "fast"], (1, 1, 1), "set", set::scard, "Returns the number of members in a set.";
    "spop", -2, ["write", "fast"], (1, 1, 1), "set", set::spop, "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.";
    "srandmember", -2, ["readonly"], (1, 1, 1), "set", set::srandmember, "Get one or multiple random members from a set";
    "smove", 4, ["write", "fast"], (1, 2, 1), "set", set::smove, "Moves a member from one set to another.";
    "sinter", -2, ["readonly"], (1, -1, 1), "set", set::sinter, "Returns the intersect of multiple sets.";
    "sintercard", -3, ["readonly"], (0, 0, 0), "set", set::sintercard, "Returns the number of members of the intersect of multiple sets.";
    "sinterstore", -3, ["write", "denyoom"], (1, -1, 1), "set", set::sinterstore, "Stores the intersect of multiple sets in a key.";
    "sunion", -2, ["readonly"], (1, -1, 1), "set", set::sunion, "Returns the union of multiple sets.";
    "sunionstore", -3, ["write", "denyoom"], (1, -1, 1), "set", set::sunionstore, "Stores the union of multiple sets in a key.";
    "sdiff", -2, ["readonly"], (1, -1, 1), "set", set::sdiff, "Returns the difference of multiple sets.";
    "sdiffstore", -3, ["write", "denyoom"], (1, -1, 1), "set", set::sdiffstore, "Stores the difference of multiple sets in a key.";
    "sscan", -3, ["readonly"], (1, 1, 1), "set", set::sscan, "Iterates over members of a set.";
    // Sorted sets.
    "zadd", -4, ["write", "denyoom", "fast"], (1, 1, 1), "sorted-set", zset::zadd, "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.";
    "zincrby", 4, ["write", "denyoom", "fast"], (1, 1, 1), "sorted-set", zset::zincrby, "Increments the score of a member in a sorted set.";
    "zrem", -3, ["write", "fast"], (1, 1, 1), "sorted-set", zset::zrem, "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.";
    "zcard", 2, ["readonly", "fast"], (1, 1, 1), "sorted-set", zset::zcard, "Returns the number of members in a sorted set.";
    "zscore", 3, ["readonly", "fast"], (1, 1, 1), "sorted-set", zset::zscore, "Returns the score of a member in a sorted set.";
    "zmscore", -3, ["readonly", "fast"], (1, 1, 1), "sorted-set", zset::zmscore, "Returns the score of one or more members in a sorted set.";
    "zrank", 3, ["readonly", "fast"], (1, 1, 1), "sorted-set", zset::zrank, "Returns the index of a member in a sorted set ordered by ascending scores.";
    "zrevrank", 3, ["readonly", "fast"], (1, 1, 1), "sorted-set", zset::zrevrank, "Returns the index of a member in a sorted set ordered by descending scores.";
    "zcount", 4, ["readonly", "fast"], (1, 1, 1), "sorted-set", zset::zcount, "Returns the count of members in a sorted set that have scores within a range.";
    "zlexcount", 4, ["readonly", "fast"], (1, 1, 1), "sorted-set", zset::zlexcount, "Returns the number of members in a sorted set within a lexicographical range.";
    "zrange", -4, ["readonly"], (1, 1, 1), "sorted-set", zset::zrange, "Returns members in a sorted set within a range of indexes.";
    "zrangebyscore", -4, ["readonly"], (1, 1, 1), "sorted-set", zset::zrangebyscore, "Returns members in a sorted set within a range of scores.";
    "zrevrangebyscore", -4, ["readonly"], (1, 1, 1), "sorted-set", zset::zrevrangebyscore, "Returns members in a sorted set within a range of scores in reverse order.";
    "zrangebylex", -4, ["readonly"], (1, 1, 1), "sorted-set", zset::zrangebylex, "Returns members in a sorted set within a lexicographical range.";
    "zrevrangebylex", -4, ["readonly"], (1, 1, 1), "sorted-set", zset::zrevrangebylex, "Returns members in a sorted set within a lexicographical range in reverse order.";
    "zrevrange", -4, ["readonly"], (1, 1, 1), "sorted-set", zset::zrevrange, "Returns members in a sorted set within a range of indexes in reverse order.";
    "zrangestore", -5, ["write", "denyoom"], (1, 2, 1), "sorted-set", zset::zrangestore, "Stores a range of members from sorted set in a key.";
    "zremrangebyrank", 4, ["write"], (1, 1, 1), "sorted-set", zset::zremrangebyrank, "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.";
    "zremrangebyscore", 4, ["write"], (1, 1, 1), "sorted-set", zset::zremrangebyscore, "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.";
    "zremrangebylex", 4, ["write"], (1, 1, 1), "sorted-set", zset::zremrangebylex, "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.";
    "zpopmin", -2, ["write", "fast"], (1, 1, 1), "sorted-set", zset::zpopmin, "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "zpopmax", -2, ["write", "fast"], (1, 1, 1), "sorted-set", zset::zpopmax, "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "bzpopmin", -3, ["write", "noscript", "fast", "blocking"], (1, -2, 1), "sorted-set", blocking::bzpopmin, "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";
    "bzpopmax", -3, ["write", "noscript", "fast", "blocking"], (1, -2, 1), "sorted-set", blocking::bzpopmax, "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.";
    "zmpop", -4, ["write"], (0, 0, 0), "sorted-set", zset::zmpop, "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.";
    "bzmpop", -5, ["write", "blocking"], (0, 0, 0), "sorted-set", blocking::bzmpop, "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";
    "zrandmember", -2, ["readonly"], (1, 1, 1), "sorted-set", zset::zrandmember, "Returns one or more random members from a sorted set.";
    "zunion", -3, ["readonly"], (0, 0, 0), "sorted-set", zset::zunion, "Returns the union of multiple sorted sets.";
    "zinter", -3, ["readonly"], (0, 0, 0), "sorted-set", zset::zinter, "Returns the intersect of multiple sorted sets.";
    "zdiff", -3, ["readonly"], (0, 0, 0), "sorted-set", zset::zdiff, "Returns the difference between multiple sorted sets.";
    "zunionstore", -4, ["write", "denyoom"], (1, 1, 1), "sorted-set", zset::zunionstore, "Stores the union of multiple sorted sets in a key.";
    "zinterstore", -4, ["write", "denyoom"], (1, 1, 1), "sorted-set", zset::zinterstore, "Stores the intersect of multiple sorted sets in a key.";
    "zdiffstore", -4, ["write", "denyoom"], (1, 1, 1), "sorted-set", zset::zdiffstore, "Stores the difference of multiple sorted sets in a key.";
    "zintercard", -3, ["readonly"], (0, 0, 0), "sorted-set", zset::zintercard, "Returns the number of members of the intersect of multiple sorted sets.";
    "zscan", -3, ["readonly"], (1, 1, 1), "sorted-set", zset::zscan, "Iterates over members and scores of a sorted set.";
    // Server.
    "info", -1, ["loading", "stale"], (0, 0, 0), "server", admin::info, "Returns information and statistics about the server.";
    "command", -1, ["loading", "stale"], (0, 0, 0), "server", admin::command, "Returns detailed information about all commands.";
    "config", -2, [], (0, 0, 0), "server", admin::config, "A container for server configuration commands.";
    "time", 1, ["loading", "stale", "fast"], (0, 0, 0), "server", admin::time, "Returns the server time.";
    "save", 1, ["admin", "noscript"], (0, 0, 0), "server", admin::save, "Synchronously saves the database(s) to disk.";
    "bgsave", -1, ["admin", "noscript"], (0, 0, 0), "server", admin::bgsave, "Asynchronously saves the database(s) to disk.";
    "lastsave", 1, ["loading", "stale", "fast"], (0, 0, 0), "server", admin::lastsave, "Returns the Unix timestamp of the last successful save to disk.";
    "shutdown", -1, ["admin", "noscript", "loading", "stale"], (0, 0, 0), "server", admin::shutdown, "Synchronously saves the database(s) to disk and shuts down the Redis server.";
    "function", -2, [], (0, 0, 0), "scripting", function::function, "A container for function commands.";
    "fcall", -3, ["noscript", "skip_monitor", "may_replicate", "no_mandatory_keys", "stale"], (0, 0, 0), "scripting", function::fcall, "Invokes a function.";
    "fcall_ro", -3, ["readonly", "noscript", "skip_monitor", "no_mandatory_keys", "stale"], (0, 0, 0), "scripting", function::fcall_ro, "Invokes a read-only function.";
    "monitor", 1, ["admin", "noscript", "loading", "stale"], (0, 0, 0), "server", admin::monitor, "Listens for all requests received by the server in real-time.";
    "debug", -2, ["admin", "noscript", "loading", "stale"], (0, 0, 0), "server", admin::debug, "A container for debugging commands.";
    "slowlog", -2, ["admin", "loading", "stale"], (0, 0, 0), "server", slowlog::slowlog, "A container for slow log commands.";
    "role", 1, ["noscript", "loading", "stale", "fast"], (0, 0, 0), "server", admin::role, "Returns the replication role.";
    "wait", 3, ["noscript"], (0, 0, 0), "generic", blocking::wait, "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.";
    "readonly", 1, ["loading", "stale", "fast"], (0, 0, 0), "cluster", admin::cluster_mode_only, "Enables read-only queries for a connection to a Redis Cluster replica node.";
    "readwrite", 1, ["loading", "stale", "fast"], (0, 0, 0), "cluster", admin::cluster_mode_only, "Enables read-write queries for a connection to a Reids Cluster replica node.";
}

fn find(sh: &Shared, name: &[u8]) -> Option<&'static Cmd> {
    if name.len() > 32 {
        return None;
    }
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let lower = std::str::from_utf8(lower).ok()?;
    match &sh.commands {
        None => index().get(lower).copied(),
        Some(renamed) => renamed.get(lower).copied(),
    }
}

/// The command table under `rename-command` directives: name → entry.
pub type Renamed = std::collections::HashMap<
    String,
    &'static Cmd,
    std::hash::BuildHasherDefault<crate::store::FxHasher>,
>;

/// Apply `rename-command` directives in order (an empty new name removes the
/// command), with Redis's errors: the command must exist, and the new name must not.
pub fn renamed_table(renames: &[(String, String)]) -> Result<Renamed, String> {
    let mut t: Renamed = COMMANDS.iter().map(|c| (c.name.to_string(), c)).collect();
    for (from, to) in renames {
        let Some(c) = t.remove(from.as_str()) else {
            return Err("No such command in rename-command".into());
        };
        if !to.is_empty() {
            if to.len() > 32 || t.contains_key(to.as_str()) {
                return Err("Target command name already exists".into());
            }
            t.insert(to.clone(), c);
        }
    }
    Ok(t)
}

/// Command name → entry. The table is fixed, so a fast unkeyed hash is safe here.
type CmdIndex = std::collections::HashMap<
    &'static str,
    &'static Cmd,
    std::hash::BuildHasherDefault<crate::store::FxHasher>,
>;

fn index() -> &'static CmdIndex {
    static INDEX: std::sync::OnceLock<CmdIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| COMMANDS.iter().map(|c| (c.name, c)).collect())
}

/// What running a command inside EXEC or a script came to.
pub struct Inline {
    /// It may have written.
    pub wrote: bool,
    /// It asked for the connection to close (QUIT).
    pub close: bool,
}

/// Run one command of a transaction or a script on this thread, its reply appended to
/// `out`: a command a worker would run (KEYS, MIGRATE) runs here, since nothing may
/// come between the commands; blocking commands do not block (`in_exec`).
pub fn execute_inline(
    sh: &Shared,
    s: &mut Session,
    info: &ClientInfo,
    out: &mut Vec<u8>,
    args: &[Vec<u8>],
) -> Inline {
    match execute(sh, s, info, out, args) {
        Flow::Continue { wrote } => Inline {
            wrote,
            close: false,
        },
        Flow::Defer(job) => {
            sh.deferred_commands.fetch_add(1, Ordering::Relaxed);
            let reply = job(sh);
            if !std::mem::take(&mut s.reply.mute_waiting) {
                out.extend_from_slice(&reply);
            }
            Inline {
                wrote: true,
                close: false,
            }
        }
        // (Inside EXEC or a script nothing is postponed: `in_exec`.)
        Flow::Block(_) | Flow::Postpone => Inline {
            wrote: false,
            close: false,
        },
        Flow::Close => Inline {
            wrote: false,
            close: true,
        },
    }
}

/// Why a container's subcommand is refused before it runs.
pub(crate) enum SubRefusal {
    Unknown,
    /// A wrong count for this subcommand.
    Arity(&'static str),
}

/// For a container command, its subcommand's name (Redis names it `client|reply`), or
/// why it is refused; `Ok(None)` for other commands.
pub(crate) fn subcommand(cmd: &Cmd, args: &[Vec<u8>]) -> Result<Option<&'static str>, SubRefusal> {
    let (Some(subs), Some(sub)) = (subcommands(cmd.name), args.get(1)) else {
        return Ok(None);
    };
    let Some(&(name, arity)) = subs.iter().find(|(name, _)| is(sub, name)) else {
        return Err(SubRefusal::Unknown);
    };
    let n = args.len() as i32;
    if (arity > 0 && n != arity) || n < -arity {
        return Err(SubRefusal::Arity(name));
    }
    Ok(Some(name))
}

/// Redis 7.0's subcommands of the containers Strata serves, with their arities (from
/// its COMMAND INFO): an unknown subcommand or a wrong count is refused before anything
/// else, as Redis does. (Subcommands Redis has and Strata does not answer pass, and get
/// the container's own error.)
fn subcommands(name: &str) -> Option<&'static [(&'static str, i32)]> {
    Some(match name {
        "client" => &[
            ("caching", 3),
            ("getname", 2),
            ("getredir", 2),
            ("help", 2),
            ("id", 2),
            ("info", 2),
            ("kill", -3),
            ("list", -2),
            ("no-evict", 3),
            ("pause", -3),
            ("reply", 3),
            ("setinfo", 4),
            ("setname", 3),
            ("tracking", -3),
            ("trackinginfo", 2),
            ("unblock", -3),
            ("unpause", 2),
        ],
        "cluster" => &[
            ("addslots", -3),
            ("addslotsrange", -4),
            ("bumpepoch", 2),
            ("count-failure-reports", 3),
            ("countkeysinslot", 3),
            ("delslots", -3),
            ("delslotsrange", -4),
            ("failover", -2),
            ("flushslots", 2),
            ("forget", 3),
            ("getkeysinslot", 4),
            ("help", 2),
            ("info", 2),
            ("keyslot", 3),
            ("links", 2),
            ("meet", -4),
            ("myid", 2),
            ("nodes", 2),
            ("replicas", 3),
            ("replicate", 3),
            ("reset", -2),
            ("saveconfig", 2),
            ("set-config-epoch", 3),
            ("setslot", -4),
            ("shards", 2),
            ("slaves", 3),
            ("slots", 2),
        ],
        "config" => &[
            ("get", -3),
            ("help", 2),
            ("resetstat", 2),
            ("rewrite", 2),
            ("set", -4),
        ],
        "xinfo" => &[("consumers", 4), ("groups", 3), ("help", 2), ("stream", -3)],
        "module" => &[
            ("help", 2),
            ("list", 2),
            ("load", -3),
            ("loadex", -3),
            ("unload", 3),
        ],
        "latency" => &[
            ("doctor", 2),
            ("graph", 3),
            ("help", 2),
            ("histogram", -2),
            ("history", 3),
            ("latest", 2),
            ("reset", -2),
        ],
        "acl" => &[
            ("cat", -2),
            ("deluser", -3),
            ("dryrun", -4),
            ("genpass", -2),
            ("getuser", 3),
            ("help", 2),
            ("list", 2),
            ("load", 2),
            ("log", -2),
            ("save", 2),
            ("setuser", -3),
            ("users", 2),
            ("whoami", 2),
        ],
        "memory" => &[
            ("doctor", 2),
            ("help", 2),
            ("malloc-stats", 2),
            ("purge", 2),
            ("stats", 2),
            ("usage", -3),
        ],
        "object" => &[
            ("encoding", 3),
            ("freq", 3),
            ("help", 2),
            ("idletime", 3),
            ("refcount", 3),
        ],
        "command" => &[
            ("count", 2),
            ("docs", -2),
            ("getkeys", -4),
            ("getkeysandflags", -4),
            ("help", 2),
            ("info", -2),
            ("list", -2),
        ],
        "slowlog" => &[("get", -2), ("help", 2), ("len", 2), ("reset", 2)],
        "function" => &[
            ("delete", 3),
            ("dump", 2),
            ("flush", -2),
            ("help", 2),
            ("kill", 2),
            ("list", -2),
            ("load", -3),
            ("restore", -3),
            ("stats", 2),
        ],
        "script" => &[
            ("debug", 3),
            ("exists", -3),
            ("flush", -2),
            ("help", 2),
            ("kill", 2),
            ("load", 3),
        ],
        "pubsub" => &[
            ("channels", -2),
            ("help", 2),
            ("numpat", 2),
            ("numsub", -2),
            ("shardchannels", -2),
            ("shardnumsub", -2),
        ],
        _ => return None,
    })
}

/// Does this request run with the transaction gate held exclusively: EXEC of a queued
/// transaction, or a script (names resolved under `rename-command` too)?
pub fn runs_exclusively(sh: &Shared, s: &Session, name: &[u8]) -> bool {
    // Every request asks: without renames, the name's length rules out nearly all
    // before any lookup.
    if sh.commands.is_none()
        && !matches!(name.len(), 4 | 7 | 10)
        && !(matches!(name.len(), 5 | 8) && name[0].eq_ignore_ascii_case(&b'f'))
    {
        return false;
    }
    match find(sh, name).map(|c| c.name) {
        Some("exec") => s.multi.is_some(),
        Some("eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro") => {
            s.multi.is_none()
        }
        _ => false,
    }
}

/// The table entry `name` runs (for scripts' calls).
pub(crate) fn lookup(sh: &Shared, name: &[u8]) -> Option<&'static Cmd> {
    find(sh, name)
}

/// A command refused before it runs (arity, AUTH, context), counted in its
/// commandstats as rejected (under subcommand `sub`); then [`refuse`].
fn reject(
    sh: &Shared,
    s: &mut Session,
    info: &ClientInfo,
    o: &mut Out,
    cmd: &Cmd,
    sub: Option<&'static str>,
    e: &str,
) {
    sh.cmdstats.rejected(cmd, sub);
    refuse(sh, s, info, o, cmd, e);
}

/// A refused request's error (counted in errorstats), and a queued transaction's EXEC
/// will fail. A refused EXEC discards the transaction, whether one was queued or not,
/// with Redis's EXECABORT text. An unknown subcommand comes here directly: Redis finds
/// no command to count it under.
fn refuse(sh: &Shared, s: &mut Session, info: &ClientInfo, o: &mut Out, cmd: &Cmd, e: &str) {
    if cmd.name == "exec" {
        s.multi = None;
        multi::forget(sh, s, info.id);
        let e = format!(
            "EXECABORT Transaction discarded because of: {}",
            e.strip_prefix("ERR ").unwrap_or(e)
        );
        sh.cmdstats.error(&e);
        o.error(&e);
    } else {
        sh.cmdstats.error(e);
        o.error(e);
        abort_multi(s);
    }
}

/// A command refused while a transaction is queued makes its EXEC fail.
fn abort_multi(s: &mut Session) {
    if let Some(m) = s.multi.as_mut() {
        m.aborted = true;
    }
}

/// Redis's error for an unknown subcommand of the container `args[0]` (the name as
/// typed, uppercased; the subcommand cut at 128 bytes, as Redis's `%.128s`).
pub(crate) fn unknown_subcommand(args: &[Vec<u8>]) -> CmdErr {
    let sub = &args[1];
    CmdErr(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        String::from_utf8_lossy(&args[0]).to_uppercase()
    ))
}

/// Redis's `unknown command` text.
fn unknown_command(args: &[Vec<u8>]) -> String {
    let mut rest = String::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(room).collect();
        rest.push_str(&format!("'{s}' "));
    }
    let name = String::from_utf8_lossy(&args[0]);
    let name: String = name.chars().take(128).collect();
    format!("ERR unknown command '{name}', with args beginning with: {rest}")
}

/// `sdscatrepr` of an argument, for MONITOR.
fn repr(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'"');
    for &b in a {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Run one request and append its reply to `out`.
/// Commands whose reads all go through their transaction, so their commits may be
/// deferred (`store::defer_commits`): an event loop then writes a pipeline of them to
/// the engine as one batch. Commands that serve blocked clients flush first
/// (`blocking::serve`).
fn deferrable(name: &str) -> bool {
    matches!(
        name,
        "set"
            | "incr"
            | "decr"
            | "incrby"
            | "decrby"
            | "mset"
            | "lpush"
            | "rpush"
            | "lpushx"
            | "rpushx"
            | "lpop"
            | "rpop"
            | "sadd"
            | "srem"
            | "hset"
            | "hmset"
            | "hdel"
            | "zadd"
            | "restore"
            | "restore-asking"
    )
}

pub fn execute(
    sh: &Shared,
    s: &mut Session,
    info: &ClientInfo,
    out: &mut Vec<u8>,
    args: &[Vec<u8>],
) -> Flow {
    if !s.reply.muted() {
        let flow = execute_command(sh, s, info, out, args);
        if matches!(flow, Flow::Postpone) {
            // It runs again later; CLIENT REPLY SKIP's turn is not over.
            return flow;
        }
        s.reply.exec_ran = false;
        if !s.in_exec {
            s.reply.after_command();
            mirror(s, info);
        }
        return flow;
    }
    // CLIENT REPLY OFF or SKIP: the command runs, its reply is dropped, unless it
    // turned replies back on (CLIENT REPLY ON, RESET) or is a pub/sub confirmation.
    let mark = out.len();
    let queued = s.multi.is_some() && !s.in_exec;
    let flow = execute_command(sh, s, info, out, args);
    if matches!(flow, Flow::Postpone) {
        return flow;
    }
    let pushed = !queued
        && find(sh, &args[0]).is_some_and(|c| {
            matches!(
                c.name,
                "subscribe"
                    | "unsubscribe"
                    | "psubscribe"
                    | "punsubscribe"
                    | "ssubscribe"
                    | "sunsubscribe"
            )
        });
    // An EXEC that ran muted its own header; its commands muted their own replies.
    let exec_ran = std::mem::take(&mut s.reply.exec_ran);
    if s.reply.muted() && !pushed && !exec_ran {
        out.truncate(mark);
        if matches!(flow, Flow::Block(_) | Flow::Defer(_)) {
            s.reply.mute_waiting = true;
        }
    }
    if !s.in_exec {
        s.reply.after_command();
        mirror(s, info);
    }
    flow
}

/// Show the session's subscriptions and MULTI state to CLIENT LIST.
fn mirror(s: &Session, info: &ClientInfo) {
    let l = &info.listed;
    let (sub, psub, ssub) = s.subs.counts();
    let multi = s.multi.as_ref().map_or(0, |m| m.queued.len() + 1);
    for (cell, v) in [
        (&l.sub, sub),
        (&l.psub, psub),
        (&l.ssub, ssub),
        (&l.multi, multi),
    ] {
        // Nearly always unchanged: a load, and no store, on the common path.
        if cell.load(Ordering::Relaxed) != v {
            cell.store(v, Ordering::Relaxed);
        }
    }
}

/// Record the command CLIENT LIST shows as the client's last (`cmd=`): the command,
/// `container|subcommand`, or `NULL` for one that does not exist, as Redis does.
fn set_last_cmd(info: &ClientInfo, name: &str, sub: Option<&str>) {
    let mut last = lock(&info.last_cmd);
    let same = match sub {
        None => last.as_str() == name,
        Some(sub) => last.strip_prefix(name).and_then(|r| r.strip_prefix('|')) == Some(sub),
    };
    if !same {
        last.clear();
        last.push_str(name);
        if let Some(sub) = sub {
            last.push('|');
            last.push_str(sub);
        }
    }
}

/// The subcommand of a container Strata serves whose subcommands the table above does
/// not list (CLUSTER: Strata answers a few of them), named as Redis's command metadata
/// names it.
fn other_subcommand(cmd: &Cmd, args: &[Vec<u8>]) -> Option<&'static str> {
    // Every request comes here: one comparison rules out nearly all at once.
    if cmd.name != "cluster" {
        return None;
    }
    let sub = args.get(1)?;
    let entry = cmdmeta::meta()?.info(cmd.name)?;
    cmdmeta::subcommands(entry).iter().find_map(|e| {
        let full = cmdmeta::name(e);
        let s = full.strip_prefix(cmd.name.as_bytes())?.strip_prefix(b"|")?;
        s.eq_ignore_ascii_case(sub)
            .then(|| std::str::from_utf8(s).ok())
            .flatten()
    })
}

fn execute_command(
    sh: &Shared,
    s: &mut Session,
    info: &ClientInfo,
    out: &mut Vec<u8>,
    args: &[Vec<u8>],
) -> Flow {
    sh.stats.total_commands.fetch_add(1, Ordering::Relaxed);
    let mut o = Out {
        buf: out,
        proto: s.proto,
    };
    let Some(cmd) = find(sh, &args[0]) else {
        set_last_cmd(info, "NULL", None);
        let e = unknown_command(args);
        sh.cmdstats.error(&e);
        o.error(&e);
        abort_multi(s);
        return Flow::Continue { wrote: false };
    };
    // Redis's order: the command and subcommand exist, their arity, then AUTH.
    let n = args.len() as i32;
    if (cmd.arity > 0 && n != cmd.arity) || n < -cmd.arity {
        set_last_cmd(info, cmd.name, None);
        let e = format!("ERR wrong number of arguments for '{}' command", cmd.name);
        reject(sh, s, info, &mut o, cmd, None, &e);
        return Flow::Continue { wrote: false };
    }
    // A subcommand's errors name it as Redis does: `client|reply`.
    let sub_name = match subcommand(cmd, args) {
        Ok(f) => {
            set_last_cmd(info, cmd.name, f.or_else(|| other_subcommand(cmd, args)));
            f
        }
        Err(SubRefusal::Unknown) => {
            set_last_cmd(info, "NULL", None);
            let CmdErr(e) = unknown_subcommand(args);
            refuse(sh, s, info, &mut o, cmd, &e);
            return Flow::Continue { wrote: false };
        }
        Err(SubRefusal::Arity(sub)) => {
            set_last_cmd(info, cmd.name, Some(sub));
            let e = format!(
                "ERR wrong number of arguments for '{}|{sub}' command",
                cmd.name
            );
            reject(sh, s, info, &mut o, cmd, Some(sub), &e);
            return Flow::Continue { wrote: false };
        }
    };
    if !cmd.has("noauth") && !s.authenticated(sh) {
        reject(sh, s, info, &mut o, cmd, sub_name, err::NOAUTH);
        return Flow::Continue { wrote: false };
    }
    // (EXEC's commands were checked when queued: Redis does not check them again.)
    if s.proto == 2 && !s.in_exec && s.subs.active() && !pubsub::allowed_while_subscribed(cmd.name)
    {
        let e = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            sub_name.map_or_else(|| cmd.name.to_string(), |sub| format!("{}|{sub}", cmd.name))
        );
        reject(sh, s, info, &mut o, cmd, sub_name, &e);
        return Flow::Continue { wrote: false };
    }
    // CLIENT PAUSE holds the request here, after every refusal but before it is queued
    // or run (EXEC's and scripts' commands are never held).
    if !s.in_exec && sh.paused.load(Ordering::Acquire) {
        let refused_in_multi = s.multi.is_some()
            && !multi::runs_inside_multi(cmd.name)
            && multi::refused_inside_multi(cmd.name);
        if !refused_in_multi {
            if let Some(all) = sh.pause_at(std::time::Instant::now()) {
                if all || may_replicate(sh, s, cmd, sub_name) {
                    // Counted when it runs.
                    sh.stats.total_commands.fetch_sub(1, Ordering::Relaxed);
                    return Flow::Postpone;
                }
            }
        }
    }
    if !s.in_exec && !multi::runs_inside_multi(cmd.name) {
        if let Some(m) = s.multi.as_mut() {
            if multi::refused_inside_multi(cmd.name) {
                let e = "ERR Command not allowed inside a transaction";
                sh.cmdstats.rejected(cmd, sub_name);
                sh.cmdstats.error(e);
                o.error(e);
                m.aborted = true;
                return Flow::Continue { wrote: false };
            }
            // A transaction bound to fail (an error queued, or a WATCHed key touched)
            // keeps nothing more, as Redis: EXEC's answer is already known.
            if m.aborted || s.watch_dirty.load(Ordering::Acquire) {
                o.simple("QUEUED");
                return Flow::Continue { wrote: false };
            }
            m.bytes += args.iter().map(|a| a.len() + 16).sum::<usize>();
            if m.bytes as u64 > sh.hot.query_buffer_limit.load(Ordering::Relaxed) {
                // As a query buffer over the limit: the client goes.
                crate::log::warning(format_args!(
                    "Closing client whose transaction reached max query buffer length: id={} addr={}",
                    info.id, info.addr
                ));
                s.multi = None;
                return Flow::Close;
            }
            m.queued.push(args.to_vec());
            o.simple("QUEUED");
            return Flow::Continue { wrote: false };
        }
    }
    // MONITOR sees a command after it ran (EXEC after its commands, SELECT with the
    // new db), as Redis's `call()` feeds it; scripts and functions before, so their
    // commands follow them (Redis feeds those explicitly).
    let monitored = sh.monitors.load(Ordering::Relaxed) > 0 && monitored(cmd, sub_name);
    if monitored && cmd.has("skip_monitor") {
        feed_monitor(sh, s, info, args);
    }
    let proto = s.proto;
    let mut ctx = Ctx {
        sh,
        s,
        info,
        out: Out { buf: o.buf, proto },
        cmd,
    };
    let threshold = sh.hot.slowlog_threshold.load(Ordering::Relaxed);
    let call = sh.cmdstats.call(cmd, sub_name);
    let slow_timed = slowlog::timed(threshold, cmd);
    // One measurement serves SLOWLOG and commandstats.
    let started = (slow_timed || call.timed).then(std::time::Instant::now);
    let mark = ctx.out.buf.len();
    let result = if deferrable(cmd.name) {
        store::defer_commits(|| (cmd.run)(&mut ctx, args))
    } else {
        // Everything else reads the engine directly, or waits, or acknowledges through
        // another thread: the pending writes go first.
        match sh.store.flush_pending() {
            Ok(()) => (cmd.run)(&mut ctx, args),
            Err(e) => Err(e.into()),
        }
    };
    let usec = started.map(|t0| t0.elapsed().as_micros() as u64);
    if monitored && !cmd.has("skip_monitor") {
        feed_monitor(sh, ctx.s, info, args);
    }
    // A command that blocked is logged when it is served, never when it times out
    // (`blocking::log_unblocked`).
    if let (true, Some(us), false) = (slow_timed, usec, matches!(result, Ok(Flow::Block(_)))) {
        slowlog::record(sh, info, args, us, ctx.s.in_script);
    }
    // Failed: an error returned, or written by the command itself (a script's error).
    call.finish(
        result.is_err() || ctx.out.buf.get(mark) == Some(&b'-'),
        usec,
    );
    match result {
        Ok(Flow::Continue { wrote }) => Flow::Continue {
            wrote: wrote || cmd.has("write"),
        },
        Ok(f) => f,
        Err(CmdErr(e)) => {
            sh.cmdstats.error(&e);
            ctx.out.error(&e);
            Flow::Continue {
                wrote: cmd.has("write"),
            }
        }
    }
}

/// Whether a command, or its subcommand `sub`, carries Redis's `flag`: a subcommand is
/// judged on its own flags, as Redis does (CONFIG GET is `admin`, CLIENT LIST is not;
/// CLUSTER RESET is `noscript`).
pub(crate) fn has_flag(cmd: &Cmd, sub: Option<&str>, flag: &str) -> bool {
    if let Some(sub) = sub {
        let full = format!("{}|{sub}", cmd.name);
        if let Some(e) = cmdmeta::meta().and_then(|m| m.info(&full)) {
            let flags = e.items().get(2).map_or(&[][..], |f| f.items());
            return flags.iter().any(|f| f.text() == flag.as_bytes());
        }
    }
    cmd.has(flag)
}

/// Whether MONITOR shows a command: not one flagged `admin` (`has_flag`). (The
/// `skip_monitor` commands, the scripts, are shown too: before they run.)
fn monitored(cmd: &Cmd, sub: Option<&str>) -> bool {
    !has_flag(cmd, sub, "admin")
}

/// Send a command to every MONITOR client, as Redis writes it: time, db and the
/// client's address (`lua` for a script's commands), arguments quoted, passwords
/// `(redacted)` as in the slow log.
fn feed_monitor(sh: &Shared, s: &Session, info: &ClientInfo, args: &[Vec<u8>]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let from = if s.in_script {
        "lua"
    } else {
        info.addr.as_str()
    };
    let mut line = format!(
        "+{}.{:06} [{} {from}]",
        now.as_secs(),
        now.subsec_micros(),
        s.db
    )
    .into_bytes();
    let redact = slowlog::redacted(args);
    for (i, a) in args.iter().enumerate() {
        line.push(b' ');
        if redact.contains(&i) {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(&mut line, a);
        }
    }
    line.extend_from_slice(b"\r\n");
    sh.feed_monitors(&line);
}

/// Does the command write, or may it be propagated (Redis's `may_replicate`)? What
/// CLIENT PAUSE WRITE holds: EXEC of a transaction holding such a command too.
fn may_replicate(sh: &Shared, s: &Session, cmd: &Cmd, sub: Option<&str>) -> bool {
    match (cmd.name, sub) {
        ("function", Some(sub)) => matches!(sub, "delete" | "flush" | "load" | "restore"),
        ("exec", _) => s.multi.as_ref().is_some_and(|m| {
            m.queued.iter().any(|q| {
                find(sh, &q[0]).is_some_and(|c| {
                    let sub = subcommand(c, q).ok().flatten();
                    c.name != "exec" && may_replicate(sh, s, c, sub)
                })
            })
        }),
        _ => cmd.has("write") || cmd.has("may_replicate"),
    }
}

thread_local! {
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new(
        store::now_ms().wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
    );
}

/// A random number (xorshift64, per thread).
pub fn random_u64() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    })
}

/// A random index below `n` (> 0).
pub fn random_index(n: usize) -> usize {
    (random_u64() % n as u64) as usize
}

/// The count of SRANDMEMBER / HRANDFIELD / ZRANDMEMBER, in Redis's range
/// (-LONG_MAX..=LONG_MAX), and for a reply with values or scores, which doubles the
/// elements, within half of it.
pub fn rand_count(a: &[u8], with_values: bool) -> Result<i64, CmdErr> {
    let n = int_arg(a)?;
    if n == i64::MIN {
        return Err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
                .into(),
        );
    }
    if with_values && n.unsigned_abs() > (i64::MAX as u64) / 2 {
        return Err("ERR value is out of range".into());
    }
    Ok(n)
}

/// Indexes for a random pick of `count` out of `n`, as Redis's *RANDMEMBER/HRANDFIELD:
/// a positive count gives distinct elements (at most `n`), a negative one `|count|`
/// elements that may repeat.
pub fn random_picks(n: usize, count: i64) -> Vec<usize> {
    if n == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        let k = count.unsigned_abs().min(1 << 24) as usize;
        return (0..k).map(|_| random_index(n)).collect();
    }
    let k = (count as u64).min(n as u64) as usize;
    // Partial Fisher-Yates over the indexes.
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + random_index(n - i);
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx
}

/// One step of HSCAN/SSCAN/ZSCAN over the sub-records whose field starts with
/// `field_prefix`: up to COUNT examined, MATCH applied to the field (without the
/// prefix). Returns the matches (field, value) and the next cursor (0 = done).
pub fn coll_scan(
    c: &Ctx,
    key: &[u8],
    h: &store::Coll,
    sa: &coll::ScanArgs,
    field_prefix: &[u8],
) -> Result<(Pairs, u64), CmdErr> {
    let phys = c.sh.store.phys(c.s.db);
    let prefix = store::sub_prefix(phys, key, h.version);
    let mut start = field_prefix.to_vec();
    if let Some(r) = &sa.resume {
        // A cursor from another version of the key restarts (duplicates are allowed).
        if r.starts_with(&prefix) && r[prefix.len()..].starts_with(field_prefix) {
            start = r[prefix.len()..].to_vec();
        }
    }
    let end = store::prefix_end(field_prefix);
    let upper = if field_prefix.is_empty() {
        None
    } else {
        Some(end.as_slice())
    };
    let mut found = Vec::new();
    let mut examined = 0;
    let mut next_field: Option<Vec<u8>> = None;
    c.sh.store
        .sub_scan(phys, key, h.version, Some(&start), upper, false, |f, v| {
            if examined >= sa.count {
                next_field = Some(f.to_vec());
                return false;
            }
            examined += 1;
            let name = &f[field_prefix.len()..];
            if sa.pattern.as_ref().is_none_or(|g| g.matches(name)) {
                found.push((name.to_vec(), v.to_vec()));
            }
            true
        })?;
    let next = match next_field {
        None => 0,
        Some(f) => {
            let mut k = prefix;
            k.extend_from_slice(&f);
            coll::scan_cursor(k)
        }
    };
    Ok((found, next))
}

/// HSCAN/SSCAN/ZSCAN: parse the arguments, scan one step over the `kind` collection
/// at `a[1]` (sub-records whose field starts with `field_prefix`) and reply the cursor
/// and `per_item` bulks per match, written by `emit` (field without the prefix, value).
pub fn scan_cmd(
    c: &mut Ctx,
    a: &[Vec<u8>],
    kind: Kind,
    field_prefix: &[u8],
    per_item: usize,
    emit: impl Fn(&mut Out, &[u8], &[u8]),
) -> R {
    let sa = coll::scan_args(a)?;
    let (found, next) = match coll::read(c, &a[1], kind)? {
        Some((_, h)) => coll_scan(c, &a[1], &h, &sa, field_prefix)?,
        None => (Vec::new(), 0),
    };
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.array(found.len() * per_item);
    for (f, v) in &found {
        emit(&mut c.out, f, v);
    }
    done()
}
