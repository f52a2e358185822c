// Batched C[b] = op(A[b]) @ op(B[b]) (+ bias, activation: the fused dense epilogue).
//
// Tiled in workgroup memory: a 16x16 workgroup computes a 64x64 tile of C, each
// invocation a 4x4 register block held as four vec4 rows, stepping through K in slices
// of 16 that the workgroup stages into shared memory as vec4s. Transposes are strides:
// A is read as A[m, k] = a[m * sa_m + k * sa_k] (likewise B), so op() costs nothing.
// Batch is the z workgroup index. act: 0 linear, 1 relu, 2 sigmoid, 3 tanh.
//
// Split-K: with splits > 1, z = batch * splits + s and slice s sums only k in
// [s * kc, s * kc + kc), writing its own (m, n) partial at c[z]; the host adds the
// partials and applies the epilogue. It bounds the K loop of one invocation (lavapipe
// stops an invocation's loops after 65,535 iterations in total) and gives a tall-skinny
// product (a weight gradient: small m and n, huge k) more than a handful of workgroups.
//
// Global loads are vec4 where the layout allows (override constants chosen by the host):
//   VEC_A = 0: scalar loads; 1: vec4 along k (sa_k == 1, k, sa_m and the batch stride
//   multiples of 4); 2: vec4 along m (sa_m == 1, m, sa_k and the batch stride multiples
//   of 4). VEC_B likewise: 1 along n (sb_n == 1), 2 along k (sb_k == 1).
// Operands are bound as array<vec4<f32>> (buffers are padded to 16 bytes), so the scalar
// path indexes a component.

override VEC_A: u32 = 0u;
override VEC_B: u32 = 0u;

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    sa_m: u32, sa_k: u32, sb_k: u32, sb_n: u32,
    a_batch: u32, b_batch: u32, has_bias: u32, act: u32,
    splits: u32, kc: u32, p0: u32, p1: u32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

// As[k * 16 + m / 4][m % 4] and Bs[k * 16 + n / 4][n % 4]: a 16x64 slice each.
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;

fn load_a(i: u32) -> f32 { return a[i >> 2u][i & 3u]; }
fn load_b(i: u32) -> f32 { return b[i >> 2u][i & 3u]; }

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

fn stage_a(t: u32, abase: u32, row0: u32, k0: u32, khi: u32) {
    if (VEC_A == 1u) {
        // One vec4 along k: A[m, gk..gk+3] -> four k rows of the tile.
        let am = t / 4u;
        let ak = (t % 4u) * 4u;
        let gm = row0 + am;
        let gk = k0 + ak;
        var v = vec4<f32>(0.0);
        if (gm < p.m && gk < khi) { v = a[(abase + gm * p.sa_m + gk) >> 2u]; }
        As[(ak + 0u) * 16u + am / 4u][am % 4u] = v.x;
        As[(ak + 1u) * 16u + am / 4u][am % 4u] = v.y;
        As[(ak + 2u) * 16u + am / 4u][am % 4u] = v.z;
        As[(ak + 3u) * 16u + am / 4u][am % 4u] = v.w;
    } else if (VEC_A == 2u) {
        // One vec4 along m: A[gm..gm+3, k] is one tile entry as it stands.
        let ak = t / 16u;
        let am = (t % 16u) * 4u;
        let gm = row0 + am;
        let gk = k0 + ak;
        var v = vec4<f32>(0.0);
        if (gm < p.m && gk < khi) { v = a[(abase + gm + gk * p.sa_k) >> 2u]; }
        As[ak * 16u + am / 4u] = v;
    } else {
        for (var e = 0u; e < 4u; e = e + 1u) {
            let q = t * 4u + e;
            let am = q / TK;
            let ak = q % TK;
            let gm = row0 + am;
            let gk = k0 + ak;
            var v = 0.0;
            if (gm < p.m && gk < khi) { v = load_a(abase + gm * p.sa_m + gk * p.sa_k); }
            As[ak * 16u + am / 4u][am % 4u] = v;
        }
    }
}

fn stage_b(t: u32, bbase: u32, col0: u32, k0: u32, khi: u32) {
    if (VEC_B == 1u) {
        let bk = t / 16u;
        let bn = (t % 16u) * 4u;
        let gk = k0 + bk;
        let gn = col0 + bn;
        var v = vec4<f32>(0.0);
        if (gk < khi && gn < p.n) { v = b[(bbase + gk * p.sb_k + gn) >> 2u]; }
        Bs[bk * 16u + bn / 4u] = v;
    } else if (VEC_B == 2u) {
        let bn = t / 4u;
        let bk = (t % 4u) * 4u;
        let gk = k0 + bk;
        let gn = col0 + bn;
        var v = vec4<f32>(0.0);
        if (gk < khi && gn < p.n) { v = b[(bbase + gk + gn * p.sb_n) >> 2u]; }
        Bs[(bk + 0u) * 16u + bn / 4u][bn % 4u] = v.x;
        Bs[(bk + 1u) * 16u + bn / 4u][bn % 4u] = v.y;
        Bs[(bk + 2u) * 16u + bn / 4u][bn % 4u] = v.z;
        Bs[(bk + 3u) * 16u + bn / 4u][bn % 4u] = v.w;
    } else {
        for (var e = 0u; e < 4u; e = e + 1u) {
            let q = t * 4u + e;
            let bk = q / TN;
            let bn = q % TN;
            let gk = k0 + bk;
            let gn = col0 + bn;
            var v = 0.0;
            if (gk < khi && gn < p.n) { v = load_b(bbase + gk * p.sb_k + gn * p.sb_n); }
            Bs[bk * 16u + bn / 4u][bn % 4u] = v;
        }
    }
}

fn store_row(cbase: u32, r: u32, col: u32, v: vec4<f32>) {
    if (r >= p.m) { return; }
    let base = cbase + r * p.n;
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (col + j < p.n) { c[base + col + j] = epilogue(v[j], col + j); }
    }
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bz = wid.z / p.splits;
    let k_lo = (wid.z % p.splits) * p.kc;
    let k_hi = min(p.k, k_lo + p.kc);
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * 16u + tx;
    let abase = bz * p.a_batch;
    let bbase = bz * p.b_batch;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = k_lo; k0 < k_hi; k0 = k0 + TK) {
        stage_a(t, abase, row0, k0, k_hi);
        stage_b(t, bbase, col0, k0, k_hi);
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            let av = As[kk * 16u + ty];   // rows ty*4 .. ty*4+3 at this k
            let bv = Bs[kk * 16u + tx];   // cols tx*4 .. tx*4+3 at this k
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }
        workgroupBarrier();
    }
    let cbase = wid.z * p.m * p.n;
    let r = row0 + ty * 4u;
    let col = col0 + tx * 4u;
    store_row(cbase, r + 0u, col, acc0);
    store_row(cbase, r + 1u, col, acc1);
    store_row(cbase, r + 2u, col, acc2);
    store_row(cbase, r + 3u, col, acc3);
}
