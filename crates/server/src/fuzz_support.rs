//! The check of the RESP parser's fuzz target (`crates/server/fuzz`), shared with the
//! CI replay of its saved corpus. Not a stable API.

use crate::resp::{Limits, Parser};

type Parsed = (Vec<Vec<Vec<u8>>>, Option<String>);

/// Parse `buf` to its end or first protocol error, feeding it `chunk` bytes at a time.
fn parse(buf: &[u8], chunk: usize, lim: Limits) -> Parsed {
    let mut p = Parser::default();
    let (mut pos, mut avail) = (0, 0);
    let mut out = Vec::new();
    while avail < buf.len() {
        avail = (avail + chunk).min(buf.len());
        loop {
            match p.next(&buf[..avail], &mut pos, lim) {
                Ok(Some(args)) => {
                    assert!(pos <= avail, "consumed past the data");
                    out.push(args);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e.0)),
            }
        }
    }
    (out, None)
}

/// Client bytes (after two control bytes choosing the limits and a read size): the
/// parser never panics, consumes only what it was given, yields arguments no larger
/// than the input, and gives the same requests and error whether the bytes arrive at
/// once or in pieces (as reads split them).
pub fn check_resp(data: &[u8]) {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let lim = Limits {
        max_bulk: if a & 2 != 0 { 512 << 20 } else { 16 },
        authenticated: a & 1 != 0,
    };
    let whole = parse(rest, rest.len().max(1), lim);
    let total: usize = whole.0.iter().flatten().map(Vec::len).sum();
    assert!(total <= rest.len());
    let pieces = parse(rest, 1 + usize::from(*b) % 17, lim);
    assert_eq!(whole, pieces);
}
