// Batched C[b] = op(A[b]) @ op(B[b]) (+ bias, activation: the fused dense epilogue).
//
// Tiled in workgroup memory: a 16x16 workgroup computes a 64x64 tile of C, each
// invocation a 4x4 register block, stepping through K in slices of 16 that the
// workgroup stages into shared memory. Transposes are strides: A is read as
// A[m, k] = a[m * sa_m + k * sa_k] (likewise B), so op() costs nothing.
// Batch is the z workgroup index. act: 0 linear, 1 relu, 2 sigmoid, 3 tanh.

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    sa_m: u32, sa_k: u32, sb_k: u32, sb_n: u32,
    a_batch: u32, b_batch: u32, has_bias: u32, act: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<array<f32, 64>, 16>;   // [k][m]
var<workgroup> Bs: array<array<f32, 64>, 16>;   // [k][n]

fn epilogue(v: f32, col: u32) -> f32 {
    var z = v;
    if (p.has_bias == 1u) { z = z + bias[col]; }
    switch p.act {
        case 1u: { if (!(z > 0.0 || is_nan_f32(z))) { z = 0.0; } }
        case 2u: { z = sigmoid_stable(z); }
        case 3u: { z = tanh_stable(z); }
        default: {}
    }
    return z;
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bz = wid.z;
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * 16u + tx;
    let abase = bz * p.a_batch;
    let bbase = bz * p.b_batch;
    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = 0.0; }
    }
    for (var k0 = 0u; k0 < p.k; k0 = k0 + TK) {
        // Stage a 64x16 slice of A and a 16x64 slice of B: 1024 values each, 4 per invocation.
        for (var e = 0u; e < 4u; e = e + 1u) {
            let q = t * 4u + e;
            let am = q / TK;
            let ak = q % TK;
            let gm = row0 + am;
            let gk = k0 + ak;
            var av = 0.0;
            if (gm < p.m && gk < p.k) { av = a[abase + gm * p.sa_m + gk * p.sa_k]; }
            As[ak][am] = av;
            let bk = q / TN;
            let bn = q % TN;
            let gk2 = k0 + bk;
            let gn = col0 + bn;
            var bv = 0.0;
            if (gk2 < p.k && gn < p.n) { bv = b[bbase + gk2 * p.sb_k + gn * p.sb_n]; }
            Bs[bk][bn] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            var ar: array<f32, 4>;
            var br: array<f32, 4>;
            for (var i = 0u; i < 4u; i = i + 1u) { ar[i] = As[kk][ty * 4u + i]; }
            for (var j = 0u; j < 4u; j = j + 1u) { br[j] = Bs[kk][tx * 4u + j]; }
            for (var i = 0u; i < 4u; i = i + 1u) {
                for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = fma(ar[i], br[j], acc[i][j]); }
            }
        }
        workgroupBarrier();
    }
    let cbase = bz * p.m * p.n;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let r = row0 + ty * 4u + i;
        if (r >= p.m) { continue; }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = col0 + tx * 4u + j;
            if (col < p.n) { c[cbase + r * p.n + col] = epilogue(acc[i][j], col); }
        }
    }
}
