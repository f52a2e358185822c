// Philox 4x32-10, the twin of rust/src/kernels/random.rs: element i of a draw at counter
// `offset` is lane i % 4 of philox(key = seed, counter = (offset + i / 4) as 64 bits, 0, 0).
// The integer bits, uniforms and Bernoulli masks are identical to the CPU's; normal
// draws go through log/cos/sin whose last-bit rounding is the device's.

struct Params {
    n: u32, kind: u32, seed_lo: u32, seed_hi: u32,
    off_lo: u32, off_hi: u32, a: f32, b: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

// (hi, lo) of the 64-bit product a * b, from 16-bit halves (WGSL has no 64-bit ints).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu; let a_hi = a >> 16u;
    let b_lo = b & 0xffffu; let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let lo = (ll & 0xffffu) | (mid << 16u);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, lo);
}

fn philox(ctr_in: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var c = ctr_in;
    var k = key_in;
    for (var r = 0u; r < 10u; r = r + 1u) {
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

fn u01(bits: u32) -> f32 { return f32(bits >> 8u) * (1.0 / 16777216.0); }
fn u01_open0(bits: u32) -> f32 { return f32((bits >> 8u) + 1u) * (1.0 / 16777216.0); }

// Giles' single-precision erfinv, as on the CPU.
fn erfinv(x: f32) -> f32 {
    var w = -log((1.0 - x) * (1.0 + x));
    var q: f32;
    if (w < 5.0) {
        w = w - 2.5;
        q = 2.81022636e-08;
        q = 3.43273939e-07 + q * w;
        q = -3.5233877e-06 + q * w;
        q = -4.39150654e-06 + q * w;
        q = 0.00021858087 + q * w;
        q = -0.00125372503 + q * w;
        q = -0.00417768164 + q * w;
        q = 0.246640727 + q * w;
        q = 1.50140941 + q * w;
    } else {
        w = sqrt(w) - 3.0;
        q = -0.000200214257;
        q = 0.000100950558 + q * w;
        q = 0.00134934322 + q * w;
        q = -0.00367342844 + q * w;
        q = 0.00573950773 + q * w;
        q = -0.0076224613 + q * w;
        q = 0.00943887047 + q * w;
        q = 1.00167406 + q * w;
        q = 2.83297682 + q * w;
    }
    return q * x;
}

// One invocation per 4-lane block. kind: 0 uniform(a=low, b=high), 1 normal(mean, std),
// 2 truncated normal(mean, std), 3 bernoulli(keep, scale), 4 raw bits.
@compute @workgroup_size(WG)
fn random(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let blk = flat_id(w, nw, l);
    if (blk * 4u >= p.n) { return; }
    let lo = p.off_lo + blk;
    let carry = select(0u, 1u, lo < p.off_lo);
    let bits = philox(vec4<u32>(lo, p.off_hi + carry, 0u, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
    var v: array<f32, 4>;
    if (p.kind == 1u) {
        for (var q = 0u; q < 2u; q = q + 1u) {
            let r = sqrt(-2.0 * log(u01_open0(bits[2u * q])));
            let t = 6.2831853071795864 * u01(bits[2u * q + 1u]);
            v[2u * q] = p.a + p.b * r * cos(t);
            v[2u * q + 1u] = p.a + p.b * r * sin(t);
        }
    } else {
        for (var q = 0u; q < 4u; q = q + 1u) {
            let u = u01(bits[q]);
            switch p.kind {
                case 0u: { v[q] = p.a + (p.b - p.a) * u; }
                case 2u: {
                    let uu = (u * 2.0 - 1.0 + 1.0 / 16777216.0) * 0.9544997;
                    v[q] = p.a + p.b * clamp(1.4142135623730951 * erfinv(uu), -2.0, 2.0);
                }
                case 3u: { v[q] = select(0.0, p.b, u < p.a); }
                default: { v[q] = bitcast<f32>(bits[q]); }
            }
        }
    }
    for (var q = 0u; q < 4u; q = q + 1u) {
        let i = blk * 4u + q;
        if (i < p.n) { out[i] = bitcast<u32>(v[q]); }
    }
}
