//! Blocking commands against a real redis-server 7.0.15 and strata-server, the same
//! scenario on both: wake-up order (first blocked, first served), timeouts, pushes from
//! another client, several keys, BLMOVE chains, WRONGTYPE, a blocked client that leaves.

mod support;

use std::time::{Duration, Instant};

use support::{strata, Client, Proc, Reply};

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

fn arr(v: Vec<Reply>) -> Reply {
    Reply::Array(Some(v))
}

/// Run `scenario` on Redis and on Strata; both must produce the same transcript.
fn both(scenario: impl Fn(u16) -> Vec<Reply>) {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let want = scenario(redis.port);
    let got = scenario(ours.port);
    assert_eq!(want, got, "redis vs strata");
}

fn blocked(port: u16, cmd: &[&str]) -> Client {
    let mut c = Client::connect(port).unwrap();
    let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
    c.send(&a);
    // Let the server register the client before the next one blocks.
    std::thread::sleep(Duration::from_millis(100));
    c
}

#[test]
fn first_blocked_is_first_served() {
    both(|port| {
        let mut w: Vec<Client> = (0..3)
            .map(|_| blocked(port, &["BLPOP", "q", "0"]))
            .collect();
        let mut p = Client::connect(port).unwrap();
        let mut out = vec![p.cmd(&["RPUSH", "q", "a", "b", "c", "d"])];
        for c in &mut w {
            out.push(c.read());
        }
        out.push(p.cmd(&["LRANGE", "q", "0", "-1"]));
        assert_eq!(out[1], arr(vec![bulk("q"), bulk("a")]));
        out
    });
}

#[test]
fn timeouts_answer_null() {
    both(|port| {
        let mut c = Client::connect(port).unwrap();
        let t0 = Instant::now();
        let mut out = vec![c.cmd(&["BLPOP", "nothing", "0.2"])];
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(180) && took < Duration::from_secs(3),
            "{took:?}"
        );
        out.push(c.cmd(&["BLMOVE", "nothing", "dst", "LEFT", "RIGHT", "0.1"]));
        out.push(c.cmd(&["BZPOPMIN", "nothing", "0.1"]));
        out.push(c.cmd(&["BLMPOP", "0.1", "1", "nothing", "LEFT"]));
        // Long double seconds: hex, and a value below the double's range that Redis
        // still rounds up to 1 ms.
        out.push(c.cmd(&["BLPOP", "nothing", "0x.1p-3"]));
        out.push(c.cmd(&["BLPOP", "nothing", "1e-400"]));
        c.cmd(&["HELLO", "3"]);
        out.push(c.cmd(&["BLPOP", "nothing", "0.1"]));
        out.push(c.cmd(&["BLPOP", "nothing", "-1"]));
        out.push(c.cmd(&["BLPOP", "nothing", "x"]));
        out
    });
}

#[test]
fn pushes_from_another_client_wake_each_kind() {
    both(|port| {
        let mut p = Client::connect(port).unwrap();
        let mut out = Vec::new();
        let mut a = blocked(port, &["BRPOPLPUSH", "src", "dst", "0"]);
        out.push(p.cmd(&["LPUSH", "src", "x"]));
        out.push(a.read());
        out.push(p.cmd(&["LRANGE", "dst", "0", "-1"]));

        let mut z = blocked(port, &["BZPOPMIN", "z1", "z2", "0"]);
        out.push(p.cmd(&["ZADD", "z2", "1.5", "m", "0.5", "n"]));
        out.push(z.read());

        let mut m = blocked(
            port,
            &["BLMPOP", "0", "2", "l1", "l2", "LEFT", "COUNT", "2"],
        );
        out.push(p.cmd(&["RPUSH", "l2", "1", "2", "3"]));
        out.push(m.read());

        let mut zm = blocked(port, &["BZMPOP", "0", "1", "zz", "MAX", "COUNT", "5"]);
        out.push(p.cmd(&["ZADD", "zz", "1", "a", "2", "b"]));
        out.push(zm.read());

        // A chain: a BLMOVE into a list another client waits on.
        let mut first = blocked(port, &["BLMOVE", "c1", "c2", "LEFT", "LEFT", "0"]);
        let mut second = blocked(port, &["BLPOP", "c2", "0"]);
        out.push(p.cmd(&["RPUSH", "c1", "v"]));
        out.push(first.read());
        out.push(second.read());
        out.push(p.cmd(&["EXISTS", "c1", "c2"]));
        out
    });
}

#[test]
fn wrongtype_and_departed_clients() {
    both(|port| {
        let mut p = Client::connect(port).unwrap();
        let mut out = vec![p.cmd(&["SET", "str", "x"]), p.cmd(&["BLPOP", "str", "0"])];
        // A blocked client that disconnects takes nothing with it.
        let gone = blocked(port, &["BLPOP", "q2", "0"]);
        drop(gone);
        std::thread::sleep(Duration::from_millis(100));
        out.push(p.cmd(&["RPUSH", "q2", "kept"]));
        std::thread::sleep(Duration::from_millis(100));
        out.push(p.cmd(&["LRANGE", "q2", "0", "-1"]));
        // Served immediately when data is there.
        out.push(p.cmd(&["BLPOP", "empty", "q2", "0"]));
        out
    });
}

/// Keys made ready inside a MULTI/EXEC or a script are served when it ends, so a key
/// pushed to and deleted (or turned into a string) within it wakes nobody; SWAPDB and
/// SORT ... STORE wake clients blocked on the keys they bring. Found by Redis's own
/// test suite (`unit/type/list`, `unit/type/zset`).
#[test]
fn keys_are_served_after_the_transaction_or_script() {
    both(|port| {
        let mut p = Client::connect(port).unwrap();
        let mut out = Vec::new();
        // Pushed and deleted within EXEC: the waiter gets the later push.
        let mut w = blocked(port, &["BLPOP", "list", "0"]);
        for c in [
            &["MULTI"][..],
            &["LPUSH", "list", "a"],
            &["DEL", "list"],
            &["EXEC"],
            &["LPUSH", "list", "b"],
        ] {
            out.push(p.cmd(c));
        }
        out.push(w.read());
        // Left a string: the waiter stays blocked until the key is a list again.
        let mut w = blocked(port, &["BZPOPMIN", "zs", "0"]);
        for c in [
            &["MULTI"][..],
            &["ZADD", "zs", "1", "foo"],
            &["DEL", "zs"],
            &["SET", "zs", "x"],
            &["EXEC"],
            &["DEL", "zs"],
            &["ZADD", "zs", "2", "bar"],
        ] {
            out.push(p.cmd(c));
        }
        out.push(w.read());
        // Three pushes in one EXEC: the waiter sees the state after all of them.
        let mut w = blocked(port, &["BLMPOP", "0", "1", "l3", "LEFT"]);
        for c in [
            &["MULTI"][..],
            &["LPUSH", "l3", "a"],
            &["LPUSH", "l3", "b"],
            &["LPUSH", "l3", "c"],
            &["EXEC"],
        ] {
            out.push(p.cmd(c));
        }
        out.push(w.read());
        // A script: served after it ends.
        let mut w = blocked(port, &["BRPOP", "sl", "0"]);
        out.push(p.cmd(&[
            "EVAL",
            "redis.call('rpush', KEYS[1], 'a') redis.call('del', KEYS[1]) \
             redis.call('rpush', KEYS[1], 'b', 'c') return 1",
            "1",
            "sl",
        ]));
        out.push(w.read());
        // SWAPDB brings a list into the waiter's database.
        let mut w = blocked(port, &["BLPOP", "k", "0"]);
        out.push(p.cmd(&["SELECT", "9"]));
        out.push(p.cmd(&["RPUSH", "k", "hello"]));
        out.push(p.cmd(&["SWAPDB", "0", "9"]));
        out.push(w.read());
        out.push(p.cmd(&["SELECT", "0"]));
        // SORT ... STORE creates the list.
        let mut w = blocked(port, &["BLPOP", "sorted", "0"]);
        out.push(p.cmd(&["RPUSH", "src", "3", "1", "2"]));
        out.push(p.cmd(&["SORT", "src", "STORE", "sorted"]));
        out.push(w.read());
        out
    });
}

/// SMOVE of a member the destination already holds leaves the destination untouched:
/// a WATCH on it does not abort the transaction (Redis 7.0).
#[test]
fn smove_touches_the_destination_only_when_it_adds() {
    both(|port| {
        let (mut a, mut b) = (
            Client::connect(port).unwrap(),
            Client::connect(port).unwrap(),
        );
        let mut out = Vec::new();
        for c in [
            &["SADD", "src", "a", "b"][..],
            &["SADD", "dst", "a"],
            &["WATCH", "dst"],
            &["MULTI"],
            &["SADD", "dst", "c"],
        ] {
            out.push(a.cmd(c));
        }
        out.push(b.cmd(&["SMOVE", "src", "dst", "a"]));
        out.push(a.cmd(&["EXEC"]));
        out.push(a.cmd(&["SCARD", "dst"]));
        out.push(a.cmd(&["SMEMBERS", "src"]));
        out
    });
}
