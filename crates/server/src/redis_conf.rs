//! Redis 7.0's configuration parameters that Strata accepts without using them.
//!
//! A Redis user brings a redis.conf (Debian's, say, with `tcp-backlog`, `lazyfree-*`,
//! `hash-max-listpack-*`). Each parameter Redis 7.0.15 lists under `CONFIG GET *` is
//! known here, with Redis's default, so such a file starts Strata, `CONFIG GET` answers
//! what Redis would, and `CONFIG SET` takes what Redis takes. Values are checked for
//! their form (yes/no, an integer or memory amount, one of the choices), not for
//! Redis's ranges. A value other than the default is reported once at start-up, since
//! it does nothing here (`Config::inert_changes`).
//!
//! A few parameters would change what clients may rely on (replication, TLS, eviction,
//! keyspace notifications, ACL files, Unix sockets): they take only their default, and
//! anything else stops start-up (or fails `CONFIG SET`) with the reason, instead of
//! being ignored. docs/configuration.md lists them.

/// The form a value takes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// `yes` or `no`.
    Bool,
    /// An integer, optionally with a memory unit (`64mb`) or a percent sign.
    Num,
    /// One argument, any text.
    Str,
    /// Any number of arguments, kept joined by spaces (`save`-like lists).
    Words,
    /// One of the choices.
    Enum(&'static [&'static str]),
}

/// A Redis parameter Strata accepts and keeps, without acting on it.
#[derive(Debug)]
pub(crate) struct Inert {
    pub name: &'static str,
    /// Redis 7.0.15's default, as `CONFIG GET` shows it.
    pub default: &'static str,
    pub kind: Kind,
    /// `CONFIG SET` may change it (as in Redis).
    pub runtime: bool,
    /// Only the default is accepted; any other value fails with this reason.
    pub refuse: Option<&'static str>,
}

const fn p(name: &'static str, default: &'static str, kind: Kind, runtime: bool) -> Inert {
    Inert {
        name,
        default,
        kind,
        runtime,
        refuse: None,
    }
}

impl Inert {
    const fn only_default(mut self, why: &'static str) -> Inert {
        self.refuse = Some(why);
        self
    }
}

use Kind::{Bool as B, Num as N, Str as S, Words as W};

const RT: bool = true;
const IM: bool = false;

const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];

/// Every parameter of Redis 7.0.15's `CONFIG GET *` that Strata does not act on (its
/// aliases are in [`ALIASES`]).
pub(crate) const INERT: &[Inert] = &[
    p(
        "acl-pubsub-default",
        "resetchannels",
        Kind::Enum(&["allchannels", "resetchannels"]),
        RT,
    ),
    p("aclfile", "", S, IM).only_default("ACL files are not supported"),
    p("acllog-max-len", "128", N, RT),
    p("active-defrag-cycle-max", "25", N, RT),
    p("active-defrag-cycle-min", "1", N, RT),
    p("active-defrag-ignore-bytes", "104857600", N, RT),
    p("active-defrag-max-scan-fields", "1000", N, RT),
    p("active-defrag-threshold-lower", "10", N, RT),
    p("active-defrag-threshold-upper", "100", N, RT),
    p("active-expire-effort", "1", N, RT),
    p("activedefrag", "no", B, RT),
    p("activerehashing", "yes", B, RT),
    p("always-show-logo", "no", B, IM),
    p("aof-disable-auto-gc", "no", B, RT),
    p("aof-load-truncated", "yes", B, RT),
    p("aof-rewrite-incremental-fsync", "yes", B, RT),
    p("aof-timestamp-enabled", "no", B, RT),
    p("aof-use-rdb-preamble", "yes", B, RT),
    p("aof_rewrite_cpulist", "", S, IM),
    p("appenddirname", "appendonlydir", S, IM),
    p("appendfilename", "appendonly.aof", S, IM),
    p("auto-aof-rewrite-min-size", "67108864", N, RT),
    p("auto-aof-rewrite-percentage", "100", N, RT),
    p("bgsave_cpulist", "", S, IM),
    p("bind-source-addr", "", S, RT),
    p("bio_cpulist", "", S, IM),
    p(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        W,
        RT,
    ),
    p("cluster-allow-pubsubshard-when-down", "yes", B, RT),
    p("cluster-allow-reads-when-down", "no", B, RT),
    p("cluster-allow-replica-migration", "yes", B, RT),
    p("cluster-announce-bus-port", "0", N, RT),
    p("cluster-announce-hostname", "", S, RT),
    p("cluster-announce-ip", "", S, RT),
    p("cluster-announce-port", "0", N, RT),
    p("cluster-announce-tls-port", "0", N, RT),
    p("cluster-config-file", "nodes.conf", S, IM),
    p("cluster-enabled", "no", B, IM).only_default(
        "Redis Cluster's bus is not supported (the CLUSTER slot commands work without it)",
    ),
    p("cluster-link-sendbuf-limit", "0", N, RT),
    p("cluster-migration-barrier", "1", N, RT),
    p("cluster-node-timeout", "15000", N, RT),
    p("cluster-port", "0", N, IM),
    p(
        "cluster-preferred-endpoint-type",
        "ip",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        RT,
    ),
    p("cluster-replica-no-failover", "no", B, RT),
    p("cluster-replica-validity-factor", "10", N, RT),
    p("cluster-require-full-coverage", "yes", B, RT),
    p("crash-log-enabled", "yes", B, RT),
    p("crash-memcheck-enabled", "yes", B, RT),
    p("dbfilename", "dump.rdb", S, IM),
    p("disable-thp", "yes", B, IM),
    p("dynamic-hz", "yes", B, RT),
    p("enable-debug-command", "no", Kind::Enum(YES_NO_LOCAL), IM),
    p("enable-module-command", "no", Kind::Enum(YES_NO_LOCAL), IM),
    p(
        "enable-protected-configs",
        "no",
        Kind::Enum(YES_NO_LOCAL),
        IM,
    ),
    p("hash-max-listpack-entries", "512", N, RT),
    p("hash-max-listpack-value", "64", N, RT),
    p("hll-sparse-max-bytes", "3000", N, RT),
    p("ignore-warnings", "", S, RT),
    p("io-threads-do-reads", "no", B, IM),
    p("jemalloc-bg-thread", "yes", B, RT),
    p("latency-monitor-threshold", "0", N, RT),
    p("latency-tracking", "yes", B, RT),
    p("latency-tracking-info-percentiles", "50 99 99.9", W, RT),
    p("lazyfree-lazy-eviction", "no", B, RT),
    p("lazyfree-lazy-expire", "no", B, RT),
    p("lazyfree-lazy-server-del", "no", B, RT),
    p("lazyfree-lazy-user-del", "no", B, RT),
    p("lazyfree-lazy-user-flush", "no", B, RT),
    p("lfu-decay-time", "1", N, RT),
    p("lfu-log-factor", "10", N, RT),
    p("list-compress-depth", "0", N, RT),
    p("list-max-listpack-size", "-2", N, RT),
    p("masterauth", "", S, RT),
    p("masteruser", "", S, RT),
    p("maxmemory", "0", N, RT),
    p("maxmemory-clients", "0", N, RT),
    p("maxmemory-eviction-tenacity", "10", N, RT),
    p(
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        RT,
    )
    .only_default("Strata does not evict keys (they live on disk): the policy is noeviction"),
    p("maxmemory-samples", "5", N, RT),
    p("min-replicas-max-lag", "10", N, RT),
    p("min-replicas-to-write", "0", N, RT),
    p("no-appendfsync-on-rewrite", "no", B, RT),
    p("notify-keyspace-events", "", S, RT).only_default("keyspace notifications are not supported"),
    p(
        "oom-score-adj",
        "no",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        RT,
    ),
    p("oom-score-adj-values", "0 200 800", W, RT),
    p(
        "proc-title-template",
        "{title} {listen-addr} {server-mode}",
        S,
        RT,
    ),
    p(
        "propagation-error-behavior",
        "ignore",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        RT,
    ),
    p("rdb-del-sync-files", "no", B, RT),
    p("rdb-save-incremental-fsync", "yes", B, RT),
    p("rdbchecksum", "yes", B, IM),
    p("rdbcompression", "yes", B, RT),
    p("repl-backlog-size", "1048576", N, RT),
    p("repl-backlog-ttl", "3600", N, RT),
    p("repl-disable-tcp-nodelay", "no", B, RT),
    p(
        "repl-diskless-load",
        "disabled",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        RT,
    ),
    p("repl-diskless-sync", "yes", B, RT),
    p("repl-diskless-sync-delay", "5", N, RT),
    p("repl-diskless-sync-max-replicas", "0", N, RT),
    p("repl-ping-replica-period", "10", N, RT),
    p("repl-timeout", "60", N, RT),
    p("replica-announce-ip", "", S, RT),
    p("replica-announce-port", "0", N, RT),
    p("replica-announced", "yes", B, RT),
    p("replica-ignore-disk-write-errors", "no", B, RT),
    p("replica-ignore-maxmemory", "yes", B, RT),
    p("replica-lazy-flush", "no", B, RT),
    p("replica-priority", "100", N, RT),
    p("replica-read-only", "yes", B, RT),
    p("replica-serve-stale-data", "yes", B, RT),
    p("replicaof", "", W, IM).only_default("Strata does not replicate"),
    p(
        "sanitize-dump-payload",
        "no",
        Kind::Enum(&["no", "yes", "clients"]),
        RT,
    ),
    p("server_cpulist", "", S, IM),
    p("set-max-intset-entries", "512", N, RT),
    p("set-proc-title", "yes", B, IM),
    p("shutdown-on-sigint", "default", W, RT),
    p("shutdown-on-sigterm", "default", W, RT),
    p("shutdown-timeout", "10", N, RT),
    p("socket-mark-id", "0", N, IM),
    p("stop-writes-on-bgsave-error", "yes", B, RT),
    p("stream-node-max-bytes", "4096", N, RT),
    p("stream-node-max-entries", "100", N, RT),
    p("syslog-enabled", "no", B, IM),
    p(
        "syslog-facility",
        "local0",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        IM,
    ),
    p("syslog-ident", "redis", S, IM),
    p(
        "tls-auth-clients",
        "yes",
        Kind::Enum(&["no", "yes", "optional"]),
        RT,
    ),
    p("tls-ca-cert-dir", "", S, RT),
    p("tls-ca-cert-file", "", S, RT),
    p("tls-cert-file", "", S, RT),
    p("tls-ciphers", "", S, RT),
    p("tls-ciphersuites", "", S, RT),
    p("tls-client-cert-file", "", S, RT),
    p("tls-client-key-file", "", S, RT),
    p("tls-client-key-file-pass", "", S, RT),
    p("tls-cluster", "no", B, RT),
    p("tls-dh-params-file", "", S, RT),
    p("tls-key-file", "", S, RT),
    p("tls-key-file-pass", "", S, RT),
    p("tls-port", "0", N, RT).only_default("TLS is not supported"),
    p("tls-prefer-server-ciphers", "no", B, RT),
    p("tls-protocols", "", S, RT),
    p("tls-replication", "no", B, RT),
    p("tls-session-cache-size", "20480", N, RT),
    p("tls-session-cache-timeout", "300", N, RT),
    p("tls-session-caching", "yes", B, RT),
    p("tracking-table-max-keys", "1000000", N, RT),
    p("unixsocket", "", S, IM).only_default("Unix sockets are not supported"),
    p("unixsocketperm", "0", N, IM),
    p("zset-max-listpack-entries", "128", N, RT),
    p("zset-max-listpack-value", "64", N, RT),
];

/// Redis's alternative names: (alias, parameter). `CONFIG GET *` lists both, as Redis.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
    ("slave-read-only", "replica-read-only"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slaveof", "replicaof"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];

/// Directives Redis 7.0 still reads from a file and ignores (not in `CONFIG GET`).
pub(crate) const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Redis config-file directives that are not parameters, which Strata does not
/// support; each stops start-up with this reason.
pub(crate) const UNSUPPORTED_DIRECTIVES: &[(&str, &str)] = &[
    ("user", "ACL users are not supported"),
    ("loadmodule", "modules are not supported"),
    ("sentinel", "Sentinel is not supported"),
];

/// The table entry for `name` (an alias resolves to its parameter).
pub(crate) fn find(name: &str) -> Option<(usize, &'static Inert)> {
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, p)| p);
    INERT.iter().enumerate().find(|(_, i)| i.name == name)
}

/// Check `args` against the entry's form; the value to keep, or Redis's reason.
pub(crate) fn check(entry: &Inert, args: &[String]) -> Result<String, String> {
    let one = || -> Result<&str, String> {
        match args {
            [v] => Ok(v.as_str()),
            _ => Err("wrong number of arguments".into()),
        }
    };
    let value = match entry.kind {
        Kind::Bool => {
            let v = one()?.to_ascii_lowercase();
            if v != "yes" && v != "no" {
                return Err("argument must be 'yes' or 'no'".into());
            }
            v
        }
        Kind::Num if entry.name == "maxmemory-clients" => {
            // A memory amount or a percentage of maxmemory, as Redis's
            // MEMORY_CONFIG | PERCENT_CONFIG.
            let v = one()?;
            let bad = || "argument must be a memory or percent value".to_string();
            match v.strip_suffix('%') {
                Some(pct) => {
                    let n: i64 = pct.parse().map_err(|_| bad())?;
                    if n < 0 {
                        return Err(bad());
                    }
                    if n > 100 {
                        return Err("percentage argument must be less or equal to 100".into());
                    }
                    v.to_string()
                }
                None => match crate::config::parse_memory(v) {
                    Some(n) if !v.starts_with('-') => n.to_string(),
                    _ => return Err(bad()),
                },
            }
        }
        Kind::Num => {
            let v = one()?;
            if !is_number(v) {
                return Err("argument couldn't be parsed into an integer".into());
            }
            // Shown in bytes, as Redis shows memory amounts (`64mb` → 67108864).
            match crate::config::parse_memory(v) {
                Some(n) if !v.ends_with('%') => n.to_string(),
                _ => v.to_string(),
            }
        }
        Kind::Str => one()?.to_string(),
        Kind::Words => args.join(" "),
        Kind::Enum(choices) => {
            let v = one()?.to_ascii_lowercase();
            if !choices.contains(&v.as_str()) {
                return Err(format!(
                    "argument(s) must be one of the following: {}",
                    choices.join(", ")
                ));
            }
            v
        }
    };
    if let Some(why) = entry.refuse {
        if value != entry.default {
            return Err(format!("{why}: only '{}' is accepted", entry.default));
        }
    }
    Ok(value)
}

/// An integer, optionally negative, with an optional memory unit or percent sign.
fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let s = s.strip_suffix('%').unwrap_or(s);
    !s.starts_with('+') && crate::config::parse_memory(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_unique_and_its_defaults_pass_their_own_check() {
        for w in INERT.windows(2) {
            assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
        }
        for e in INERT {
            let args: Vec<String> = match e.kind {
                Kind::Words => e.default.split(' ').map(str::to_string).collect(),
                _ => vec![e.default.to_string()],
            };
            let args = if e.default.is_empty() && matches!(e.kind, Kind::Words) {
                Vec::new()
            } else {
                args
            };
            assert_eq!(check(e, &args).as_deref(), Ok(e.default), "{}", e.name);
        }
        for (a, p) in ALIASES {
            assert!(find(a).is_some_and(|(_, e)| e.name == *p), "{a}");
        }
    }

    #[test]
    fn values_are_checked_for_form_and_refusals_name_their_reason() {
        let (_, e) = find("activerehashing").unwrap();
        assert!(check(e, &["maybe".into()])
            .unwrap_err()
            .contains("'yes' or 'no'"));
        let (_, e) = find("auto-aof-rewrite-min-size").unwrap();
        assert_eq!(check(e, &["64mb".into()]).unwrap(), "67108864");
        let (_, e) = find("maxmemory-clients").unwrap();
        assert_eq!(check(e, &["10%".into()]).unwrap(), "10%");
        assert!(check(e, &["lots".into()])
            .unwrap_err()
            .contains("memory or percent value"));
        assert!(check(e, &["101%".into()])
            .unwrap_err()
            .contains("less or equal to 100"));
        let (_, e) = find("maxmemory-policy").unwrap();
        assert!(check(e, &["allkeys-lru".into()])
            .unwrap_err()
            .contains("does not evict"));
        assert!(check(e, &["sometimes".into()])
            .unwrap_err()
            .contains("one of the following"));
        let (_, e) = find("slaveof").unwrap();
        assert_eq!(e.name, "replicaof");
        assert!(check(e, &["10.0.0.1".into(), "6379".into()])
            .unwrap_err()
            .contains("does not replicate"));
        assert!(is_number("-2") && is_number("10%") && is_number("1GB"));
        assert!(!is_number("") && !is_number("mb") && !is_number("1.5"));
    }
}
