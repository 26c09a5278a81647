//! The `keys` format's line escaping (docs/dump-format.md): every key, whatever its
//! bytes, becomes one line that reads back to the same bytes.
//!
//! Valid UTF-8 is written as is, except: `\` → `\\`, newline → `\n`, carriage return →
//! `\r`, tab → `\t`, other control characters (U+0000–U+001F, U+007F) → `\xHH`. Bytes
//! that are not part of valid UTF-8 → `\xHH` (lowercase hex).

/// Escape `key` into `out` (no newline).
pub fn escape_into(key: &[u8], out: &mut Vec<u8>) {
    for chunk in key.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.extend_from_slice(format!("\\x{:02x}", c as u32).as_bytes());
                }
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        for b in chunk.invalid() {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
}

/// Escape `key`.
pub fn escape(key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(key.len() + 2);
    escape_into(key, &mut v);
    v
}

/// Undo [`escape`] for one line (without its newline); None if it is not a valid
/// escaped line.
pub fn unescape(line: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match line.get(i + 1)? {
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let h = line.get(i + 2..i + 4)?;
                let s = std::str::from_utf8(h).ok()?;
                out.push(u8::from_str_radix(s, 16).ok()?);
                i += 2;
            }
            _ => return None,
        }
        i += 2;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let keys: Vec<&[u8]> = vec![
            b"plain",
            b"with\nnewline",
            b"cr\r\x00nul",
            b"back\\slash\\x41",
            b"\xff\xfe invalid",
            "héllo wörld ✓".as_bytes(),
            b"",
            b"\t\x7f",
        ];
        for k in keys {
            let e = escape(k);
            assert!(!e.contains(&b'\n') && !e.contains(&b'\r'), "{e:?}");
            assert_eq!(
                unescape(&e).as_deref(),
                Some(k),
                "{:?}",
                String::from_utf8_lossy(&e)
            );
        }
        assert_eq!(escape(b"a\\b\n"), b"a\\\\b\\n");
        assert_eq!(escape(b"\xff"), b"\\xff");
        assert_eq!(unescape(b"bad\\q"), None);
        assert_eq!(unescape(b"bad\\x4"), None);
    }
}
