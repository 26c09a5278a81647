//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, as Redis 7.0 (Lua 5.1,
//! the `mlua` crate with its vendored interpreter; docs/decisions.md).
//!
//! Each event loop keeps its own interpreter (thread-local) with the scripts compiled
//! so far; the bodies are shared (`Shared::scripts`, by SHA1), so a script loaded on
//! one loop runs by EVALSHA on any. A script runs with the transaction gate held
//! exclusively, as EXEC does (`cmd::multi`): no other client's command runs in the
//! middle of it. `redis.call` runs a command through the same table as clients, in a
//! session of the script's own (the caller's database; SELECT inside stays inside),
//! and converts replies and return values by Redis's rules.
//!
//! Libraries: base (without `loadfile`, `dofile`), `table`, `string`, `math`, and
//! Redis's `cjson` (encode, decode) and `bit`; not `struct` or `cmsgpack`. A script
//! that creates or reads an undefined global fails as in Redis.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mlua::{Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use strata_rdb::format_g17;

use super::{done, execute_inline, CmdErr, Ctx, Flow, Session, R};
use crate::{lock, ClientInfo, Shared};

/// The most memory an event loop's Lua interpreter may hold.
const LUA_MEMORY_LIMIT: usize = 1 << 30;

/// How often (in Lua instructions) a running script checks its time.
const HOOK_EVERY: u32 = 100_000;

/// The script bodies by SHA1 (hex, lowercase), and a generation bumped by SCRIPT FLUSH.
#[derive(Default)]
pub struct Scripts {
    bodies: HashMap<String, Vec<u8>>,
    generation: u64,
}

pub(crate) struct Engine {
    pub(crate) lua: Lua,
    /// Compiled functions by SHA1, valid for `generation`.
    compiled: HashMap<String, mlua::Function>,
    generation: u64,
    /// FUNCTION libraries' callbacks by lowercase function name, valid for
    /// `fn_generation` of the function registry (`cmd::function`).
    pub(crate) functions: HashMap<String, mlua::Function>,
    pub(crate) fn_generation: Option<u64>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// The hex SHA1 of a script body, as Redis names scripts.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

pub(crate) fn new_engine() -> mlua::Result<Engine> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    // A script's own memory (tables, strings) is bounded: past it, allocation fails
    // with Lua's "not enough memory" error instead of growing the server.
    lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
    let g = lua.globals();
    for name in ["loadfile", "dofile"] {
        g.set(name, Value::Nil)?;
    }
    g.set("cjson", cjson(&lua)?)?;
    g.set("bit", bit(&lua)?)?;
    Ok(Engine {
        lua,
        compiled: HashMap::new(),
        generation: 0,
        functions: HashMap::new(),
        fn_generation: None,
    })
}

/// `cjson.encode` / `cjson.decode`.
fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|_, v: Value| {
            let j = to_json(&v, 0)?;
            Ok(j.to_string())
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let j: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::RuntimeError(format!("Expected value but found invalid token: {e}"))
            })?;
            from_json(lua, &j)
        })?,
    )?;
    Ok(t)
}

fn to_json(v: &Value, depth: usize) -> mlua::Result<serde_json::Value> {
    if depth > 1000 {
        return Err(mlua::Error::RuntimeError(
            "Cannot serialise, excessive nesting (1001)".into(),
        ));
    }
    Ok(match v {
        Value::Nil => serde_json::Value::Null,
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        Value::Integer(i) => serde_json::Value::from(*i),
        Value::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                serde_json::Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| {
                        mlua::Error::RuntimeError(
                            "Cannot serialise number: must not be NaN or Inf".into(),
                        )
                    })?
            }
        }
        Value::String(s) => serde_json::Value::String(s.to_string_lossy().to_string()),
        Value::Table(t) => {
            let n = t.raw_len();
            let pairs = t.clone().pairs::<Value, Value>().count();
            if n > 0 && pairs == n {
                let mut a = Vec::with_capacity(n);
                for i in 1..=n {
                    a.push(to_json(&t.raw_get::<Value>(i)?, depth + 1)?);
                }
                serde_json::Value::Array(a)
            } else if pairs == 0 {
                serde_json::Value::Object(Default::default())
            } else {
                let mut m = serde_json::Map::new();
                for kv in t.clone().pairs::<Value, Value>() {
                    let (k, v) = kv?;
                    let k = match k {
                        Value::String(s) => s.to_string_lossy().to_string(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(mlua::Error::RuntimeError(
                                "Cannot serialise table: table key must be a number or string"
                                    .into(),
                            ))
                        }
                    };
                    m.insert(k, to_json(&v, depth + 1)?);
                }
                serde_json::Value::Object(m)
            }
        }
        _ => {
            return Err(mlua::Error::RuntimeError(format!(
                "Cannot serialise {}: type not supported",
                v.type_name()
            )))
        }
    })
}

fn from_json(lua: &Lua, j: &serde_json::Value) -> mlua::Result<Value> {
    Ok(match j {
        // cjson decodes null as a lightuserdata sentinel; nil is what scripts can test.
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(a) => {
            let t = lua.create_table()?;
            for (i, x) in a.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, x)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(m) => {
            let t = lua.create_table()?;
            for (k, x) in m {
                t.raw_set(k.as_str(), from_json(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}

/// LuaBitOp's functions, on 32-bit integers as Redis's `bit` library.
fn bit(lua: &Lua) -> mlua::Result<Table> {
    fn tobit(n: f64) -> i32 {
        (n as i64) as i32
    }
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, n: f64| Ok(tobit(n)))?)?;
    t.set("bnot", lua.create_function(|_, n: f64| Ok(!tobit(n)))?)?;
    t.set(
        "band",
        lua.create_function(|_, a: mlua::Variadic<f64>| {
            Ok(a.iter().fold(-1i32, |x, y| x & tobit(*y)))
        })?,
    )?;
    t.set(
        "bor",
        lua.create_function(|_, a: mlua::Variadic<f64>| {
            Ok(a.iter().fold(0i32, |x, y| x | tobit(*y)))
        })?,
    )?;
    t.set(
        "bxor",
        lua.create_function(|_, a: mlua::Variadic<f64>| {
            Ok(a.iter().fold(0i32, |x, y| x ^ tobit(*y)))
        })?,
    )?;
    t.set(
        "lshift",
        lua.create_function(|_, (a, n): (f64, f64)| {
            Ok(tobit(a).wrapping_shl(tobit(n) as u32 & 31))
        })?,
    )?;
    t.set(
        "rshift",
        lua.create_function(|_, (a, n): (f64, f64)| {
            Ok(((tobit(a) as u32) >> (tobit(n) as u32 & 31)) as i32)
        })?,
    )?;
    t.set(
        "arshift",
        lua.create_function(|_, (a, n): (f64, f64)| Ok(tobit(a) >> (tobit(n) as u32 & 31)))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|_, (a, n): (f64, Option<f64>)| {
            let n = n.map_or(8, |n| n as i64);
            let (upper, width) = if n < 0 {
                (true, (-n) as usize)
            } else {
                (false, n as usize)
            };
            let width = width.clamp(1, 8);
            let v = (tobit(a) as u32) as u64 & ((1u64 << (4 * width)) - 1);
            Ok(if upper {
                format!("{v:0width$X}")
            } else {
                format!("{v:0width$x}")
            })
        })?,
    )?;
    Ok(t)
}

/// A script's KEYS and ARGV.
type KeysArgs<'a> = (&'a [Vec<u8>], &'a [Vec<u8>]);

/// The numkeys argument and the split of the rest into KEYS and ARGV.
fn split_args(a: &[Vec<u8>]) -> Result<KeysArgs<'_>, CmdErr> {
    let n: i64 = std::str::from_utf8(&a[2])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdErr(super::err::NOT_INT.into()))?;
    if n < 0 {
        return Err("ERR Number of keys can't be negative".into());
    }
    let rest = &a[3..];
    if n as usize > rest.len() {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    Ok(rest.split_at(n as usize))
}

/// Keep a script body under its SHA1 (EVAL, SCRIPT LOAD); the SHA1.
fn remember(sh: &Shared, body: &[u8]) -> String {
    let sha = sha1_hex(body);
    lock(&sh.scripts)
        .bodies
        .entry(sha.clone())
        .or_insert_with(|| body.to_vec());
    sha
}

pub fn eval(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sha = remember(c.sh, &a[1]);
    run(c, a, &sha, false)
}

pub fn eval_ro(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sha = remember(c.sh, &a[1]);
    run(c, a, &sha, true)
}

pub fn evalsha(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    run(
        c,
        a,
        &String::from_utf8_lossy(&a[1]).to_ascii_lowercase(),
        false,
    )
}

pub fn evalsha_ro(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    run(
        c,
        a,
        &String::from_utf8_lossy(&a[1]).to_ascii_lowercase(),
        true,
    )
}

pub fn script(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match (sub.as_str(), a.len()) {
        ("load", 3) => {
            // A script that does not compile is refused, as Redis does.
            compile_check(&a[2])?;
            let sha = remember(c.sh, &a[2]);
            c.out.bulk(sha.as_bytes());
            done()
        }
        ("exists", n) if n >= 3 => {
            let s = lock(&c.sh.scripts);
            let found: Vec<bool> = a[2..]
                .iter()
                .map(|x| {
                    s.bodies
                        .contains_key(&String::from_utf8_lossy(x).to_ascii_lowercase())
                })
                .collect();
            drop(s);
            c.out.array(found.len());
            for f in found {
                c.out.int(i64::from(f));
            }
            done()
        }
        ("flush", 2 | 3) => {
            if let Some(m) = a.get(2) {
                let m = String::from_utf8_lossy(m).to_ascii_lowercase();
                if m != "sync" && m != "async" {
                    return Err("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into());
                }
            }
            let mut s = lock(&c.sh.scripts);
            s.bodies.clear();
            s.generation += 1;
            c.ok()
        }
        ("kill", 2) => Err("NOTBUSY No scripts in execution right now.".into()),
        _ => Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
    }
}

/// Compile `body` in this thread's interpreter (SCRIPT LOAD's check).
fn compile_check(body: &[u8]) -> Result<(), CmdErr> {
    with_engine(|e| {
        e.lua
            .load(body)
            .set_name("@user_script")
            .into_function()
            .map(|_| ())
            .map_err(|err| CmdErr(compile_error(&err)))
    })?
}

fn compile_error(err: &mlua::Error) -> String {
    let msg = match err {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    format!(
        "ERR Error compiling script (new function): {}",
        msg.trim_end()
    )
}

fn with_engine<T>(f: impl FnOnce(&mut Engine) -> T) -> Result<T, CmdErr> {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(new_engine().map_err(|e| CmdErr(format!("ERR Lua: {e}")))?);
        }
        match slot.as_mut() {
            Some(e) => Ok(f(e)),
            None => Err(CmdErr("ERR Lua interpreter unavailable".into())),
        }
    })
}

/// This thread's interpreter, taken out of the thread-local for a run (a script's
/// commands never run another script: EVAL and FCALL are `noscript`).
pub(crate) fn take_engine() -> Result<Engine, CmdErr> {
    match ENGINE.with(|cell| cell.borrow_mut().take()) {
        Some(e) => Ok(e),
        None => new_engine().map_err(|e| CmdErr(format!("ERR Lua: {e}"))),
    }
}

/// Give the interpreter back to this thread.
pub(crate) fn put_engine(e: Engine) {
    ENGINE.with(|cell| *cell.borrow_mut() = Some(e));
}

fn run(c: &mut Ctx, a: &[Vec<u8>], sha: &str, read_only: bool) -> R {
    let (keys, argv) = split_args(a)?;
    let (body, generation) = {
        let s = lock(&c.sh.scripts);
        (s.bodies.get(sha).cloned(), s.generation)
    };
    let Some(body) = body else {
        return Err("NOSCRIPT No matching script. Please use EVAL.".into());
    };
    let mut engine = take_engine()?;
    if engine.generation != generation {
        engine.compiled.clear();
        engine.generation = generation;
    }
    let result = run_in(
        &mut engine,
        c,
        Target::Script { body: &body, sha },
        keys,
        argv,
        read_only,
    );
    put_engine(engine);
    result
}

/// What a script's command calls share: the caller's context and the script's session.
struct CallCtx<'a> {
    sh: &'a Shared,
    info: &'a ClientInfo,
    session: Session,
    read_only: bool,
    /// A command of the script wrote (shared with the time-limit hook).
    wrote: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The last error `redis.call` raised, and the script's line there.
    raised: Option<(String, usize)>,
}

/// `redis.log` and the `redis.LOG_*` levels (scripts, and libraries as they load).
pub(crate) fn set_log(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.set(
        "log",
        lua.create_function(|_, (_level, msg): (i64, mlua::String)| {
            crate::log::notice(format_args!("{}", msg.to_string_lossy()));
            Ok(())
        })?,
    )?;
    for (i, name) in ["LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"]
        .iter()
        .enumerate()
    {
        redis.set(*name, i as i64)?;
    }
    Ok(())
}

/// Registry names of the running script's command runner (`redis.pcall`) and of the
/// function noting the error `redis.call` raises with the script's line.
const RAW_KEY: &str = "strata.redis_raw";
const NOTE_KEY: &str = "strata.redis_note";

/// `redis.call`, as a C function: a call in tail position (`return redis.call(...)`)
/// then keeps the script's frame on the stack (Lua 5.1 does not eliminate a tail call
/// of a C function), so a command's error names the script's line, as Redis's does.
/// It runs `redis.pcall` and raises a command's error (`{err=...}`) as a plain string.
///
/// # Safety
/// Called by Lua only. Nothing with a destructor is alive when `lua_error` unwinds.
unsafe extern "C-unwind" fn redis_call(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    use mlua::ffi;
    pack_and_call_raw(l);
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        ffi::lua_getfield(l, -1, c"err".as_ptr());
        if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            let line = if ffi::lua_getstack(l, 1, &mut ar) != 0
                && ffi::lua_getinfo(l, c"l".as_ptr(), &mut ar) != 0
            {
                ar.currentline
            } else {
                -1
            };
            ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"strata.redis_note".as_ptr());
            ffi::lua_pushvalue(l, -2);
            ffi::lua_pushinteger(l, ffi::lua_Integer::from(line));
            ffi::lua_call(l, 2, 0);
            ffi::lua_error(l);
        }
        ffi::lua_pop(l, 1);
    }
    1
}

/// Replaces the arguments on `l`'s stack by the result of the registry's raw call
/// function applied to them packed in one table (with their count: a nil may sit
/// between them). Packed, up to Lua's ~8,000 arguments reach Rust as one reference: as
/// separate values each took a slot of mlua's auxiliary stack, of which there are
/// 8,000, and `redis.call` with 7,990 arguments killed the event loop.
///
/// # Safety
/// `l` is a Lua state running a C function; the registry holds the raw function.
unsafe fn pack_and_call_raw(l: *mut mlua::ffi::lua_State) {
    use mlua::ffi;
    let n = ffi::lua_gettop(l);
    ffi::lua_createtable(l, n, 0);
    for i in 1..=n {
        ffi::lua_pushvalue(l, i);
        ffi::lua_rawseti(l, -2, ffi::lua_Integer::from(i));
    }
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"strata.redis_raw".as_ptr());
    ffi::lua_insert(l, -2);
    ffi::lua_pushinteger(l, ffi::lua_Integer::from(n));
    ffi::lua_call(l, 2, 1);
    // Keep only the result (already alone at 1 when there were no arguments).
    if n > 0 {
        ffi::lua_replace(l, 1);
    }
    ffi::lua_settop(l, 1);
}

/// `redis.pcall`: the raw call, its error returned as a table.
///
/// # Safety
/// As [`redis_call`].
unsafe extern "C-unwind" fn redis_pcall(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    pack_and_call_raw(l);
    1
}

/// What a run executes: a script body (EVAL) or a library's function (FCALL).
pub(crate) enum Target<'a> {
    /// A script, compiled once per interpreter under its SHA1; KEYS and ARGV globals.
    Script { body: &'a [u8], sha: &'a str },
    /// A registered function, called as `callback(keys, args)`.
    Function {
        callback: mlua::Function,
        name: &'a str,
    },
}

pub(crate) fn run_in(
    engine: &mut Engine,
    c: &mut Ctx,
    target: Target,
    keys: &[Vec<u8>],
    argv: &[Vec<u8>],
    read_only: bool,
) -> R {
    let lua = &engine.lua;
    let (func, label, chunk, is_script) = match target {
        Target::Script { body, sha } => {
            let f = match engine.compiled.get(sha) {
                Some(f) => f.clone(),
                None => {
                    let f = lua
                        .load(body)
                        .set_name("@user_script")
                        .into_function()
                        .map_err(|e| CmdErr(compile_error(&e)))?;
                    engine.compiled.insert(sha.to_string(), f.clone());
                    f
                }
            };
            (f, sha, "user_script", true)
        }
        Target::Function { callback, name } => (callback, name, "user_function", false),
    };
    let session = Session {
        db: c.s.db,
        proto: 2,
        authed: true,
        in_exec: true,
        in_script: true,
        ..Session::default()
    };
    let wrote_flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let call = RefCell::new(CallCtx {
        sh: c.sh,
        info: c.info,
        session,
        read_only,
        wrote: std::sync::Arc::clone(&wrote_flag),
        raised: None,
    });
    let call_ref = &call;
    let started = Instant::now();
    // A panic inside the run (mlua panics when Lua values held by Rust exceed its
    // 8,000 reference slots, e.g. a callback given thousands of string arguments) is
    // the script's error, not the event loop's end.
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lua.scope(|scope| {
        let g = lua.globals();
        let redis = lua.create_table()?;
        // redis.pcall returns a command's error as `{err=...}`; redis.call raises it as
        // a plain string (Redis 7.0), noting it and its line for the reply.
        let raw = scope.create_function(move |lua, (args, n): (Table, i64)| {
            let mut cc = call_ref.borrow_mut();
            call_command(lua, &mut cc, &args, n)
        })?;
        let note = scope.create_function(move |_, (msg, line): (mlua::String, i64)| {
            let line = usize::try_from(line).ok().filter(|&l| l > 0).unwrap_or(1);
            call_ref.borrow_mut().raised = Some((msg.to_string_lossy().to_string(), line));
            Ok(())
        })?;
        lua.set_named_registry_value(RAW_KEY, raw)?;
        lua.set_named_registry_value(NOTE_KEY, note)?;
        // SAFETY: `redis_call` follows the Lua C API's rules (see its comment).
        let call_fn = unsafe { lua.create_c_function(redis_call) }?;
        redis.set("call", call_fn)?;
        // SAFETY: as `redis_call`: a C function following the Lua C API's rules, the
        // raw function in the registry (set above).
        let pcall_fn = unsafe { lua.create_c_function(redis_pcall) }?;
        redis.set("pcall", pcall_fn)?;
        redis.set(
            "error_reply",
            lua.create_function(|lua, s: mlua::String| {
                // Redis 7.0 reads "[-]CODE msg"; a message without a space gets ERR.
                let raw = s.as_bytes();
                let body: &[u8] = raw.strip_prefix(b"-").unwrap_or(&raw);
                let text = if body.contains(&b' ') {
                    body.to_vec()
                } else {
                    [&b"ERR "[..], body].concat()
                };
                let t = lua.create_table()?;
                t.set("err", lua.create_string(text)?)?;
                Ok(t)
            })?,
        )?;
        redis.set(
            "status_reply",
            lua.create_function(|lua, s: mlua::String| {
                let t = lua.create_table()?;
                t.set("ok", s)?;
                Ok(t)
            })?,
        )?;
        // Exactly one argument, as Redis checks it.
        redis.set(
            "sha1hex",
            lua.create_function(|lua, args: MultiValue| match args.len() {
                // Lua's own string conversion (numbers as %.14g); anything else is
                // hashed as the empty string, as Redis's NULL from lua_tolstring is.
                1 => {
                    let s = lua.coerce_string(args[0].clone())?;
                    Ok(sha1_hex(&s.map(|s| s.as_bytes().to_vec()).unwrap_or_default()))
                }
                _ => Err(mlua::Error::RuntimeError("wrong number of arguments".into())),
            })?,
        )?;
        set_log(lua, &redis)?;
        redis.set(
            "setresp",
            lua.create_function(|_, v: i64| {
                if v == 2 {
                    Ok(())
                } else {
                    Err(mlua::Error::RuntimeError(
                        "RESP version must be 2 (RESP3 replies inside scripts are not supported by Strata)"
                            .into(),
                    ))
                }
            })?,
        )?;
        redis.set("set_repl", lua.create_function(|_, _v: Value| Ok(()))?)?;
        redis.set(
            "replicate_commands",
            lua.create_function(|_, ()| Ok(true))?,
        )?;
        for (i, name) in ["REPL_NONE", "REPL_AOF", "REPL_SLAVE", "REPL_REPLICA", "REPL_ALL"]
            .iter()
            .enumerate()
        {
            redis.set(*name, i as i64)?;
        }
        g.raw_set("redis", redis)?;
        let kt = lua.create_table()?;
        for (i, k) in keys.iter().enumerate() {
            kt.raw_set(i + 1, lua.create_string(k)?)?;
        }
        let at = lua.create_table()?;
        for (i, v) in argv.iter().enumerate() {
            at.raw_set(i + 1, lua.create_string(v)?)?;
        }
        if is_script {
            g.raw_set("KEYS", kt.clone())?;
            g.raw_set("ARGV", at.clone())?;
        }
        protect_globals(lua)?;
        // A script that has written nothing is stopped after `busy-reply-threshold`
        // (one that has written keeps running, as Redis's can then only be ended by
        // SHUTDOWN NOSAVE); 0 = no limit.
        let limit = Duration::from_millis(c.sh.hot.script_limit_ms.load(Ordering::Relaxed));
        let hook_wrote = std::sync::Arc::clone(&wrote_flag);
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if !limit.is_zero()
                    && started.elapsed() > limit
                    && !hook_wrote.load(Ordering::Relaxed)
                {
                    return Err(mlua::Error::RuntimeError(format!(
                        "Script killed after {} ms without writing (busy-reply-threshold; Strata stops such a script instead of answering BUSY)",
                        limit.as_millis()
                    )));
                }
                Ok(mlua::VmState::Continue)
            },
        )?;
        let r = if is_script {
            func.call::<Value>(())
        } else {
            func.call::<Value>((kt, at))
        };
        lua.remove_hook();
        let mut buf = Vec::new();
        match r {
            Ok(v) => {
                let mut o = crate::resp::Out {
                    buf: &mut buf,
                    proto: c.s.proto,
                };
                reply_from_lua(lua, &mut o, v)?;
                Ok(Ok(buf))
            }
            Err(e) => Ok(Err(runtime_error(
                &e,
                label,
                chunk,
                call_ref.borrow().raised.clone(),
            ))),
        }
    })))
    .unwrap_or_else(|_| {
        lua.remove_hook();
        crate::log::warning(format_args!(
            "a script exceeded the Lua interpreter's reference slots; its run was stopped"
        ));
        Ok(Err(format!(
            "ERR Error running script: too many Lua values passed to the server at once script: {label}"
        )))
    });
    // Globals set for the run go, so the next script starts clean.
    let _ = unprotect_globals(lua);
    // Clients blocked on keys the script pushed to are served now that it has ended.
    let ready = call.into_inner().session.ready;
    c.signal_ready(ready);
    let wrote = wrote_flag.load(Ordering::Relaxed);
    match out {
        Ok(Ok(bytes)) => {
            c.out.buf.extend_from_slice(&bytes);
            Ok(Flow::Continue { wrote })
        }
        Ok(Err(msg)) => {
            c.out.error(&msg);
            Ok(Flow::Continue { wrote })
        }
        Err(e) => Err(CmdErr(format!("ERR {e}"))),
    }
}

/// The first line of a Lua error's message, under the callbacks it passed through.
pub(crate) fn lua_error_text(e: &mlua::Error) -> String {
    let mut cur = e;
    while let mlua::Error::CallbackError { cause, .. } = cur {
        cur = cause;
    }
    let text = match cur {
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    };
    text.lines().next().unwrap_or("").to_string()
}

/// The error reply for a script that failed (Redis 7.0's form): a command's error
/// raised by `redis.call` as it was, any other error as `ERR <Lua message>`, then
/// ` script: <sha>, on @user_script:<line>.` (a function: its name and
/// `@user_function`).
fn runtime_error(
    e: &mlua::Error,
    sha: &str,
    chunk: &str,
    raised: Option<(String, usize)>,
) -> String {
    let first = lua_error_text(e);
    if let Some((msg, line)) = raised {
        if msg == first {
            return format!("{msg} script: {sha}, on @{chunk}:{line}.");
        }
    }
    // "user_script:3: message": the line is the one Lua names.
    let line = first
        .strip_prefix(chunk)
        .and_then(|r| r.strip_prefix(':'))
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    format!("ERR {first} script: {sha}, on @{chunk}:{line}.")
}

/// Globals may neither be created nor read when undefined (Redis 7.0's sandbox). The
/// metamethods are Lua, so the error names the script's line (`user_script:1:`).
pub(crate) fn protect_globals(lua: &Lua) -> mlua::Result<()> {
    lua.load(
        r#"setmetatable(_G, {
            __newindex = function(t, k, v) error("Attempt to modify a readonly table", 2) end,
            __index = function(t, k)
                error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
            end,
        })"#,
    )
    .set_name("=sandbox")
    .exec()
}

pub(crate) fn unprotect_globals(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set_metatable(None)?;
    for name in ["KEYS", "ARGV", "redis"] {
        g.raw_set(name, Value::Nil)?;
    }
    Ok(())
}

/// Run one `redis.call`/`redis.pcall`: its reply as a Lua value (an error as a table
/// with `err`).
fn call_command(lua: &Lua, cc: &mut CallCtx, args: &Table, n: i64) -> mlua::Result<Value> {
    let err_table = |msg: &str| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.set("err", msg)?;
        Ok(Value::Table(t))
    };
    if n < 1 {
        return err_table("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv: Vec<Vec<u8>> = Vec::with_capacity(n as usize);
    // One argument at a time: each Lua value held here takes a reference slot.
    for i in 1..=n {
        match args.raw_get::<Value>(i)? {
            Value::String(s) => argv.push(s.as_bytes().to_vec()),
            Value::Integer(i) => argv.push(i.to_string().into_bytes()),
            // C's %.17g, as Redis 7.0 formats a Lua number for a command.
            Value::Number(n) => argv.push(format_g17(n).into_bytes()),
            _ => {
                return err_table("ERR Lua redis lib command arguments must be strings or integers")
            }
        }
    }
    let Some(cmd) = super::lookup(cc.sh, &argv[0]) else {
        return err_table("ERR Unknown Redis command called from script");
    };
    let n = argv.len() as i32;
    if (cmd.arity > 0 && n != cmd.arity) || n < -cmd.arity {
        return err_table("ERR Wrong number of args calling Redis command from script");
    }
    // A container's subcommand is resolved as Redis resolves it for scripts.
    let sub = match super::subcommand(cmd, &argv) {
        Err(super::SubRefusal::Unknown) => {
            return err_table("ERR Unknown Redis command called from script")
        }
        Err(super::SubRefusal::Arity(_)) => {
            return err_table("ERR Wrong number of args calling Redis command from script")
        }
        Ok(sub) => sub,
    };
    if super::has_flag(cmd, sub, "noscript") {
        return err_table("ERR This Redis command is not allowed from script");
    }
    // Redis counts a command that may be propagated (PUBLISH, PFCOUNT) as a write here.
    if cc.read_only && (cmd.has("write") || cmd.has("may_replicate")) {
        return err_table("ERR Write commands are not allowed from read-only scripts.");
    }
    let mut buf = Vec::new();
    if execute_inline(cc.sh, &mut cc.session, cc.info, &mut buf, &argv).wrote {
        cc.wrote.store(true, Ordering::Relaxed);
    }
    let mut pos = 0;
    parse_reply(lua, &buf, &mut pos, 0)
}

/// One RESP2 reply from `buf` at `pos`, as Redis converts replies for Lua: integers
/// to numbers, bulk strings to strings, nulls to false, arrays to tables, status to
/// `{ok=...}`, errors to `{err=...}`.
fn parse_reply(lua: &Lua, buf: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    let bad = || mlua::Error::RuntimeError("malformed reply".into());
    if depth > 1000 || *pos >= buf.len() {
        return Err(bad());
    }
    let line_end = buf[*pos..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| *pos + i)
        .ok_or_else(bad)?;
    let kind = buf[*pos];
    let line = &buf[*pos + 1..line_end];
    *pos = line_end + 2;
    let num = |l: &[u8]| -> mlua::Result<i64> {
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    Ok(match kind {
        b'+' => {
            let t = lua.create_table()?;
            t.set("ok", lua.create_string(line)?)?;
            Value::Table(t)
        }
        b'-' => {
            let t = lua.create_table()?;
            t.set("err", lua.create_string(line)?)?;
            Value::Table(t)
        }
        b':' => Value::Integer(num(line)?),
        b'$' => {
            let n = num(line)?;
            if n < 0 {
                Value::Boolean(false)
            } else {
                let n = n as usize;
                let s = buf.get(*pos..*pos + n).ok_or_else(bad)?;
                *pos += n + 2;
                Value::String(lua.create_string(s)?)
            }
        }
        b'*' => {
            let n = num(line)?;
            if n < 0 {
                Value::Boolean(false)
            } else {
                let t = lua.create_table()?;
                for i in 0..n as usize {
                    t.raw_set(i + 1, parse_reply(lua, buf, pos, depth + 1)?)?;
                }
                Value::Table(t)
            }
        }
        _ => return Err(bad()),
    })
}

/// How deep Redis 7.0 converts nested tables of a script's reply before Lua's C stack
/// (8,000 slots, one per level) runs out: the value at this depth becomes the error
/// `reached lua stack limit` (measured against redis-server 7.0.15: 7,995 arrays).
const REPLY_DEPTH_LIMIT: usize = 7995;

/// Flattens a script's return value into a token list inside Lua (iteratively, with a
/// stack of Lua tables), so that Rust never holds more than a couple of Lua
/// references: each one takes a slot of mlua's auxiliary stack, which has 8,000, and a
/// reply of 10,000 tables held as Rust values used to exhaust it and kill the loop.
const REPLY_TOKENS: &str = r#"
local v, limit = ...
local out, n = {}, 0
local st, si, sn, sp = {}, {}, {}, 0
local x, have = v, true
while true do
    if have then
        local t = type(x)
        if sp >= limit then
            n = n + 1; out[n] = "L"
        elseif t == "number" then
            out[n + 1] = "i"; out[n + 2] = x; n = n + 2
        elseif t == "string" then
            out[n + 1] = "s"; out[n + 2] = x; n = n + 2
        elseif t == "boolean" and x then
            out[n + 1] = "i"; out[n + 2] = 1; n = n + 2
        elseif t == "table" then
            local e, ok = rawget(x, "err"), rawget(x, "ok")
            if type(e) == "string" then
                out[n + 1] = "e"; out[n + 2] = e; n = n + 2
            elseif type(ok) == "string" then
                out[n + 1] = "o"; out[n + 2] = ok; n = n + 2
            else
                local len = 0
                while rawget(x, len + 1) ~= nil do len = len + 1 end
                out[n + 1] = "a"; out[n + 2] = len; n = n + 2
                if len > 0 then
                    sp = sp + 1; st[sp] = x; si[sp] = 0; sn[sp] = len
                end
            end
        else
            n = n + 1; out[n] = "n"
        end
    end
    have = false
    while sp > 0 do
        local i = si[sp] + 1
        if i <= sn[sp] then
            si[sp] = i; x = rawget(st[sp], i); have = true
            break
        end
        st[sp] = nil; sp = sp - 1
    end
    if not have then break end
end
return out, n
"#;

const REPLY_TOKENS_KEY: &str = "strata.reply_tokens";

/// A script's return value as a reply (Redis's rules: numbers truncate to integers,
/// true is 1, false and nil are null, a table with `err` or `ok` is an error or a
/// status, any other table an array up to its first nil), nested up to Redis's limit.
fn reply_from_lua(lua: &Lua, o: &mut crate::resp::Out, v: Value) -> mlua::Result<()> {
    let flatten: mlua::Function = match lua.named_registry_value(REPLY_TOKENS_KEY)? {
        Value::Function(f) => f,
        _ => {
            let f = lua.load(REPLY_TOKENS).set_name("=reply").into_function()?;
            lua.set_named_registry_value(REPLY_TOKENS_KEY, f.clone())?;
            f
        }
    };
    let (tokens, n): (Table, i64) = flatten.call((v, REPLY_DEPTH_LIMIT as i64))?;
    let mut i = 1;
    while i <= n {
        let tag: mlua::String = tokens.raw_get(i)?;
        let tag = tag.as_bytes().first().copied().unwrap_or(b'n');
        i += 1;
        if matches!(tag, b'L' | b'n') {
            if tag == b'L' {
                o.error("ERR reached lua stack limit");
            } else {
                o.null();
            }
            continue;
        }
        let payload: Value = tokens.raw_get(i)?;
        i += 1;
        match (tag, payload) {
            (b'i', Value::Integer(x)) => o.int(x),
            (b'i', Value::Number(x)) => o.int(x as i64),
            (b'a', Value::Integer(x)) => o.array(x as usize),
            (b'a', Value::Number(x)) => o.array(x as usize),
            (b's', Value::String(x)) => o.bulk(&x.as_bytes()),
            (b'e', Value::String(x)) => o.error(&x.to_string_lossy()),
            (b'o', Value::String(x)) => o.simple(&x.to_string_lossy()),
            _ => o.null(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_lua_does() {
        for (n, t) in [
            (3.5, "3.5"),
            (0.1, "0.10000000000000001"),
            (1e20, "1e+20"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (-2.25, "-2.25"),
            (1.0 / 3.0, "0.33333333333333331"),
            (42.0, "42"),
        ] {
            assert_eq!(format_g17(n), t, "{n}");
        }
    }
}
