//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest common
//! subsequence of two strings by Redis 7.0's dynamic programme, with its backtracking
//! order (which decides the reported ranges), its options and texts, and its bound on
//! the table (`proto-max-bulk-len` bytes of 32-bit cells).

use std::sync::atomic::Ordering;

use super::{err, int_arg, is, Ctx, Flow, R};
use crate::store::Kind;

pub fn lcs(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let mut values = Vec::with_capacity(2);
    for key in &a[1..3] {
        match c.lookup(key)? {
            None => values.push(Vec::new()),
            Some(m) if m.kind == Kind::String => values.push(m.body),
            Some(_) => return Err("ERR The specified keys must contain string values".into()),
        }
    }
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0u64);
    let mut j = 3;
    while j < a.len() {
        let o = &a[j];
        if is(o, "idx") {
            getidx = true;
        } else if is(o, "len") {
            getlen = true;
        } else if is(o, "withmatchlen") {
            withmatchlen = true;
        } else if is(o, "minmatchlen") && j + 1 < a.len() {
            minmatchlen = int_arg(&a[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    if getidx && getlen {
        return Err("ERR If you want both the length and indexes, please just use IDX.".into());
    }
    let (sa, sb) = (&values[0], &values[1]);
    if sa.len() as u64 >= u64::from(u32::MAX) - 1 || sb.len() as u64 >= u64::from(u32::MAX) - 1 {
        return Err("ERR String too long for LCS".into());
    }
    let (alen, blen) = (sa.len(), sb.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > c.sh.hot.max_bulk.load(Ordering::Relaxed) {
        return Err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len".into(),
        );
    }
    let width = blen + 1;
    let mut dp = vec![0u32; cells as usize];
    for i in 1..=alen {
        for k in 1..=blen {
            dp[i * width + k] = if sa[i - 1] == sb[k - 1] {
                dp[(i - 1) * width + k - 1] + 1
            } else {
                dp[(i - 1) * width + k].max(dp[i * width + k - 1])
            };
        }
    }
    let total = dp[alen * width + blen];
    let compute = getidx || !getlen;
    let mut result = vec![0u8; total as usize];
    let mut ranges: Vec<[u64; 5]> = Vec::new();
    let mut idx = total as usize;
    let (mut i, mut k) = (alen, blen);
    // A range is [a_start, a_end, b_start, b_end]; `alen` as a_start means none open.
    let (mut as_, mut ae, mut bs, mut be) = (alen, 0usize, 0usize, 0usize);
    while compute && i > 0 && k > 0 {
        let mut emit = false;
        if sa[i - 1] == sb[k - 1] {
            result[idx - 1] = sa[i - 1];
            if as_ == alen {
                (as_, ae, bs, be) = (i - 1, i - 1, k - 1, k - 1);
            } else if as_ == i && bs == k {
                as_ -= 1;
                bs -= 1;
            } else {
                emit = true;
            }
            if as_ == 0 || bs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            k -= 1;
        } else {
            if dp[(i - 1) * width + k] > dp[i * width + k - 1] {
                i -= 1;
            } else {
                k -= 1;
            }
            if as_ != alen {
                emit = true;
            }
        }
        if emit {
            let len = (ae as u64).wrapping_sub(as_ as u64).wrapping_add(1);
            if minmatchlen == 0 || len >= minmatchlen {
                ranges.push([as_ as u64, ae as u64, bs as u64, be as u64, len]);
            }
            as_ = alen;
        }
    }
    if getidx {
        c.out.map(2);
        c.out.bulk(b"matches");
        c.out.array(ranges.len());
        for r in &ranges {
            c.out.array(2 + usize::from(withmatchlen));
            c.out.array(2);
            c.out.int(r[0] as i64);
            c.out.int(r[1] as i64);
            c.out.array(2);
            c.out.int(r[2] as i64);
            c.out.int(r[3] as i64);
            if withmatchlen {
                c.out.int(r[4] as i64);
            }
        }
        c.out.bulk(b"len");
        c.out.int(i64::from(total));
    } else if getlen {
        c.out.int(i64::from(total));
    } else {
        c.out.bulk(&result);
    }
    Ok(Flow::Continue { wrote: false })
}
