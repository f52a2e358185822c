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

// tanh that saturates exactly instead of overflowing exp() for large |x|.
fn tanh_stable(x: f32) -> f32 {
    if (abs(x) > 15.0) {
        return sign(x);
    }
    let e = exp(2.0 * x);
    return (e - 1.0) / (e + 1.0);
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
