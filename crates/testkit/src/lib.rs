//! Test support shared by the crates' scenario tests: real server processes (a real
//! `redis-server` 7.0.15 and `strata-server`) on free loopback ports, a RESP2/RESP3
//! client that returns exact reply bytes or parsed replies, and a seeded PRNG so every
//! failure replays from its seed. Never a mock: these are the real programs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::should_implement_trait
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic PRNG (xorshift64).
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// A uniform index below `n`.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary directory unique to this process and `tag`, empty.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strata-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A server process started for one test, killed (SIGKILL) when dropped.
pub struct Proc {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    /// Its data directory.
    pub dir: PathBuf,
    owns_dir: bool,
}

/// The old name, used by the codec's tests.
pub type RedisServer = Proc;

impl Proc {
    /// A real `redis-server` 7.0.15 with persistence off and a fresh directory.
    pub fn start(extra: &[&str]) -> Proc {
        Self::start_in(None, extra)
    }

    /// A real `redis-server` 7.0.15 with `--dir` = `dir` (fresh when `None`).
    /// `cargo xtask test` installs it (Debian `redis-server`); a missing binary fails
    /// the test with that instruction, never skips it.
    pub fn start_in(dir: Option<&Path>, extra: &[&str]) -> Proc {
        let version = Command::new("redis-server").arg("--version").output().unwrap_or_else(|e| {
            panic!("redis-server is not installed ({e}); run `cargo xtask test`, which installs Debian's redis-server 7.0.15")
        });
        let v = String::from_utf8_lossy(&version.stdout);
        assert!(
            v.contains("v=7.0.15"),
            "need redis-server 7.0.15, found: {v}"
        );
        let port = free_port();
        let owns_dir = dir.is_none();
        let dir = dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| temp_dir(&format!("redis-{port}")));
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .args(["--daemonize", "no", "--loglevel", "warning"])
        .args(extra);
        Self::spawn(cmd, port, dir, owns_dir)
    }

    /// `strata-server` (the binary at `bin`) on a free port with `--dir` = `dir`
    /// (fresh when `None`), plus `extra` arguments.
    pub fn strata(bin: &str, dir: Option<&Path>, extra: &[&str]) -> Proc {
        let port = free_port();
        let owns_dir = dir.is_none();
        let dir = dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| temp_dir(&format!("strata-{port}")));
        let mut cmd = Command::new(bin);
        cmd.args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(&dir)
            .args(extra);
        Self::spawn(cmd, port, dir, owns_dir)
    }

    fn spawn(mut cmd: Command, port: u16, dir: PathBuf, owns_dir: bool) -> Proc {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start server process");
        let mut p = Proc {
            child: Some(child),
            port,
            dir,
            owns_dir,
        };
        let t0 = Instant::now();
        loop {
            if let Ok(mut c) = p.try_client() {
                match c.try_read_after(&[b"PING"]) {
                    Ok(Reply::Status(s)) if s == "PONG" => return p,
                    // Up, with a password set.
                    Ok(Reply::Error(e)) if e.starts_with("NOAUTH") => return p,
                    _ => {}
                }
            }
            if let Some(Ok(Some(st))) = p.child.as_mut().map(|c| c.try_wait()) {
                panic!("server on port {port} exited at start: {st}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_client(&self) -> std::io::Result<Client> {
        Client::connect(self.port)
    }

    /// A new connection.
    pub fn client(&self) -> Client {
        self.try_client().unwrap()
    }

    /// SIGKILL and wait; the directory stays.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit status (None if it had to be killed after 30 s).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Wait for the process to exit by itself (after SHUTDOWN).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// The process id (while running).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A RESP2 or RESP3 reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+`
    Status(String),
    /// `-`
    Error(String),
    /// `:`
    Int(i64),
    /// `$` (None = null bulk)
    Bulk(Option<Vec<u8>>),
    /// `*` (None = null array)
    Array(Option<Vec<Reply>>),
    /// RESP3 `_`
    Null,
    /// RESP3 `,`
    Double(String),
    /// RESP3 `#`
    Bool(bool),
    /// RESP3 `%`
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~`
    Set(Vec<Reply>),
    /// RESP3 `=` (format, text)
    Verbatim(String, Vec<u8>),
    /// RESP3 `(`
    BigNumber(String),
    /// RESP3 `>`
    Push(Vec<Reply>),
}

impl Reply {
    /// The bytes of a bulk string (panics otherwise).
    pub fn bulk(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            Reply::Verbatim(_, b) => b.clone(),
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }
    /// The elements of an array (panics otherwise).
    pub fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) | Reply::Set(a) | Reply::Push(a) => a.clone(),
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

/// A RESP client on a blocking socket.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// Encode a command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Client {
    /// Connect to a loopback port.
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_nodelay(true)?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// This end's address (the server sees it as the peer).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.w.local_addr().unwrap()
    }

    /// Send a command and read its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args);
        self.read()
    }

    /// Send a command given as strings.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.call(&a)
    }

    /// Send a command and read its reply, or the I/O error.
    pub fn try_read_after(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        self.w.write_all(&encode(args))?;
        self.try_read()
    }

    /// Send a command without reading.
    pub fn send(&mut self, args: &[&[u8]]) {
        self.w.write_all(&encode(args)).unwrap();
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Set the read timeout.
    pub fn set_timeout(&mut self, d: Duration) {
        self.w.set_read_timeout(Some(d)).unwrap();
    }

    /// Read exactly `n` raw bytes.
    pub fn read_exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        let mut b = vec![0u8; n];
        self.r.read_exact(&mut b)?;
        Ok(b)
    }

    /// Read until the peer closes (or the timeout); returns what came.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        let _ = self.r.read_to_end(&mut v);
        v
    }

    /// Read one raw reply as its exact bytes.
    pub fn read_raw(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.raw_into(&mut out)?;
        Ok(out)
    }

    fn raw_into(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let start = out.len();
        let n = self.r.read_until(b'\n', out)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let line = String::from_utf8_lossy(&out[start..out.len() - 2]).to_string();
        let (t, rest) = line.split_at(1);
        let count = |r: &str| r.parse::<i64>().unwrap_or(-1);
        match t {
            "$" | "=" | "!" => {
                let n = count(rest);
                if n >= 0 {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    out.extend_from_slice(&b);
                }
            }
            "*" | "~" | ">" => {
                for _ in 0..count(rest).max(0) {
                    self.raw_into(out)?;
                }
            }
            "%" => {
                for _ in 0..2 * count(rest).max(0) {
                    self.raw_into(out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Read one parsed reply.
    pub fn read(&mut self) -> Reply {
        self.try_read().unwrap()
    }

    /// Read one parsed reply, or the I/O error.
    pub fn try_read(&mut self) -> std::io::Result<Reply> {
        let mut l = String::new();
        if self.r.read_line(&mut l)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let l = l.trim_end_matches("\r\n").to_string();
        let (t, rest) = l.split_at(1);
        let n = || rest.parse::<i64>().unwrap();
        Ok(match t {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(n()),
            "_" => Reply::Null,
            "," => Reply::Double(rest.into()),
            "#" => Reply::Bool(rest == "t"),
            "(" => Reply::BigNumber(rest.into()),
            "$" | "=" => {
                let len = n();
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut b = vec![0u8; len as usize + 2];
                self.r.read_exact(&mut b)?;
                b.truncate(len as usize);
                if t == "=" {
                    let text = b.split_off(4.min(b.len()));
                    Reply::Verbatim(
                        String::from_utf8_lossy(&b).trim_end_matches(':').into(),
                        text,
                    )
                } else {
                    Reply::Bulk(Some(b))
                }
            }
            "*" | "~" | ">" => {
                let len = n();
                if len < 0 {
                    return Ok(Reply::Array(None));
                }
                let items = (0..len)
                    .map(|_| self.try_read())
                    .collect::<Result<Vec<_>, _>>()?;
                match t {
                    "*" => Reply::Array(Some(items)),
                    "~" => Reply::Set(items),
                    _ => Reply::Push(items),
                }
            }
            "%" => {
                let len = n();
                let mut m = Vec::new();
                for _ in 0..len {
                    let k = self.try_read()?;
                    let v = self.try_read()?;
                    m.push((k, v));
                }
                Reply::Map(m)
            }
            _ => panic!("bad RESP line {l:?}"),
        })
    }
}

/// The Redis 7.0.15 ground-truth corpus in `../shared/testdata/redis-7.0.15/` (beside
/// the repository). A missing corpus fails with its path, never skips.
pub mod corpus {
    use std::path::PathBuf;

    use serde_json::Value as Json;

    /// The corpus directory.
    pub fn dir() -> PathBuf {
        let d =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/redis-7.0.15");
        assert!(
            d.is_dir(),
            "the Redis ground-truth corpus is missing: expected {} (the shared/ folder beside the repository)",
            d.display()
        );
        d
    }

    /// Parse one JSON file of the corpus.
    pub fn load(name: &str) -> Json {
        let text = std::fs::read_to_string(dir().join(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// A JSON string whose code points U+0000..U+00FF stand for bytes.
    pub fn bytes(j: &Json) -> Vec<u8> {
        j.as_str()
            .unwrap()
            .chars()
            .map(|c| u8::try_from(c as u32).expect("corpus strings are latin-1"))
            .collect()
    }

    /// Lowercase hex to bytes.
    pub fn hex(j: &Json) -> Vec<u8> {
        let s = j.as_str().unwrap();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}

/// CI's share of fuzzing: run a fuzz target's `check` on every input saved in
/// `<crate_dir>/fuzz/corpus/<target>` and on `extra`; panics when there is none.
pub fn replay_fuzz_corpus(
    crate_dir: &str,
    target: &str,
    extra: &[Vec<u8>],
    check: fn(&[u8]),
) -> usize {
    let dir = Path::new(crate_dir).join("fuzz/corpus").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        check(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        n += 1;
    }
    for x in extra {
        check(x);
        n += 1;
    }
    assert!(n > 0, "no saved inputs in {}", dir.display());
    eprintln!("{n} saved {target} inputs replayed");
    n
}
