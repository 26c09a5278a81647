//! Operations commands answered as a Redis 7.0 without those features answers them:
//! MODULE (no modules; loading is refused as Redis refuses it when
//! `enable-module-command` is off, Debian's default), LATENCY (the latency monitor off,
//! Redis's default: no events), ACL (only the `default` user, whose password is
//! `requirepass`), and BGREWRITEAOF (Strata has no append-only file: it compacts the
//! engine, the closest counterpart).

use sha2::{Digest, Sha256};

use super::{cmdmeta, done, int_arg, is, CmdErr, Ctx, R};

const MODULE_REFUSED: &str = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

pub fn module(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "list" => {
            c.out.array(0);
            done()
        }
        "load" | "loadex" | "unload" => Err(MODULE_REFUSED.into()),
        "help" => super::reply_lines(
            c,
            &[
                "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LIST",
                "    Return a list of loaded modules.",
                "LOAD <path> [<arg> ...]",
                "    Load a module library from <path>, passing to it any optional arguments.",
                "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
                "    Load a module library from <path>, while passing it module configurations and optional arguments.",
                "UNLOAD <name>",
                "    Unload a module.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        _ => Err(super::unknown_subcommand(a)),
    }
}

pub fn latency(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "latest" | "history" => {
            c.out.array(0);
            done()
        }
        "histogram" => {
            // Per-command latency histograms are not kept.
            c.out.map(0);
            done()
        }
        "reset" => c.int(0),
        "graph" => Err(CmdErr(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(&a[2])
        ))),
        "doctor" => {
            c.out.verbatim(b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
            done()
        }
        "help" => super::reply_lines(
            c,
            &[
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        _ => Err(super::unknown_subcommand(a)),
    }
}

pub fn bgrewriteaof(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    if !c.sh.store.compact_in_background() {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    c.out
        .simple("Background append only file rewriting started");
    done()
}

/// The ACL categories, in Redis's order.
const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// The default user's password as ACL shows it (its SHA-256 in hex), or None.
fn password_hash(c: &Ctx) -> Option<String> {
    let pass = crate::lock(&c.sh.config).requirepass.clone();
    if pass.is_empty() {
        return None;
    }
    let digest = Sha256::digest(pass.as_bytes());
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn no_such_user(user: &[u8]) -> CmdErr {
    CmdErr(format!(
        "ERR User '{}' not found",
        String::from_utf8_lossy(user)
    ))
}

pub fn acl(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "whoami" => c.bulk_opt(Some(b"default")),
        "users" => {
            c.out.bulks([&b"default"[..]].into_iter());
            done()
        }
        "list" => {
            let line = match password_hash(c) {
                Some(h) => format!("user default on #{h} ~* &* +@all"),
                None => "user default on nopass ~* &* +@all".into(),
            };
            c.out.bulks([line.as_bytes()].into_iter());
            done()
        }
        "getuser" => {
            if a[2] != b"default" {
                c.out.null();
                return done();
            }
            let hash = password_hash(c);
            let o = &mut c.out;
            o.map(6);
            o.bulk(b"flags");
            // A set (RESP3 `~`), as Redis sends the flags.
            let flags: &[&[u8]] = if hash.is_some() {
                &[b"on"]
            } else {
                &[b"on", b"nopass"]
            };
            o.set(flags.len());
            for f in flags {
                o.bulk(f);
            }
            o.bulk(b"passwords");
            o.bulks(hash.iter().map(|h| h.as_bytes()));
            for (k, v) in [("commands", "+@all"), ("keys", "~*"), ("channels", "&*")] {
                o.bulk(k.as_bytes());
                o.bulk(v.as_bytes());
            }
            o.bulk(b"selectors");
            o.array(0);
            done()
        }
        "cat" if a.len() == 2 => {
            c.out.bulks(CATEGORIES.iter().map(|s| s.as_bytes()));
            done()
        }
        "cat" => {
            let cat = String::from_utf8_lossy(&a[2]).to_ascii_lowercase();
            if !CATEGORIES.contains(&cat.as_str()) {
                return Err(CmdErr(format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(&a[2])
                )));
            }
            super::admin::command_list(c, &|_, e| {
                e.is_some_and(|e| cmdmeta::in_category(e, cat.as_bytes()))
            })
        }
        "log" => match a.get(2) {
            Some(x) if is(x, "reset") => c.ok(),
            Some(x) => {
                int_arg(x)?;
                c.out.array(0);
                done()
            }
            None => {
                c.out.array(0);
                done()
            }
        },
        "deluser" => {
            if a[2..].iter().any(|u| u == b"default") {
                return Err("ERR The 'default' user cannot be removed".into());
            }
            c.int(0)
        }
        "genpass" => {
            let bits = match a.get(2) {
                None => 256,
                Some(x) => int_arg(x)?,
            };
            if bits <= 0 || bits > 4096 {
                return Err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096".into());
            }
            let chars = (bits as usize).div_ceil(4);
            let bytes = random_bytes(chars.div_ceil(2))?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            c.bulk_opt(Some(&hex.as_bytes()[..chars]))
        }
        "dryrun" => {
            if a[2] != b"default" {
                return Err(no_such_user(&a[2]));
            }
            let Some(cmd) = super::find(c.sh, &a[3]) else {
                return Err(CmdErr(format!(
                    "ERR Command '{}' not found",
                    String::from_utf8_lossy(&a[3])
                )));
            };
            let n = (a.len() - 3) as i32;
            if (cmd.arity > 0 && n != cmd.arity) || n < -cmd.arity {
                return Err(CmdErr(format!(
                    "ERR wrong number of arguments for '{}' command",
                    cmd.name
                )));
            }
            // The default user may run everything.
            c.ok()
        }
        "save" | "load" => Err(NO_ACL_FILE.into()),
        "setuser" => Err("ERR ACL SETUSER is not supported: Strata has only the 'default' user, whose password is requirepass (CONFIG SET requirepass)".into()),
        "help" => super::reply_lines(
            c,
            &[
                "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CAT [<category>]",
                "    List all commands that belong to <category>, or all command categories",
                "    when no category is specified.",
                "DELUSER <username> [<username> ...]",
                "    Delete a list of users.",
                "DRYRUN <username> <command> [<arg> ...]",
                "    Returns whether the user can execute the given command without executing the command.",
                "GETUSER <username>",
                "    Get the user's details.",
                "GENPASS [<bits>]",
                "    Generate a secure 256-bit user password. The optional `bits` argument can",
                "    be used to specify a different size.",
                "LIST",
                "    Show users details in config file format.",
                "LOAD",
                "    Reload users from the ACL file.",
                "LOG [<count> | RESET]",
                "    Show the ACL log entries.",
                "SAVE",
                "    Save the current config to the ACL file.",
                "SETUSER <username> <attribute> [<attribute> ...]",
                "    Create or modify a user with the specified attributes.",
                "USERS",
                "    List all the registered usernames.",
                "WHOAMI",
                "    Return the current connection username.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        _ => Err(super::unknown_subcommand(a)),
    }
}

fn random_bytes(n: usize) -> Result<Vec<u8>, CmdErr> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| CmdErr(format!("ERR cannot read random bytes: {e}")))?;
    Ok(buf)
}
