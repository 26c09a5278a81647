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

/// An HLL value and elements to add (after a control byte choosing
/// `hll-sparse-max-bytes` and two bytes saying where the value ends): nothing panics, a
/// value that counts converts to dense with the same count and registers, and every
/// successful add leaves a countable HLL holding at least what was added.
pub fn check_hll(data: &[u8]) {
    use crate::hll;
    let [ctl, s0, s1, rest @ ..] = data else {
        return;
    };
    let sparse_max = [0u64, 20, 100, 3000, 20000][usize::from(*ctl) % 5];
    let cut = usize::from(u16::from_le_bytes([*s0, *s1])).min(rest.len());
    let mut v = b"HYLL".to_vec();
    v.extend_from_slice(&rest[..cut]);
    if ctl & 0x80 != 0 && v.len() > 4 {
        // Mostly sparse values: a dense one is a fixed 12,304 bytes.
        v[4] = 1;
    }
    if !hll::is_hll(&v) {
        return;
    }
    let _ = hll::decode_sparse(&v);
    let mut regs = vec![0u8; hll::REGISTERS];
    let merged = hll::merge_into(&mut regs, &v);
    match hll::count(&v) {
        Ok(card) => {
            assert!(merged.is_ok());
            assert_eq!(card, hll::count_registers(&regs));
            let mut dense = v.clone();
            assert!(hll::to_dense(&mut dense).is_ok());
            assert_eq!(hll::count(&dense), Ok(card));
            for (i, r) in regs.iter().enumerate() {
                assert_eq!(hll::dense_get(&dense[hll::HDR..], i), *r);
            }
        }
        Err(_) => assert!(merged.is_err() || hll::is_sparse(&v)),
    }
    let start_len = v.len();
    // At most 32 elements: each check below walks all 16,384 registers.
    for (n, element) in rest[cut..].chunks(3).take(32).enumerate() {
        let (index, value) = hll::register_of(element);
        match hll::add(&mut v, element, sparse_max) {
            Ok(_) => {
                assert!(hll::is_hll(&v));
                if hll::count(&v).is_ok() {
                    let mut regs = vec![0u8; hll::REGISTERS];
                    assert!(hll::merge_into(&mut regs, &v).is_ok());
                    assert!(regs[index] >= value);
                }
            }
            Err(_) => assert!(hll::is_sparse(&v)),
        }
        assert!(v.len() <= (start_len + 3 * (n + 1)).max(hll::DENSE_LEN));
    }
}

/// Untrusted command arguments (split at 0xFF bytes; the first names a command):
/// COMMAND GETKEYS's key finder never panics and names only positions inside the
/// arguments (after the command's name); a stream ID argument parses without panicking, and a parsed
/// ID written back in `ms-seq` form parses to itself; C float parsing (`cfloat`) never
/// panics, a double reads back from its shortest text and a long double's `%.17Lf`
/// text parses.
pub fn check_args(data: &[u8]) {
    use crate::cmd::{cmdmeta, getkeys, stream};
    let args: Vec<Vec<u8>> = data.split(|&b| b == 0xFF).map(<[u8]>::to_vec).collect();
    if let Some(entry) = std::str::from_utf8(&args[0])
        .ok()
        .and_then(|name| cmdmeta::meta()?.info(&name.to_ascii_lowercase()))
    {
        if let Ok(keys) = getkeys::keys(entry, &args) {
            for (i, _) in &keys {
                assert!(
                    *i > 0 && *i < args.len(),
                    "key position {i} of {}",
                    args.len()
                );
            }
        }
    }
    for a in &args {
        // C float parsing: a double reads back from its shortest text; a long double's
        // %.17Lf text is itself a long double; sums never panic.
        if let Some(v) = crate::cfloat::string2d(a) {
            if v.is_finite() {
                let text = format!("{v:e}");
                assert_eq!(crate::cfloat::string2d(text.as_bytes()), Some(v), "{text}");
            }
        }
        if let Some(v) = crate::cfloat::string2ld(a) {
            let sum = v.plus(v);
            if v.is_finite() {
                let text = v.to_human();
                assert!(
                    crate::cfloat::string2ld(text.as_bytes()).is_some(),
                    "{text}"
                );
            }
            let _ = sum.to_human();
        }
        let _ = crate::cfloat::range_bound(a);
        for missing in [0, u64::MAX] {
            for strict in [false, true] {
                if let Some((ms, seq)) = stream::parse_id(a, missing, strict) {
                    let text = format!("{ms}-{seq}");
                    assert_eq!(stream::parse_id(text.as_bytes(), 0, true), Some((ms, seq)));
                }
            }
        }
    }
}
