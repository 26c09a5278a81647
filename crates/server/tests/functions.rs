//! Redis 7.0 functions against a real `redis-server` 7.0.15: the same FUNCTION and
//! FCALL requests (loading, metadata and registration errors, calls, flags, LIST,
//! STATS, DUMP/RESTORE policies) give byte-identical replies in RESP2 and RESP3;
//! payloads move both ways; libraries survive a restart of Strata.

mod support;

use support::{strata, Client, Proc, Reply};

const LIB: &str = "#!lua name=mylib
local function helper(x) return x .. '!' end
redis.register_function('echo', function(keys, args) return helper(args[1]) end)
redis.register_function{function_name='getk', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}
redis.register_function('setk', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function('fail', function(keys, args) error('boom') end)
redis.register_function('badcall', function(keys, args) local r = redis.call('nocmd') return r end)
redis.register_function('pcallit', function(keys, args) return redis.pcall('incr', keys[1]) end)
redis.register_function('globals', function(keys, args) y = 1 end)
redis.register_function('keysglobal', function(keys, args) return KEYS end)
redis.register_function('shape', function(keys, args) return {#keys, #args, {1, 'a'}, redis.status_reply('fine')} end)
redis.register_function{function_name='ro_writes', callback=function(keys, args) return redis.call('set', 'x', 'y') end, flags={'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}";

fn requests() -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let load = |code: &str| vec!["FUNCTION".to_string(), "LOAD".into(), code.to_string()];
    let mut r = vec![
        s(&["FUNCTION", "FLUSH"]),
        load("return 1"),
        load("#!lua name=x"),
        load("#!js name=x\nx"),
        load("#!lua\nx"),
        load("#!lua name=a name=b\nx"),
        load("#!lua name=a foo=bar\nx"),
        load("#!lua name=bad-name\nx"),
        load("#!lua name=e1\nlocal x = 1"),
        load("#!lua name=e2\nsyntax error here"),
        load("#!lua name=e3\nredis.call('set','a','b')"),
        load("#!lua name=e4\nx = 5"),
        load("#!lua name=e5\nredis.register_function('bad-fn', function() return 1 end)"),
        load("#!lua name=e6\nredis.register_function{function_name='x', callback=function() return 1 end, flags={'bogus'}}"),
        load("#!lua name=e7\nredis.register_function{function_name='x', callback=function() return 1 end, bogus=1}"),
        load("#!lua name=e8\nredis.register_function('x')"),
        load("#!lua name=e9\nredis.register_function{function_name='x'}"),
        load("#!lua name=e10\nredis.register_function('x', 'notfn')"),
        load("#!lua name=e11\nredis.register_function{callback=function() end}"),
        load("#!lua name=e13\nwhile true do end"),
        // At load time only `redis` is there (Redis's library API); the functions see
        // every global when called. Found by Redis's own test suite.
        load("#!lua name=e14\nreturn math.random()"),
        load("#!lua name=e15\nlocal x = tostring(1)\nredis.register_function('f15', function() return x end)"),
        load("#!lua name=g1\nlocal function h() return math.floor(2.5) end\nredis.register_function('g1', function() return h() .. redis.call('ping')['ok'] end)\nredis.register_function('g2', function() bar = 1 end)\nredis.register_function('g3', function() return nosuch end)"),
        s(&["FCALL", "g1", "0"]),
        s(&["FCALL", "g2", "0"]),
        s(&["FCALL", "g3", "0"]),
        // (Gone again: FUNCTION DUMP's library order is Redis's hash-table order.)
        s(&["FUNCTION", "DELETE", "g1"]),
        // The load-time `redis` is read-only, also for a function that kept it; named
        // arguments are checked with their own texts, keys in any case.
        load("#!lua name=m1\nlocal lib = redis\nlib.register_function('m1', function() lib.math = math return 1 end)"),
        s(&["FCALL", "m1", "0"]),
        s(&["FUNCTION", "DELETE", "m1"]),
        load("#!lua name=m2\nredis.math.random()"),
        load("#!lua name=m3\nredis.register_function{function_name={}, callback=function() return 1 end}"),
        load("#!lua name=m4\nredis.register_function{function_name='x', callback='y'}"),
        load("#!lua name=m5\nredis.register_function{function_name='x', description={}, callback=function() return 1 end}"),
        load("#!lua name=m6\nredis.register_function{FUNCTION_NAME='m6', CallBack=function() return 1 end}"),
        s(&["FCALL", "m6", "0"]),
        s(&["FUNCTION", "DELETE", "m6"]),
        // (Two functions whose names differ in case only: Redis 7.0.15 loads them, and
        // crashes on FUNCTION DELETE of their library; not compared.)
        load("#!lua name=e12\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)"),
        load(LIB),
        load(LIB),
        vec!["FUNCTION".into(), "LOAD".into(), "REPLACE".into(), LIB.into()],
        load("#!lua name=other\nredis.register_function('echo', function() return 1 end)"),
        s(&["FCALL", "echo", "0", "hi"]),
        s(&["FCALL", "ECHO", "0", "hi"]),
        s(&["FCALL", "nope", "0"]),
        s(&["FCALL", "echo", "x"]),
        s(&["FCALL", "echo", "-1"]),
        s(&["FCALL", "echo", "3", "a"]),
        s(&["FCALL", "setk", "1", "k", "v"]),
        s(&["FCALL", "getk", "1", "k"]),
        s(&["FCALL_RO", "getk", "1", "k"]),
        s(&["FCALL_RO", "setk", "1", "k", "v"]),
        s(&["FCALL", "fail", "0"]),
        s(&["FCALL", "badcall", "0"]),
        s(&["FCALL", "pcallit", "1", "k"]),
        s(&["FCALL", "globals", "0"]),
        s(&["FCALL", "keysglobal", "1", "a"]),
        s(&["FCALL", "shape", "2", "a", "b", "c"]),
        s(&["FCALL", "ro_writes", "0"]),
        s(&["FUNCTION", "LIST"]),
        s(&["FUNCTION", "LIST", "WITHCODE"]),
        s(&["FUNCTION", "LIST", "LIBRARYNAME", "my*"]),
        s(&["FUNCTION", "LIST", "LIBRARYNAME", "zz*"]),
        s(&["FUNCTION", "LIST", "LIBRARYNAME"]),
        s(&["FUNCTION", "LIST", "BOGUS"]),
        s(&["FUNCTION", "LIST", "WITHCODE", "WITHCODE"]),
        s(&["FUNCTION", "STATS"]),
        s(&["FUNCTION", "STATS", "x"]),
        s(&["FUNCTION", "DUMP"]),
        s(&["FUNCTION", "RESTORE", "junk"]),
        s(&["FUNCTION", "DELETE", "nolib"]),
        s(&["FUNCTION", "DELETE"]),
        s(&["FUNCTION", "KILL"]),
        s(&["FUNCTION", "FLUSH", "bogus"]),
        s(&["FUNCTION", "LOAD"]),
        s(&["FUNCTION", "BOGUS"]),
        s(&["FUNCTION", "HELP"]),
        s(&["FUNCTION", "DELETE", "mylib"]),
        s(&["FCALL", "echo", "0", "hi"]),
        s(&["FUNCTION", "LIST"]),
    ];
    r.push(s(&["FUNCTION", "FLUSH", "SYNC"]));
    r
}

/// FUNCTION LIST with its libraries, and each library's functions, in a fixed order
/// (Redis lists them in its hash tables' order).
fn normalized(cmd: &[String], r: Reply) -> Reply {
    if !(cmd.len() >= 2 && cmd[0] == "FUNCTION" && cmd[1] == "LIST") {
        return r;
    }
    fn sort_functions(lib: Reply) -> Reply {
        let fix = |items: Vec<Reply>| {
            let mut out = Vec::new();
            let mut next_is_functions = false;
            for it in items {
                let it = match (next_is_functions, it) {
                    (true, Reply::Array(Some(mut v))) => {
                        v.sort_by_key(|x| format!("{x:?}"));
                        Reply::Array(Some(v))
                    }
                    (_, other) => other,
                };
                next_is_functions = it == Reply::Bulk(Some(b"functions".to_vec()));
                out.push(it);
            }
            out
        };
        match lib {
            Reply::Array(Some(v)) => Reply::Array(Some(fix(v))),
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| match (&k, v) {
                        (Reply::Bulk(Some(name)), Reply::Array(Some(mut f)))
                            if name == b"functions" =>
                        {
                            f.sort_by_key(|x| format!("{x:?}"));
                            (k, Reply::Array(Some(f)))
                        }
                        (_, v) => (k, v),
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    match r {
        Reply::Array(Some(libs)) => {
            let mut libs: Vec<Reply> = libs.into_iter().map(sort_functions).collect();
            libs.sort_by_key(|x| format!("{x:?}"));
            Reply::Array(Some(libs))
        }
        other => other,
    }
}

fn call(c: &mut Client, cmd: &[String]) -> Reply {
    let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
    c.call(&args)
}

#[test]
fn function_requests_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    for proto in ["2", "3"] {
        let mut a = redis.client();
        let mut b = ours.client();
        for c in [&mut a, &mut b] {
            c.cmd(&["HELLO", proto]);
            c.cmd(&["FLUSHALL"]);
        }
        for cmd in requests() {
            let (x, y) = (
                normalized(&cmd, call(&mut a, &cmd)),
                normalized(&cmd, call(&mut b, &cmd)),
            );
            let shown: Vec<String> = cmd.iter().map(|s| s.chars().take(60).collect()).collect();
            assert_eq!(x, y, "RESP{proto}: {shown:?}");
        }
    }
}

/// FUNCTION DUMP payloads restore both ways with Redis's policies and texts.
#[test]
fn payloads_cross_and_restore_policies_match() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    let load = |c: &mut Client, code: &str| c.cmd(&["FUNCTION", "LOAD", code]);
    let lib1 = "#!lua name=a1\nredis.register_function('f1', function() return 1 end)";
    let lib2 = "#!lua name=a2\nredis.register_function('f1', function() return 2 end)";
    for c in [&mut a, &mut b] {
        c.cmd(&["FUNCTION", "FLUSH"]);
        load(c, LIB);
    }
    let from_redis = a.cmd(&["FUNCTION", "DUMP"]).bulk();
    let from_us = b.cmd(&["FUNCTION", "DUMP"]).bulk();
    assert_eq!(
        from_redis, from_us,
        "the same library dumps to the same bytes"
    );
    for c in [&mut a, &mut b] {
        c.cmd(&["FUNCTION", "FLUSH"]);
        load(c, lib1);
    }
    let p1 = a.cmd(&["FUNCTION", "DUMP"]).bulk();
    // (library loaded first after a flush, restore policy)
    let steps: [(Option<&str>, Option<&str>); 7] = [
        (None, None),
        (None, Some("APPEND")),
        (None, Some("REPLACE")),
        (None, Some("FLUSH")),
        (None, Some("bogus")),
        (Some(lib2), Some("APPEND")),
        (None, Some("REPLACE")),
    ];
    for (i, (pre, policy)) in steps.into_iter().enumerate() {
        if let Some(code) = pre {
            for c in [&mut a, &mut b] {
                c.cmd(&["FUNCTION", "FLUSH"]);
                load(c, code);
            }
        }
        let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &p1];
        if let Some(p) = policy {
            args.push(p.as_bytes());
        }
        assert_eq!(a.call(&args), b.call(&args), "step {i}");
        let list = ["FUNCTION", "LIST", "WITHCODE"].map(String::from);
        assert_eq!(
            normalized(&list, call(&mut a, &list)),
            normalized(&list, call(&mut b, &list)),
            "step {i}"
        );
    }
    // Ours into Redis.
    b.cmd(&["FUNCTION", "FLUSH"]);
    load(&mut b, LIB);
    let ours_payload = b.cmd(&["FUNCTION", "DUMP"]).bulk();
    a.cmd(&["FUNCTION", "FLUSH"]);
    let args: [&[u8]; 3] = [b"FUNCTION", b"RESTORE", &ours_payload];
    assert_eq!(a.call(&args), Reply::Status("OK".into()));
    assert_eq!(
        a.cmd(&["FCALL", "echo", "0", "x"]),
        Reply::Bulk(Some(b"x!".to_vec()))
    );
}

#[test]
fn libraries_survive_a_restart() {
    let dir = support::temp_dir("functions-restart");
    let mut s = Proc::strata(support::BIN, Some(&dir), &[]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", LIB]),
        Reply::Bulk(Some(b"mylib".to_vec()))
    );
    drop(c);
    s.kill9();
    let s = Proc::strata(support::BIN, Some(&dir), &[]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["FCALL", "echo", "0", "back"]),
        Reply::Bulk(Some(b"back!".to_vec()))
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "DELETE", "mylib"]),
        Reply::Status("OK".into())
    );
    drop(c);
    drop(s);
    let s = Proc::strata(support::BIN, Some(&dir), &[]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["FCALL", "echo", "0", "x"]),
        Reply::Error("ERR Function not found".into())
    );
}
