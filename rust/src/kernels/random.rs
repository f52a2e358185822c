//! Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011),
//! the counter-based generator behind every random draw in Ember.
//!
//! Element `i` of a draw at counter `offset` takes lane `i % 4` of the block
//! philox(key = seed, counter = (offset + i / 4) as 64 bits, 0, 0). Nothing depends on
//! thread scheduling, and the WGSL twin (`shaders/random/`) computes the same bits from
//! the same (seed, offset, i). The float transforms use only +, *, and one log/cos/sin
//! or erfinv per value, written out here so the shader can mirror them.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::memory::alloc_f32;

use super::parallel::MIN_PARALLEL;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

/// Ten rounds of Philox 4x32 on `ctr` under `key`.
#[inline]
pub fn philox4x32(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (ctr, key);
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

#[inline]
fn block(seed: u64, counter: u64) -> [u32; 4] {
    philox4x32([counter as u32, (counter >> 32) as u32, 0, 0], [seed as u32, (seed >> 32) as u32])
}

/// Uniform in [0, 1) with 24 random bits (every value exactly representable in f32).
#[inline]
pub fn u01(bits: u32) -> f32 {
    (bits >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in (0, 1]: safe to take the log of.
#[inline]
fn u01_open0(bits: u32) -> f32 {
    ((bits >> 8) + 1) as f32 * (1.0 / 16_777_216.0)
}

/// Number of 128-bit counter blocks a draw of `n` values consumes.
pub fn blocks_for(n: usize) -> u64 {
    n.div_ceil(4) as u64
}

/// Fills `out` from 4-lane blocks: `f(block, lane_values)` writes up to 4 values.
fn fill_blocks(out: &mut [f32], seed: u64, offset: u64, f: impl Fn([u32; 4], &mut [f32]) + Sync) {
    let body = |(j, dst): (usize, &mut [f32])| f(block(seed, offset.wrapping_add(j as u64)), dst);
    if out.len() >= MIN_PARALLEL {
        out.par_chunks_mut(4).enumerate().for_each(body);
    } else {
        out.chunks_mut(4).enumerate().for_each(body);
    }
}

/// Raw 32-bit outputs (for tests and for checking the WGSL twin bit for bit).
pub fn bits(n: usize, seed: u64, offset: u64) -> Vec<u32> {
    (0..n).map(|i| block(seed, offset.wrapping_add((i / 4) as u64))[i % 4]).collect()
}

fn check_n(op: &str, n: usize) -> Result<()> {
    if n > (u32::MAX as usize) * 4 {
        return Err(Error::value(op, format!("{n} values is more than one draw supports")));
    }
    Ok(())
}

pub fn uniform(n: usize, seed: u64, offset: u64, low: f32, high: f32) -> Result<Vec<f32>> {
    check_n("random_uniform", n)?;
    if !(low.is_finite() && high.is_finite()) || high < low {
        return Err(Error::value("random_uniform", format!("needs finite low <= high, got [{low}, {high})")));
    }
    let mut out = alloc_f32(n)?;
    let span = high - low;
    fill_blocks(&mut out, seed, offset, |b, dst| {
        for (o, &x) in dst.iter_mut().zip(&b) {
            *o = low + span * u01(x);
        }
    });
    Ok(out)
}

/// Box-Muller on lanes (0, 1) and (2, 3) of each block.
pub fn normal(n: usize, seed: u64, offset: u64, mean: f32, std: f32) -> Result<Vec<f32>> {
    check_n("random_normal", n)?;
    if !(mean.is_finite() && std.is_finite()) || std < 0.0 {
        return Err(Error::value("random_normal", format!("needs finite mean and stddev >= 0, got {mean}, {std}")));
    }
    let mut out = alloc_f32(n)?;
    fill_blocks(&mut out, seed, offset, |b, dst| {
        let mut z = [0f32; 4];
        for p in 0..2 {
            let r = (-2.0 * u01_open0(b[2 * p]).ln()).sqrt();
            let t = std::f32::consts::TAU * u01(b[2 * p + 1]);
            z[2 * p] = r * t.cos();
            z[2 * p + 1] = r * t.sin();
        }
        for (o, &v) in dst.iter_mut().zip(&z) {
            *o = mean + std * v;
        }
    });
    Ok(out)
}

/// Inverse error function, Giles' single-precision approximation ("Approximating the
/// erfinv function", GPU Computing Gems, 2011): branch-light, so the shader mirrors it.
pub fn erfinv(x: f32) -> f32 {
    let mut w = -((1.0 - x) * (1.0 + x)).ln();
    if w < 5.0 {
        w -= 2.5;
        let mut p = 2.810_226_4e-08f32;
        p = 3.432_739_4e-07 + p * w;
        p = -3.523_387_7e-06 + p * w;
        p = -4.391_506_5e-06 + p * w;
        p = 0.000_218_580_87 + p * w;
        p = -0.001_253_725 + p * w;
        p = -0.004_177_681_6 + p * w;
        p = 0.246_640_73 + p * w;
        p = 1.501_409_4 + p * w;
        p * x
    } else {
        w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_26f32;
        p = 0.000_100_950_56 + p * w;
        p = 0.001_349_343_2 + p * w;
        p = -0.003_673_428_4 + p * w;
        p = 0.005_739_507_7 + p * w;
        p = -0.007_622_461 + p * w;
        p = 0.009_438_870_5 + p * w;
        p = 1.001_674_1 + p * w;
        p = 2.832_976_8 + p * w;
        p * x
    }
}

/// Normal truncated to [mean - 2 std, mean + 2 std] (Keras's TruncatedNormal) by the
/// inverse CDF of a uniform restricted to (Phi(-2), Phi(2)): exact, with no rejection
/// loop, so every element costs the same and CPU and GPU consume the same counters.
pub fn truncated_normal(n: usize, seed: u64, offset: u64, mean: f32, std: f32) -> Result<Vec<f32>> {
    check_n("random_truncated_normal", n)?;
    if !(mean.is_finite() && std.is_finite()) || std < 0.0 {
        return Err(Error::value(
            "random_truncated_normal",
            format!("needs finite mean and stddev >= 0, got {mean}, {std}"),
        ));
    }
    // erf(2 / sqrt(2)): the uniform's range maps to (-2, 2) standard deviations.
    const ERF_SQRT2: f32 = 0.954_499_7;
    let mut out = alloc_f32(n)?;
    fill_blocks(&mut out, seed, offset, |b, dst| {
        for (o, &x) in dst.iter_mut().zip(&b) {
            let u = (u01(x) * 2.0 - 1.0 + 1.0 / 16_777_216.0) * ERF_SQRT2;
            let z = std::f32::consts::SQRT_2 * erfinv(u);
            *o = mean + std * z.clamp(-2.0, 2.0);
        }
    });
    Ok(out)
}

/// Inverted-dropout mask: `scale` with probability `keep`, else 0.
pub fn bernoulli_mask(n: usize, seed: u64, offset: u64, keep: f32, scale: f32) -> Result<Vec<f32>> {
    check_n("dropout_mask", n)?;
    if !(0.0..=1.0).contains(&keep) {
        return Err(Error::value("dropout_mask", format!("keep probability must be in [0, 1], got {keep}")));
    }
    let mut out = alloc_f32(n)?;
    fill_blocks(&mut out, seed, offset, |b, dst| {
        for (o, &x) in dst.iter_mut().zip(&b) {
            *o = if u01(x) < keep { scale } else { 0.0 };
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_known_answer() {
        // Random123's published known-answer tests for philox4x32-10.
        assert_eq!(philox4x32([0, 0, 0, 0], [0, 0]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
        assert_eq!(
            philox4x32([0xffff_ffff; 4], [0xffff_ffff; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0]),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn draws_are_reproducible_and_offset_addressed() {
        let a = uniform(10, 7, 0, 0.0, 1.0).unwrap();
        let b = uniform(10, 7, 0, 0.0, 1.0).unwrap();
        assert_eq!(a, b);
        let c = uniform(6, 7, 1, 0.0, 1.0).unwrap();
        assert_eq!(&a[4..10], &c[..]);
    }

    #[test]
    fn normal_moments() {
        let z = normal(200_000, 1, 0, 0.0, 1.0).unwrap();
        let m: f64 = z.iter().map(|&v| v as f64).sum::<f64>() / z.len() as f64;
        let v: f64 = z.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "mean {m} var {v}");
    }

    #[test]
    fn truncated_normal_stays_within_two_std() {
        let z = truncated_normal(100_000, 3, 0, 0.0, 1.0).unwrap();
        assert!(z.iter().all(|v| v.abs() <= 2.0));
        let v: f64 = z.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / z.len() as f64;
        // Variance of a standard normal truncated at +-2: 0.7737.
        assert!((v - 0.7737).abs() < 0.01, "var {v}");
    }
}
