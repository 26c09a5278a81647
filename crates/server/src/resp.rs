//! RESP: the request parser (multibulk and inline, incremental, with Redis's limits and
//! error texts) and the reply writer (RESP2 and RESP3).

/// Longest inline request or `*`/`$` header line, as Redis's `PROTO_INLINE_MAX_SIZE`.
pub const INLINE_MAX: usize = 64 * 1024;
/// Before authentication, as Redis: at most 10 arguments and 16 KiB per argument.
const UNAUTH_MAX_ARGS: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16 * 1024;
/// A declared argument count is trusted for preallocation only up to this.
const PREALLOC_ARGS: usize = 1024;
/// What a parser keeps of executed requests for the next ones ([`Parser::recycle`]): at
/// most this many argument buffers, each of at most `SPARE_ARG_BYTES` capacity, and an
/// argument list of at most `SPARE_ARGS` capacity. At most 8 KiB per connection, so
/// thousands of idle clients hold little; a large value's buffer is freed as before.
const SPARE_ARGS: usize = 32;
const SPARE_ARG_BYTES: usize = 256;

/// A protocol violation: the reply text (without `-ERR `); the connection is closed
/// after the error is sent, as Redis does.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

/// Incremental request parser. Bytes are consumed from the front of the caller's buffer;
/// a request split over many reads is never re-parsed from its start.
#[derive(Default)]
pub struct Parser {
    /// Arguments still expected by the current multibulk request (0 = between requests).
    remaining: usize,
    args: Vec<Vec<u8>>,
    /// Length of the bulk string whose header was read and whose body is awaited.
    bulk: Option<usize>,
    /// Buffers of executed requests' arguments, and an emptied argument list, that the
    /// next requests fill instead of allocating their own (one allocation per argument
    /// was about 5% of a pipelined HSET's event loop).
    spare: Vec<Vec<u8>>,
    spare_list: Vec<Vec<u8>>,
}

/// Limits a parse applies.
#[derive(Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk: i64,
    /// The client has authenticated (or no password is set).
    pub authenticated: bool,
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    // memchr for '\r' then check '\n'; Redis accepts only "\r\n" in headers.
    let mut from = 0;
    while let Some(i) = buf[from..].iter().position(|&b| b == b'\r') {
        let i = from + i;
        if buf.get(i + 1) == Some(&b'\n') {
            return Some(i);
        }
        if i + 1 >= buf.len() {
            return None;
        }
        from = i + 1;
    }
    None
}

/// Where a `*`/`$` header line ends (its `\r\n`), None while it is incomplete; a header
/// longer than `INLINE_MAX` is the protocol error `too_big`.
fn header_end(rest: &[u8], too_big: &str) -> Result<Option<usize>, ProtocolError> {
    match find_crlf(rest) {
        Some(eol) if eol <= INLINE_MAX => Ok(Some(eol)),
        None if rest.len() <= INLINE_MAX => Ok(None),
        _ => Err(ProtocolError(too_big.into())),
    }
}

/// Parse a decimal integer as Redis's `string2ll` (no '+', no leading zeros except "0").
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    if neg && digits == b"0" {
        return None;
    }
    let mut v: i128 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i128::from(d - b'0');
        if v > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

impl Parser {
    /// Is a request partly read?
    pub fn in_progress(&self) -> bool {
        self.remaining > 0 || self.bulk.is_some()
    }

    /// Parse the next request from `buf[*pos..]`, advancing `*pos` past what was
    /// consumed. `Ok(None)`: more bytes are needed. An empty argument list (blank inline
    /// line, `*0`) yields `Ok(Some(vec![]))`, which callers skip.
    pub fn next(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        lim: Limits,
    ) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        if self.remaining == 0 {
            let rest = &buf[*pos..];
            if rest.is_empty() {
                return Ok(None);
            }
            if rest[0] != b'*' {
                return self.inline(buf, pos);
            }
            let Some(eol) = header_end(rest, "too big mbulk count string")? else {
                return Ok(None);
            };
            let n = parse_i64(&rest[1..eol]);
            let n = match n {
                Some(n) if n <= i64::from(i32::MAX) => n,
                _ => return Err(ProtocolError("invalid multibulk length".into())),
            };
            if n > UNAUTH_MAX_ARGS && !lim.authenticated {
                return Err(ProtocolError("unauthenticated multibulk length".into()));
            }
            *pos += eol + 2;
            if n <= 0 {
                return Ok(Some(Vec::new()));
            }
            self.remaining = n as usize;
            self.args = std::mem::take(&mut self.spare_list);
            // The list is empty: room for the declared count (up to a bound).
            self.args.reserve(self.remaining.min(PREALLOC_ARGS));
        }
        while self.remaining > 0 {
            let rest = &buf[*pos..];
            let len = match self.bulk {
                Some(len) => len,
                None => {
                    if rest.is_empty() {
                        return Ok(None);
                    }
                    let Some(eol) = header_end(rest, "too big bulk count string")? else {
                        return Ok(None);
                    };
                    if rest[0] != b'$' {
                        return Err(ProtocolError(format!(
                            "expected '$', got '{}'",
                            char::from(rest[0])
                        )));
                    }
                    let len = match parse_i64(&rest[1..eol]) {
                        Some(l) if l >= 0 && l <= lim.max_bulk => l,
                        _ => return Err(ProtocolError("invalid bulk length".into())),
                    };
                    if len > UNAUTH_MAX_BULK && !lim.authenticated {
                        return Err(ProtocolError("unauthenticated bulk length".into()));
                    }
                    *pos += eol + 2;
                    self.bulk = Some(len as usize);
                    len as usize
                }
            };
            let rest = &buf[*pos..];
            if rest.len() < len + 2 {
                return Ok(None);
            }
            // Redis does not check the two bytes after a bulk body; neither do we.
            let arg = match self.spare.pop() {
                Some(mut b) => {
                    b.clear();
                    b.extend_from_slice(&rest[..len]);
                    b
                }
                None => rest[..len].to_vec(),
            };
            self.args.push(arg);
            *pos += len + 2;
            self.bulk = None;
            self.remaining -= 1;
        }
        Ok(Some(std::mem::take(&mut self.args)))
    }

    /// Take back the arguments of an executed request: small buffers (and the list)
    /// are kept for the next requests' arguments.
    pub fn recycle(&mut self, mut args: Vec<Vec<u8>>) {
        for a in args.drain(..) {
            if self.spare.len() == SPARE_ARGS {
                break;
            }
            if a.capacity() <= SPARE_ARG_BYTES {
                self.spare.push(a);
            }
        }
        if args.capacity() <= SPARE_ARGS && args.capacity() > self.spare_list.capacity() {
            self.spare_list = args;
        }
    }

    fn inline(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
    ) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        let rest = &buf[*pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > INLINE_MAX {
                return Err(ProtocolError("too big inline request".into()));
            }
            return Ok(None);
        };
        if nl > INLINE_MAX {
            return Err(ProtocolError("too big inline request".into()));
        }
        let mut line = &rest[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let args =
            split_args(line).ok_or_else(|| ProtocolError("unbalanced quotes in request".into()))?;
        *pos += nl + 1;
        Ok(Some(args))
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Split an inline line into arguments as Redis's `sdssplitargs`: spaces separate,
/// "double quotes" take `\n \r \t \b \a \\ \" \xHH` escapes, 'single quotes' take `\'`,
/// and a closing quote must be followed by a space or the end. `None` = unbalanced.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex(line[i + 2]).is_some()
                    && hex(line[i + 3]).is_some()
                {
                    cur.push(hex(line[i + 2])? * 16 + hex(line[i + 3])?);
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

/// Writes replies into a connection's output buffer in the client's protocol.
pub struct Out<'a> {
    pub buf: &'a mut Vec<u8>,
    /// 2 or 3.
    pub proto: u8,
}

/// `<prefix><n>\r\n`, formatted without allocating, in one append.
fn push_num(buf: &mut Vec<u8>, prefix: u8, n: i64) {
    // Lengths and counts below 1000 (most bulk and array headers) as fixed-size
    // appends: no digit loop and no variable-length copy.
    let d = |v: i64| b'0' + (v % 10) as u8;
    match n {
        0..=9 => return buf.extend_from_slice(&[prefix, d(n), b'\r', b'\n']),
        10..=99 => return buf.extend_from_slice(&[prefix, d(n / 10), d(n), b'\r', b'\n']),
        100..=999 => {
            return buf.extend_from_slice(&[prefix, d(n / 100), d(n / 10), d(n), b'\r', b'\n'])
        }
        _ => {}
    }
    // Right to left: "\r\n", the digits, the sign, the prefix (at most 1 + 1 + 19 + 2).
    let mut tmp = [0u8; 24];
    let mut i = tmp.len() - 2;
    tmp[i..].copy_from_slice(b"\r\n");
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        tmp[i] = b'-';
    }
    i -= 1;
    tmp[i] = prefix;
    buf.extend_from_slice(&tmp[i..]);
}

impl Out<'_> {
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
    /// An error reply; `msg` starts with its code (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        // Newlines would break the protocol: Redis replaces them with spaces.
        self.buf.extend(
            msg.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }
    pub fn int(&mut self, n: i64) {
        push_num(self.buf, b':', n);
    }
    pub fn bulk(&mut self, b: &[u8]) {
        push_num(self.buf, b'$', b.len() as i64);
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }
    pub fn bulk_opt(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.bulk(b),
            None => self.null(),
        }
    }
    /// A null bulk string (RESP3: null).
    pub fn null(&mut self) {
        if self.proto >= 3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }
    /// A null array (RESP3: null).
    pub fn null_array(&mut self) {
        if self.proto >= 3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }
    pub fn array(&mut self, n: usize) {
        push_num(self.buf, b'*', n as i64);
    }
    /// A map of `n` pairs (RESP2: a flat array of 2n).
    pub fn map(&mut self, n: usize) {
        if self.proto >= 3 {
            push_num(self.buf, b'%', n as i64);
        } else {
            push_num(self.buf, b'*', 2 * n as i64);
        }
    }
    /// A set of `n` elements (RESP2: an array).
    pub fn set(&mut self, n: usize) {
        push_num(
            self.buf,
            if self.proto >= 3 { b'~' } else { b'*' },
            n as i64,
        );
    }
    /// A double: RESP3 `,`; RESP2 a bulk string of its Redis text.
    pub fn double(&mut self, text: &str) {
        if self.proto >= 3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }
    /// A text blob (INFO, CLIENT LIST): RESP3 verbatim `txt`, RESP2 a bulk string.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.proto >= 3 {
            push_num(self.buf, b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }
    /// A collection reply whose length is known before its elements are read: `header`
    /// for `want` elements, then the elements `scan` encodes straight into the reply
    /// (it returns how many it wrote). Should it find another number (records missing
    /// from a damaged store), the header is rewritten to say what was found; on error
    /// nothing of the reply is left.
    pub fn counted<E>(
        &mut self,
        want: usize,
        header: impl Fn(&mut Self, usize),
        scan: impl FnOnce(&mut Vec<u8>) -> Result<usize, E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        header(self, want);
        let body_at = self.buf.len();
        match scan(self.buf) {
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
            Ok(n) if n != want => {
                let body = self.buf.split_off(body_at);
                self.buf.truncate(start);
                header(self, n);
                self.buf.extend_from_slice(&body);
                Ok(())
            }
            Ok(_) => Ok(()),
        }
    }
    /// Encode a bulk string into `buf` (for replies built before their length is known).
    pub fn encode_bulk(buf: &mut Vec<u8>, b: &[u8]) {
        push_num(buf, b'$', b.len() as i64);
        buf.extend_from_slice(b);
        buf.extend_from_slice(b"\r\n");
    }
    pub fn bulks<'b>(&mut self, items: impl ExactSizeIterator<Item = &'b [u8]>) {
        self.array(items.len());
        for i in items {
            self.bulk(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        max_bulk: 512 << 20,
        authenticated: true,
    };

    fn all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = Parser::default();
        let mut pos = 0;
        let mut out = Vec::new();
        while let Some(a) = p.next(input, &mut pos, LIM)? {
            out.push(a);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let r = all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\\x41\"\r\n\r\n").unwrap();
        assert_eq!(r[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(r[1], vec![b"PING".to_vec()]);
        assert_eq!(r[2], vec![b"set".to_vec(), b"a".to_vec(), b"b cA".to_vec()]);
        assert!(r[3].is_empty());
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$0\r\n\r\n";
        let mut p = Parser::default();
        let mut buf = Vec::new();
        let mut pos = 0;
        let mut got = None;
        for &b in input.iter() {
            buf.push(b);
            if let Some(a) = p.next(&buf, &mut pos, LIM).unwrap() {
                got = Some(a);
            }
        }
        assert_eq!(
            got.unwrap(),
            vec![b"SET".to_vec(), b"hello".to_vec(), Vec::new()]
        );
        assert_eq!(pos, input.len());
    }

    #[test]
    fn recycled_buffers_carry_nothing_into_the_next_request() {
        let mut p = Parser::default();
        let mut pos = 0;
        let mut input = b"*3\r\n$4\r\nHSET\r\n$9\r\nlong-key!\r\n$300\r\n".to_vec();
        input.extend_from_slice(&[b'v'; 300]);
        input.extend_from_slice(b"\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n*1\r\n$2\r\nxy\r\n");
        let first = p.next(&input, &mut pos, LIM).unwrap().unwrap();
        assert_eq!(first[2].len(), 300);
        p.recycle(first);
        // The 300-byte value's buffer is not kept; the two small ones are, and come
        // back emptied of their old bytes.
        assert_eq!(p.spare.len(), 2);
        let second = p.next(&input, &mut pos, LIM).unwrap().unwrap();
        assert_eq!(second, vec![b"GET".to_vec(), Vec::new()]);
        p.recycle(second);
        let third = p.next(&input, &mut pos, LIM).unwrap().unwrap();
        assert_eq!(third, vec![b"xy".to_vec()]);
        // At most SPARE_ARGS buffers are kept, however many arguments came back.
        p.recycle((0..100).map(|_| Vec::with_capacity(8)).collect());
        assert_eq!(p.spare.len(), SPARE_ARGS);
    }

    #[test]
    fn errors_have_redis_texts() {
        let e = |i: &[u8]| all(i).unwrap_err().0;
        assert_eq!(e(b"*1\r\n+x\r\n"), "expected '$', got '+'");
        assert_eq!(e(b"*a\r\n"), "invalid multibulk length");
        assert_eq!(e(b"*1\r\n$-2\r\n"), "invalid bulk length");
        assert_eq!(e(b"*1\r\n$536870913\r\n"), "invalid bulk length");
        assert_eq!(e(b"set \"a\r\n"), "unbalanced quotes in request");
        assert_eq!(e(&[b'x'; 70_000]), "too big inline request");
        // A huge declared length allocates nothing up front.
        let mut p = Parser::default();
        let mut pos = 0;
        assert_eq!(p.next(b"*2147483647\r\n", &mut pos, LIM).unwrap(), None);
        assert!(p.args.capacity() <= PREALLOC_ARGS);
    }

    #[test]
    fn numbers_format_without_allocation() {
        // Every number around the short forms' edges, and the extremes.
        let edges = (-12i64..=1012).chain([9999, 10_000, 1234567890, i64::MAX, i64::MIN]);
        for n in edges {
            let mut b = Vec::new();
            push_num(&mut b, b':', n);
            assert_eq!(b, format!(":{n}\r\n").into_bytes());
        }
    }

    /// A counted reply whose scan finds fewer elements than announced says how many it
    /// found; one whose scan fails leaves nothing of itself behind.
    #[test]
    fn counted_replies_match_what_the_scan_found() {
        let mut buf = b"+OK\r\n".to_vec();
        let mut out = Out {
            buf: &mut buf,
            proto: 3,
        };
        let two = |b: &mut Vec<u8>| {
            Out::encode_bulk(b, b"a");
            Out::encode_bulk(b, b"bc");
            Ok::<_, ()>(2)
        };
        out.counted(2, Out::array, two).unwrap();
        out.counted(3, Out::array, two).unwrap();
        out.counted(2, Out::map, |b: &mut Vec<u8>| {
            Out::encode_bulk(b, b"f");
            Out::encode_bulk(b, b"v");
            Ok::<_, ()>(1)
        })
        .unwrap();
        let failed = out.counted(2, Out::array, |b: &mut Vec<u8>| {
            Out::encode_bulk(b, b"partial");
            Err::<usize, _>("scan failed")
        });
        assert_eq!(failed, Err("scan failed"));
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "+OK\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
    }

    #[test]
    fn parse_i64_is_strict() {
        assert_eq!(parse_i64(b"123"), Some(123));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b""), None);
    }
}
