//! CLIENT LIST's session fields and INFO's blocked counts against a real
//! `redis-server` 7.0.15: the same scripted clients (in MULTI, subscribed, blocked with
//! and without a timeout, held by CLIENT PAUSE, with NO-EVICT, after RESET, after an
//! unknown command, with a touched WATCH) show the same `flags`, `sub`, `psub`, `ssub`, `multi` and `cmd`
//! on both, and INFO's `blocked_clients` and `clients_in_timeout_table` agree.
//!
//! Redis rotates its client list as it serves, so each snapshot is compared as a
//! sorted list of lines.

mod support;

use std::time::Duration;

use support::{strata, Client, Proc};

/// Send requests without reading; then read until the replies stop coming (the
/// server has run them all).
fn send_all(c: &mut Client, reqs: &[&[&str]]) {
    for r in reqs {
        c.send(&r.iter().map(|x| x.as_bytes()).collect::<Vec<_>>());
    }
    settle(c);
}

fn settle(c: &mut Client) {
    c.set_timeout(Duration::from_millis(250));
    while c.try_read().is_ok() {}
    c.set_timeout(Duration::from_secs(30));
}

/// The fields compared, for every client but the observer, sorted; then the counts.
fn snapshot(observer: &mut Client) -> Vec<String> {
    let list = observer.cmd(&["CLIENT", "LIST"]).bulk();
    let mut lines: Vec<String> = String::from_utf8_lossy(&list)
        .lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .map(|l| {
            l.split(' ')
                .filter(|f| {
                    let name = f.split('=').next().unwrap_or("");
                    matches!(name, "flags" | "sub" | "psub" | "ssub" | "multi" | "cmd")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.sort();
    let info = observer.cmd(&["INFO", "clients"]).bulk();
    for l in String::from_utf8_lossy(&info).lines() {
        if l.starts_with("blocked_clients:") || l.starts_with("clients_in_timeout_table:") {
            lines.push(l.to_string());
        }
    }
    lines
}

fn scenario(p: &Proc) -> Vec<Vec<String>> {
    let mut shots = Vec::new();
    let mut m = p.client();
    m.cmd(&["FLUSHALL"]);
    let mut a = p.client();
    send_all(
        &mut a,
        &[
            &["CLIENT", "NO-EVICT", "on"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["GET", "a"],
        ],
    );
    shots.push(snapshot(&mut m));
    send_all(&mut a, &[&["DISCARD"], &["RESET"]]);
    shots.push(snapshot(&mut m));
    send_all(
        &mut a,
        &[
            &["SUBSCRIBE", "x", "y"],
            &["PSUBSCRIBE", "p*"],
            &["SSUBSCRIBE", "s"],
        ],
    );
    shots.push(snapshot(&mut m));
    send_all(&mut a, &[&["UNSUBSCRIBE"], &["PUNSUBSCRIBE"]]);
    shots.push(snapshot(&mut m));
    let mut b = p.client();
    send_all(&mut b, &[&["BLPOP", "q", "0"]]);
    let mut d = p.client();
    send_all(&mut d, &[&["BLPOP", "q2", "100"]]);
    shots.push(snapshot(&mut m));
    m.cmd(&["LPUSH", "q2", "v"]);
    settle(&mut d);
    shots.push(snapshot(&mut m));
    let mut e = p.client();
    e.cmd(&["CLIENT", "PAUSE", "5000", "WRITE"]);
    let mut f = p.client();
    send_all(&mut f, &[&["SET", "z", "1"]]);
    shots.push(snapshot(&mut m));
    e.cmd(&["CLIENT", "UNPAUSE"]);
    settle(&mut f);
    shots.push(snapshot(&mut m));
    send_all(&mut f, &[&["NOSUCH"]]);
    send_all(&mut e, &[&["CLIENT", "NOSUCH"]]);
    shots.push(snapshot(&mut m));
    // A touched WATCH shows as `d`, in MULTI too, until EXEC or UNWATCH.
    send_all(&mut f, &[&["WATCH", "w"]]);
    m.cmd(&["SET", "w", "1"]);
    shots.push(snapshot(&mut m));
    send_all(&mut f, &[&["MULTI"], &["GET", "w"]]);
    shots.push(snapshot(&mut m));
    send_all(&mut f, &[&["EXEC"]]);
    shots.push(snapshot(&mut m));
    send_all(&mut f, &[&["WATCH", "w"]]);
    m.cmd(&["DEL", "w"]);
    send_all(&mut f, &[&["UNWATCH"]]);
    shots.push(snapshot(&mut m));
    drop(b);
    std::thread::sleep(Duration::from_millis(200));
    shots.push(snapshot(&mut m));
    shots
}

#[test]
fn client_list_flags_and_blocked_counts_are_redis_s() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let (want, got) = (scenario(&redis), scenario(&ours));
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(g, w, "snapshot {i}");
    }
    assert_eq!(got.len(), want.len());
}

/// CLIENT LIST TYPE and CLIENT KILL TYPE / USER pick clients as Redis does: a
/// subscribed client is `pubsub`, the rest `normal`; unknown types and users are
/// refused with Redis's texts (MAXAGE is not Redis 7.0's: a syntax error).
fn kill_scenario(p: &Proc) -> Vec<String> {
    let mut log = Vec::new();
    let mut m = p.client();
    let mut sub = p.client();
    sub.cmd(&["SUBSCRIBE", "ch"]);
    let _normal = p.client();
    let fields = |r: support::Reply| -> String {
        match r {
            support::Reply::Bulk(Some(b)) => {
                // Lines sorted: Redis rotates its client list.
                let mut lines: Vec<String> = String::from_utf8_lossy(&b)
                    .lines()
                    .map(|l| {
                        l.split(' ')
                            .filter(|f| f.starts_with("flags=") || f.starts_with("cmd="))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect();
                lines.sort();
                lines.join(" | ")
            }
            other => format!("{other:?}"),
        }
    };
    for req in [
        &["CLIENT", "LIST", "TYPE", "pubsub"][..],
        &["CLIENT", "LIST", "TYPE", "Normal"],
        &["CLIENT", "LIST", "TYPE", "FOO"],
        &["CLIENT", "KILL", "TYPE", "FOO"],
        &["CLIENT", "KILL", "MAXAGE", "10"],
        &["CLIENT", "KILL", "USER", "nobody"],
        &["CLIENT", "KILL", "TYPE", "pubsub", "USER", "nobody"],
        &["CLIENT", "KILL", "TYPE", "master"],
        &["CLIENT", "KILL", "TYPE", "slave"],
        &["CLIENT", "KILL", "TYPE", "pubsub"],
    ] {
        log.push(format!("{req:?} -> {}", fields(m.cmd(req))));
    }
    // The killed subscriber is gone once its loop has closed it.
    std::thread::sleep(Duration::from_millis(200));
    for req in [
        &["CLIENT", "LIST", "TYPE", "pubsub"][..],
        &["CLIENT", "KILL", "USER", "default", "TYPE", "normal"],
    ] {
        log.push(format!("{req:?} -> {}", fields(m.cmd(req))));
    }
    log
}

#[test]
fn client_kill_and_list_pick_clients_by_type_and_user_as_redis_does() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    assert_eq!(kill_scenario(&ours), kill_scenario(&redis));
}

/// `name=value` fields of a CLIENT LIST line.
type Fields = Vec<(String, String)>;

/// The fields of `CLIENT LIST` named `names`, for the client whose line has `cmd`.
fn fields_of(list: &str, cmd: &str, names: &[&str]) -> Fields {
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" cmd={cmd} ")))
        .unwrap_or_else(|| panic!("no cmd={cmd} in {list}"));
    line.split(' ')
        .filter_map(|f| f.split_once('='))
        .filter(|(k, _)| names.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the buffer fields show on one server: the half-sent request's `qbuf` (exact),
/// the caller's own `argv-mem` (exact), whether the client that never reads has replies
/// queued beyond the socket (`omem`, `oll`, `events=rw`), and INFO's largest output.
fn buffer_scenario(p: &Proc) -> (Fields, Fields, bool, bool) {
    let mut m = p.client();
    m.cmd(&["SET", "big", &"x".repeat(200_000)]);
    // Never reads: 200 replies of 200 KB.
    let mut hog = p.client();
    let mut reqs = Vec::new();
    for _ in 0..200 {
        reqs.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    }
    hog.send_raw(&reqs).unwrap();
    // A request cut short after its third argument's first 3 bytes.
    let mut half = p.client();
    half.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let list = String::from_utf8(m.cmd(&["CLIENT", "LIST"]).bulk()).unwrap();
    let own = fields_of(&list, "client|list", &["argv-mem"]);
    let cut = fields_of(&list, "NULL", &["qbuf", "omem", "oll"]);
    let hogged = fields_of(&list, "get", &["omem", "oll", "events"]);
    let queued = hogged.iter().any(|(k, v)| k == "omem" && v != "0")
        && hogged.iter().any(|(k, v)| k == "oll" && v != "0")
        && hogged.iter().any(|(k, v)| k == "events" && v == "rw");
    let info = String::from_utf8(m.cmd(&["INFO", "clients"]).bulk()).unwrap();
    let max_out = info
        .lines()
        .find_map(|l| l.strip_prefix("client_recent_max_output_buffer:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    (own, cut, queued, max_out > 0)
}

/// CLIENT LIST's buffer fields and INFO's largest buffers are figures, not zeros:
/// `qbuf` of a half-sent request and `argv-mem` of the caller's own CLIENT LIST equal
/// Redis's, and a client that never reads shows queued output as on Redis.
#[test]
fn client_list_buffers_show_what_waits_as_redis_does() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let (theirs, mine) = (buffer_scenario(&redis), buffer_scenario(&ours));
    assert_eq!(mine, theirs);
    assert!(theirs.2 && theirs.3, "{theirs:?}");
}
