//! Operators (`@rx`, `@pm`, `@detectSQLi`, ...): compiled once at load, evaluated on bytes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex::bytes::{Regex, RegexBuilder};
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, hybrid, nfa::thompson};

use crate::macros::MacroString;

/// Captures an operator produced (`TX:0..9`).
pub type Captures = Vec<Vec<u8>>;

/// An operator argument that may contain `%{...}` macros (expanded per transaction).
#[derive(Debug, Clone)]
pub enum Arg {
    Literal(Vec<u8>),
    Macro(MacroString),
}

#[derive(Debug, Clone)]
pub enum OpKind {
    Rx(Arc<Rx>),
    Pm(Box<AhoCorasick>),
    DetectSqli,
    DetectXss,
    Eq(Arg),
    Ge(Arg),
    Gt(Arg),
    Le(Arg),
    Lt(Arg),
    Streq(Arg),
    Within(Arg),
    Contains(Arg),
    ContainsWord(Arg),
    BeginsWith(Arg),
    EndsWith(Arg),
    StrMatch(Arg),
    IpMatch(Vec<IpNet>),
    Unconditional,
    NoMatch,
    ValidateByteRange(Box<[bool; 256]>),
    ValidateUrlEncoding,
    ValidateUtf8Encoding,
}

/// A compiled operator.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub negated: bool,
    pub kind: OpKind,
    /// The argument as written (for log messages).
    pub raw: String,
}

/// Rewrites PCRE-only syntax the `regex` crate reads differently (`\x{NN}` in byte mode).
pub fn translate_pcre(pattern: &str) -> String {
    let bytes = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            if bytes[i + 1] == b'x'
                && i + 2 < bytes.len()
                && bytes[i + 2] == b'{'
                && let Some(end) = pattern[i + 3..].find('}')
            {
                let hex = &pattern[i + 3..i + 3 + end];
                if let Ok(v) = u32::from_str_radix(hex, 16)
                    && v <= 0xff
                {
                    out.push_str(&format!("\\x{v:02x}"));
                    i += 4 + end;
                    continue;
                }
            }
            out.push(bytes[i] as char);
            // copy the escaped char verbatim (may be multi-byte)
            let ch = pattern[i + 1..].chars().next().unwrap_or('\\');
            out.push(ch);
            i += 1 + ch.len_utf8();
            continue;
        }
        let ch = pattern[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Compiles a SecLang regex the way ModSecurity does (DOTALL, `$` at end only), over bytes.
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    compile_translated(&translate_pcre(pattern))
}

fn compile_translated(translated: &str) -> Result<Regex, String> {
    RegexBuilder::new(translated)
        .unicode(false)
        .dot_matches_new_line(true)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|e| e.to_string())
}

/// Slots for the lazy DFAs' per-thread caches: each live [`Rx`] owns a slot number, reused
/// after it is dropped (so rule reloads do not grow the tables); a thread's slot holds the
/// cache of the `Rx` whose generation it records. Thread-local slots rather than a `Pool`:
/// a pool hands its fast path to one thread and makes the others take a lock on every
/// evaluation, which cost 7 % of the WAF's CPU.
static SLOTS: Mutex<(Vec<usize>, usize)> = Mutex::new((Vec::new(), 0));
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CACHES: RefCell<Vec<Option<(u64, hybrid::dfa::Cache)>>> = const { RefCell::new(Vec::new()) };
}

fn take_slot() -> usize {
    let mut s = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(i) = s.0.pop() {
        return i;
    }
    s.1 += 1;
    s.1 - 1
}

/// A compiled `@rx`. Most evaluations only ask "does it match", which a forward-only lazy DFA
/// answers (with a literal prefilter where the pattern has one); that is all `regex`'s own
/// `is_match` runs too, but its `Regex` also carries a reverse automaton and the caches of
/// three more engines for finding spans and captures, which for CRS's 300 patterns came to
/// 9 MB plus 4 MB per thread. The full `Regex` is compiled only when a rule first needs
/// captures (`capture`, i.e. an actual match) or the lazy DFA cannot decide.
pub struct Rx {
    /// The pattern after [`translate_pcre`].
    pattern: String,
    dfa: Option<hybrid::dfa::DFA>,
    slot: usize,
    generation: u64,
    full: OnceLock<Option<Regex>>,
}

impl Drop for Rx {
    fn drop(&mut self) {
        SLOTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .push(self.slot);
    }
}

impl std::fmt::Debug for Rx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rx")
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

impl Rx {
    /// Compiles `pattern` (SecLang/PCRE syntax). Errors are the regex parser's.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let translated = translate_pcre(pattern);
        // The same dialect as `compile_translated` (bytes, ASCII classes, DOTALL): both engines
        // must agree on every match (`rx_lazy_dfa_agrees_with_the_full_regex`).
        let sc = syntax::Config::new()
            .unicode(false)
            .utf8(false)
            .dot_matches_new_line(true);
        let hir = syntax::parse_with(&translated, &sc).map_err(|e| e.to_string())?;
        let nfa = thompson::Compiler::new()
            .syntax(sc)
            .configure(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(thompson::WhichCaptures::None)
                    .nfa_size_limit(Some(64 << 20)),
            )
            .build_from_hir(&hir)
            .map_err(|e| e.to_string())?;
        let pre =
            Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, &hir).filter(Prefilter::is_fast);
        let dfa = hybrid::dfa::Builder::new()
            .configure(hybrid::dfa::Config::new().prefilter(pre))
            .build_from_nfa(nfa)
            .ok();
        let rx = Self {
            pattern: translated,
            dfa,
            slot: take_slot(),
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            full: OnceLock::new(),
        };
        if rx.dfa.is_none() {
            // No lazy DFA (its cache would not fit): the full engine must exist, now.
            let re = compile_translated(&rx.pattern)?;
            let _ = rx.full.set(Some(re));
        }
        Ok(rx)
    }

    /// The pattern as compiled (after [`translate_pcre`]).
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    fn full(&self) -> Option<&Regex> {
        self.full
            .get_or_init(|| compile_translated(&self.pattern).ok())
            .as_ref()
    }

    /// Whether the pattern matches anywhere in `input`.
    pub fn is_match(&self, input: &[u8]) -> bool {
        if let Some(dfa) = &self.dfa {
            let found = CACHES.with(|caches| {
                let mut caches = caches.borrow_mut();
                if caches.len() <= self.slot {
                    caches.resize_with(self.slot + 1, || None);
                }
                let slot = &mut caches[self.slot];
                if slot.as_ref().is_none_or(|(g, _)| *g != self.generation) {
                    *slot = Some((self.generation, dfa.create_cache()));
                }
                let (_, cache) = slot.as_mut()?;
                dfa.try_search_fwd(cache, &Input::new(input).earliest(true))
                    .ok()
            });
            if let Some(m) = found {
                return m.is_some();
            }
        }
        self.full().is_some_and(|re| re.is_match(input))
    }

    /// Group 0..=9 of the leftmost-first match, or `None` without a match. A match whose
    /// groups cannot be computed (the full engine failed to build) has no groups.
    pub fn captures(&self, input: &[u8]) -> Option<Captures> {
        if !self.is_match(input) {
            return None;
        }
        let Some(re) = self.full() else {
            return Some(Vec::new());
        };
        let c = re.captures(input)?;
        Some(
            (0..c.len().min(10))
                .map(|i| c.get(i).map(|m| m.as_bytes().to_vec()).unwrap_or_default())
                .collect(),
        )
    }
}

/// An IPv4/IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = p.unwrap_or(max);
        if prefix > max {
            return None;
        }
        Some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                (u32::from(n) & mask) == (u32::from(i) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                (u128::from(n) & mask) == (u128::from(i) & mask)
            }
            _ => false,
        }
    }
}

fn arg_of(raw: &str) -> Arg {
    if raw.contains("%{") {
        Arg::Macro(MacroString::parse(raw))
    } else {
        Arg::Literal(raw.as_bytes().to_vec())
    }
}

/// Loads phrases for `@pm` / `@pmFromFile`.
pub fn phrases_from_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Shares compiled matchers between the rules of one rule set that use the same pattern or
/// phrase list (CRS repeats several across paranoia levels and chains). Compiled `Regex` and
/// `AhoCorasick` values share their automaton when cloned.
#[derive(Debug, Default)]
pub struct MatcherCache {
    rx: HashMap<String, Arc<Rx>>,
    pm: HashMap<Vec<String>, AhoCorasick>,
}

impl MatcherCache {
    fn regex(&mut self, pattern: &str) -> Result<Arc<Rx>, String> {
        if let Some(re) = self.rx.get(pattern) {
            return Ok(re.clone());
        }
        let re = Arc::new(Rx::new(pattern)?);
        self.rx.insert(pattern.to_owned(), re.clone());
        Ok(re)
    }

    fn pm(&mut self, phrases: Vec<String>) -> Result<OpKind, String> {
        if let Some(ac) = self.pm.get(&phrases) {
            return Ok(OpKind::Pm(Box::new(ac.clone())));
        }
        // A contiguous NFA rather than the DFA aho-corasick picks for short lists: a tenth of
        // the memory (the DFAs of CRS's lists took 5 MB) for a small cost on a few rules.
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(phrases.iter().map(String::as_bytes))
            .map_err(|e| e.to_string())?;
        self.pm.insert(phrases, ac.clone());
        Ok(OpKind::Pm(Box::new(ac)))
    }
}

impl Operator {
    /// Compiles `name`/`arg`. `read_file` resolves `@pmFromFile` names (relative to the rule file).
    pub fn compile(
        name: &str,
        arg: &str,
        negated: bool,
        read_file: &dyn Fn(&str) -> Result<String, String>,
        cache: &mut MatcherCache,
    ) -> Result<Self, String> {
        let lname = name.to_ascii_lowercase();
        let kind = match lname.as_str() {
            "rx" => OpKind::Rx(cache.regex(arg)?),
            "pm" => cache.pm(arg.split_whitespace().map(str::to_owned).collect())?,
            "pmfromfile" | "pmf" => {
                let mut phrases = Vec::new();
                for file in arg.split_whitespace() {
                    phrases.extend(phrases_from_file(&read_file(file)?));
                }
                cache.pm(phrases)?
            }
            "detectsqli" => OpKind::DetectSqli,
            "detectxss" => OpKind::DetectXss,
            "eq" => OpKind::Eq(arg_of(arg)),
            "ge" => OpKind::Ge(arg_of(arg)),
            "gt" => OpKind::Gt(arg_of(arg)),
            "le" => OpKind::Le(arg_of(arg)),
            "lt" => OpKind::Lt(arg_of(arg)),
            "streq" => OpKind::Streq(arg_of(arg)),
            "within" => OpKind::Within(arg_of(arg)),
            "contains" => OpKind::Contains(arg_of(arg)),
            "containsword" => OpKind::ContainsWord(arg_of(arg)),
            "beginswith" => OpKind::BeginsWith(arg_of(arg)),
            "endswith" => OpKind::EndsWith(arg_of(arg)),
            "strmatch" => OpKind::StrMatch(arg_of(arg)),
            "ipmatch" => {
                let mut nets = Vec::new();
                for part in arg.split(',') {
                    if part.trim().is_empty() {
                        continue;
                    }
                    nets.push(
                        IpNet::parse(part)
                            .ok_or_else(|| format!("invalid IP or network `{part}`"))?,
                    );
                }
                OpKind::IpMatch(nets)
            }
            "ipmatchfromfile" | "ipmatchf" => {
                let mut nets = Vec::new();
                for line in phrases_from_file(&read_file(arg.trim())?) {
                    nets.push(
                        IpNet::parse(&line)
                            .ok_or_else(|| format!("invalid IP or network `{line}`"))?,
                    );
                }
                OpKind::IpMatch(nets)
            }
            "unconditionalmatch" => OpKind::Unconditional,
            "nomatch" => OpKind::NoMatch,
            "validatebyterange" => OpKind::ValidateByteRange(Box::new(parse_byte_ranges(arg)?)),
            "validateurlencoding" => OpKind::ValidateUrlEncoding,
            "validateutf8encoding" => OpKind::ValidateUtf8Encoding,
            _ => return Err(format!("unknown operator `@{name}`")),
        };
        Ok(Self {
            name: name.to_owned(),
            negated,
            kind,
            raw: arg.to_owned(),
        })
    }

    /// The argument, if it needs macro expansion.
    pub fn macro_arg(&self) -> Option<&MacroString> {
        match &self.kind {
            OpKind::Eq(Arg::Macro(m))
            | OpKind::Ge(Arg::Macro(m))
            | OpKind::Gt(Arg::Macro(m))
            | OpKind::Le(Arg::Macro(m))
            | OpKind::Lt(Arg::Macro(m))
            | OpKind::Streq(Arg::Macro(m))
            | OpKind::Within(Arg::Macro(m))
            | OpKind::Contains(Arg::Macro(m))
            | OpKind::ContainsWord(Arg::Macro(m))
            | OpKind::BeginsWith(Arg::Macro(m))
            | OpKind::EndsWith(Arg::Macro(m))
            | OpKind::StrMatch(Arg::Macro(m)) => Some(m),
            _ => None,
        }
    }

    /// Evaluates the operator (before negation). `expanded` is the macro-expanded argument
    /// when `macro_arg()` returned one. Captures are collected when `captures` is given.
    pub fn matches(
        &self,
        input: &[u8],
        expanded: Option<&[u8]>,
        captures: Option<&mut Captures>,
    ) -> bool {
        let arg = |a: &Arg| -> Vec<u8> {
            match a {
                Arg::Literal(l) => l.clone(),
                Arg::Macro(_) => expanded.map(<[u8]>::to_vec).unwrap_or_default(),
            }
        };
        match &self.kind {
            // `is_match` runs the lazy DFA; captures (slower) only for the rare match.
            OpKind::Rx(re) => match captures {
                Some(caps) => match re.captures(input) {
                    Some(c) => {
                        *caps = c;
                        true
                    }
                    None => false,
                },
                None => re.is_match(input),
            },
            OpKind::Pm(ac) => match ac.find(input) {
                Some(m) => {
                    if let Some(caps) = captures {
                        caps.clear();
                        caps.push(input[m.start()..m.end()].to_vec());
                    }
                    true
                }
                None => false,
            },
            OpKind::DetectSqli => {
                let r = libinjectionrs::detect_sqli(input);
                if r.is_injection() {
                    if let (Some(caps), Some(fp)) = (captures, r.fingerprint.as_ref()) {
                        caps.clear();
                        caps.push(fp.to_string().into_bytes());
                    }
                    true
                } else {
                    false
                }
            }
            OpKind::DetectXss => libinjectionrs::detect_xss(input).is_injection(),
            OpKind::Eq(a) => atoi(input) == atoi(&arg(a)),
            OpKind::Ge(a) => atoi(input) >= atoi(&arg(a)),
            OpKind::Gt(a) => atoi(input) > atoi(&arg(a)),
            OpKind::Le(a) => atoi(input) <= atoi(&arg(a)),
            OpKind::Lt(a) => atoi(input) < atoi(&arg(a)),
            OpKind::Streq(a) => input == arg(a).as_slice(),
            OpKind::StrMatch(a) | OpKind::Contains(a) => {
                let p = arg(a);
                let hit = find(input, &p).is_some();
                if hit && let Some(caps) = captures {
                    caps.clear();
                    caps.push(p);
                }
                hit
            }
            OpKind::Within(a) => {
                let p = arg(a);
                input.is_empty() || find(&p, input).is_some()
            }
            OpKind::ContainsWord(a) => contains_word(input, &arg(a)),
            OpKind::BeginsWith(a) => input.starts_with(&arg(a)),
            OpKind::EndsWith(a) => input.ends_with(&arg(a)),
            OpKind::IpMatch(nets) => match std::str::from_utf8(input)
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
            {
                Some(ip) => nets.iter().any(|n| n.contains(ip)),
                None => false,
            },
            OpKind::Unconditional => true,
            OpKind::NoMatch => false,
            OpKind::ValidateByteRange(allowed) => input.iter().any(|&b| !allowed[usize::from(b)]),
            OpKind::ValidateUrlEncoding => !valid_url_encoding(input),
            OpKind::ValidateUtf8Encoding => std::str::from_utf8(input).is_err(),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains_word(input: &[u8], word: &[u8]) -> bool {
    if word.is_empty() {
        return true;
    }
    let mut start = 0;
    while let Some(pos) = find(&input[start..], word) {
        let at = start + pos;
        let before_ok = at == 0 || !input[at - 1].is_ascii_alphanumeric() && input[at - 1] != b'_';
        let end = at + word.len();
        let after_ok =
            end >= input.len() || !input[end].is_ascii_alphanumeric() && input[end] != b'_';
        if before_ok && after_ok {
            return true;
        }
        start = at + 1;
        if start >= input.len() {
            break;
        }
    }
    false
}

/// C `atoi`: optional whitespace, sign, digits; anything else stops; no digits = 0.
pub fn atoi(input: &[u8]) -> i64 {
    let mut i = 0;
    while i < input.len() && crate::transform::is_space(input[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < input.len() && (input[i] == b'-' || input[i] == b'+') {
        neg = input[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < input.len() && input[i].is_ascii_digit() {
        v = v
            .saturating_mul(10)
            .saturating_add(i64::from(input[i] - b'0'));
        i += 1;
    }
    if neg { -v } else { v }
}

fn parse_byte_ranges(arg: &str) -> Result<[bool; 256], String> {
    let mut allowed = [false; 256];
    for part in arg.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: u8 = lo
            .parse()
            .map_err(|_| format!("invalid byte range `{part}`"))?;
        let hi: u8 = hi
            .parse()
            .map_err(|_| format!("invalid byte range `{part}`"))?;
        if lo > hi {
            return Err(format!("invalid byte range `{part}`"));
        }
        for b in lo..=hi {
            allowed[usize::from(b)] = true;
        }
    }
    Ok(allowed)
}

fn valid_url_encoding(input: &[u8]) -> bool {
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if i + 2 >= input.len() {
                return false;
            }
            if !input[i + 1].is_ascii_hexdigit() || !input[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, arg: &str) -> Operator {
        Operator::compile(
            name,
            arg,
            false,
            &|_| Ok("# c\nfoo\n\nbar baz\n".to_owned()),
            &mut MatcherCache::default(),
        )
        .unwrap()
    }

    /// The lazy DFA and the full regex agree, on matches and on group 0.
    #[test]
    fn rx_lazy_dfa_agrees_with_the_full_regex() {
        let patterns = [
            r"(?i)union\s+(?:all\s+)?select",
            r"^\d+$",
            r"\bfoo\b",
            r"(?:a|b)+c$",
            r"\x{e2}\x80",
            r"[^\x00-\x7f]",
            r"(?i)(?:^|[^a-z])on(?:load|error)\s*=",
            r"(?m)^x$",
        ];
        let inputs: [&[u8]; 10] = [
            b"",
            b"1 UNION  ALL SELECT 2",
            b"12345",
            b"123a",
            b"a foo b",
            b"foobar",
            b"ababc",
            b"\xe2\x80\x9c quote",
            b"<img onerror =x>",
            b"y\nx\nz",
        ];
        for p in patterns {
            let rx = Rx::new(p).unwrap();
            let re = compile_regex(p).unwrap();
            for i in inputs {
                assert_eq!(rx.is_match(i), re.is_match(i), "{p} on {i:?}");
                assert_eq!(
                    rx.captures(i).map(|c| c[0].clone()),
                    re.captures(i).map(|c| c[0].to_vec()),
                    "{p} on {i:?}"
                );
            }
        }
        assert!(Rx::new("(unclosed").is_err());
    }

    #[test]
    fn regex_is_bytes_and_dotall() {
        let o = op("rx", r"(?i)a.b\x{e2}");
        assert!(o.matches(b"A\nB\xe2", None, None));
        let mut caps = Vec::new();
        assert!(op("rx", "(a)(b)?").matches(b"xa", None, Some(&mut caps)));
        assert_eq!(caps, vec![b"a".to_vec(), b"a".to_vec(), Vec::new()]);
    }

    #[test]
    fn phrase_match() {
        assert!(op("pm", "select union").matches(b"xUNIONy", None, None));
        assert!(op("pmFromFile", "x.data").matches(b"a BAR baz", None, None));
        assert!(!op("pmFromFile", "x.data").matches(b"c", None, None));
    }

    #[test]
    fn numeric_and_strings() {
        assert!(op("eq", "0").matches(b"abc", None, None));
        assert!(op("ge", "5").matches(b" 7x", None, None));
        assert!(op("lt", "2").matches(b"-1", None, None));
        assert!(op("within", "GET POST").matches(b"GET", None, None));
        assert!(!op("within", "GET POST").matches(b"PUT", None, None));
        assert!(op("contains", "ab").matches(b"xaby", None, None));
        assert!(op("beginsWith", "ab").matches(b"abc", None, None));
        assert!(op("endsWith", "bc").matches(b"abc", None, None));
        assert!(op("streq", "abc").matches(b"abc", None, None));
        assert!(op("containsWord", "abc").matches(b"x abc.", None, None));
        assert!(!op("containsWord", "abc").matches(b"xabc", None, None));
    }

    #[test]
    fn validators() {
        assert!(op("validateByteRange", "32-126").matches(b"a\x01", None, None));
        assert!(!op("validateByteRange", "32-126,10").matches(b"a\n", None, None));
        assert!(op("validateUrlEncoding", "").matches(b"a%2", None, None));
        assert!(op("validateUrlEncoding", "").matches(b"a%zz", None, None));
        assert!(!op("validateUrlEncoding", "").matches(b"a%20", None, None));
        assert!(op("validateUtf8Encoding", "").matches(b"\xc0\xaf", None, None));
        assert!(!op("validateUtf8Encoding", "").matches("é".as_bytes(), None, None));
    }

    #[test]
    fn ip_match() {
        let o = op("ipMatch", "127.0.0.1,10.0.0.0/8,::1");
        assert!(o.matches(b"10.2.3.4", None, None));
        assert!(o.matches(b"::1", None, None));
        assert!(!o.matches(b"11.0.0.1", None, None));
        assert!(!o.matches(b"junk", None, None));
    }

    #[test]
    fn injection_detection() {
        assert!(op("detectSQLi", "").matches(b"1' OR '1'='1", None, None));
        assert!(!op("detectSQLi", "").matches(b"hello world", None, None));
        assert!(op("detectXSS", "").matches(b"<script>alert(1)</script>", None, None));
    }

    #[test]
    fn pcre_translation() {
        assert_eq!(translate_pcre(r"\x{0b}[\x{e2}]\\x{"), r"\x0b[\xe2]\\x{");
    }
}
