//! Configuration: redis.conf syntax, `--name value` overrides, `CONFIG GET`/`SET`.
//!
//! Every directive is known or start-up stops with an error naming the line, in Redis's
//! format. See `docs/configuration.md` for the list.

use std::fmt::Write as _;

use strata_dump::glob::Glob;

use crate::redis_conf;

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
    /// `daemonize`: fork into the background at start (the binary does it).
    pub daemonize: bool,
    /// `pidfile`: written at start, removed at a clean exit (empty: none, unless
    /// daemonized, as Redis).
    pub pidfile: String,
    /// `supervised`: `no`, `systemd` (sd_notify readiness), `upstart` (accepted) or
    /// `auto` (systemd when `NOTIFY_SOCKET` is set).
    pub supervised: String,
    /// `tcp-backlog`: the listen queue's length.
    pub tcp_backlog: u64,
    /// `slowlog-log-slower-than`: microseconds (negative = off, 0 = every command).
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`: entries kept.
    pub slowlog_max_len: u64,
    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds after which a
    /// script that has written nothing is stopped.
    pub busy_reply_threshold: u64,
    /// `hll-sparse-max-bytes`: the largest sparse HyperLogLog before it turns dense.
    pub hll_sparse_max_bytes: u64,
    /// `rename-command`: (command, new name); an empty new name removes the command.
    pub renames: Vec<(String, String)>,
    /// Values of the Redis parameters Strata accepts without using
    /// (`redis_conf::INERT`, same order).
    inert: Vec<String>,
    /// The configuration file the server started from (absolute), for CONFIG REWRITE.
    pub file: Option<std::path::PathBuf>,
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
            pidfile: String::new(),
            supervised: "no".into(),
            tcp_backlog: 511,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            busy_reply_threshold: 5000,
            hll_sparse_max_bytes: 3000,
            renames: Vec::new(),
            inert: redis_conf::INERT
                .iter()
                .map(|e| e.default.to_string())
                .collect(),
            file: None,
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
    ("pidfile", Mutability::Immutable),
    ("supervised", Mutability::Immutable),
    ("tcp-backlog", Mutability::Immutable),
    ("slowlog-log-slower-than", Mutability::Runtime),
    ("slowlog-max-len", Mutability::Runtime),
    ("busy-reply-threshold", Mutability::Runtime),
    ("lua-time-limit", Mutability::Runtime),
    ("hll-sparse-max-bytes", Mutability::Runtime),
    ("dump-payload-target", Mutability::Runtime),
    ("dump-dir", Mutability::Immutable),
    ("dump-throttle", Mutability::Runtime),
];

/// How deep `include` may nest (a file including itself stops here).
const MAX_INCLUDE_DEPTH: usize = 16;

/// The files an `include` names: the path itself, or with wildcards (`*?[`) in its
/// file name, the matching files of its directory in name order.
fn include_files(pattern: &str) -> Vec<std::path::PathBuf> {
    let path = std::path::Path::new(pattern);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?', '[']) {
        return vec![path.to_path_buf()];
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let g = Glob::new(name.as_bytes());
    let mut found: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| g.matches(e.file_name().as_encoded_bytes()))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    found
}

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
                // Kept as written: a leading `-` (an address that may be missing) is
                // read when binding, and CONFIG GET shows it, as Redis.
                self.bind = args
                    .iter()
                    .flat_map(|a| a.split_whitespace())
                    .map(str::to_string)
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
            "daemonize" => self.daemonize = boolean(one()?)?,
            "pidfile" => self.pidfile = one()?.to_string(),
            "supervised" => {
                let v = one()?.to_ascii_lowercase();
                if !["upstart", "systemd", "auto", "no"].contains(&v.as_str()) {
                    return Err(
                        "argument(s) must be one of the following: upstart, systemd, auto, no"
                            .into(),
                    );
                }
                self.supervised = v;
            }
            "tcp-backlog" => self.tcp_backlog = int(one()?, 0, i32::MAX as u64)?,
            "slowlog-log-slower-than" => {
                let v: i64 = one()?
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                if v < -1 {
                    return Err(format!(
                        "argument must be between -1 and {} inclusive",
                        i64::MAX
                    ));
                }
                self.slowlog_log_slower_than = v;
            }
            "slowlog-max-len" => self.slowlog_max_len = int(one()?, 0, i64::MAX as u64)?,
            "busy-reply-threshold" | "lua-time-limit" => {
                self.busy_reply_threshold = int(one()?, 0, i64::MAX as u64)?
            }
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes = int(one()?, 0, i64::MAX as u64)?,
            "rename-command" => match args {
                [from, to] => {
                    self.renames
                        .push((from.to_ascii_lowercase(), to.to_ascii_lowercase()));
                    if let Err(e) = crate::cmd::renamed_table(&self.renames) {
                        self.renames.pop();
                        return Err(e);
                    }
                }
                _ => return Err("Bad directive or wrong number of arguments".into()),
            },
            "client-output-buffer-limit" => self.set_output_limits(args)?,
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
            _ => {
                if let Some((i, e)) = redis_conf::find(&name) {
                    self.inert[i] = redis_conf::check(e, args)?;
                } else if let Some((_, why)) = redis_conf::UNSUPPORTED_DIRECTIVES
                    .iter()
                    .find(|(d, _)| *d == name)
                {
                    return Err(format!("{why} (the '{name}' directive)"));
                } else if !redis_conf::DEPRECATED.contains(&name.as_str()) {
                    return Err("Bad directive or wrong number of arguments".into());
                }
            }
        }
        Ok(())
    }

    /// `client-output-buffer-limit <class> <hard> <soft> <seconds> ...`: each class
    /// given replaces that class's limits, as in Redis (accepted; no effect here).
    fn set_output_limits(&mut self, args: &[String]) -> Result<(), String> {
        let bad = || "Wrong number of arguments in buffer limit configuration.".to_string();
        if args.is_empty() || !args.len().is_multiple_of(4) {
            return Err(bad());
        }
        let (i, _) = redis_conf::find("client-output-buffer-limit").ok_or_else(bad)?;
        let mut classes: Vec<String> = self.inert[i].split(' ').map(str::to_string).collect();
        for quad in args.chunks(4) {
            let class = match quad[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => 2,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let hard = parse_memory(&quad[1]);
            let soft = parse_memory(&quad[2]);
            let secs = quad[3].parse::<u64>().ok();
            let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                );
            };
            if classes.len() == 12 {
                classes[class * 4 + 1] = hard.to_string();
                classes[class * 4 + 2] = soft.to_string();
                classes[class * 4 + 3] = secs.to_string();
            }
        }
        self.inert[i] = classes.join(" ");
        Ok(())
    }

    /// The Redis parameters set to something other than Redis's default that have no
    /// effect in Strata: (name, value), for a warning at start-up.
    pub fn inert_changes(&self) -> Vec<(&'static str, &str)> {
        redis_conf::INERT
            .iter()
            .zip(&self.inert)
            .filter(|(e, v)| e.default != v.as_str())
            .map(|(e, v)| (e.name, v.as_str()))
            .collect()
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
            "daemonize" => if self.daemonize { "yes" } else { "no" }.into(),
            "pidfile" => self.pidfile.clone(),
            "supervised" => self.supervised.clone(),
            "tcp-backlog" => self.tcp_backlog.to_string(),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "busy-reply-threshold" | "lua-time-limit" => self.busy_reply_threshold.to_string(),
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes.to_string(),
            "dump-payload-target" => self.dump_payload_target.clone(),
            "dump-dir" => self.dump_dir.clone(),
            "dump-throttle" => self.dump_throttle.to_string(),
            _ => {
                let (i, _) = redis_conf::find(name)?;
                self.inert[i].clone()
            }
        })
    }

    /// `CONFIG GET` for one glob pattern: (name, value) pairs in table order.
    pub fn get_matching(&self, pattern: &str) -> Vec<(String, String)> {
        let g = Glob::new(pattern.to_ascii_lowercase().as_bytes());
        let names = PARAMS
            .iter()
            .map(|(n, _)| *n)
            .chain(redis_conf::INERT.iter().map(|e| e.name))
            .chain(redis_conf::ALIASES.iter().map(|(a, _)| *a));
        names
            .filter(|n| g.matches(n.as_bytes()))
            .filter_map(|n| self.get(n).map(|v| (n.to_string(), v)))
            .collect()
    }

    /// Whether CONFIG SET may change `name` (as typed): Redis's error text if not
    /// (an unknown name, or one fixed at start-up).
    pub fn settable(name: &str) -> Result<(), String> {
        let lname = name.to_ascii_lowercase();
        let m = match PARAMS.iter().find(|(n, _)| *n == lname) {
            Some((_, m)) => *m,
            None => match redis_conf::find(&lname) {
                Some((_, e)) if e.runtime => Mutability::Runtime,
                Some(_) => Mutability::Immutable,
                None => {
                    return Err(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ))
                }
            },
        };
        if m == Mutability::Immutable {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ));
        }
        Ok(())
    }

    /// `CONFIG SET name value`: the error text on failure, as Redis words it (a value
    /// refused names the parameter in lower case, as Redis names its config).
    pub fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        Self::settable(name)?;
        let lname = name.to_ascii_lowercase();
        let many = lname == "save"
            || lname == "client-output-buffer-limit"
            || redis_conf::find(&lname)
                .is_some_and(|(_, e)| matches!(e.kind, redis_conf::Kind::Words));
        let words: Vec<String> = if many {
            value.split_whitespace().map(str::to_string).collect()
        } else {
            vec![value.to_string()]
        };
        self.set(&lname, &words).map_err(|why| {
            format!("ERR CONFIG SET failed (possibly related to argument '{lname}') - {why}")
        })
    }

    /// Apply the lines of a config text. `include` reads other files (wildcards in the
    /// file name, matches in name order; a pattern matching nothing is skipped, as in
    /// Redis), each reporting its own line numbers; relative paths are taken from the
    /// working directory, as Redis does.
    fn apply_text(&mut self, text: &str, depth: usize) -> Result<(), String> {
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
            if name.eq_ignore_ascii_case("include") {
                let [pattern] = args else {
                    return Err(fail("Bad directive or wrong number of arguments"));
                };
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(fail("Too many nested includes"));
                }
                for f in include_files(pattern) {
                    let body = std::fs::read_to_string(&f).map_err(|e| {
                        format!("Fatal error, can't open config file '{}': {e}", f.display())
                    })?;
                    self.apply_text(&body, depth + 1)?;
                }
                continue;
            }
            self.set(name, args).map_err(|why| fail(&why))?;
        }
        Ok(())
    }

    /// CONFIG REWRITE: the file's text with every parameter it names set to its
    /// current value (in place, once; a repeated line goes), comments, blank lines and
    /// other directives (`include`, `rename-command`) kept, then the parameters that
    /// differ from their defaults and were not in the file, under Redis's
    /// `# Generated by CONFIG REWRITE` line.
    pub fn rewritten(&self, text: &str) -> String {
        let defaults = Config::default();
        let mut out = String::new();
        let mut written: Vec<String> = Vec::new();
        for raw in text.lines() {
            let trimmed = raw.trim();
            let name = crate::resp::split_args(trimmed.as_bytes())
                .and_then(|w| w.into_iter().next())
                .map(|w| String::from_utf8_lossy(&w).to_ascii_lowercase());
            let param = match &name {
                Some(n) if !trimmed.starts_with('#') && self.get(n).is_some() => n.clone(),
                _ => {
                    out.push_str(raw);
                    out.push('\n');
                    continue;
                }
            };
            if written.contains(&param) {
                continue;
            }
            out.push_str(&self.directive_line(&param));
            out.push('\n');
            written.push(param);
        }
        let mut header = false;
        let names = PARAMS
            .iter()
            .map(|(n, _)| *n)
            .chain(redis_conf::INERT.iter().map(|e| e.name));
        for n in names {
            if written.iter().any(|w| w == n) || self.get(n) == defaults.get(n) {
                continue;
            }
            // An alias written in the file stands for its parameter.
            if redis_conf::ALIASES
                .iter()
                .any(|(a, p)| *p == n && written.iter().any(|w| w == a))
            {
                continue;
            }
            if !header {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            out.push_str(&self.directive_line(n));
            out.push('\n');
        }
        out
    }

    /// `name value` as a config line: lists as their words, anything else quoted
    /// when it must be (empty, spaces, quotes, control bytes).
    fn directive_line(&self, name: &str) -> String {
        let v = self.get(name).unwrap_or_default();
        let words = matches!(name, "bind" | "save" | "client-output-buffer-limit")
            || redis_conf::find(name)
                .is_some_and(|(_, e)| matches!(e.kind, redis_conf::Kind::Words));
        if words && !v.is_empty() {
            return format!("{name} {v}");
        }
        let plain = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
        if plain {
            return format!("{name} {v}");
        }
        let mut q = String::from("\"");
        for c in v.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\r' => q.push_str("\\r"),
                '\t' => q.push_str("\\t"),
                c if (c as u32) < 0x20 => q.push_str(&format!("\\x{:02x}", c as u32)),
                c => q.push(c),
            }
        }
        q.push('"');
        format!("{name} {q}")
    }

    /// CONFIG REWRITE: write [`Config::rewritten`] over the file, through a temporary
    /// file in its directory, fsynced and renamed (a crash leaves the old file or the
    /// new one).
    pub fn rewrite_file(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("The server is running without a config file".into());
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let new = self.rewritten(&text);
        let tmp = path.with_extension(format!("rewrite-{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(new.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("Rewriting config file: {e}")
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
        c.apply_text(&text, 0)?;
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
        let c = Config::load(None, &["--bind".into(), "* -::*".into()]).unwrap();
        assert_eq!(c.bind, vec!["*", "-::*"]);
    }

    #[test]
    fn include_reads_files_and_wildcards_in_name_order() {
        let dir = std::env::temp_dir().join(format!("strata-include-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/10-a.conf"), "timeout 10\nhz 20\n").unwrap();
        std::fs::write(dir.join("conf.d/20-b.conf"), "timeout 20\n").unwrap();
        std::fs::write(
            dir.join("self.conf"),
            format!("include {}/self.conf\n", dir.display()),
        )
        .unwrap();
        let text = format!(
            "timeout 5\ninclude {d}/conf.d/*.conf\ninclude {d}/none/*.conf\n",
            d = dir.display()
        );
        let c = Config::load(Some(("x", &text)), &[]).unwrap();
        assert_eq!((c.timeout, c.hz), (20, 20));
        let e = Config::load(
            Some(("x", &format!("include {}/missing.conf\n", dir.display()))),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("can't open config file"), "{e}");
        let e = Config::load(
            Some(("x", &format!("include {}/self.conf\n", dir.display()))),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("Too many nested includes"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
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
        let names: Vec<String> = c
            .get_matching("maxmemory*")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "maxmemory",
                "maxmemory-clients",
                "maxmemory-eviction-tenacity",
                "maxmemory-policy",
                "maxmemory-samples"
            ]
        );
        // An alias reads and writes its parameter; immutable and refused ones answer
        // as Redis words it.
        c.config_set("slave-priority", "7").unwrap();
        assert_eq!(c.get("replica-priority").as_deref(), Some("7"));
        assert!(c
            .config_set("unixsocket", "/tmp/x")
            .unwrap_err()
            .contains("immutable"));
        assert!(c
            .config_set("tls-port", "6380")
            .unwrap_err()
            .contains("TLS is not supported"));
        assert_eq!(c.inert_changes(), vec![("replica-priority", "7")]);
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
