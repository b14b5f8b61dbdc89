//! LIKE patterns (spec §3.4.3): `%` matches any run of characters, `_` exactly one
//! character, `\%` and `\_` match literally; a `\` before anything else is itself literal.
//!
//! A pattern is compiled once into `%`-separated segments. Matching anchors the first segment
//! at the start and the last at the end, and places each middle segment at its leftmost
//! occurrence, which is optimal because `%` absorbs whatever lies between. No backtracking
//! across `%`: the worst case is O(text × segment) per segment.

/// One piece of a segment: literal text or a single-character wildcard.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Lit(Box<str>),
    One,
}

#[derive(Clone, Debug, PartialEq)]
struct Segment {
    pieces: Vec<Piece>,
    /// Characters this segment always consumes.
    chars: usize,
}

impl Segment {
    /// Byte offset after matching this segment at byte offset `at`, if it matches there.
    fn match_at(&self, text: &str, mut at: usize) -> Option<usize> {
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => {
                    if !text.get(at..)?.starts_with(&**s) {
                        return None;
                    }
                    at += s.len();
                }
                Piece::One => at += text.get(at..)?.chars().next()?.len_utf8(),
            }
        }
        Some(at)
    }

    /// Leftmost match starting at or after `from` and ending at or before `limit`:
    /// returns the end offset.
    fn find(&self, text: &str, from: usize, limit: usize) -> Option<usize> {
        let first_lit = match self.pieces.first() {
            Some(Piece::Lit(s)) => Some(&**s),
            _ => None,
        };
        let mut start = from;
        loop {
            if let Some(lit) = first_lit {
                start += text.get(start..limit)?.find(lit)?;
            }
            if let Some(end) = self.match_at(text, start) {
                // A segment consumes a fixed number of characters, so a later start
                // only ends later.
                return (end <= limit).then_some(end);
            }
            start += text.get(start..limit)?.chars().next()?.len_utf8();
        }
    }
}

/// A compiled LIKE pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pattern {
    /// At least one segment; `n` segments means `n - 1` `%` wildcards between them.
    segments: Vec<Segment>,
}

impl Pattern {
    pub(crate) fn compile(pattern: &str) -> Pattern {
        let mut segments = Vec::new();
        let mut pieces: Vec<Piece> = Vec::new();
        let mut lit = String::new();
        let mut chars_in_seg = 0usize;
        let mut it = pattern.chars().peekable();
        let flush = |lit: &mut String, pieces: &mut Vec<Piece>| {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(lit).into_boxed_str()));
            }
        };
        while let Some(c) = it.next() {
            match c {
                '\\' if matches!(it.peek(), Some('%' | '_')) => {
                    if let Some(escaped) = it.next() {
                        lit.push(escaped);
                        chars_in_seg += 1;
                    }
                }
                '%' => {
                    flush(&mut lit, &mut pieces);
                    segments.push(Segment {
                        pieces: std::mem::take(&mut pieces),
                        chars: chars_in_seg,
                    });
                    chars_in_seg = 0;
                }
                '_' => {
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::One);
                    chars_in_seg += 1;
                }
                c => {
                    lit.push(c);
                    chars_in_seg += 1;
                }
            }
        }
        flush(&mut lit, &mut pieces);
        segments.push(Segment {
            pieces,
            chars: chars_in_seg,
        });
        Pattern { segments }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let (first, rest) = match self.segments.split_first() {
            Some(x) => x,
            None => return text.is_empty(),
        };
        let Some(mut pos) = first.match_at(text, 0) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            // No `%`: the single segment must cover the whole text.
            return pos == text.len();
        };
        // The last segment has a fixed character count: it must start that many chars
        // before the end.
        let last_start = if last.chars == 0 {
            text.len()
        } else {
            match text.char_indices().rev().nth(last.chars - 1) {
                Some((i, _)) => i,
                None => return false,
            }
        };
        if last_start < pos || last.match_at(text, last_start) != Some(text.len()) {
            return false;
        }
        for seg in middle {
            match seg.find(text, pos, last_start) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn table() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "ab", false),
            ("abc", "abcd", false),
            ("", "", true),
            ("", "%", true),
            ("x", "", false),
            ("abc", "a%c", true),
            ("ac", "a%c", true),
            ("abcabc", "a%c", true),
            ("abcabd", "a%c", false),
            ("abc", "%", true),
            ("abc", "%%", true),
            ("abc", "___", true),
            ("abc", "__", false),
            ("héllo", "h_llo", true),
            ("héllo", "%é%", true),
            ("日本語", "_本_", true),
            ("日本語", "%語", true),
            ("a%b", "a\\%b", true),
            ("axb", "a\\%b", false),
            ("a_b", "a\\_b", true),
            ("axb", "a\\_b", false),
            ("a\\b", "a\\b", true),
            ("aXbXc", "a%b%c", true),
            ("abab", "%ab", true),
            ("aab", "%ab", true),
            ("ab", "%ab%ab", false),
            ("abab", "%ab%ab", true),
            ("xaxbx", "%a_b%", true),
            ("xaxxbx", "%a_b%", false),
            ("xaxxbx", "%a__b%", true),
            ("mississippi", "m%iss%ppi", true),
            ("mississippi", "m%iss%iss%ppi", true),
            ("mississippi", "m%iss%iss%iss%ppi", false),
            ("aaa", "%a%a%a%", true),
            ("aa", "%a%a%a%", false),
            ("abc", "%_%_%_%", true),
            ("ab", "%_%_%_%", false),
        ];
        for (text, pat, want) in cases {
            assert_eq!(
                Pattern::compile(pat).matches(text),
                want,
                "{text:?} LIKE {pat:?}"
            );
        }
    }

    #[test]
    fn long_inputs_stay_fast() {
        let text = "a".repeat(20_000);
        let pat = format!("{}b", "%a".repeat(50));
        assert!(!Pattern::compile(&pat).matches(&text));
        let pat = "%a%a%a%a%a%".to_string();
        assert!(Pattern::compile(&pat).matches(&text));
    }
}
