//! A Redis user's configuration: Debian's redis.conf, daemonizing with a pid file and a
//! log file, systemd readiness, `rename-command`, protected mode, and `CONFIG GET`
//! against a real redis-server 7.0.15.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Client, Reply};

/// The redis.conf that Debian's `redis-server` package installs (the tests' real
/// Redis comes from that package).
const DEBIAN_CONF: &str = "/etc/redis/redis.conf";

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn config_map(c: &mut Client) -> BTreeMap<String, String> {
    let flat = c.cmd(&["CONFIG", "GET", "*"]).array();
    flat.chunks(2)
        .map(|kv| {
            (
                String::from_utf8(kv[0].bulk()).unwrap(),
                String::from_utf8(kv[1].bulk()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn debian_redis_conf_runs_daemonized_with_pid_file_and_log_file() {
    let conf = std::fs::read_to_string(DEBIAN_CONF).unwrap_or_else(|e| {
        panic!("{DEBIAN_CONF}: {e}; `cargo xtask test` installs Debian's redis-server")
    });
    assert!(conf.contains("\ndaemonize yes"), "Debian's file daemonizes");
    let dir = support::temp_dir("debconf");
    let port = support::free_port();
    let log = dir.join("strata.log");
    let pidfile = dir.join("strata.pid");
    // The file unchanged, and the lines a user would change for a second server on the
    // host after it (later lines win, as in Redis); `include` brings one in.
    let local = dir.join("local.conf");
    std::fs::write(
        &local,
        format!(
            "port {port}\ndir {}\nlogfile {}\npidfile {}\nmaxmemory 1gb\n",
            dir.join("data").display(),
            log.display(),
            pidfile.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let file = dir.join("redis.conf");
    std::fs::write(&file, format!("{conf}\ninclude {}\n", local.display())).unwrap();
    // The parent returns at once; the server goes on in the background.
    let st = Command::new(support::BIN).arg(&file).status().unwrap();
    assert!(st.success());
    wait_for("pid file", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    // Should an assertion fail, the daemon must not outlive the test.
    struct KillOnDrop(i32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            // SAFETY: sends SIGKILL to the daemon this test started (gone already when
            // the test passes, and then the call fails harmlessly).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let _guard = KillOnDrop(pid);
    let mut c = Client::connect(port).unwrap();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Status("OK".into()));
    let cfg = config_map(&mut c);
    assert_eq!(cfg["bind"], "127.0.0.1 -::1");
    assert_eq!(cfg["tcp-backlog"], "511");
    assert_eq!(cfg["daemonize"], "yes");
    assert_eq!(cfg["maxmemory"], (1u64 << 30).to_string());
    assert_eq!(
        cfg["client-output-buffer-limit"],
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    // The listen queue is the configured one (the kernel caps it at somaxconn).
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(listen_backlog(port), 511.min(somaxconn));
    c.send(&[b"SHUTDOWN"]);
    wait_for("exit", || !pid_alive(pid));
    assert!(!pidfile.exists(), "the pid file goes at exit");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Redis's line shape: "pid:M 22 Nov 2026 18:42:52.395 * message".
    let ready = lines
        .iter()
        .find(|l| l.contains("ready to accept connections"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(ready.starts_with(&format!("{pid}:M ")), "{ready}");
    assert!(ready.contains(" * "), "{ready}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" # 'maxmemory 1073741824' has no effect in Strata")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.contains("bye bye")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The listen queue's length for `port` (`ss -ltn` shows it as Send-Q).
fn listen_backlog(port: u16) -> u64 {
    // /proc/net/tcp shows no backlog; `ss` (iproute2) does.
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (Debian `iproute2`) is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_else(|| panic!("ss: {text}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn config_get_knows_every_redis_parameter_with_redis_defaults() {
    let redis = support::Proc::start(&[]);
    let strata = support::strata(&[]);
    let theirs = config_map(&mut redis.client());
    let ours = config_map(&mut strata.client());
    let missing: Vec<&String> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{missing:?}");
    // Values differ only where Strata's own meaning or the test's setup differs.
    let expected = [
        "appendonly", // the WAL is always on; the test's Redis runs without AOF
        "dir",
        "io-threads", // 0 = one event loop per two cores
        "loglevel",   // the test starts Redis with `warning`
        "port",
    ];
    let differ: Vec<&str> = theirs
        .iter()
        .filter(|(k, v)| ours[*k] != **v)
        .map(|(k, _)| k.as_str())
        .filter(|k| !expected.contains(k))
        .collect();
    assert!(differ.is_empty(), "{differ:?}");
    // CONFIG SET: accepted where Redis accepts it; immutable where Redis says so, in
    // its words.
    let mut r = redis.client();
    let mut s = strata.client();
    for args in [
        ["CONFIG", "SET", "activerehashing", "no"],
        ["CONFIG", "SET", "tcp-backlog", "100"],
        ["CONFIG", "SET", "activerehashing", "maybe"],
        ["CONFIG", "SET", "hash-max-ziplist-entries", "100"],
        ["CONFIG", "SET", "slowlog-max-len", "lots"],
        ["CONFIG", "SET", "maxmemory", "100mb"],
    ] {
        assert_eq!(s.cmd(&args), r.cmd(&args), "{args:?}");
    }
    for p in [
        "activerehashing",
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        "maxmemory",
    ] {
        assert_eq!(
            s.cmd(&["CONFIG", "GET", p]),
            r.cmd(&["CONFIG", "GET", p]),
            "{p}"
        );
    }
    // What Strata refuses instead of ignoring.
    match s.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]) {
        Reply::Error(e) => assert!(
            e.starts_with("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - Strata does not evict keys"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    match s.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]) {
        Reply::Error(e) => assert!(
            e.contains("keyspace notifications are not supported"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_directives_stop_startup_with_their_reason() {
    for (args, why) in [
        (
            &["--replicaof", "10.0.0.1", "6379"][..],
            "Strata does not replicate",
        ),
        (
            &["--slaveof", "10.0.0.1", "6379"][..],
            "Strata does not replicate",
        ),
        (&["--tls-port", "6380"][..], "TLS is not supported"),
        (&["--maxmemory-policy", "allkeys-lru"][..], "does not evict"),
        (
            &["--user", "alice", "on", ">pw"][..],
            "ACL users are not supported",
        ),
        (
            &["--rename-command", "nosuch", "x"][..],
            "No such command in rename-command",
        ),
        (
            &["--rename-command", "get", "set"][..],
            "Target command name already exists",
        ),
        (
            &["--activerehashing", "maybe"][..],
            "argument must be 'yes' or 'no'",
        ),
    ] {
        let out = Command::new(support::BIN)
            .args(["--port", "0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("FATAL CONFIG FILE ERROR") && err.contains(why),
            "{args:?}: {err}"
        );
    }
    // Redis's deprecated directives are read and ignored, as Redis does.
    let dir = support::temp_dir("deprecated");
    let s = support::Proc::strata(
        support::BIN,
        Some(&dir),
        &[
            "--list-max-ziplist-entries",
            "5",
            "--lua-replicate-commands",
            "yes",
        ],
    );
    assert_eq!(s.client().cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn rename_command_renames_and_removes_commands() {
    let s = support::strata(&[
        "--rename-command",
        "flushall",
        "",
        "--rename-command",
        "config",
        "cfg-7f3a",
    ]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Status("OK".into()));
    assert_eq!(
        c.cmd(&["FLUSHALL"]),
        Reply::Error("ERR unknown command 'FLUSHALL', with args beginning with: ".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]),
        Reply::Error(
            "ERR unknown command 'CONFIG', with args beginning with: 'GET' 'port' ".into()
        )
    );
    assert_eq!(
        c.cmd(&["CFG-7F3A", "GET", "port"]).array()[1].bulk(),
        s.port.to_string().into_bytes()
    );
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(Some(b"v".to_vec())));
}

#[test]
fn protected_mode_denies_other_addresses_without_a_password() {
    // Listening on every address with no password: only 127.0.0.1 and ::1 may talk.
    // A connection from 127.0.0.2 is "another host" by Redis's exact comparison.
    let denied_by = |port: u16| -> Vec<u8> {
        let script = r#"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), source_address=("127.0.0.2", 0))
s.sendall(b"PING\r\n")
data = b""
s.settimeout(5)
while not data.endswith(b"\r\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
"#;
        let out = Command::new("python3")
            .args(["-c", script, &port.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .expect("python3 is needed");
        out.stdout
    };
    let redis = support::Proc::start(&["--bind", "* -::*", "--protected-mode", "yes"]);
    let strata = support::strata(&["--bind", "* -::*"]);
    let theirs = denied_by(redis.port);
    assert!(theirs.starts_with(b"-DENIED Redis is running in protected mode"));
    assert_eq!(denied_by(strata.port), theirs);
    // Loopback is served; with a password (or protected-mode no) so is everyone.
    let mut c = strata.client();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "protected-mode", "no"]),
        Reply::Status("OK".into())
    );
    assert_eq!(denied_by(strata.port), b"+PONG\r\n");
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "protected-mode",
            "yes",
            "requirepass",
            "pw"
        ]),
        Reply::Status("OK".into())
    );
    assert!(denied_by(strata.port).starts_with(b"-NOAUTH"));
}

#[test]
fn supervised_systemd_reports_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = support::temp_dir("sdnotify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let port = support::free_port();
    let mut child = Command::new(support::BIN)
        .args([
            "--port",
            &port.to_string(),
            "--supervised",
            "systemd",
            "--dir",
        ])
        .arg(dir.join("data"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.starts_with("READY=1\n"), "{msg}");
    // Ready means serving.
    let mut c = Client::connect(port).unwrap();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    // SAFETY: sends SIGTERM to our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_rewrite_updates_the_file_in_place_and_a_restart_reads_it() {
    let conf = std::fs::read_to_string(DEBIAN_CONF).unwrap();
    let dir = support::temp_dir("rewrite");
    let port = support::free_port();
    let file = dir.join("redis.conf");
    let tail = format!(
        "port {port}\ndir {}\ndaemonize no\nlogfile \"\"\npidfile \"\"\nrename-command flushall \"\"\n",
        dir.join("data").display()
    );
    std::fs::write(&file, format!("{conf}{tail}")).unwrap();
    // Killed if the test fails before SHUTDOWN.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let start = || {
        let child = Command::new(support::BIN)
            .arg(&file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("start", || Client::connect(port).is_ok());
        Server(child)
    };
    let mut child = start();
    let mut c = Client::connect(port).unwrap();
    for (k, v) in [
        ("hz", "20"),
        ("maxmemory", "100mb"),
        ("requirepass", "p w\"x"),
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", k, v]), Reply::Status("OK".into()));
    }
    c.cmd(&["AUTH", "p w\"x"]);
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), Reply::Status("OK".into()));
    let new = std::fs::read_to_string(&file).unwrap();
    // Comments and the other directives stay; each parameter is set where it was.
    let comments = |t: &str| t.lines().filter(|l| l.starts_with('#')).count();
    assert_eq!(
        comments(&new),
        comments(&conf) + 1,
        "one line added: the header"
    );
    let before = |t: &str, line: &str| {
        let lines: Vec<&str> = t.lines().collect();
        let i = lines.iter().position(|l| *l == line).unwrap();
        lines[i - 2..i].join("\n")
    };
    assert_eq!(before(&new, "hz 20"), before(&conf, "hz 10"));
    assert!(new.contains("\nrename-command flushall \"\"\n"));
    assert!(
        new.ends_with(
            "# Generated by CONFIG REWRITE\nrequirepass \"p w\\\"x\"\nmaxmemory 104857600\n"
        ),
        "{}",
        &new[new.len() - 200..]
    );
    assert_eq!(new.matches(&format!("\nport {port}\n")).count(), 1);
    c.send(&[b"SHUTDOWN"]);
    assert!(child.0.wait().unwrap().success());
    // A restart from the rewritten file has the values.
    let mut child = start();
    let mut c = Client::connect(port).unwrap();
    c.cmd(&["AUTH", "p w\"x"]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hz"]).array()[1],
        Reply::Bulk(Some(b"20".to_vec()))
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]).array()[1],
        Reply::Bulk(Some(b"104857600".to_vec()))
    );
    c.send(&[b"SHUTDOWN"]);
    assert!(child.0.wait().unwrap().success());
    // Without a file, Redis's error.
    let s = support::strata(&[]);
    assert_eq!(
        s.client().cmd(&["CONFIG", "REWRITE"]),
        Reply::Error("ERR The server is running without a config file".into())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
