//! Tokens and blocked (cache-line) bloom filters.
//!
//! A token is a maximal run of ASCII alphanumerics or non-ASCII bytes, at least
//! `MIN_TOKEN` long (shorter ones are in nearly every chunk and would only fill the filter).
//! Attribute values are also indexed whole, so an id with dashes or an e-mail address is
//! one probe. Each chunk has its own filter made of 64-byte blocks: a token sets and tests
//! `K` bits inside the one block its hash selects, so a lookup reads 64 bytes per chunk
//! (one `pread`) instead of the whole filter — at 10 GB of logs the filters are ~2% of the
//! raw size and never need to be in memory.

use xxhash_rust::xxh3::xxh3_64;

pub(crate) const MIN_TOKEN: usize = 3;
pub(crate) const MAX_TOKEN: usize = 128;
pub(crate) const BLOOM_BLOCK: usize = 64;
const K: u32 = 8;

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Hashes of every token of `text` (duplicates included).
pub(crate) fn for_each_token(text: &[u8], mut f: impl FnMut(u64)) {
    let mut i = 0;
    while i < text.len() {
        if !is_token_byte(text[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && is_token_byte(text[i]) {
            i += 1;
        }
        let tok = &text[start..i];
        if tok.len() >= MIN_TOKEN {
            f(token_hash(&tok[..tok.len().min(MAX_TOKEN)]));
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

/// What to probe for a needle: its whole-value hash, or else all of its tokens. A chunk may
/// hold the needle only if the whole-value probe hits or every token probe hits. A needle that
/// is one token (a trace id) needs only the token probe: attribute values are indexed by their
/// tokens too.
#[derive(Debug, Clone)]
pub(crate) struct NeedleProbe {
    pub value: Option<u64>,
    pub tokens: Vec<u64>,
}

impl NeedleProbe {
    pub(crate) fn new(needle: &str) -> Self {
        let b = needle.as_bytes();
        let mut tokens = Vec::new();
        for_each_token(b, |h| tokens.push(h));
        tokens.sort_unstable();
        tokens.dedup();
        let one_token =
            (MIN_TOKEN..=MAX_TOKEN).contains(&b.len()) && b.iter().all(|&c| is_token_byte(c));
        NeedleProbe {
            value: (!one_token).then(|| value_hash(b)),
            tokens,
        }
    }
}

/// `needle` occurs in `hay` delimited by token boundaries.
pub(crate) fn contains_delimited(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    let starts_tok = is_token_byte(needle[0]);
    let ends_tok = is_token_byte(needle[needle.len() - 1]);
    for pos in memchr::memmem::find_iter(hay, needle) {
        let left_ok = !starts_tok || pos == 0 || !is_token_byte(hay[pos - 1]);
        let end = pos + needle.len();
        let right_ok = !ends_tok || end == hay.len() || !is_token_byte(hay[end]);
        if left_ok && right_ok {
            return true;
        }
    }
    false
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

    #[test]
    fn delimited_match() {
        assert!(contains_delimited(b"id=abc123 x", b"abc123"));
        assert!(!contains_delimited(b"id=xabc123 x", b"abc123"));
        assert!(contains_delimited(b"xabc123 abc123", b"abc123"));
        assert!(contains_delimited(b"to a.b@x.com.", b"a.b@x.com"));
    }
}
