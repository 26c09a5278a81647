//! Configuration: redis.conf syntax, `--name value` overrides, `CONFIG GET`/`SET`.
//!
//! Every directive is known or start-up stops with an error naming the line, in Redis's
//! format. See `docs/configuration.md` for the list.

use std::fmt::Write as _;

use strata_dump::glob::Glob;

/// WAL durability, Redis's `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// fsync before any reply to a write leaves the server.
    Always,
    /// fsync once a second.
    EverySec,
    /// Never fsync explicitly.
    No,
}

impl Fsync {
    fn parse(s: &str) -> Option<Fsync> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
    /// The directive's text.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// The server's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// TCP port (0 = do not listen on TCP, as Redis).
    pub port: u16,
    /// Addresses to listen on.
    pub bind: Vec<String>,
    /// Data directory (the engine's files).
    pub dir: String,
    /// `requirepass`: empty = no password.
    pub requirepass: String,
    /// Number of logical databases (1–16).
    pub databases: usize,
    /// Most clients connected at once.
    pub maxclients: usize,
    /// Close a client idle this many seconds (0 = never).
    pub timeout: u64,
    /// WAL durability.
    pub appendfsync: Fsync,
    /// `appendonly`: accepted for compatibility; the WAL is always on.
    pub appendonly: bool,
    /// Engine memtable budget in bytes.
    pub memtable_budget: u64,
    /// Engine block cache in bytes.
    pub block_cache_size: u64,
    /// Largest bulk string a client may send.
    pub proto_max_bulk_len: u64,
    /// Largest unprocessed input a client may accumulate.
    pub client_query_buffer_limit: u64,
    /// Event-loop threads (0 = one per core).
    pub io_threads: usize,
    /// `loglevel`: accepted (debug, verbose, notice, warning, nothing).
    pub loglevel: String,
    /// `logfile`: empty = stderr.
    pub logfile: String,
    /// `save`: accepted for compatibility (every write is in the WAL already).
    pub save: String,
    /// `hz`: active expiry cycles per second.
    pub hz: u64,
    /// `protected-mode`: accepted (the default bind is loopback).
    pub protected_mode: bool,
    /// `tcp-keepalive`: seconds (0 = off).
    pub tcp_keepalive: u64,
    /// `daemonize`: only `no` is supported.
    pub daemonize: bool,
    /// DUMP and MIGRATE payload encoding: `redis-7.0` (default), `redis-6`, `portable`.
    pub dump_payload_target: String,
    /// Directory of BGDUMP files (empty = `<dir>/dumps`).
    pub dump_dir: String,
    /// Most bytes per second a BGDUMP writes (0 = unlimited).
    pub dump_throttle: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            dir: "./data".into(),
            requirepass: String::new(),
            databases: 16,
            maxclients: 10000,
            timeout: 0,
            appendfsync: Fsync::EverySec,
            appendonly: true,
            memtable_budget: 16 << 20,
            block_cache_size: 64 << 20,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            io_threads: 0,
            loglevel: "notice".into(),
            logfile: String::new(),
            save: String::new(),
            hz: 10,
            protected_mode: true,
            tcp_keepalive: 300,
            daemonize: false,
            dump_payload_target: "redis-7.0".into(),
            dump_dir: String::new(),
            dump_throttle: 0,
        }
    }
}

/// Parse a memory amount as Redis's `memtoll`: `1k` = 1000, `1kb` = 1024, `m`/`mb`,
/// `g`/`gb`, case-insensitive.
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| l.strip_suffix(suf).map(|n| (n.to_string(), *mul)))
    .unwrap_or((l.clone(), 1));
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// How a parameter may change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mutability {
    /// `CONFIG SET` changes it at run time.
    Runtime,
    /// Fixed after start-up (Redis's text: "can't set immutable config").
    Immutable,
}

/// Every parameter: name, whether `CONFIG SET` may change it.
const PARAMS: &[(&str, Mutability)] = &[
    ("port", Mutability::Immutable),
    ("bind", Mutability::Immutable),
    ("dir", Mutability::Immutable),
    ("requirepass", Mutability::Runtime),
    ("databases", Mutability::Immutable),
    ("maxclients", Mutability::Runtime),
    ("timeout", Mutability::Runtime),
    ("appendfsync", Mutability::Runtime),
    ("appendonly", Mutability::Runtime),
    ("memtable-budget", Mutability::Immutable),
    ("block-cache-size", Mutability::Immutable),
    ("proto-max-bulk-len", Mutability::Runtime),
    ("client-query-buffer-limit", Mutability::Runtime),
    ("io-threads", Mutability::Immutable),
    ("loglevel", Mutability::Runtime),
    ("logfile", Mutability::Immutable),
    ("save", Mutability::Runtime),
    ("hz", Mutability::Runtime),
    ("protected-mode", Mutability::Runtime),
    ("tcp-keepalive", Mutability::Runtime),
    ("daemonize", Mutability::Immutable),
    ("dump-payload-target", Mutability::Runtime),
    ("dump-dir", Mutability::Immutable),
    ("dump-throttle", Mutability::Runtime),
];

impl Config {
    /// Set one parameter from its text form (start-up or `CONFIG SET`). The error is the
    /// reason, in Redis's words.
    pub fn set(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        let one = || -> Result<&str, String> {
            match args {
                [v] => Ok(v.as_str()),
                _ => Err("wrong number of arguments".into()),
            }
        };
        let int = |s: &str, lo: u64, hi: u64| -> Result<u64, String> {
            let v: i128 = s
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if v < i128::from(lo) || v > i128::from(hi) {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(v as u64)
        };
        let mem = |s: &str| -> Result<u64, String> {
            parse_memory(s).ok_or_else(|| "argument must be a memory value".to_string())
        };
        let boolean =
            |s: &str| parse_bool(s).ok_or_else(|| "argument must be 'yes' or 'no'".to_string());
        match name.as_str() {
            "port" => self.port = int(one()?, 0, 65535)? as u16,
            "bind" => {
                if args.is_empty() {
                    return Err("wrong number of arguments".into());
                }
                // CONFIG SET gives one space-separated string; the file gives words.
                self.bind = args
                    .iter()
                    .flat_map(|a| a.split_whitespace())
                    .map(|s| s.trim_start_matches('-').to_string())
                    .collect();
            }
            "dir" => self.dir = one()?.to_string(),
            "requirepass" => self.requirepass = one()?.to_string(),
            "databases" => self.databases = int(one()?, 1, 16)? as usize,
            "maxclients" => self.maxclients = int(one()?, 1, 1_000_000)? as usize,
            "timeout" => self.timeout = int(one()?, 0, i32::MAX as u64)?,
            "appendfsync" => {
                self.appendfsync = Fsync::parse(one()?)
                    .ok_or("argument(s) must be one of the following: always, everysec, no")?
            }
            "appendonly" => self.appendonly = boolean(one()?)?,
            "memtable-budget" => self.memtable_budget = mem(one()?)?.max(1 << 20),
            "block-cache-size" => self.block_cache_size = mem(one()?)?,
            "proto-max-bulk-len" => {
                let v = mem(one()?)?;
                if v < 1024 * 1024 {
                    return Err("argument must be a memory value greater than 1mb".into());
                }
                self.proto_max_bulk_len = v;
            }
            "client-query-buffer-limit" => {
                let v = mem(one()?)?;
                if v < 1024 * 1024 {
                    return Err("argument must be a memory value greater than 1mb".into());
                }
                self.client_query_buffer_limit = v;
            }
            "io-threads" => self.io_threads = int(one()?, 0, 64)? as usize,
            "loglevel" => {
                let v = one()?.to_ascii_lowercase();
                if !["debug", "verbose", "notice", "warning", "nothing"].contains(&v.as_str()) {
                    return Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into());
                }
                self.loglevel = v;
            }
            "logfile" => self.logfile = one()?.to_string(),
            "save" => self.save = args.join(" "),
            "hz" => self.hz = int(one()?, 1, 500)?,
            "protected-mode" => self.protected_mode = boolean(one()?)?,
            "tcp-keepalive" => self.tcp_keepalive = int(one()?, 0, i32::MAX as u64)?,
            "daemonize" => {
                if boolean(one()?)? {
                    return Err("daemonize yes is not supported: run under a supervisor".into());
                }
            }
            "dump-payload-target" => {
                let v = one()?.to_ascii_lowercase();
                if !["redis-7.0", "redis-6", "portable"].contains(&v.as_str()) {
                    return Err(
                        "argument(s) must be one of the following: redis-7.0, redis-6, portable"
                            .into(),
                    );
                }
                self.dump_payload_target = v;
            }
            "dump-dir" => self.dump_dir = one()?.to_string(),
            "dump-throttle" => self.dump_throttle = mem(one()?)?,
            _ => return Err("Bad directive or wrong number of arguments".into()),
        }
        Ok(())
    }

    /// The text `CONFIG GET` shows for a parameter.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "dir" => self.dir.clone(),
            "requirepass" => self.requirepass.clone(),
            "databases" => self.databases.to_string(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "appendfsync" => self.appendfsync.name().into(),
            "appendonly" => if self.appendonly { "yes" } else { "no" }.into(),
            "memtable-budget" => self.memtable_budget.to_string(),
            "block-cache-size" => self.block_cache_size.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "io-threads" => self.io_threads.to_string(),
            "loglevel" => self.loglevel.clone(),
            "logfile" => self.logfile.clone(),
            "save" => self.save.clone(),
            "hz" => self.hz.to_string(),
            "protected-mode" => if self.protected_mode { "yes" } else { "no" }.into(),
            "tcp-keepalive" => self.tcp_keepalive.to_string(),
            "daemonize" => "no".into(),
            "dump-payload-target" => self.dump_payload_target.clone(),
            "dump-dir" => self.dump_dir.clone(),
            "dump-throttle" => self.dump_throttle.to_string(),
            _ => return None,
        })
    }

    /// `CONFIG GET` for one glob pattern: (name, value) pairs in table order.
    pub fn get_matching(&self, pattern: &str) -> Vec<(String, String)> {
        let g = Glob::new(pattern.to_ascii_lowercase().as_bytes());
        PARAMS
            .iter()
            .filter(|(n, _)| g.matches(n.as_bytes()))
            .filter_map(|(n, _)| self.get(n).map(|v| (n.to_string(), v)))
            .collect()
    }

    /// `CONFIG SET name value`: the error text on failure, as Redis words it.
    pub fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let lname = name.to_ascii_lowercase();
        let Some((_, m)) = PARAMS.iter().find(|(n, _)| *n == lname) else {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        if *m == Mutability::Immutable {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ));
        }
        let words: Vec<String> = if lname == "save" {
            value.split_whitespace().map(str::to_string).collect()
        } else {
            vec![value.to_string()]
        };
        self.set(&lname, &words).map_err(|why| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        })
    }

    /// Parse a config file's text, then apply `overrides` (`--name value ...` words).
    pub fn load(file: Option<(&str, &str)>, overrides: &[String]) -> Result<Config, String> {
        let mut c = Config::default();
        let mut text = String::new();
        if let Some((_, body)) = file {
            text.push_str(body);
            text.push('\n');
        }
        // Overrides become config lines, as redis-server does: "--port 7000 --bind a b".
        let mut line = String::new();
        for w in overrides {
            if let Some(name) = w.strip_prefix("--") {
                if !line.is_empty() {
                    text.push_str(&line);
                    text.push('\n');
                }
                line = name.to_string();
            } else {
                let _ = write!(
                    line,
                    " \"{}\"",
                    w.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
        }
        if !line.is_empty() {
            text.push_str(&line);
            text.push('\n');
        }
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fail = |why: &str| {
                format!(
                    "\n*** FATAL CONFIG FILE ERROR (Strata {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
                    env!("CARGO_PKG_VERSION"),
                    i + 1,
                    trimmed,
                    why
                )
            };
            let words = crate::resp::split_args(trimmed.as_bytes())
                .ok_or_else(|| fail("Unbalanced quotes in configuration line"))?;
            let words: Vec<String> = words
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            c.set(name, args).map_err(|why| fail(&why))?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_overrides() {
        let c = Config::load(
            Some((
                "x.conf",
                "# comment\nport 7000\nappendfsync always\nmemtable-budget 32mb\n",
            )),
            &[
                "--port".into(),
                "7001".into(),
                "--bind".into(),
                "0.0.0.0".into(),
                "::1".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.appendfsync, Fsync::Always);
        assert_eq!(c.memtable_budget, 32 << 20);
        assert_eq!(c.bind, vec!["0.0.0.0", "::1"]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::load(Some(("x", "port 1\nbogus-directive 1\n")), &[]).unwrap_err();
        assert!(e.contains("at line 2"), "{e}");
        assert!(e.contains(">>> 'bogus-directive 1'"), "{e}");
        let e = Config::load(Some(("x", "port notanumber\n")), &[]).unwrap_err();
        assert!(e.contains("at line 1") && e.contains("integer"), "{e}");
    }

    #[test]
    fn config_get_and_set() {
        let mut c = Config::default();
        let all = c.get_matching("*");
        assert!(all.iter().any(|(n, v)| n == "port" && v == "6379"));
        assert_eq!(c.get_matching("maxmemory*"), vec![]);
        c.config_set("timeout", "30").unwrap();
        assert_eq!(c.timeout, 30);
        assert!(c.config_set("port", "1").unwrap_err().contains("immutable"));
        assert!(c
            .config_set("nope", "1")
            .unwrap_err()
            .contains("Unknown option"));
        assert!(c.config_set("appendfsync", "sometimes").is_err());
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
    }
}
