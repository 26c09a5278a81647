//! The real binary on a free port: exact reply bytes for the protocol, errors, RESP3,
//! authentication, and pipelining.

mod support;

use std::time::Duration;

use support::{raw, strata, Client, Reply};

#[test]
fn replies_are_byte_exact() {
    let s = strata(&[]);
    let mut c = s.client();
    let cases: &[(&[u8], &[u8])] = &[
        (b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
        (b"PING\r\n", b"+PONG\r\n"),
        (b"ping hello\r\n", b"$5\r\nhello\r\n"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n", b"+OK\r\n"),
        (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$5\r\nvalue\r\n"),
        (b"GET missing\r\n", b"$-1\r\n"),
        (
            b"GET\r\n",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            b"FOO a b\r\n",
            b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
        ),
        (b"SET n 10\r\n", b"+OK\r\n"),
        (b"INCRBY n 5\r\n", b":15\r\n"),
        (
            b"INCR k\r\n",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            b"SET k v EX 0\r\n",
            b"-ERR invalid expire time in 'set' command\r\n",
        ),
        (b"SET k v NX XX\r\n", b"-ERR syntax error\r\n"),
        (b"SELECT 16\r\n", b"-ERR DB index is out of range\r\n"),
        (
            b"MSET a 1 b\r\n",
            b"-ERR wrong number of arguments for 'mset' command\r\n",
        ),
        (b"EXISTS k k missing\r\n", b":2\r\n"),
        (b"TYPE k\r\n", b"+string\r\n"),
        (b"TYPE missing\r\n", b"+none\r\n"),
        (b"TTL k\r\n", b":-1\r\n"),
        (b"TTL missing\r\n", b":-2\r\n"),
        (b"RENAME missing x\r\n", b"-ERR no such key\r\n"),
        (b"MGET k missing\r\n", b"*2\r\n$5\r\nvalue\r\n$-1\r\n"),
        (b"SET \"quoted key\" 'x y'\r\n", b"+OK\r\n"),
        (b"GET \"quoted key\"\r\n", b"$3\r\nx y\r\n"),
        (b"ECHO \"\\x41\\n\"\r\n", b"$2\r\nA\n\r\n"),
    ];
    for (req, want) in cases {
        let got = raw(&mut c, req);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "request {:?}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn resp3_hello_and_nulls() {
    let s = strata(&[]);
    let mut c = s.client();
    let id = match c.cmd(&["CLIENT", "ID"]) {
        support::Reply::Int(i) => i,
        r => panic!("{r:?}"),
    };
    let hello = raw(&mut c, b"HELLO 3\r\n");
    let want = format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&hello), want);
    assert_eq!(raw(&mut c, b"GET missing\r\n"), b"_\r\n");
    assert_eq!(
        raw(&mut c, b"CONFIG GET port\r\n"),
        format!(
            "%1\r\n$4\r\nport\r\n${}\r\n{}\r\n",
            s.port.to_string().len(),
            s.port
        )
        .into_bytes()
    );
    assert_eq!(
        raw(&mut c, b"HELLO 4\r\n"),
        b"-NOPROTO unsupported protocol version\r\n"
    );
    // Collection replies whose header is written before the scan (the count is known),
    // for missing keys and present ones, in RESP3 and then RESP2.
    let collections: &[(&[u8], &[u8], &[u8])] = &[
        (b"HGETALL missing\r\n", b"%0\r\n", b"*0\r\n"),
        (b"HKEYS missing\r\n", b"*0\r\n", b"*0\r\n"),
        (b"HVALS missing\r\n", b"*0\r\n", b"*0\r\n"),
        (b"LRANGE missing 0 -1\r\n", b"*0\r\n", b"*0\r\n"),
        (
            b"HGETALL h\r\n",
            b"%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n22\r\n",
            b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n22\r\n",
        ),
        (
            b"HVALS h\r\n",
            b"*2\r\n$1\r\n1\r\n$2\r\n22\r\n",
            b"*2\r\n$1\r\n1\r\n$2\r\n22\r\n",
        ),
        (
            b"LRANGE l 1 -2\r\n",
            b"*2\r\n$1\r\ny\r\n$0\r\n\r\n",
            b"*2\r\n$1\r\ny\r\n$0\r\n\r\n",
        ),
        (b"LRANGE l 5 9\r\n", b"*0\r\n", b"*0\r\n"),
    ];
    assert_eq!(raw(&mut c, b"HSET h a 1 b 22\r\n"), b":2\r\n");
    assert_eq!(raw(&mut c, b"RPUSH l x y \"\" z\r\n"), b":4\r\n");
    for (req, want3, _) in collections {
        assert_eq!(raw(&mut c, req), want3.to_vec(), "{req:?}");
    }
    assert_eq!(raw(&mut c, b"HELLO 2\r\n")[..3].to_vec(), b"*14".to_vec());
    assert_eq!(raw(&mut c, b"GET missing\r\n"), b"$-1\r\n");
    for (req, _, want2) in collections {
        assert_eq!(raw(&mut c, req), want2.to_vec(), "{req:?}");
    }
}

/// MSET looks all its keys up at once (`Txn::put_many`): keys on disk, in the memtable,
/// twice in one command, with and without a TTL, keep DBSIZE and the keyspace's expires
/// count exact.
#[test]
fn mset_counts_keys_and_ttls_wherever_they_are() {
    let s = strata(&[]);
    let mut c = s.client();
    for (req, want) in [
        (&b"SET disk1 a EX 100\r\n"[..], &b"+OK\r\n"[..]),
        (b"SET disk2 b\r\n", b"+OK\r\n"),
        (b"SAVE\r\n", b"+OK\r\n"),
        (b"SET mem1 c PX 100000\r\n", b"+OK\r\n"),
        (
            // Keys named twice (one of them on disk with a TTL) before others: each
            // key is counted by its own state, not by an earlier key's.
            b"MSET disk1 q new1 y disk1 x disk2 z mem1 w new1 v new2 u\r\n",
            b"+OK\r\n",
        ),
        (b"DBSIZE\r\n", b":5\r\n"),
        (b"TTL disk1\r\n", b":-1\r\n"),
        (b"TTL mem1\r\n", b":-1\r\n"),
        (
            b"MGET disk1 new1 disk2 mem1 new2 absent\r\n",
            b"*6\r\n$1\r\nx\r\n$1\r\nv\r\n$1\r\nz\r\n$1\r\nw\r\n$1\r\nu\r\n$-1\r\n",
        ),
    ] {
        assert_eq!(raw(&mut c, req), want.to_vec(), "{req:?}");
    }
    let Reply::Bulk(Some(info)) = c.cmd(&["INFO", "keyspace"]) else {
        panic!("INFO keyspace is a bulk string");
    };
    let info = String::from_utf8(info).unwrap();
    assert!(info.contains("db0:keys=5,expires=0,"), "{info}");
}

#[test]
fn pipelining_keeps_order() {
    let s = strata(&[]);
    let mut c = s.client();
    let mut req = Vec::new();
    for i in 0..1000 {
        req.extend_from_slice(&support::encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("{i}").as_bytes(),
        ]));
        req.extend_from_slice(&support::encode(&[b"GET", format!("k{i}").as_bytes()]));
    }
    c.send_raw(&req).unwrap();
    for i in 0..1000 {
        assert_eq!(c.read_raw().unwrap(), b"+OK\r\n");
        let v = i.to_string();
        assert_eq!(
            c.read_raw().unwrap(),
            format!("${}\r\n{v}\r\n", v.len()).into_bytes()
        );
    }
}

#[test]
fn protocol_errors_reply_then_close() {
    let s = strata(&[]);
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n+PING\r\n",
            "-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"*x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$999999999999\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"SET \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (req, want) in cases {
        let mut c = s.client();
        c.set_timeout(Duration::from_secs(10));
        c.send_raw(req).unwrap();
        let got = c.read_to_close();
        assert_eq!(String::from_utf8_lossy(&got), *want);
    }
    // The server still serves.
    assert_eq!(raw(&mut s.client(), b"PING\r\n"), b"+PONG\r\n");
}

#[test]
fn auth_with_requirepass() {
    let s = strata(&["--requirepass", "s3cret"]);
    let mut c = s.client();
    assert_eq!(
        raw(&mut c, b"GET k\r\n"),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        raw(&mut c, b"AUTH wrong\r\n"),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw(&mut c, b"AUTH s3cret\r\n"), b"+OK\r\n");
    assert_eq!(raw(&mut c, b"GET k\r\n"), b"$-1\r\n");
    let mut c2 = s.client();
    assert_eq!(
        raw(&mut c2, b"HELLO 3 AUTH default nope\r\n"),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw(&mut c2, b"HELLO 3 AUTH default s3cret\r\n")[0], b'%');
    // Before authentication, a big multibulk is refused (Redis's limit of 10).
    let mut c3 = s.client();
    c3.set_timeout(Duration::from_secs(10));
    c3.send_raw(b"*11\r\n").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&c3.read_to_close()),
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    let s2 = strata(&[]);
    assert_eq!(
        raw(&mut s2.client(), b"AUTH x\r\n"),
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_vec()
    );
}

#[test]
fn maxclients_refuses_extra_connections() {
    let s = strata(&["--maxclients", "3"]);
    // Let the start-up probe's connection close.
    std::thread::sleep(Duration::from_millis(300));
    let mut keep: Vec<Client> = (0..3).map(|_| s.client()).collect();
    for c in &mut keep {
        assert_eq!(raw(c, b"PING\r\n"), b"+PONG\r\n");
    }
    let mut extra = s.client();
    extra.set_timeout(Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&extra.read_to_close()),
        "-ERR max number of clients reached\r\n"
    );
    drop(keep);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(raw(&mut s.client(), b"PING\r\n"), b"+PONG\r\n");
}

#[test]
fn monitor_client_kill_and_idle_timeout() {
    let s = strata(&["--timeout", "1"]);
    let mut mon = s.client();
    assert_eq!(raw(&mut mon, b"MONITOR\r\n"), b"+OK\r\n");
    let mut c = s.client();
    c.cmd(&["SET", "k", "a b\n"]);
    let line = String::from_utf8(mon.read_raw().unwrap()).unwrap();
    // +<secs>.<micros> [0 127.0.0.1:port] "SET" "k" "a b\n"
    assert!(
        line.starts_with('+') && line.contains(" [0 127.0.0.1:"),
        "{line:?}"
    );
    assert!(line.ends_with("\"SET\" \"k\" \"a b\\n\"\r\n"), "{line:?}");
    // CLIENT KILL by id closes that connection; the caller gets the count.
    let mut victim = s.client();
    let id = match victim.cmd(&["CLIENT", "ID"]) {
        support::Reply::Int(i) => i,
        r => panic!("{r:?}"),
    };
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        support::Reply::Int(1)
    );
    victim.set_timeout(Duration::from_secs(5));
    assert!(victim.read_to_close().is_empty());
    assert_eq!(
        raw(&mut c, b"CLIENT KILL 1.2.3.4:5\r\n"),
        b"-ERR No such client\r\n".to_vec()
    );
    // `timeout 1`: an idle client is closed after about a second; MONITOR clients are not.
    let mut idle = s.client();
    idle.set_timeout(Duration::from_secs(10));
    let t0 = std::time::Instant::now();
    assert!(idle.read_to_close().is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(raw(&mut mon, b"PING\r\n")[0], b'+');
}

#[test]
fn bad_config_stops_startup_naming_the_line() {
    let dir = support::temp_dir("badconf");
    let conf = dir.join("strata.conf");
    std::fs::write(&conf, "port 7777\n# a comment\nno-such-directive yes\n").unwrap();
    let out = std::process::Command::new(support::BIN)
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at line 3") && err.contains(">>> 'no-such-directive yes'"),
        "{err}"
    );
    let out = std::process::Command::new(support::BIN)
        .args(["--port", "not-a-port"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FATAL CONFIG FILE ERROR"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The kernel's view of the server's end of `c`: `tr:tm->when` from /proc/net/tcp (the
/// pending timer's kind, 2 = keepalive, and its time left in 1/100 s).
fn server_socket_timer(server_port: u16, c: &Client) -> (u32, u64) {
    let peer = c.local_addr().port();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
        if port(f[1]) == server_port && port(f[2]) == peer {
            let (tr, when) = f[5].split_once(':').unwrap();
            return (
                u32::from_str_radix(tr, 16).unwrap(),
                u64::from_str_radix(when, 16).unwrap(),
            );
        }
    }
    panic!("no socket 127.0.0.1:{server_port} <-> :{peer} in /proc/net/tcp");
}

#[test]
fn tcp_keepalive_is_set_on_accepted_connections() {
    let s = strata(&["--tcp-keepalive", "7"]);
    let mut c = s.client();
    assert_eq!(raw(&mut c, b"PING\r\n"), b"+PONG\r\n");
    // SO_KEEPALIVE arms the keepalive timer, due after TCP_KEEPIDLE = 7 s (Linux's
    // default idle time would be 7200 s).
    let (tr, when) = server_socket_timer(s.port, &c);
    assert_eq!(tr, 2, "keepalive timer");
    assert!((1..=700).contains(&when), "{when}");
    // CONFIG SET applies to connections accepted afterwards, as in Redis; 0 turns it off.
    assert_eq!(
        raw(&mut c, b"CONFIG SET tcp-keepalive 0\r\n"),
        b"+OK\r\n".to_vec()
    );
    let mut d = s.client();
    assert_eq!(raw(&mut d, b"PING\r\n"), b"+PONG\r\n");
    assert_eq!(server_socket_timer(s.port, &d).0, 0);
}
