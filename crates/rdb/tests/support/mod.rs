//! Test support shared by the codec's scenario tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_rdb::Value;

/// A small deterministic PRNG (xorshift64), so failures replay from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl Rng {
    /// A uniform index below `n` (0 when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

pub fn element(r: &mut Rng) -> Vec<u8> {
    match r.below(8) {
        0 => (r.next() as i64 >> r.below(64)).to_string().into_bytes(),
        1 => (r.below(300) as i64 - 150).to_string().into_bytes(),
        2 => (0..r.below(20)).map(|_| r.next() as u8).collect(),
        3 => vec![b'x'; r.below(300) as usize],
        4 => format!("member:{}", r.below(1000)).into_bytes(),
        5 => Vec::new(),
        6 => format!("0{}", r.below(100)).into_bytes(), // not canonical: stays a string
        _ => (0..r.below(5000))
            .map(|i| b"abcdefgh"[(i % 8) as usize] ^ (r.below(4) as u8))
            .collect(),
    }
}

pub fn score(r: &mut Rng) -> f64 {
    match r.below(6) {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => (r.below(1000) as f64) - 500.0,
        3 => f64::from_bits(r.next() & !(0x7ff << 52)) * if r.below(2) == 0 { 1.0 } else { -1.0 },
        4 => (r.next() >> 11) as f64 * 1e-3,
        _ => 1e300 * (r.below(3) as f64 - 1.0),
    }
}

pub fn unique(items: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

pub fn random_value(r: &mut Rng) -> Value {
    let n = [1, 3, 50, 200, 600][r.below(5) as usize];
    let n = 1 + r.below(n) as usize;
    match r.below(5) {
        0 => Value::String(element(r)),
        1 => Value::List((0..n).map(|_| element(r)).collect()),
        2 => {
            let mut m = unique((0..n).map(|_| element(r)).collect());
            if r.below(2) == 0 {
                m = unique(
                    (0..n)
                        .map(|_| (r.next() as i64 >> r.below(64)).to_string().into_bytes())
                        .collect(),
                );
            }
            Value::Set(m)
        }
        3 => {
            let fields = unique((0..n).map(|_| element(r)).collect());
            Value::Hash(fields.into_iter().map(|f| (f, element(r))).collect())
        }
        _ => {
            let members = unique((0..n).map(|_| element(r)).collect());
            Value::ZSet(members.into_iter().map(|m| (m, score(r))).collect())
        }
    }
}

/// A real `redis-server` 7.0.15 started for one test, on a free loopback port, killed
/// when dropped. `cargo xtask test` installs it (Debian `redis-server`); a missing
/// binary fails the test with that instruction, never skips it.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    pub dir: std::path::PathBuf,
    /// The directory was made for this server and is removed with it.
    owns_dir: bool,
}

impl RedisServer {
    pub fn start(extra: &[&str]) -> RedisServer {
        Self::start_in(None, extra)
    }

    /// Start with `--dir` = `dir` (a fresh temporary directory when `None`).
    pub fn start_in(dir: Option<&std::path::Path>, extra: &[&str]) -> RedisServer {
        let version = Command::new("redis-server").arg("--version").output().unwrap_or_else(|e| {
            panic!("redis-server is not installed ({e}); run `cargo xtask test`, which installs Debian's redis-server 7.0.15")
        });
        let v = String::from_utf8_lossy(&version.stdout);
        assert!(
            v.contains("v=7.0.15"),
            "need redis-server 7.0.15, found: {v}"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let owns_dir = dir.is_none();
        let dir = dir.map(std::path::Path::to_path_buf).unwrap_or_else(|| {
            let d =
                std::env::temp_dir().join(format!("strata-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            d
        });
        let child = Command::new("redis-server")
            .args([
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
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = RedisServer {
            child,
            port,
            dir,
            owns_dir,
        };
        let t0 = Instant::now();
        loop {
            if let Ok(mut c) = server.try_connect() {
                if c.call(&[b"PING"]) == Reply::Status("PONG".into()) {
                    return server;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn try_connect(&self) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    pub fn client(&self) -> Client {
        self.try_connect().unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn bulk(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }
    pub fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) => a.clone(),
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

/// A minimal RESP2 client: one command, one reply.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).unwrap();
        self.read()
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end_matches("\r\n").to_string()
    }

    fn read(&mut self) -> Reply {
        let l = self.line();
        let (t, rest) = l.split_at(1);
        match t {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            _ => panic!("bad RESP line {l:?}"),
        }
    }
}
