//! Redis 7.0 functions: FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS/KILL/HELP,
//! FCALL and FCALL_RO, in Lua (the scripting engine of `cmd::script`).
//!
//! The libraries live in `Shared::functions` (their code and what each registered);
//! every event loop's interpreter loads them again when the registry's generation
//! changes, and FCALL calls the callback there. The registry is kept on disk as a
//! FUNCTION DUMP payload (`functions.payload` in the data directory, written through a
//! temporary file, fsync and rename before the command answers; docs/functions.md), so
//! libraries survive restarts, and FUNCTION DUMP/RESTORE payloads move between Redis
//! and Strata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlua::{Lua, Value};

use super::script::{self, Target};
use super::{done, is, CmdErr, Ctx, Flow, R};
use crate::{lock, Shared};

/// Function flags, in the order Redis lists them.
const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// How long a library's code may run while it loads (Redis's limit).
const LOAD_TIME_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

/// What a library registered for one function.
#[derive(Clone, Debug)]
pub struct FuncMeta {
    /// Name as registered.
    pub name: String,
    /// Description, if given.
    pub description: Option<Vec<u8>>,
    /// Flags (a bit per entry of `FLAGS`).
    pub flags: u8,
}

/// A loaded library.
#[derive(Clone, Debug)]
pub struct Library {
    /// The code, shebang included.
    pub code: Vec<u8>,
    /// Its functions.
    pub funcs: Vec<FuncMeta>,
}

/// Every library, by name, and a generation bumped by each change.
#[derive(Default)]
pub struct Registry {
    libs: BTreeMap<String, Library>,
    generation: u64,
    /// Where the registry is kept (`None`: not persisted, in unit tests).
    file: Option<PathBuf>,
}

impl Registry {
    /// The library and metadata of function `name` (case-insensitive, as in Redis).
    fn find(&self, name: &str) -> Option<(&str, &FuncMeta)> {
        self.libs.iter().find_map(|(lib, l)| {
            l.funcs
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .map(|f| (lib.as_str(), f))
        })
    }

    /// The registry kept in `dir` (empty if there is none yet); an unreadable or
    /// invalid file is an error naming it.
    pub fn open(dir: &Path) -> Result<Registry, String> {
        let file = dir.join("functions.payload");
        let mut reg = Registry {
            file: Some(file.clone()),
            ..Registry::default()
        };
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(reg),
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        let codes = strata_rdb::functions_from_payload(&bytes)
            .map_err(|e| format!("{}: {e:?}", file.display()))?;
        let lua = script::new_engine().map_err(|e| format!("Lua: {e}"))?.lua;
        for code in codes {
            let (name, funcs) =
                compile_library(&lua, &code).map_err(|e| format!("{}: {e}", file.display()))?;
            reg.libs.insert(name, Library { code, funcs });
        }
        Ok(reg)
    }

    /// Write the registry to its file (temporary file, fsync, rename, fsync of the
    /// directory).
    fn persist(&self) -> Result<(), CmdErr> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let payload = strata_rdb::functions_payload(self.libs.values().map(|l| l.code.as_slice()));
        let tmp = file.with_extension("payload.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&payload)?;
            f.sync_all()?;
            std::fs::rename(&tmp, file)?;
            if let Some(dir) = file.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| CmdErr(format!("ERR saving functions to {}: {e}", file.display())))
    }
}

/// Redis's rule for library and function names.
fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The library's name from its shebang (`#!lua name=<name>`), with Redis's errors.
fn metadata(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[..end]).into_owned();
    let mut parts = line.split_ascii_whitespace();
    let engine = parts
        .next()
        .unwrap_or("#!")
        .trim_start_matches("#!")
        .to_string();
    let mut name: Option<String> = None;
    for p in parts {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(p[5..].to_string());
            continue;
        }
        return Err(format!("Invalid metadata value given: {p}"));
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(name.as_bytes()) {
        return Err(BAD_NAME.into());
    }
    Ok(name)
}

/// The code Lua compiles: the shebang line turned into a comment, so line numbers stay.
fn lua_source(code: &[u8]) -> Vec<u8> {
    let mut src = code.to_vec();
    src[..2].copy_from_slice(b"--");
    src
}

/// One `redis.register_function` call.
struct Registered {
    meta: FuncMeta,
    callback: mlua::Function,
}

/// Parse one `redis.register_function(...)` call's arguments.
fn registration(args: mlua::MultiValue) -> Result<Registered, String> {
    let args: Vec<Value> = args.into_iter().collect();
    let (name, callback, flags, description) = match args.as_slice() {
        [Value::Table(t)] => {
            let (mut name, mut cb, mut flags, mut desc) = (None, None, None, None);
            // Keys in any case; each value checked as it comes, with Redis's texts.
            let stringy = |v: &Value| {
                matches!(v, Value::String(_) | Value::Integer(_) | Value::Number(_))
            };
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                let key = match &k {
                    Value::String(s) => s.to_string_lossy().to_ascii_lowercase(),
                    Value::Integer(_) | Value::Number(_) => String::new(),
                    _ => {
                        return Err(
                            "named argument key given to redis.register_function is not a string"
                                .into(),
                        )
                    }
                };
                match key.as_str() {
                    "function_name" if !stringy(&v) => {
                        return Err("function_name argument given to redis.register_function must be a string".into())
                    }
                    "description" if !stringy(&v) => {
                        return Err("description argument given to redis.register_function must be a string".into())
                    }
                    "callback" if !matches!(v, Value::Function(_)) => {
                        return Err("callback argument given to redis.register_function must be a function".into())
                    }
                    "flags" if !matches!(v, Value::Table(_)) => {
                        return Err("flags argument to redis.register_function must be a table representing function flags".into())
                    }
                    "function_name" => name = Some(v),
                    "callback" => cb = Some(v),
                    "flags" => flags = Some(v),
                    "description" => desc = Some(v),
                    _ => return Err("unknown argument given to redis.register_function".into()),
                }
            }
            let Some(name) = name else {
                return Err("redis.register_function must get a function name argument".into());
            };
            let Some(cb) = cb else {
                return Err("redis.register_function must get a callback argument".into());
            };
            (name, cb, flags, desc)
        }
        [_] => {
            return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into())
        }
        [name, cb] => (name.clone(), cb.clone(), None, None),
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    };
    let name = match &name {
        Value::String(s) => s.to_str().map_err(|e| e.to_string())?.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => strata_rdb::format_g17(*n),
        _ => return Err("first argument to redis.register_function must be a string".into()),
    };
    let Value::Function(callback) = callback else {
        return Err("second argument to redis.register_function must be a function".into());
    };
    let mut bits = 0u8;
    if let Some(f) = flags {
        let Value::Table(t) = f else {
            return Err("flags argument to redis.register_function must be a table representing function flags".into());
        };
        for v in t.sequence_values::<Value>() {
            let v = v.map_err(|e| e.to_string())?;
            let flag = v
                .as_string()
                .and_then(|s| s.to_str().ok().map(|s| s.to_string()))
                .unwrap_or_default();
            match FLAGS.iter().position(|f| *f == flag) {
                Some(i) => bits |= 1 << i,
                None => return Err("unknown flag given".into()),
            }
        }
    }
    let description = match description {
        None => None,
        Some(Value::String(s)) => Some(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Some(i.to_string().into_bytes()),
        Some(Value::Number(n)) => Some(strata_rdb::format_g17(n).into_bytes()),
        Some(_) => {
            return Err(
                "description argument given to redis.register_function must be a string".into(),
            )
        }
    };
    if !valid_name(name.as_bytes()) {
        return Err(BAD_NAME.into());
    }
    Ok(Registered {
        meta: FuncMeta {
            name,
            description,
            flags: bits,
        },
        callback,
    })
}

/// Run a library's code in `lua` with the load-time `redis` table (register_function,
/// log), collecting what it registers. Errors are Redis's texts without the leading
/// `ERR `.
fn run_library(lua: &Lua, code: &[u8]) -> Result<(String, Vec<Registered>), String> {
    let name = metadata(code)?;
    let chunk = lua
        .load(lua_source(code))
        .set_name("@user_function")
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            format!("Error compiling function: {}", msg.trim_end())
        })?;
    let found: std::cell::RefCell<Vec<Registered>> = Default::default();
    let failure: std::cell::RefCell<Option<String>> = Default::default();
    // As a script's run (`script::run_in`): a panic of mlua's reference slots is the
    // load's error.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lua.scope(|scope| {
        let redis = lua.create_table()?;
        let reg = scope.create_function(|_, args: mlua::MultiValue| {
            let r = registration(args).and_then(|r| {
                if found
                    .borrow()
                    .iter()
                    .any(|f| f.meta.name == r.meta.name)
                {
                    Err("Function already exists in the library".to_string())
                } else {
                    Ok(r)
                }
            });
            match r {
                Ok(r) => {
                    found.borrow_mut().push(r);
                    Ok(())
                }
                Err(e) => {
                    *failure.borrow_mut() = Some(e.clone());
                    Err(mlua::Error::RuntimeError(e))
                }
            }
        })?;
        redis.set("register_function", reg)?;
        script::set_log(lua, &redis)?;
        lua.load(
            r#"local t = ...
            setmetatable(t, {
                __index = function(_, k)
                    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
                end,
                __newindex = function() error("Attempt to modify a readonly table", 2) end,
            })"#,
        )
        .set_name("=sandbox")
        .call::<()>(redis.clone())?;
        // The library's code sees only the load-time `redis` (Redis's library API); the
        // functions it registers share its environment and, once it has run, see the
        // globals a script sees (`redis` of the call, the libraries), as Redis switches
        // its globals' lookup after the load. Writes fail either way.
        let (env, loaded): (mlua::Table, mlua::Function) = lua
            .load(
                r#"local redis, G = ...
                local loading = true
                local register = rawget(redis, "register_function")
                rawset(redis, "register_function", function(...)
                    if not loading then
                        error("redis.register_function can only be called on FUNCTION LOAD command", 0)
                    end
                    return register(...)
                end)
                local env = setmetatable({}, {
                    __index = function(_, k)
                        if loading then
                            if k == "redis" then return redis end
                        else
                            local v = rawget(G, k)
                            if v ~= nil then return v end
                        end
                        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
                    end,
                    __newindex = function() error("Attempt to modify a readonly table", 2) end,
                })
                return env, function() loading = false end"#,
            )
            .set_name("=sandbox")
            .call((redis.clone(), lua.globals()))?;
        chunk.set_environment(env)?;
        // A library's own code may run for half a second, as in Redis.
        let started = std::time::Instant::now();
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(10_000),
            move |_, _| {
                if started.elapsed() > LOAD_TIME_LIMIT {
                    return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
                }
                Ok(mlua::VmState::Continue)
            },
        )?;
        let r = chunk.call::<()>(());
        lua.remove_hook();
        loaded.call::<()>(())?;
        Ok(r)
    })))
    .map_err(|_| {
        lua.remove_hook();
        "Error registering functions: ERR too many Lua values passed to the server at once"
            .to_string()
    })?;
    let run = result.map_err(|e| format!("Error registering functions: ERR {e}"))?;
    if let Err(e) = run {
        if let Some(f) = failure.borrow().clone() {
            return Err(format!("Error registering functions: ERR {f}"));
        }
        let first = script::lua_error_text(&e);
        return Err(format!("Error registering functions: ERR {first}"));
    }
    let found = found.into_inner();
    if found.is_empty() {
        return Err("No functions registered".into());
    }
    Ok((name, found))
}

/// Load a library in a scratch interpreter: its name and functions' metadata.
fn compile_library(lua: &Lua, code: &[u8]) -> Result<(String, Vec<FuncMeta>), String> {
    let (name, regs) = run_library(lua, code)?;
    Ok((name, regs.into_iter().map(|r| r.meta).collect()))
}

/// Load `code` into a scratch interpreter for checking.
fn check_library(code: &[u8]) -> Result<(String, Vec<FuncMeta>), CmdErr> {
    let engine = script::new_engine().map_err(|e| CmdErr(format!("ERR Lua: {e}")))?;
    compile_library(&engine.lua, code).map_err(|e| CmdErr(format!("ERR {e}")))
}

/// Add libraries to a copy of `libs`: `replace` lets a library of the same name be
/// replaced; a function name used by another library is refused. `restore`: RESTORE's
/// text for an existing library.
fn merge(
    libs: &BTreeMap<String, Library>,
    new: Vec<(String, Library)>,
    replace: bool,
    restore: bool,
) -> Result<BTreeMap<String, Library>, CmdErr> {
    let mut out = libs.clone();
    for (name, lib) in new {
        if out.contains_key(&name) && !replace {
            return Err(CmdErr(if restore {
                format!("ERR Library {name} already exists")
            } else {
                format!("ERR Library '{name}' already exists")
            }));
        }
        for f in &lib.funcs {
            let taken = out.iter().any(|(other, l)| {
                other != &name && l.funcs.iter().any(|g| g.name.eq_ignore_ascii_case(&f.name))
            });
            if taken {
                return Err(CmdErr(format!("ERR Function {} already exists", f.name)));
            }
        }
        out.insert(name, lib);
    }
    Ok(out)
}

/// Replace the registry's libraries (persisting them first).
fn install(sh: &Shared, libs: BTreeMap<String, Library>) -> Result<(), CmdErr> {
    let mut reg = lock(&sh.functions);
    let old = std::mem::replace(&mut reg.libs, libs);
    if let Err(e) = reg.persist() {
        reg.libs = old;
        return Err(e);
    }
    reg.generation += 1;
    Ok(())
}

fn wrong_args(sub: &str) -> CmdErr {
    CmdErr(format!(
        "ERR wrong number of arguments for 'function|{sub}' command"
    ))
}

/// Redis's `addReplySubcommandSyntaxError`: the subcommand as the client typed it.
fn sub_syntax(a: &[Vec<u8>]) -> CmdErr {
    CmdErr(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(&a[1])
    ))
}

/// FUNCTION <subcommand> ...
pub fn function(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let n = a.len();
    match sub.as_str() {
        "load" => {
            if n < 3 {
                return Err(wrong_args("load"));
            }
            let (replace, code) = match &a[2..] {
                [code] => (false, code),
                [r, code] if is(r, "replace") => (true, code),
                [x, ..] => {
                    return Err(CmdErr(format!(
                        "ERR Unknown option given: {}",
                        String::from_utf8_lossy(x)
                    )))
                }
                [] => return Err(wrong_args("load")),
            };
            let name = metadata(code).map_err(|e| CmdErr(format!("ERR {e}")))?;
            if !replace && lock(&c.sh.functions).libs.contains_key(&name) {
                return Err(CmdErr(format!("ERR Library '{name}' already exists")));
            }
            let (name, funcs) = check_library(code)?;
            let libs = lock(&c.sh.functions).libs.clone();
            let libs = merge(
                &libs,
                vec![(
                    name.clone(),
                    Library {
                        code: code.clone(),
                        funcs,
                    },
                )],
                replace,
                false,
            )?;
            install(c.sh, libs)?;
            c.out.bulk(name.as_bytes());
            Ok(Flow::Continue { wrote: true })
        }
        "delete" => {
            if n != 3 {
                return Err(wrong_args("delete"));
            }
            let name = String::from_utf8_lossy(&a[2]).into_owned();
            let mut libs = lock(&c.sh.functions).libs.clone();
            if libs.remove(&name).is_none() {
                return Err("ERR Library not found".into());
            }
            install(c.sh, libs)?;
            c.ok()
        }
        "flush" => {
            if n > 3 {
                return Err(sub_syntax(a));
            }
            if n == 3 && !is(&a[2], "sync") && !is(&a[2], "async") {
                return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into());
            }
            install(c.sh, BTreeMap::new())?;
            c.ok()
        }
        "list" => list(c, a),
        "dump" => {
            if n != 2 {
                return Err(wrong_args("dump"));
            }
            let reg = lock(&c.sh.functions);
            let payload =
                strata_rdb::functions_payload(reg.libs.values().map(|l| l.code.as_slice()));
            drop(reg);
            c.out.bulk(&payload);
            done()
        }
        "restore" => restore(c, a),
        "stats" => {
            if n != 2 {
                return Err(wrong_args("stats"));
            }
            let reg = lock(&c.sh.functions);
            let (libs, funcs) = (
                reg.libs.len(),
                reg.libs.values().map(|l| l.funcs.len()).sum::<usize>(),
            );
            drop(reg);
            c.out.map(2);
            c.out.bulk(b"running_script");
            c.out.null();
            c.out.bulk(b"engines");
            c.out.map(1);
            c.out.bulk(b"LUA");
            c.out.map(2);
            c.out.bulk(b"libraries_count");
            c.out.int(libs as i64);
            c.out.bulk(b"functions_count");
            c.out.int(funcs as i64);
            done()
        }
        "kill" => {
            if n != 2 {
                return Err(wrong_args("kill"));
            }
            Err("NOTBUSY No scripts in execution right now.".into())
        }
        "help" => {
            if n != 2 {
                return Err(wrong_args("help"));
            }
            let lines = [
                "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOAD [REPLACE] <FUNCTION CODE>",
                "    Create a new library with the given library name and code.",
                "DELETE <LIBRARY NAME>",
                "    Delete the given library.",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "    Return general information on all the libraries:",
                "    * Library name",
                "    * The engine used to run the Library",
                "    * Library description",
                "    * Functions list",
                "    * Library code (if WITHCODE is given)",
                "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
                "STATS",
                "    Return information about the current function running:",
                "    * Function name",
                "    * Command used to run the function",
                "    * Duration in MS that the function is running",
                "    If no function is running, return nil",
                "    In addition, returns a list of available engines.",
                "KILL",
                "    Kill the current running function.",
                "FLUSH [ASYNC|SYNC]",
                "    Delete all the libraries.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the libraries.",
                "    * SYNC: Synchronously flush the libraries.",
                "DUMP",
                "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
                "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
                "    control how to handle existing libraries (default APPEND):",
                "    * FLUSH: delete all existing libraries.",
                "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
                "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
                "      libraries with the new libraries (notice that even on this option there is a chance of failure",
                "      in case of functions name collision with another library).",
                "HELP",
                "    Prints this help.",
            ];
            super::reply_lines(c, &lines)
        }
        _ => Err(super::unknown_subcommand(a)),
    }
}

fn list(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (mut pattern, mut withcode) = (None, false);
    let mut i = 2;
    while i < a.len() {
        if is(&a[i], "withcode") && !withcode {
            withcode = true;
        } else if is(&a[i], "libraryname") && pattern.is_none() {
            let Some(p) = a.get(i + 1) else {
                return Err("ERR library name argument was not given".into());
            };
            pattern = Some(strata_dump::glob::Glob::new(p));
            i += 1;
        } else {
            return Err(CmdErr(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&a[i])
            )));
        }
        i += 1;
    }
    let reg = lock(&c.sh.functions);
    let libs: Vec<(String, Library)> = reg
        .libs
        .iter()
        .filter(|(n, _)| pattern.as_ref().is_none_or(|p| p.matches(n.as_bytes())))
        .map(|(n, l)| (n.clone(), l.clone()))
        .collect();
    drop(reg);
    c.out.array(libs.len());
    for (name, lib) in &libs {
        c.out.map(if withcode { 4 } else { 3 });
        c.out.bulk(b"library_name");
        c.out.bulk(name.as_bytes());
        c.out.bulk(b"engine");
        c.out.bulk(b"LUA");
        c.out.bulk(b"functions");
        c.out.array(lib.funcs.len());
        for f in &lib.funcs {
            c.out.map(3);
            c.out.bulk(b"name");
            c.out.bulk(f.name.as_bytes());
            c.out.bulk(b"description");
            c.out.bulk_opt(f.description.as_deref());
            c.out.bulk(b"flags");
            let set: Vec<&str> = FLAGS
                .iter()
                .enumerate()
                .filter(|(i, _)| f.flags & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            c.out.set(set.len());
            for s in set {
                c.out.simple(s);
            }
        }
        if withcode {
            c.out.bulk(b"library_code");
            c.out.bulk(&lib.code);
        }
    }
    done()
}

fn restore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() < 3 {
        return Err(wrong_args("restore"));
    }
    if a.len() > 4 {
        return Err(sub_syntax(a));
    }
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy =
        match a.get(3) {
            None => Policy::Append,
            Some(p) if is(p, "flush") => Policy::Flush,
            Some(p) if is(p, "append") => Policy::Append,
            Some(p) if is(p, "replace") => Policy::Replace,
            Some(_) => return Err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
                    .into(),
            ),
        };
    use strata_rdb::FunctionsPayloadError as E;
    let codes = strata_rdb::functions_from_payload(&a[2]).map_err(|e| {
        CmdErr(
            match e {
                E::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
                E::PreGa => "ERR Pre-GA function format not supported",
                E::NotAFunction => "ERR given type is not a function",
                E::Malformed => "ERR Bad data format",
            }
            .into(),
        )
    })?;
    let mut new = Vec::with_capacity(codes.len());
    let mut seen = std::collections::HashSet::new();
    for code in codes {
        let (name, funcs) = check_library(&code)?;
        if !seen.insert(name.clone()) {
            return Err(CmdErr(format!("ERR Library {name} already exists")));
        }
        new.push((name, Library { code, funcs }));
    }
    let base = if policy == Policy::Flush {
        BTreeMap::new()
    } else {
        lock(&c.sh.functions).libs.clone()
    };
    let libs = merge(&base, new, policy == Policy::Replace, true)?;
    install(c.sh, libs)?;
    c.ok()
}

pub fn fcall(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    fcall_generic(c, a, false)
}

pub fn fcall_ro(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    fcall_generic(c, a, true)
}

fn fcall_generic(c: &mut Ctx, a: &[Vec<u8>], ro: bool) -> R {
    let fname = String::from_utf8_lossy(&a[1]).into_owned();
    let (meta, generation) = {
        let reg = lock(&c.sh.functions);
        let Some((_, meta)) = reg.find(&fname) else {
            return Err("ERR Function not found".into());
        };
        (meta.clone(), reg.generation)
    };
    let numkeys = crate::resp::parse_i64(&a[2])
        .ok_or_else(|| CmdErr("ERR Bad number of keys provided".into()))?;
    let rest = &a[3..];
    if numkeys > rest.len() as i64 {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    if numkeys < 0 {
        return Err("ERR Number of keys can't be negative".into());
    }
    let no_writes = meta.flags & 1 != 0;
    if ro && !no_writes {
        return Err("ERR Can not execute a script with write flag using *_ro command.".into());
    }
    let (keys, argv) = rest.split_at(numkeys as usize);
    let mut engine = script::take_engine()?;
    if engine.fn_generation != Some(generation) {
        // The libraries changed since this loop last loaded them: load them again (the
        // code as of now; a change racing this one bumps the generation again).
        let (generation, libs) = {
            let reg = lock(&c.sh.functions);
            (reg.generation, reg.libs.clone())
        };
        engine.functions.clear();
        let mut failed = None;
        for lib in libs.values() {
            match run_library(&engine.lua, &lib.code) {
                Ok((_, regs)) => {
                    for r in regs {
                        engine
                            .functions
                            .insert(r.meta.name.to_ascii_lowercase(), r.callback);
                    }
                }
                Err(e) => failed = Some(e),
            }
        }
        engine.fn_generation = if failed.is_none() {
            Some(generation)
        } else {
            None
        };
    }
    let Some(callback) = engine
        .functions
        .get(&meta.name.to_ascii_lowercase())
        .cloned()
    else {
        script::put_engine(engine);
        return Err("ERR Function not found".into());
    };
    let result = script::run_in(
        &mut engine,
        c,
        Target::Function {
            callback,
            name: &meta.name,
        },
        keys,
        argv,
        ro || no_writes,
    );
    script::put_engine(engine);
    result
}
