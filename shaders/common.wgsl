// Prelude shared by every Ember shader (prepended by `_core.shader_source`).
//
// Conventions (see shaders/README.md): bindings in group 0 are inputs (read-only
// storage), then outputs (read_write storage), then one uniform `Params` last.
// The workgroup size is the override constant WG; grids larger than 65,535
// workgroups are split over x and y, and `flat_id` rebuilds the linear index.

override WG: u32 = 256u;

fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// NaN tests by bit pattern: shader compilers may assume `x != x` is false (fast-math
// style), so the comparison form silently loses NaNs on some drivers (lavapipe does).
fn is_nan_f32(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn sigmoid_stable(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// tanh that saturates exactly instead of overflowing exp() for large |x|, and keeps its
// relative precision near 0 ((exp(2x) - 1) / (exp(2x) + 1) lost it: 1e-2 relative at 1e-6).
fn tanh_stable(x: f32) -> f32 {
    return tanh_f32(x);
}

// WGSL's pow is undefined for negative bases; follow C's powf for integral exponents.
fn pow_signed(a: f32, b: f32) -> f32 {
    if (a >= 0.0) {
        if (a == 0.0) { return select(select(1.0, 0.0, b > 0.0), bitcast<f32>(0x7f800000u), b < 0.0); }
        return pow(a, b);
    }
    if (b != floor(b)) { return bitcast<f32>(0x7fc00000u); }
    let m = pow(-a, b);
    return select(m, -m, (abs(b) % 2.0) == 1.0);
}

// ---- Accurate transcendental helpers for the activation kernels ---------------------------
// WGSL's builtin exp/log/tanh are only specified to a few ulp (log: 2^-21 absolute near 1),
// and drivers differ, so the activations that need relative precision near 0 or in a tail
// build on these instead.

fn is_inf_f32(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// exp(x) - 1 with relative precision near 0: Taylor to x^8 below |x| = 0.5 (error < 1e-8).
fn expm1_f32(x: f32) -> f32 {
    if (x < -88.0) { return -1.0; }
    if (abs(x) < 0.5) {
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0
            + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0))))))));
    }
    return exp(x) - 1.0;
}

// ln((1 + s) / (1 - s)) = 2 atanh(s) for |s| <= 0.1716 (series error < 1e-10).
fn log_ratio_series(s: f32) -> f32 {
    let s2 = s * s;
    return 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0))))));
}

// ln(u) for finite u > 0, independent of the driver's log: u = m 2^e, m in [sqrt(1/2), sqrt(2)).
fn log_f32(u: f32) -> f32 {
    let fr = frexp(u);
    var m = fr.fract;
    var e = f32(fr.exp);
    if (m < 0.70710678) { m = m * 2.0; e = e - 1.0; }
    return e * 0.69314718 + log_ratio_series((m - 1.0) / (m + 1.0));
}

// ln(1 + t) for t > -1 with relative precision near 0.
fn log1p_f32(t: f32) -> f32 {
    if (t > -0.29289322 && t < 0.41421356) {
        return log_ratio_series(t / (2.0 + t));
    }
    return log_f32(1.0 + t);
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow, the left tail keeps its precision.
fn softplus_f32(x: f32) -> f32 {
    if (is_nan_f32(x)) { return x; }
    if (is_inf_f32(x)) { return max(x, 0.0); }
    return max(x, 0.0) + log1p_f32(exp(-abs(x)));
}

// tanh with relative precision near 0 (through expm1), exact saturation past |x| = 10.
fn tanh_f32(x: f32) -> f32 {
    if (is_nan_f32(x)) { return x; }
    let a = abs(x);
    if (a > 10.0) { return sign(x); }
    let e = expm1_f32(2.0 * a);
    return sign(x) * (e / (e + 2.0));
}

// erfc(z) for finite z >= 0, relative error < 1.2e-7 (the Chebyshev fit `erfcc` of Numerical
// Recipes; the CPU kernel uses the same one). z*z is split with fma so its rounding does not
// leak into the tail.
fn erfc_f32(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let zz = z * z;
    let lo = fma(z, z, -zz);
    return t * exp(-zz) * exp(p - lo);
}

// The standard normal CDF Phi(x) for finite x, accurate in both tails.
fn normal_cdf_f32(x: f32) -> f32 {
    let c = 0.5 * erfc_f32(abs(x) * 0.70710678);
    return select(c, 1.0 - c, x >= 0.0);
}

// erf(x): an odd Taylor series below |x| = 0.5 (keeps the relative precision near 0),
// 1 - erfc(|x|) above (the CPU kernel's erf_f).
fn erf_f32(x: f32) -> f32 {
    if (is_nan_f32(x)) { return x; }
    let a = abs(x);
    if (a < 0.5) {
        let z = x * x;
        let s = 1.0 + z * (-1.0 / 3.0 + z * (1.0 / 10.0 + z * (-1.0 / 42.0 + z * (1.0 / 216.0 + z * (-1.0 / 1320.0)))));
        return 1.1283791670955126 * x * s;
    }
    var r = 1.0;
    if (a <= 10.0) { r = 1.0 - erfc_f32(a); }
    return select(r, -r, x < 0.0);
}
