//! Commands: the table, dispatch (arity, authentication, unknown commands), and the
//! helpers every command family uses.

mod admin;
pub mod keys;
mod strings;

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
}

impl Default for Session {
    fn default() -> Self {
        Session {
            db: 0,
            proto: 2,
            authed: false,
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

/// Parse an integer argument (Redis's `string2ll` rules).
pub fn int_arg(a: &[u8]) -> Result<i64, CmdErr> {
    parse_i64(a).ok_or_else(|| err::NOT_INT.into())
}

/// Parse a float as Redis's `strtold`-based parsers: no spaces, "inf" allowed, NaN not.
pub fn float_arg(a: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(a).ok()?;
    if s.is_empty()
        || s.starts_with(|c: char| c.is_whitespace())
        || s.ends_with(|c: char| c.is_whitespace())
    {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    (!v.is_nan()).then_some(v)
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
    "keys", 2, ["readonly"], (0, 0, 0), "generic", keys::keys, "Returns all key names that match a pattern.";
    "scan", -2, ["readonly"], (0, 0, 0), "generic", keys::scan, "Iterates over the key names in the database.";
    "randomkey", 1, ["readonly"], (0, 0, 0), "generic", keys::randomkey, "Returns a random key name from the database.";
    "dbsize", 1, ["readonly", "fast"], (0, 0, 0), "server", keys::dbsize, "Returns the number of keys in the database.";
    "flushdb", -1, ["write"], (0, 0, 0), "server", keys::flushdb, "Removes all keys from the current database.";
    "flushall", -1, ["write"], (0, 0, 0), "server", keys::flushall, "Removes all keys from all databases.";
    "swapdb", 3, ["write", "fast"], (0, 0, 0), "server", keys::swapdb, "Swaps two Redis databases.";
    "object", -2, ["readonly"], (2, 2, 1), "generic", keys::object, "A container for object introspection commands.";
    // Server.
    "info", -1, ["loading", "stale"], (0, 0, 0), "server", admin::info, "Returns information and statistics about the server.";
    "command", -1, ["loading", "stale"], (0, 0, 0), "server", admin::command, "Returns detailed information about all commands.";
    "config", -2, [], (0, 0, 0), "server", admin::config, "A container for server configuration commands.";
    "time", 1, ["loading", "stale", "fast"], (0, 0, 0), "server", admin::time, "Returns the server time.";
    "save", 1, ["admin", "noscript"], (0, 0, 0), "server", admin::save, "Synchronously saves the database(s) to disk.";
    "bgsave", -1, ["admin", "noscript"], (0, 0, 0), "server", admin::bgsave, "Asynchronously saves the database(s) to disk.";
    "lastsave", 1, ["loading", "stale", "fast"], (0, 0, 0), "server", admin::lastsave, "Returns the Unix timestamp of the last successful save to disk.";
    "shutdown", -1, ["admin", "noscript", "loading", "stale"], (0, 0, 0), "server", admin::shutdown, "Synchronously saves the database(s) to disk and shuts down the Redis server.";
    "function", -2, [], (0, 0, 0), "scripting", admin::function, "A container for function commands.";
    "monitor", 1, ["admin", "noscript", "loading", "stale"], (0, 0, 0), "server", admin::monitor, "Listens for all requests received by the server in real-time.";
    "debug", -2, ["admin", "noscript", "loading", "stale"], (0, 0, 0), "server", admin::debug, "A container for debugging commands.";
}

fn find(name: &[u8]) -> Option<&'static Cmd> {
    if name.len() > 32 {
        return None;
    }
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let lower = std::str::from_utf8(lower).ok()?;
    index().get(lower).copied()
}

fn index() -> &'static std::collections::HashMap<&'static str, &'static Cmd> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static Cmd>> =
        std::sync::OnceLock::new();
    INDEX.get_or_init(|| COMMANDS.iter().map(|c| (c.name, c)).collect())
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
pub fn execute(
    sh: &Shared,
    s: &mut Session,
    info: &ClientInfo,
    out: &mut Vec<u8>,
    args: &[Vec<u8>],
) -> Flow {
    sh.stats.total_commands.fetch_add(1, Ordering::Relaxed);
    info.last_active.store(sh.uptime_ms(), Ordering::Relaxed);
    let mut o = Out {
        buf: out,
        proto: s.proto,
    };
    let Some(cmd) = find(&args[0]) else {
        o.error(&unknown_command(args));
        return Flow::Continue { wrote: false };
    };
    {
        let mut last = lock(&info.last_cmd);
        if last.as_str() != cmd.name {
            last.clear();
            last.push_str(cmd.name);
        }
    }
    if !cmd.has("noauth") && !s.authenticated(sh) {
        o.error(err::NOAUTH);
        return Flow::Continue { wrote: false };
    }
    let n = args.len() as i32;
    if (cmd.arity > 0 && n != cmd.arity) || n < -cmd.arity {
        o.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.name
        ));
        return Flow::Continue { wrote: false };
    }
    if sh.monitors.load(Ordering::Relaxed) > 0
        && !cmd.has("admin")
        && cmd.name != "auth"
        && cmd.name != "hello"
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!(
            "+{}.{:06} [{} {}]",
            now.as_secs(),
            now.subsec_micros(),
            s.db,
            info.addr
        )
        .into_bytes();
        for a in args {
            line.push(b' ');
            repr(&mut line, a);
        }
        line.extend_from_slice(b"\r\n");
        sh.feed_monitors(&line);
    }
    let proto = s.proto;
    let mut ctx = Ctx {
        sh,
        s,
        info,
        out: Out { buf: o.buf, proto },
        cmd,
    };
    match (cmd.run)(&mut ctx, args) {
        Ok(Flow::Continue { wrote }) => Flow::Continue {
            wrote: wrote || cmd.has("write"),
        },
        Ok(f) => f,
        Err(CmdErr(e)) => {
            ctx.out.error(&e);
            Flow::Continue {
                wrote: cmd.has("write"),
            }
        }
    }
}
