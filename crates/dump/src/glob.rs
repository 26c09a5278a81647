//! Redis glob patterns (`KEYS`, `SCAN MATCH`, dump selectors), matched in O(pattern ×
//! key) time at worst.
//!
//! Semantics follow Redis's `stringmatchlen`: `*` matches any run of bytes, `?` one byte,
//! `[abc]` / `[^abc]` / `[a-z]` a byte in (or not in) a set (a reversed range `[z-a]` is
//! the same range), and `\x` the byte `x`, inside or outside a class. A `\` at the very end
//! of the pattern matches a `\`; a class left open at the end of the pattern takes the rest
//! of the pattern as its members. Matching is on bytes and case-sensitive.
//!
//! Redis backtracks recursively at each `*` and is exponential on patterns such as
//! `a*a*a*a*b`; here the pattern is compiled once into tokens, and the match keeps only
//! the position after the most recent `*` to retry from. Every token except `*` consumes
//! exactly one byte, so retrying from the latest `*` alone is complete.

/// One compiled element of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Byte(u8),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Token {
    fn matches(&self, b: u8) -> bool {
        match self {
            Token::Byte(x) => *x == b,
            Token::Any => true,
            Token::Star => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != *negated
            }
        }
    }
}

/// A compiled glob pattern.
#[derive(Clone, Debug)]
pub struct Glob {
    tokens: Vec<Token>,
    /// The pattern is `*` alone (or only stars): everything matches.
    match_all: bool,
    /// The pattern's literal prefix (bytes before the first special character).
    prefix: Vec<u8>,
}

impl Glob {
    /// Compile `pattern`. Every byte string is a valid pattern.
    pub fn new(pattern: &[u8]) -> Glob {
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let c = pattern[i];
            i += 1;
            match c {
                b'*' => {
                    // Consecutive stars are one star.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::Any),
                b'\\' if i < pattern.len() => {
                    tokens.push(Token::Byte(pattern[i]));
                    i += 1;
                }
                b'[' => {
                    let negated = pattern.get(i) == Some(&b'^');
                    if negated {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    while i < pattern.len() && pattern[i] != b']' {
                        if pattern[i] == b'\\' && i + 1 < pattern.len() {
                            ranges.push((pattern[i + 1], pattern[i + 1]));
                            i += 2;
                        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
                            let (a, b) = (pattern[i], pattern[i + 2]);
                            ranges.push((a.min(b), a.max(b)));
                            i += 3;
                        } else {
                            ranges.push((pattern[i], pattern[i]));
                            i += 1;
                        }
                    }
                    i += 1; // the closing ']' (or past the end)
                    tokens.push(Token::Class { negated, ranges });
                }
                other => tokens.push(Token::Byte(other)),
            }
        }
        let match_all = tokens.iter().all(|t| *t == Token::Star) && !tokens.is_empty();
        let prefix = tokens
            .iter()
            .map_while(|t| match t {
                Token::Byte(b) => Some(*b),
                _ => None,
            })
            .collect();
        Glob {
            tokens,
            match_all,
            prefix,
        }
    }

    /// Does the pattern match every key (`*`)?
    pub fn matches_all(&self) -> bool {
        self.match_all
    }

    /// The literal bytes every matching key starts with.
    pub fn literal_prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Is the pattern a plain key (no wildcard at all)?
    pub fn is_literal(&self) -> bool {
        self.prefix.len() == self.tokens.len()
    }

    /// Does `key` match?
    pub fn matches(&self, key: &[u8]) -> bool {
        if self.match_all {
            return true;
        }
        let t = &self.tokens;
        let (mut ti, mut ki) = (0usize, 0usize);
        // After the latest star: the token index following it and the key index it has
        // been tried at.
        let mut retry: Option<(usize, usize)> = None;
        while ki < key.len() {
            if ti < t.len() {
                if t[ti] == Token::Star {
                    retry = Some((ti + 1, ki));
                    ti += 1;
                    continue;
                }
                if t[ti].matches(key[ki]) {
                    ti += 1;
                    ki += 1;
                    continue;
                }
            }
            match retry {
                Some((after_star, at)) => {
                    // Let the star swallow one more byte and try again.
                    retry = Some((after_star, at + 1));
                    ti = after_star;
                    ki = at + 1;
                }
                None => return false,
            }
        }
        t[ti..].iter().all(|x| *x == Token::Star)
    }
}

/// Match `key` against `pattern` (compiles the pattern; use [`Glob`] to match many keys).
pub fn glob_match(pattern: &[u8], key: &[u8]) -> bool {
    Glob::new(pattern).matches(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, k: &str) -> bool {
        glob_match(p.as_bytes(), k.as_bytes())
    }

    #[test]
    fn redis_semantics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("[\\]]", "]"));
        assert!(m("a\\", "a\\"));
        assert!(m("[abc", "b"));
        assert!(m("user:*:name", "user:1000:name"));
        assert!(!m("user:*:name", "user:1000:names"));
        assert!(m("*a", "bba"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("**a", "a"));
        assert!(m("?*", "x"));
        assert!(!m("?*", ""));
    }

    #[test]
    fn pathological_pattern_is_linear_enough() {
        let key = vec![b'a'; 100_000];
        let t = std::time::Instant::now();
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*a*a*a*b", &key));
        // O(pattern × key) = about 2.3M steps; Redis's recursion would never finish.
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn binary_keys() {
        assert!(glob_match(b"a\x00*", b"a\x00\xff\n"));
        assert!(glob_match(b"[\x00-\x10]", b"\x05"));
    }

    #[test]
    fn prefix_and_literal() {
        let g = Glob::new(b"user:1*");
        assert_eq!(g.literal_prefix(), b"user:1");
        assert!(!g.is_literal());
        assert!(Glob::new(b"plain").is_literal());
        assert!(Glob::new(b"**").matches_all());
        assert!(!Glob::new(b"").matches_all());
    }
}
