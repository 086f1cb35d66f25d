//! Tokens and blocked (cache-line) bloom filters.
//!
//! A token is a maximal run of ASCII alphanumerics or non-ASCII bytes, at least
//! `MIN_TOKEN` long (shorter ones are in nearly every chunk and would only fill the filter).
//! Attribute values are also indexed whole, so an id with dashes or an e-mail address is
//! one probe. Each chunk has its own filter made of 64-byte blocks: a token sets and tests
//! `K` bits inside the one block its hash selects, so a lookup reads 64 bytes per chunk
//! (one `pread`) instead of the whole filter — at 10 GB of logs the filters are ~2% of the
//! raw size and never need to be in memory.
//!
//! Substrings: `|=` in LogQL is a substring match, and the usual needle (a trace id) is a
//! bare run of token bytes that may sit inside a longer token. Tokens of at least
//! `SUB_MIN_RUN` bytes are therefore also indexed by their *minimizers*: for every window of
//! `SUB_WINDOW` consecutive `SUB_K`-byte grams, the gram with the smallest hash. Every window
//! of a needle's run is a window of the token that contains it, so every minimizer of the run
//! is in the token's set: a chunk may hold the needle only if all of them hit. A window of 16
//! grams keeps the index to ~2 entries per 17 bytes of long tokens (a 32-hex trace id adds
//! three); needles with no run that long are helped only by their bounded tokens.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub(crate) const MIN_TOKEN: usize = 3;
pub(crate) const MAX_TOKEN: usize = 128;
pub(crate) const BLOOM_BLOCK: usize = 64;
const K: u32 = 8;

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Gram length of the substring index.
pub(crate) const SUB_K: usize = 8;
/// Grams per minimizer window.
pub(crate) const SUB_WINDOW: usize = 16;
/// Shortest run of token bytes the substring index helps with (one whole window).
pub(crate) const SUB_MIN_RUN: usize = SUB_K + SUB_WINDOW - 1;
const GRAM_SEED: u64 = 0x005a_b57a_1e0f_5eed;

/// The maximal runs of token bytes in `text`, as `(start, end)`.
fn runs(text: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < text.len() && !is_token_byte(text[i]) {
            i += 1;
        }
        if i == text.len() {
            return None;
        }
        let start = i;
        while i < text.len() && is_token_byte(text[i]) {
            i += 1;
        }
        Some((start, i))
    })
}

/// Hashes of every token of `text` (duplicates included), and the minimizers of tokens of
/// at least `SUB_MIN_RUN` bytes.
pub(crate) fn for_each_token(text: &[u8], mut f: impl FnMut(u64)) {
    for (start, end) in runs(text) {
        let tok = &text[start..end];
        if tok.len() >= MIN_TOKEN {
            f(token_hash(&tok[..tok.len().min(MAX_TOKEN)]));
        }
        if tok.len() >= SUB_MIN_RUN {
            for_each_minimizer(tok, &mut f);
        }
    }
}

/// The distinct-in-sequence minimizers of `run` (no output when shorter than a window).
pub(crate) fn for_each_minimizer(run: &[u8], mut f: impl FnMut(u64)) {
    if run.len() < SUB_MIN_RUN {
        return;
    }
    let grams: Vec<u64> = run
        .windows(SUB_K)
        .map(|g| xxh3_64_with_seed(g, GRAM_SEED))
        .collect();
    let mut last = None;
    for w in grams.windows(SUB_WINDOW) {
        let m = w.iter().copied().min().unwrap_or(0);
        if last != Some(m) {
            f(m);
            last = Some(m);
        }
    }
}

pub(crate) fn token_hash(tok: &[u8]) -> u64 {
    xxh3_64(tok)
}

/// The hash under which a whole attribute value is indexed (distinct from its tokens).
pub(crate) fn value_hash(v: &[u8]) -> u64 {
    xxh3_64(&v[..v.len().min(MAX_TOKEN)]).rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15
}

/// Which of the filter's `nblocks` 64-byte blocks holds `h`.
pub(crate) fn block_of(h: u64, nblocks: u32) -> u32 {
    (((h >> 32) * u64::from(nblocks)) >> 32) as u32
}

fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The `K` bit positions of `h` inside its block, from a remix of `h` (the block was chosen by
/// its high bits; positions taken from them too would correlate).
fn bits(h: u64) -> impl Iterator<Item = usize> {
    let a = fmix(h ^ 0x243f_6a88_85a3_08d3);
    let b = fmix(h ^ 0x1319_8a2e_0370_7344);
    (0..K).map(move |i| {
        let w = if i < 7 { a >> (9 * i) } else { b };
        (w & 511) as usize
    })
}

/// Builds a filter for distinct `hashes`; returns (bytes, number of 64-byte blocks).
pub(crate) fn build(hashes: &mut Vec<u64>, bits_per_token: u32) -> (Vec<u8>, u32) {
    hashes.sort_unstable();
    hashes.dedup();
    let want_bits = (hashes.len() as u64 * u64::from(bits_per_token)).max(1);
    let nblocks = want_bits.div_ceil(512).min(u64::from(u32::MAX)) as u32;
    let mut out = vec![0u8; nblocks as usize * BLOOM_BLOCK];
    for &h in hashes.iter() {
        let base = block_of(h, nblocks) as usize * BLOOM_BLOCK;
        for bit in bits(h) {
            out[base + bit / 8] |= 1 << (bit % 8);
        }
    }
    (out, nblocks)
}

/// Does the 64-byte block (the one `block_of(h)` selected) have every bit of `h`?
pub(crate) fn block_may_contain(block: &[u8], h: u64) -> bool {
    block.len() == BLOOM_BLOCK && bits(h).all(|bit| block[bit / 8] & (1 << (bit % 8)) != 0)
}

/// What to probe for a needle. A chunk may hold it only if the whole-value probe hits or
/// every token probe hits, and (where the chunk's filter indexes minimizers) every gram probe
/// hits.
///
/// - A delimited needle (`NeedleProbe::delimited`): its whole-value hash and all of its
///   tokens. A needle that is one token (a trace id) needs only the token probe: attribute
///   values are indexed by their tokens too.
/// - A substring (`NeedleProbe::substring`): only the tokens bounded by non-token bytes inside
///   the needle on both sides are whole tokens of a matching text; a run at an edge may be
///   part of a longer token, so it is probed by its minimizers when it is long enough.
#[derive(Debug, Clone, Default)]
pub(crate) struct NeedleProbe {
    pub value: Option<u64>,
    pub tokens: Vec<u64>,
    pub grams: Vec<u64>,
}

impl NeedleProbe {
    pub(crate) fn delimited(needle: &str) -> Self {
        let b = needle.as_bytes();
        let mut tokens = Vec::new();
        for (start, end) in runs(b) {
            if end - start >= MIN_TOKEN {
                tokens.push(token_hash(&b[start..end.min(start + MAX_TOKEN)]));
            }
        }
        tokens.sort_unstable();
        tokens.dedup();
        let one_token =
            (MIN_TOKEN..=MAX_TOKEN).contains(&b.len()) && b.iter().all(|&c| is_token_byte(c));
        NeedleProbe {
            value: (!one_token).then(|| value_hash(b)),
            tokens,
            grams: Vec::new(),
        }
    }

    pub(crate) fn substring(needle: &str) -> Self {
        let b = needle.as_bytes();
        let mut p = NeedleProbe::default();
        for (start, end) in runs(b) {
            let bounded = start > 0 && end < b.len();
            if bounded && end - start >= MIN_TOKEN {
                p.tokens
                    .push(token_hash(&b[start..end.min(start + MAX_TOKEN)]));
            } else {
                for_each_minimizer(&b[start..end], |h| p.grams.push(h));
            }
        }
        for v in [&mut p.tokens, &mut p.grams] {
            v.sort_unstable();
            v.dedup();
        }
        p
    }

    /// Could a filter hold the needle? `test(h)` answers whether the filter has hash `h`;
    /// `grams` says whether it indexes minimizers (gram probes are skipped on one that
    /// doesn't).
    pub(crate) fn check<E>(
        &self,
        grams: bool,
        mut test: impl FnMut(u64) -> Result<bool, E>,
    ) -> Result<bool, E> {
        // a hit on the whole value settles it; a miss does not (the value may sit in a body,
        // where only its tokens are indexed)
        if let Some(v) = self.value
            && test(v)?
        {
            return Ok(true);
        }
        for &h in &self.tokens {
            if !test(h)? {
                return Ok(false);
            }
        }
        if grams {
            for &h in &self.grams {
                if !test(h)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Nothing to probe: every chunk may hold the needle.
    pub(crate) fn is_empty(&self) -> bool {
        self.value.is_none() && self.tokens.is_empty() && self.grams.is_empty()
    }
}

/// `needle` occurs in `hay` (a plain substring).
/// A needle's matcher, built once per query: building a `memmem` searcher costs more than
/// running it over one short record, so it must not be rebuilt per record.
pub(crate) struct Matcher {
    finder: memchr::memmem::Finder<'static>,
    len: usize,
    starts_tok: bool,
    ends_tok: bool,
}

impl Matcher {
    pub(crate) fn new(needle: &[u8]) -> Self {
        Matcher {
            finder: memchr::memmem::Finder::new(needle).into_owned(),
            len: needle.len(),
            starts_tok: needle.first().is_some_and(|&c| is_token_byte(c)),
            ends_tok: needle.last().is_some_and(|&c| is_token_byte(c)),
        }
    }

    pub(crate) fn needle(&self) -> &[u8] {
        self.finder.needle()
    }

    /// The needle occurs in `hay` as a plain substring.
    pub(crate) fn contains(&self, hay: &[u8]) -> bool {
        self.finder.find(hay).is_some()
    }

    /// The needle occurs in `hay` delimited by token boundaries.
    pub(crate) fn contains_delimited(&self, hay: &[u8]) -> bool {
        if self.len == 0 {
            return true;
        }
        for pos in self.finder.find_iter(hay) {
            let left_ok = !self.starts_tok || pos == 0 || !is_token_byte(hay[pos - 1]);
            let end = pos + self.len;
            let right_ok = !self.ends_tok || end == hay.len() || !is_token_byte(hay[end]);
            if left_ok && right_ok {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<u64> {
        let mut v = Vec::new();
        for_each_token(s.as_bytes(), |h| v.push(h));
        v
    }

    #[test]
    fn tokens_split_on_punctuation_and_skip_short() {
        assert_eq!(
            toks("GET /api/v1 trace=4bf92f35 ok"),
            [
                token_hash(b"GET"),
                token_hash(b"api"),
                token_hash(b"trace"),
                token_hash(b"4bf92f35")
            ]
        );
    }

    #[test]
    fn filter_has_every_inserted_token_and_few_others() {
        let mut hashes: Vec<u64> = (0..10_000u64)
            .map(|i| token_hash(&i.to_le_bytes()))
            .collect();
        let all = hashes.clone();
        let (f, n) = build(&mut hashes, 16);
        let probe = |h: u64| {
            let b = block_of(h, n) as usize * BLOOM_BLOCK;
            block_may_contain(&f[b..b + BLOOM_BLOCK], h)
        };
        assert!(all.iter().all(|&h| probe(h)));
        let fp = (10_000..110_000u64)
            .filter(|i| probe(token_hash(&i.to_le_bytes())))
            .count();
        assert!(fp < 500, "false positives {fp} / 100000");
    }

    fn minimizers(s: &str) -> Vec<u64> {
        let mut v = Vec::new();
        for_each_minimizer(s.as_bytes(), |h| v.push(h));
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn a_substring_of_a_long_token_has_all_its_minimizers_in_the_token() {
        let mut r = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let mut tok = String::new();
            for _ in 0..64 {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                tok.push(char::from(b"0123456789abcdef"[(r % 16) as usize]));
            }
            let mut indexed = Vec::new();
            for_each_token(format!("trace_id={tok} ok").as_bytes(), |h| indexed.push(h));
            let start = (r % 20) as usize;
            let len = SUB_MIN_RUN + (r >> 8) as usize % (64 - SUB_MIN_RUN - start);
            let needle = &tok[start..start + len];
            let p = NeedleProbe::substring(needle);
            assert!(!p.grams.is_empty(), "{needle}");
            assert!(
                p.grams.iter().all(|g| indexed.contains(g)),
                "{needle} in {tok}"
            );
        }
    }

    #[test]
    fn substring_probes_bounded_tokens_and_long_edges_only() {
        let p = NeedleProbe::substring("d=abc123 x");
        assert_eq!(p.tokens, [token_hash(b"abc123")]);
        assert!(p.grams.is_empty() && p.value.is_none());
        // short edges give nothing to probe: every chunk may hold the needle
        assert!(NeedleProbe::substring("abc").is_empty());
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(NeedleProbe::substring(id).grams, minimizers(id));
        assert!(NeedleProbe::substring(id).tokens.is_empty());
        // a window of 16 8-grams: about two minimizers per 17 bytes
        assert!((1..=6).contains(&minimizers(id).len()));
    }

    #[test]
    fn delimited_match() {
        let d = |hay: &[u8], needle: &[u8]| Matcher::new(needle).contains_delimited(hay);
        assert!(d(b"id=abc123 x", b"abc123"));
        assert!(!d(b"id=xabc123 x", b"abc123"));
        assert!(d(b"xabc123 abc123", b"abc123"));
        assert!(d(b"to a.b@x.com.", b"a.b@x.com"));
        assert!(d(b"anything", b""));
        assert!(Matcher::new(b"c12").contains(b"xabc123"));
        assert!(!Matcher::new(b"c13").contains(b"xabc123"));
    }
}
