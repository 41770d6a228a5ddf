//! A tiny, dependency-free PRNG. Output must be byte-identical across runs, platforms and thread
//! counts, so every file gets its own stream derived from `(seed, stream id)` instead of sharing
//! one generator across rayon workers.

/// SplitMix64 finalizer: a bijection on `u64`, used both for seeding and for collision-free ids.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** seeded through SplitMix64.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const UPPER_DIGITS: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &[u8; 16] = b"0123456789abcdef";

impl Rng {
    /// A stream for `stream` under `seed`; distinct streams are statistically independent.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut x =
            mix64(seed ^ 0x6A09_E667_F3BC_C908) ^ mix64(stream.wrapping_add(0x9E37_79B9_7F4A_7C15));
        let mut s = [0u64; 4];
        for v in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *v = mix64(x);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (multiply-shift; the tiny bias is irrelevant here). `n == 0` gives 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub(crate) fn idx(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.idx(items.len())]
    }

    /// [`Rng::pick`] for string tables, returning the `'static` string itself.
    pub(crate) fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.idx(items.len())]
    }

    /// Log-uniform integer in `lo..=hi`: the building block of the heavy-tailed size mix.
    pub(crate) fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), ((hi + 1) as f64).ln());
        let v = (l + (h - l) * self.f64()).exp() as u64;
        v.clamp(lo, hi)
    }

    fn push_from(&mut self, out: &mut String, alphabet: &[u8], n: usize) {
        // One u64 feeds eight characters; the modulo bias is harmless for random-looking ids.
        let mut left = 0;
        let mut bits = 0u64;
        for _ in 0..n {
            if left == 0 {
                bits = self.next_u64();
                left = 8;
            }
            out.push(alphabet[(bits & 0xFF) as usize % alphabet.len()] as char);
            bits >>= 8;
            left -= 1;
        }
    }

    pub(crate) fn push_alnum(&mut self, out: &mut String, n: usize) {
        self.push_from(out, ALNUM, n);
    }

    pub(crate) fn push_b64(&mut self, out: &mut String, n: usize) {
        // 64 symbols: take 6 bits at a time, ten characters per draw.
        let mut left = 0;
        let mut bits = 0u64;
        for _ in 0..n {
            if left == 0 {
                bits = self.next_u64();
                left = 10;
            }
            out.push(B64[(bits & 63) as usize] as char);
            bits >>= 6;
            left -= 1;
        }
    }

    pub(crate) fn push_upper(&mut self, out: &mut String, n: usize) {
        self.push_from(out, UPPER_DIGITS, n);
    }

    pub(crate) fn push_hex(&mut self, out: &mut String, n: usize) {
        let mut left = 0;
        let mut bits = 0u64;
        for _ in 0..n {
            if left == 0 {
                bits = self.next_u64();
                left = 16;
            }
            out.push(HEX[(bits & 15) as usize] as char);
            bits >>= 4;
            left -= 1;
        }
    }

    /// A random version-4 UUID (request ids, shared event ids; not required to be unique).
    pub(crate) fn push_uuid(&mut self, out: &mut String) {
        let a = self.next_u64();
        let b = self.next_u64();
        push_uuid_bits(out, a, b);
    }
}

/// Formats 128 bits as a version-4, variant-1 UUID, overwriting the six version/variant bits.
pub(crate) fn push_uuid_bits(out: &mut String, hi: u64, lo: u64) {
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0xC000 << 48)) | (0x8000 << 48);
    fn put(out: &mut String, v: u64, nibbles: u32) {
        for k in (0..nibbles).rev() {
            out.push(HEX[((v >> (k * 4)) & 15) as usize] as char);
        }
    }
    put(out, hi >> 32, 8);
    out.push('-');
    put(out, (hi >> 16) & 0xFFFF, 4);
    out.push('-');
    put(out, hi & 0xFFFF, 4);
    out.push('-');
    put(out, lo >> 48, 4);
    out.push('-');
    put(out, lo & 0xFFFF_FFFF_FFFF, 12);
}

/// The eventID of record `rec` in stream `file`: the 64-bit counter `(file, rec)` goes through a
/// bijection and lands in bits the UUID version/variant do not touch, so ids are unique across the
/// whole corpus by construction rather than by luck; the rest is filled from `rng`.
pub(crate) fn push_event_id(out: &mut String, seed: u64, file: u64, rec: u64, rng: &mut Rng) {
    debug_assert!(rec < 1 << 24 && file < 1 << 40);
    let unique = mix64((file << 24 | rec) ^ mix64(seed));
    // unique bits 63..16 -> hi 63..16, 15..4 -> hi 11..0 (skipping the version nibble),
    // 3..0 -> lo 61..58 (just below the variant bits).
    let hi = (unique & 0xFFFF_FFFF_FFFF_0000) | ((unique >> 4) & 0x0FFF);
    let lo = (rng.next_u64() & !(0xF << 58)) | ((unique & 0xF) << 58);
    push_uuid_bits(out, hi, lo);
}
