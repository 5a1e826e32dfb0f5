//! Checking JSON text against the grammar of RFC 8259 without building anything from it.
//!
//! The decoder needs, for each top-level member of a frame, where its value starts and ends,
//! and the promise that the value is JSON; it parses only the small members itself and hands
//! `result` and `params` on as text. serde_json's raw-value path gave both, at about ten
//! instructions a byte (callgrind): on a 1 MB layout that was most of what the client added to
//! the caller's own parse. serde_json has no cheaper way to skip a value, and simd-json would
//! need a mutable copy of every frame, so this module does the walk: strings (the bulk of a
//! layout) eight bytes at a time, no recursion (one bit a bracket, on the heap past 64
//! levels), and the grammar serde_json accepts: the tests and the rpc fuzz target check one
//! against the other.

use std::fmt;

/// Where the text stops being JSON, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Syntax {
    /// Byte offset into the text.
    pub(crate) at: usize,
    /// What the grammar allows at `at`.
    pub(crate) expected: &'static str,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

impl Syntax {
    pub(crate) fn new(at: usize, expected: &'static str) -> Self {
        Syntax { at, expected }
    }

    /// Text after a complete value.
    pub(crate) fn trailing(at: usize) -> Self {
        Syntax::new(at, "the end of the text")
    }
}

fn expected(at: usize, expected: &'static str) -> Syntax {
    Syntax::new(at, expected)
}

/// Bytes that end a run of plain string content: the closing quote, an escape, and the
/// control characters a JSON string may not hold raw.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The index of the first byte at or after `at` that is not JSON whitespace.
// Inlined: called for every token of megabyte results, where a call costs as much as the work.
#[inline(always)]
pub(crate) fn skip_whitespace(text: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = text.get(at) {
        at += 1;
    }
    at
}

/// The end (one past the closing quote) of the string whose opening quote is at `at`.
// Inlined: called for every token of megabyte results, where a call costs as much as the work.
#[inline(always)]
pub(crate) fn string_end(text: &[u8], at: usize) -> Result<usize, Syntax> {
    let mut at = at + 1;
    loop {
        at = plain_run_end(text, at);
        match text.get(at) {
            Some(b'"') => return Ok(at + 1),
            Some(b'\\') => at = escape_end(text, at)?,
            Some(_) => return Err(expected(at, "no control character inside a string")),
            None => return Err(expected(at, "the end of a string")),
        }
    }
}

/// The index of the first byte at or after `at` that ends plain string content
/// ([`STRING_STOP`]). Eight bytes at a time (the bit tricks of "Bit Twiddling Hacks",
/// `haszero` and `hasless`), byte by byte in the last seven.
// Inlined: called for every token of megabyte results, where a call costs as much as the work.
#[inline(always)]
fn plain_run_end(text: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    while let Some(chunk) = text.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let stops = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let flagged = stops & HIGH;
        if flagged != 0 {
            // A borrow can flag bytes only above a true stop, so the lowest flag is the first.
            return at + (flagged.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while text
        .get(at)
        .is_some_and(|&byte| !STRING_STOP[usize::from(byte)])
    {
        at += 1;
    }
    at
}

/// The end of the escape whose backslash is at `at`. A `\u` escape needs four hex digits;
/// whether they name a valid code point is the concern of whoever reads the string, as it is
/// for serde_json when it skips one.
fn escape_end(text: &[u8], at: usize) -> Result<usize, Syntax> {
    match text.get(at + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 2),
        Some(b'u') => {
            for offset in 2..6 {
                if !text.get(at + offset).is_some_and(u8::is_ascii_hexdigit) {
                    return Err(expected(at + offset, "a hex digit of a \\u escape"));
                }
            }
            Ok(at + 6)
        }
        _ => Err(expected(at + 1, "an escape character")),
    }
}

// Inlined: called for every token of megabyte results, where a call costs as much as the work.
#[inline(always)]
fn digits_end(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

/// The end of the number starting at `at`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
// Inlined: called for every token of megabyte results, where a call costs as much as the work.
#[inline(always)]
fn number_end(text: &[u8], at: usize) -> Result<usize, Syntax> {
    let mut at = at;
    if text.get(at) == Some(&b'-') {
        at += 1;
    }
    match text.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at = digits_end(text, at + 1),
        _ => return Err(expected(at, "a digit")),
    }
    if text.get(at) == Some(&b'.') {
        let fraction = digits_end(text, at + 1);
        if fraction == at + 1 {
            return Err(expected(at + 1, "a digit after the decimal point"));
        }
        at = fraction;
    }
    if let Some(b'e' | b'E') = text.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = text.get(at) {
            at += 1;
        }
        let exponent = digits_end(text, at);
        if exponent == at {
            return Err(expected(at, "a digit of the exponent"));
        }
        at = exponent;
    }
    Ok(at)
}

// Inlined: called for every token of megabyte results, where a call costs as much as the work.
#[inline(always)]
fn literal_end(text: &[u8], at: usize, word: &'static str) -> Result<usize, Syntax> {
    match text.get(at..at + word.len()) {
        Some(found) if found == word.as_bytes() => Ok(at + word.len()),
        _ => Err(expected(at, word)),
    }
}

/// The open brackets of the value being walked, one bit each (set for an object), so nesting
/// costs no stack and a byte on the heap for every eight levels past 64.
#[derive(Default)]
struct Brackets {
    top: u64,
    spilled: Vec<u64>,
    depth: usize,
}

impl Brackets {
    fn push(&mut self, object: bool) {
        if self.depth > 0 && self.depth.is_multiple_of(64) {
            self.spilled.push(self.top);
            self.top = 0;
        }
        let bit = 1u64 << (self.depth % 64);
        if object {
            self.top |= bit;
        } else {
            self.top &= !bit;
        }
        self.depth += 1;
    }

    /// True for an object, false for an array, `None` at the top level.
    fn innermost(&self) -> Option<bool> {
        let depth = self.depth.checked_sub(1)?;
        Some(self.top & (1u64 << (depth % 64)) != 0)
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 && self.depth.is_multiple_of(64) {
            self.top = self.spilled.pop().unwrap_or(0);
        }
    }
}

/// Reads `"name" :` from `at` (a member name, whitespace allowed around the colon) and returns
/// the index of the member's value, whitespace skipped.
// Inlined: called for every token of megabyte results, where a call costs as much as the work.
#[inline(always)]
fn member_value(text: &[u8], at: usize) -> Result<usize, Syntax> {
    if text.get(at) != Some(&b'"') {
        return Err(expected(at, "a member name"));
    }
    let at = skip_whitespace(text, string_end(text, at)?);
    if text.get(at) != Some(&b':') {
        return Err(expected(at, "':'"));
    }
    Ok(skip_whitespace(text, at + 1))
}

/// The end of the JSON value that starts at `at` (no whitespace before it).
pub(crate) fn value_end(text: &[u8], at: usize) -> Result<usize, Syntax> {
    let mut brackets = Brackets::default();
    let mut at = at;
    loop {
        // `at` is where a value must start.
        match text.get(at) {
            Some(b'{') => {
                at = skip_whitespace(text, at + 1);
                if text.get(at) == Some(&b'}') {
                    at += 1;
                } else {
                    brackets.push(true);
                    at = member_value(text, at)?;
                    continue;
                }
            }
            Some(b'[') => {
                at = skip_whitespace(text, at + 1);
                if text.get(at) == Some(&b']') {
                    at += 1;
                } else {
                    brackets.push(false);
                    continue;
                }
            }
            Some(b'"') => at = string_end(text, at)?,
            Some(b't') => at = literal_end(text, at, "true")?,
            Some(b'f') => at = literal_end(text, at, "false")?,
            Some(b'n') => at = literal_end(text, at, "null")?,
            Some(b'-' | b'0'..=b'9') => at = number_end(text, at)?,
            _ => return Err(expected(at, "a value")),
        }
        // A value ended at `at`: close what it ends, up to the next value or the top level.
        loop {
            let Some(in_object) = brackets.innermost() else {
                return Ok(at);
            };
            at = skip_whitespace(text, at);
            match text.get(at) {
                Some(b',') => {
                    at = skip_whitespace(text, at + 1);
                    if in_object {
                        at = member_value(text, at)?;
                    }
                    break;
                }
                Some(b'}') if in_object => {
                    brackets.pop();
                    at += 1;
                }
                Some(b']') if !in_object => {
                    brackets.pop();
                    at += 1;
                }
                _ if in_object => return Err(expected(at, "',' or '}'")),
                _ => return Err(expected(at, "',' or ']'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), Syntax> {
        let bytes = text.as_bytes();
        let start = skip_whitespace(bytes, 0);
        let end = skip_whitespace(bytes, value_end(bytes, start)?);
        if end == bytes.len() {
            Ok(())
        } else {
            Err(Syntax::trailing(end))
        }
    }

    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn agrees_with_serde_json_on_tricky_cases() {
        let cases = [
            "0",
            "-0",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "1E-7",
            "-12.5e10",
            "1.5.2",
            "00",
            "true",
            "tru",
            "truex",
            "nul",
            "null ",
            " false",
            "\"\"",
            "\"a\\\"b\"",
            "\"\\u00e9\"",
            "\"\\u00g9\"",
            "\"\\x\"",
            "\"\t\"",
            "\"é ✓\"",
            "[]",
            "[ ]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{}",
            "{ }",
            "{\"a\":1,}",
            "{\"a\" : [1, {\"b\": null}] }",
            "{\"a\"}",
            "{1:2}",
            "{\"a\":1 \"b\":2}",
            "[[[]]]",
            "[[]]]",
            "[{]}",
            "{\"a\":[}",
            "",
            " ",
            "[\"\\\\\"]",
            "\"unterminated",
            "[1]x",
            "{\"\\u0041\":1}",
        ];
        for case in cases {
            assert_eq!(check(case).is_ok(), serde_accepts(case), "{case:?}");
        }
    }

    #[test]
    fn long_strings_stop_at_every_position() {
        // The word-at-a-time path must find a stop byte wherever it falls in the word.
        for len in 0..40 {
            for at in 0..len {
                for stop in ["\"", "\\n", "\\", "\u{1}", "\u{1f}", "é", "\u{7f}", " "] {
                    let mut body: String = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"[..len].into();
                    body.replace_range(at..at + 1, stop);
                    let text = format!("\"{body}\"");
                    assert_eq!(check(&text).is_ok(), serde_accepts(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn deep_nesting_needs_no_stack() {
        let depth = 100_000;
        let text = format!("{}1{}", "[{\"a\":".repeat(depth), "}]".repeat(depth));
        assert_eq!(check(&text), Ok(()));
        let unbalanced = format!("{}{}", "[".repeat(depth), "]".repeat(depth - 1));
        assert!(check(&unbalanced).is_err());
        let crossed = format!("{}{}}}", "[".repeat(130), "]".repeat(129));
        assert!(check(&crossed).is_err());
    }

    #[test]
    fn errors_say_where_and_what() {
        assert_eq!(check("[1,]"), Err(expected(3, "a value")));
        assert_eq!(
            check("{\"a\" 1}").map_err(|e| e.to_string()),
            Err("expected ':' at byte 5".to_owned())
        );
    }
}
