//! COMMAND GETKEYS and GETKEYSANDFLAGS: which arguments of a full command are keys,
//! found as Redis 7.0 finds them. The key specs of Redis's own COMMAND INFO entries
//! ([`cmdmeta`]) are read first; where they cannot say (a spec Redis marks `unknown`,
//! `incomplete` or `variable_flags`, or arguments they do not fit), the command's own
//! rule below decides, as Redis falls back to its per-command key functions. Cluster
//! clients ask this for commands whose keys move (EVAL, SORT ... STORE, MIGRATE ...
//! KEYS, ...).

use super::cmdmeta::{self, V};

/// A key's access flags, as Redis lists them (`RW`, `access`, ...).
type Flags = Vec<&'static [u8]>;

/// Why no keys could be named (each has Redis's text).
#[derive(Debug, PartialEq)]
pub(crate) enum Refusal {
    /// The command has no key specs at all.
    NoKeys,
    /// The argument count does not fit the command's arity.
    Arity,
    /// The arguments name no key though the command needs one.
    Invalid,
}

impl Refusal {
    pub(crate) fn text(&self) -> &'static str {
        match self {
            Refusal::NoKeys => "ERR The command has no key arguments",
            Refusal::Arity => "ERR Invalid number of arguments specified for command",
            Refusal::Invalid => "ERR Invalid arguments specified for command",
        }
    }
}

/// The key positions in `args` (the full command, its name first) with their flags.
/// `entry` is the command's (or subcommand's) COMMAND INFO entry.
pub(crate) fn keys(entry: &V, args: &[Vec<u8>]) -> Result<Vec<(usize, Flags)>, Refusal> {
    let items = entry.items();
    let name = cmdmeta::name(entry);
    let specs = items.get(8).map_or(&[][..], V::items);
    let spec_flags = |s: &V| -> Flags { field(s, b"flags").map_or(vec![], flag_list) };
    // A spec that names real keys (not `not_key` channels), and the command's own rule.
    let has_real = specs
        .iter()
        .any(|s| !spec_flags(s).iter().any(|f| f == b"not_key"));
    let rule = own_rule(name);
    if rule.is_none() && !has_real {
        return Err(Refusal::NoKeys);
    }
    let arity = items.get(1).and_then(V::int).unwrap_or(-1);
    let n = args.len() as i64;
    if (arity > 0 && arity != n) || n < -arity {
        return Err(Refusal::Arity);
    }
    let varflags = specs
        .iter()
        .any(|s| spec_flags(s).iter().any(|f| f == b"variable_flags"));
    let from_specs = if has_real && !varflags {
        from_specs(specs, args, arity)
    } else {
        None
    };
    let found = match (from_specs, rule) {
        (Some(k), _) => k,
        (None, Some(rule)) => rule(args),
        (None, None) => vec![],
    };
    let no_mandatory = items
        .get(2)
        .is_some_and(|f| f.items().iter().any(|x| x.text() == b"no_mandatory_keys"));
    if found.is_empty() && !no_mandatory {
        return Err(Refusal::Invalid);
    }
    Ok(found)
}

fn field<'a>(m: &'a V, key: &[u8]) -> Option<&'a V> {
    cmdmeta::map_get(m, key)
}

fn flag_list(v: &V) -> Flags {
    v.items().iter().map(V::text).collect()
}

fn spec_int(spec: &V, key: &[u8]) -> Option<i64> {
    field(spec, key).and_then(V::int)
}

/// The keys the specs name, or None where a spec cannot name them (an `unknown` or
/// `incomplete` spec, a key count that does not parse, a range outside the arguments):
/// then the command's own rule decides.
fn from_specs(specs: &[V], args: &[Vec<u8>], arity: i64) -> Option<Vec<(usize, Flags)>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for s in specs {
        let flags: Flags = field(s, b"flags").map_or(vec![], flag_list);
        if flags.iter().any(|f| f == b"not_key") {
            continue;
        }
        let bs = field(s, b"begin_search")?;
        let bs_spec = field(bs, b"spec")?;
        let first = match field(bs, b"type")?.text() {
            b"index" => spec_int(bs_spec, b"index")?,
            b"keyword" => {
                let word = field(bs_spec, b"keyword")?.text();
                let from = spec_int(bs_spec, b"startfrom")?;
                // Searched forward from `startfrom` to the last-but-one argument, or
                // backward from `argc + startfrom` down to the second (a keyword needs
                // something after it).
                let found = if from > 0 {
                    (from..argc - 1).find(|&i| args[i as usize].eq_ignore_ascii_case(word))
                } else {
                    (2..=argc + from)
                        .rev()
                        .find(|&i| i < argc && args[i as usize].eq_ignore_ascii_case(word))
                };
                match found {
                    Some(i) => i + 1,
                    // No keyword: this spec names nothing.
                    None => continue,
                }
            }
            _ => return None,
        };
        let fk = field(s, b"find_keys")?;
        let fk_spec = field(fk, b"spec")?;
        let (first, last, step) = match field(fk, b"type")?.text() {
            b"range" => {
                let lastkey = spec_int(fk_spec, b"lastkey")?;
                let limit = spec_int(fk_spec, b"limit")?;
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + (argc - first) / limit + lastkey
                };
                (first, last, spec_int(fk_spec, b"keystep")?)
            }
            b"keynum" => {
                let idx = first + spec_int(fk_spec, b"keynumidx")?;
                let count = crate::resp::parse_i64(args.get(usize::try_from(idx).ok()?)?)?;
                if count < 0 {
                    return None;
                }
                let first = first + spec_int(fk_spec, b"firstkey")?;
                (first, first + count - 1, spec_int(fk_spec, b"keystep")?)
            }
            _ => return None,
        };
        if last >= argc || last < first || first >= argc || step < 1 {
            return None;
        }
        let mut i = first;
        while i <= last {
            if i < argc {
                keys.push((i as usize, flags.clone()));
            } else if arity >= 0 {
                return None;
            }
            i += step;
        }
        if flags.iter().any(|f| f == b"incomplete") {
            return None;
        }
    }
    Some(keys)
}

type Rule = fn(&[Vec<u8>]) -> Vec<(usize, Flags)>;

/// The commands whose keys their specs cannot always name, with the rule that does.
fn own_rule(name: &[u8]) -> Option<Rule> {
    Some(match name {
        b"set" => set_keys,
        b"bitfield" => bitfield_keys,
        b"sort" => sort_keys,
        b"sort_ro" => |_| vec![(1, vec![&b"RO"[..], b"access"])],
        b"migrate" => migrate_keys,
        b"georadius" | b"georadiusbymember" => georadius_keys,
        b"xread" | b"xreadgroup" => xread_keys,
        b"eval" | b"evalsha" | b"eval_ro" | b"evalsha_ro" | b"fcall" | b"fcall_ro" | b"blmpop"
        | b"bzmpop" => |a| counted(a, 2, 3, false),
        b"zunionstore" | b"zinterstore" | b"zdiffstore" => |a| counted(a, 2, 3, true),
        b"zunion" | b"zinter" | b"zdiff" | b"zintercard" | b"sintercard" | b"lmpop" | b"zmpop" => {
            |a| counted(a, 1, 2, false)
        }
        _ => return None,
    })
}

/// `count` keys from `args[first]` on, the count at `args[at]` (parsed leniently, as
/// C's `atoi`), plus the destination `args[1]` last when `dest`; nothing when the
/// count is out of range (the command itself will refuse it).
fn counted(args: &[Vec<u8>], at: usize, first: usize, dest: bool) -> Vec<(usize, Flags)> {
    let n = args.get(at).map_or(0, |a| atoi(a));
    let room = args.len().saturating_sub(first) as i64;
    if n < 1 || n > room {
        return vec![];
    }
    let mut keys: Vec<(usize, Flags)> = (0..n as usize).map(|i| (first + i, vec![])).collect();
    if dest {
        keys.push((1, vec![]));
    }
    keys
}

/// C's `atoi`: leading blanks, a sign, then digits as far as they go; 0 otherwise.
fn atoi(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    let n = if neg { -n } else { n };
    n.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

fn set_keys(args: &[Vec<u8>]) -> Vec<(usize, Flags)> {
    let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
    let flags: Flags = if get {
        vec![b"RW", b"access", b"update"]
    } else {
        vec![b"OW", b"update"]
    };
    vec![(1, flags)]
}

fn bitfield_keys(args: &[Vec<u8>]) -> Vec<(usize, Flags)> {
    // Read-only while every operation is a GET (OVERFLOW aside); anything else, or
    // arguments that do not parse, count as a write.
    let mut read_only = true;
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"get") && left >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && left >= 1 {
            i += 2;
        } else {
            read_only = false;
            break;
        }
    }
    let flags: Flags = if read_only {
        vec![b"RO", b"access"]
    } else {
        vec![b"RW", b"access", b"update"]
    };
    vec![(1, flags)]
}

fn sort_keys(args: &[Vec<u8>]) -> Vec<(usize, Flags)> {
    let mut keys: Vec<(usize, Flags)> = vec![(1, vec![b"RO", b"access"])];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            // The last STORE wins, as in SORT itself.
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(at) = store {
        keys.push((at, vec![b"OW", b"update"]));
    }
    keys
}

fn migrate_keys(args: &[Vec<u8>]) -> Vec<(usize, Flags)> {
    let flags: Flags = vec![b"RW", b"access", b"delete"];
    let mut first = 3;
    let mut count = 1;
    let mut i = 6;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"keys") {
            if args[3].is_empty() {
                first = i + 1;
                count = args.len() - first;
            } else {
                // A key and KEYS both: a syntax error MIGRATE reports itself.
                count = 0;
            }
            break;
        }
        if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    (first..first + count).map(|p| (p, flags.clone())).collect()
}

fn georadius_keys(args: &[Vec<u8>]) -> Vec<(usize, Flags)> {
    let mut keys: Vec<(usize, Flags)> = vec![(1, vec![])];
    let mut store = None;
    let mut i = 5;
    while i < args.len() {
        let a = &args[i];
        if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
            && i + 1 < args.len()
        {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(at) = store {
        keys.push((at, vec![]));
    }
    keys
}

fn xread_keys(args: &[Vec<u8>]) -> Vec<(usize, Flags)> {
    let mut streams = None;
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"group") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"streams") {
            streams = Some(i);
            break;
        } else if !a.eq_ignore_ascii_case(b"noack") {
            break;
        }
        i += 1;
    }
    let Some(at) = streams else {
        return vec![];
    };
    let rest = args.len() - at - 1;
    if rest == 0 || !rest.is_multiple_of(2) {
        return vec![];
    }
    (at + 1..at + 1 + rest / 2).map(|p| (p, vec![])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cmd: &str) -> Result<Vec<String>, Refusal> {
        let args: Vec<Vec<u8>> = cmd.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        let m = cmdmeta::meta().expect("data");
        let entry = m.info(cmd.split(' ').next().unwrap()).expect("entry");
        keys(entry, &args).map(|k| {
            k.into_iter()
                .map(|(i, _)| String::from_utf8_lossy(&args[i]).into_owned())
                .collect()
        })
    }

    #[test]
    fn specs_and_own_rules_name_the_keys() {
        assert_eq!(names("get a").unwrap(), ["a"]);
        assert_eq!(names("mset a 1 b").unwrap(), ["a", "b"]);
        assert_eq!(names("zunionstore d 2 a b").unwrap(), ["d", "a", "b"]);
        assert_eq!(names("zunionstore d 0 a"), Err(Refusal::Invalid));
        assert_eq!(names("eval s 2 a").unwrap(), Vec::<String>::new());
        assert_eq!(names("sort a by x store b").unwrap(), ["a", "b"]);
        assert_eq!(names("xread streams a b 1").unwrap(), ["a"]);
        assert_eq!(names("get a b"), Err(Refusal::Arity));
        assert_eq!(names("ping x"), Err(Refusal::NoKeys));
        assert_eq!(atoi(b" 12x"), 12);
        assert_eq!(atoi(b"-3"), -3);
    }
}
