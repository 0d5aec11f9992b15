//! A decimal number `w * 10^q` (at most 19 significant digits) to the nearest double, for `fastjson`: the feature
//! values of a mapped source are mostly FP32 tensors written as doubles, 17 significant digits each, where
//! `str::parse::<f64>` (which scans the text again) was a third of the reader's time.
//!
//! Exact when `w <= 2^53` and `|q| <= 22` (one correctly rounded operation on exact doubles). Otherwise, for
//! `q` in [-27, 55]: `w` times a 128-bit `5^q` (exact for `q >= 0`; for `q < 0`, the floor of `2^b / 5^-q`,
//! less than one unit short) as an exact 192-bit product, rounded to 53 bits. The product is at most `2^64` units
//! of its last bit below the true value, so its rounding is the true one unless the bits below the mantissa lie
//! within `2^67` units of a halfway point or of an exact one: then, and for anything else (more digits, another
//! exponent, a subnormal or infinite result), `None`, and the caller parses the text with the standard library.
//! The tests compare it with `str::parse` on millions of numbers, halfway cases included.

/// `5^q` for q in [-27, 55] as (128-bit value with its top bit set, binary exponent e): `5^q ~= value * 2^e`.
const MIN_Q: i32 = -27;
const MAX_Q: i32 = 55;
const N_POWERS: usize = (MAX_Q - MIN_Q + 1) as usize;

const fn bit_length(x: u128) -> u32 {
    128 - x.leading_zeros()
}

const fn pow5(k: u32) -> u128 {
    let mut p: u128 = 1;
    let mut i = 0;
    while i < k {
        p *= 5;
        i += 1;
    }
    p
}

/// `floor(2^b / d)` for `d < 2^64` and a quotient below `2^128` (long division, one bit at a time).
const fn pow2_div(b: u32, d: u128) -> u128 {
    let mut r: u128 = 0;
    let mut q: u128 = 0;
    let mut i = b as i64;
    while i >= 0 {
        r = (r << 1) | (if i == b as i64 { 1 } else { 0 });
        q <<= 1;
        if r >= d {
            r -= d;
            q |= 1;
        }
        i -= 1;
    }
    q
}

const fn powers() -> [(u128, i32); N_POWERS] {
    let mut out = [(0u128, 0i32); N_POWERS];
    let mut q = MIN_Q;
    while q <= MAX_Q {
        let i = (q - MIN_Q) as usize;
        if q >= 0 {
            let p = pow5(q as u32); // 5^55 < 2^128: exact
            let s = p.leading_zeros();
            out[i] = (p << s, -(s as i32));
        } else {
            let d = pow5((-q) as u32); // 5^27 < 2^64
            let b = 127 + bit_length(d); // 2^b / d in [2^127, 2^128)
            out[i] = (pow2_div(b, d), -(b as i32));
        }
        q += 1;
    }
    out
}

static POWERS: [(u128, i32); N_POWERS] = powers();

/// Exact powers of ten as doubles (10^22 is the last one).
const EXACT: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The double nearest to `w * 10^q` (`w > 0`), or None when this cannot tell it for sure (see the module docs).
pub(crate) fn to_f64(w: u64, q: i32) -> Option<f64> {
    if w == 0 {
        return Some(0.0);
    }
    if w <= 1 << 53 && (-22..=22).contains(&q) {
        let x = w as f64; // exact
        return Some(if q >= 0 {
            x * EXACT[q as usize]
        } else {
            x / EXACT[(-q) as usize]
        });
    }
    if !(MIN_Q..=MAX_Q).contains(&q) {
        return None;
    }
    let (t, e) = POWERS[(q - MIN_Q) as usize];
    let lz = w.leading_zeros();
    let w = (w << lz) as u128;
    // the 192-bit product w * t as (p2, p1, p0), most significant first
    let low = w * (t as u64 as u128);
    let high = w * (t >> 64);
    let p0 = low as u64;
    let mid = (low >> 64) + (high as u64 as u128);
    let mut p1 = mid as u64;
    let mut p2 = ((high >> 64) + (mid >> 64)) as u64;
    // value = product * 2^(e - lz + q); normalize the product to its bit 191 (p0 is below the margin then)
    let mut exp = e - lz as i32 + q;
    if p2 >> 63 == 0 {
        p2 = (p2 << 1) | (p1 >> 63);
        p1 = (p1 << 1) | (p0 >> 63);
        exp -= 1;
    }
    // mantissa: bits 191..139 (53), round bit 138, then the rest; too near a halfway or an exact point: unsure
    let below = p2 & 0x3FF;
    if (below == 0 && p1 < 8) || (below == 0x3FF && p1 > u64::MAX - 8) {
        return None;
    }
    let mut m = p2 >> 11;
    if (p2 >> 10) & 1 == 1 {
        m += 1; // beyond the halfway point
    }
    let mut x = exp + 139; // value = m * 2^x
    if m == 1 << 53 {
        m = 1 << 52;
        x += 1;
    }
    let biased = x + 52 + 1023;
    if biased <= 0 || biased >= 0x7FF {
        return None;
    }
    Some(f64::from_bits(((biased as u64) << 52) | (m & ((1 << 52) - 1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift generator: the same numbers on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn check(w: u64, q: i32) -> bool {
        let text = format!("{w}e{q}");
        let want: f64 = text.parse().unwrap();
        match to_f64(w, q) {
            Some(got) => {
                assert_eq!(got.to_bits(), want.to_bits(), "{text}: {got:e} != {want:e}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_powers_of_five_bracket_the_true_values() {
        for q in MIN_Q..=MAX_Q {
            let (t, e) = POWERS[(q - MIN_Q) as usize];
            assert_eq!(t >> 127, 1, "5^{q} not normalized");
            if q >= 0 {
                assert_eq!(t >> (-e) as u32, pow5(q as u32), "5^{q}");
                assert_eq!(t & ((1u128 << (-e) as u32) - 1), 0);
            } else {
                // t * d <= 2^b < (t + 1) * d, d = 5^-q, b = -e: in 192 bits (three words, least significant first)
                let d = pow5((-q) as u32);
                let times = |x: u128| {
                    let low = (x as u64 as u128) * d;
                    let high = (x >> 64) * d + (low >> 64);
                    [low as u64, high as u64, (high >> 64) as u64]
                };
                let b = -e as u32;
                let mut pow = [0u64; 3];
                pow[(b / 64) as usize] = 1 << (b % 64);
                let (under, over) = (times(t), times(t + 1));
                assert!(under.iter().rev().le(pow.iter().rev()), "5^{q}: t * d > 2^b");
                assert!(over.iter().rev().gt(pow.iter().rev()), "5^{q}: (t + 1) * d <= 2^b");
            }
        }
    }

    #[test]
    fn random_numbers_read_as_the_standard_library_does() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut fast = 0;
        let n = 2_000_000;
        let mut fp32 = (0, 0); // (fast, all) of the FP32 values
        for i in 0..n {
            let digits = 1 + (rng.next() % 19) as u32;
            let w = rng.next() % 10u64.pow(digits).max(1);
            let q = (rng.next() % 90) as i32 - 32;
            if check(w, q) {
                fast += 1;
            }
            // FP32 values written as the shortest double (17 digits or fewer), as the OIP tensors are
            let f = f32::from_bits(rng.next() as u32);
            if f.is_finite() && f != 0.0 {
                let text = format!("{:e}", f.abs() as f64);
                let (mantissa, exponent) = text.split_once('e').unwrap();
                let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
                let w: u64 = format!("{int}{frac}").parse().unwrap();
                let q: i32 = exponent.parse::<i32>().unwrap() - frac.len() as i32;
                fp32.1 += 1;
                if check(w, q) {
                    fast += 1;
                    fp32.0 += 1;
                }
            }
            if i % 4 == 0 {
                check(1 + rng.next() % (1 << 53), (rng.next() % 45) as i32 - 22);
            }
        }
        assert!(fast > n, "too few numbers took the fast path: {fast}");
        // random FP32 bit patterns spread over 10^-45 .. 10^38: those below about 10^-11 (17 digits, q < -27) are
        // left to the standard library, about a third
        assert!(fp32.0 * 10 > fp32.1 * 6, "FP32 values in the fast path: {fp32:?}");
    }

    #[test]
    fn halfway_and_exact_points_are_left_to_the_standard_library_or_read_right() {
        let mut rng = Rng(12345);
        for _ in 0..200_000 {
            // m * 2 + 1 at 2^k: halfway between two doubles when m has 53 bits; written with trailing zeros and
            // as a decimal fraction of the same digits
            let m = (1u64 << 52) | (rng.next() & ((1 << 52) - 1));
            for shift in 0..10u32 {
                let Some(v) = ((m << 1) | 1).checked_shl(shift) else {
                    continue;
                };
                if v >> shift != (m << 1) | 1 {
                    continue;
                }
                for zeros in 0..3u32 {
                    if let Some(w) = v.checked_mul(10u64.pow(zeros)) {
                        check(w, -(zeros as i32));
                        check(w, 0);
                    }
                }
                check(v, 0);
                check(v / 10, 1);
            }
            // exact doubles and their neighbours in 17 digits
            let x = f64::from_bits(0x3F00_0000_0000_0000 + rng.next() % 0x0A00_0000_0000_0000);
            for y in [x, f64::from_bits(x.to_bits() + 1), f64::from_bits(x.to_bits() - 1)] {
                let text = format!("{y:.16e}");
                let (mantissa, exponent) = text.split_once('e').unwrap();
                let (int, frac) = mantissa.split_once('.').unwrap();
                let w: u64 = format!("{int}{frac}").parse().unwrap();
                check(w, exponent.parse::<i32>().unwrap() - frac.len() as i32);
            }
        }
    }
}
