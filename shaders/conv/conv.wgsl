// 2-D convolution, NHWC, kernel (KH, KW, C / groups, O), explicit zero padding
// (top = pt, left = pl; the bottom and right padding only shape OH and OW), strides,
// dilation, groups, and the fused epilogue act(z + bias) with act 0 linear, 1 relu,
// 2 sigmoid, 3 tanh. The semantics are Backend.conv2d / conv2d_backward's docstrings.
//
// Every pass is a GEMM per group whose operands are gathered from the tensors as they lie
// (implicit GEMM: no im2col buffer is ever written):
//
//   forward       y[m, o]  = sum_k  X[m, k]  W[k, o]     m = (n, i, j),  k = (p, q, c)
//   input grad   gx[r, c]  = sum_k' G[r, k'] W'[k', c]   r = (n, h, w),  k' = (p, q, o)
//   filter grad  gw[k, o]  = sum_m  X[m, k]  G[m, o]
//
// where X[m, k] is the padded input under window m at tap (p, q) (0 in the padding), G
// the output gradient times the activation's derivative (a function of y: relu y > 0,
// sigmoid y (1 - y), tanh 1 - y^2), and W' the kernel read transposed. The input gradient
// is a gather: row (n, h, w) takes G at the outputs whose windows cover it (i with
// i s0 + p d0 - pt = h, so no atomics and no scatter), zero where (h + pt - p d0) does
// not divide by the stride.
//
// Two schedules for each:
// - `*_tiled`: matmul.wgsl's tiling. A workgroup of 256 invocations computes a 64x64
//   tile of the group's GEMM (128x32 with NARROW = 1, for groups of at most 32 columns)
//   with a 4x4 register block per invocation, stepping through the reduction in slices
//   of 16 that the workgroup gathers into shared memory (each invocation gathers 4 or 8
//   entries of the left slice, 4 or 2 of the right one; it finds their taps once and
//   then moves a `Cursor` by additions). Group (and, for the filter gradient, the split
//   of the N*OH*OW reduction) on z. The filter gradient writes per-split partial sums that
//   `conv2d_backward_filter_reduce` adds in a fixed order (deterministic; no atomics).
//   The bias gradient rides along: the workgroups of the first row tile also sum the
//   staged gradient tile's columns.
// - `*_direct`: one invocation per output (forward, input gradient) or one workgroup
//   per weight (filter gradient, a tree reduction over N*OH*OW). The host picks these
//   where even a 32-wide tile would be mostly empty: depthwise and other groups of
//   fewer than 16 channels.
//
// Loads are vec4 where the layout allows (override constants chosen by the host):
//   VEC_X = 1: x along channels (C and C / groups multiples of 4: four consecutive k
//              of a slice are four consecutive channels of one tap);
//   VEC_O = 1: gy, y and w along output channels (O and O / groups multiples of 4).
// Operands are bound as array<vec4<f32>> (buffers are padded to 16 bytes), so the
// scalar path indexes a component.

override VEC_X: u32 = 0u;
override VEC_O: u32 = 0u;
// 0: 64x64 output tiles; 1: 128x32, for GEMMs of at most 32 columns (half of a 64-wide
// tile would compute nothing).
override NARROW: u32 = 0u;

struct Params {
    n: u32, h: u32, w: u32, c: u32,
    oh: u32, ow: u32, o: u32, groups: u32,
    kh: u32, kw: u32, cg: u32, og: u32,
    sh: u32, sw: u32, dh: u32, dw: u32,
    pt: u32, pl: u32, has_bias: u32, act: u32,
    total: u32, splits: u32, chunk: u32, p0: u32,
}

const TK: u32 = 16u;

// The tile's vec4 rows and columns: 16 x 16 (a 64x64 tile) or 32 x 8 (128x32); their
// product is the 256 invocations of a workgroup.
fn tmv() -> u32 { return 16u << NARROW; }
fn tnv() -> u32 { return 16u >> NARROW; }

// As[k * tmv + row / 4][row % 4] and Bs[k * tnv + col / 4][col % 4]: a 16-deep slice of
// each operand tile.
var<workgroup> As: array<vec4<f32>, 512>;
var<workgroup> Bs: array<vec4<f32>, 256>;
// Tree reduction of the direct filter gradient (WG <= 256, a power of two).
var<workgroup> red: array<f32, 256>;

fn activate(v: f32, act: u32) -> f32 {
    var z = v;
    switch act {
        case 1u: { if (!(z > 0.0 || is_nan_f32(z))) { z = 0.0; } }
        case 2u: { z = sigmoid_stable(z); }
        case 3u: { z = tanh_stable(z); }
        default: {}
    }
    return z;
}

// gy times act'(z) written through y = act(z) (unary_backward's formulas).
fn dact(gy: f32, y: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return select(0.0, gy, y > 0.0); }
        case 2u: { return gy * y * (1.0 - y); }
        case 3u: { return gy * (1.0 - y * y); }
        default: { return gy; }
    }
}

fn dact4(gy: vec4<f32>, y: vec4<f32>, act: u32) -> vec4<f32> {
    return vec4<f32>(dact(gy.x, y.x, act), dact(gy.y, y.y, act), dact(gy.z, y.z, act), dact(gy.w, y.w, act));
}

// One 16-deep step of the register-blocked product: rows ty*4.. of As times cols tx*4.. of Bs.
fn tile_step(tx: u32, ty: u32, acc: ptr<function, array<vec4<f32>, 4>>) {
    let tm = tmv();
    let tn = tnv();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
        let av = As[kk * tm + ty];
        let bv = Bs[kk * tn + tx];
        (*acc)[0] = fma(vec4<f32>(av.x), bv, (*acc)[0]);
        (*acc)[1] = fma(vec4<f32>(av.y), bv, (*acc)[1]);
        (*acc)[2] = fma(vec4<f32>(av.z), bv, (*acc)[2]);
        (*acc)[3] = fma(vec4<f32>(av.w), bv, (*acc)[3]);
    }
}

// Padded-input coordinate -> whether it is inside the input.
fn inside(ih: i32, iw: i32, q: Params) -> bool {
    return ih >= 0 && ih < i32(q.h) && iw >= 0 && iw < i32(q.w);
}

// A position along a reduction k = (p KW + q) CH + c (the channel c, the tap (p, q)), or
// along the outputs m = (n OH + i) OW + j as (j, i, n). The tiled kernels divide once to
// find their first one, then move by additions: integer division is slow on GPUs (and
// scalarized by lavapipe), and a gather per slice entry would otherwise pay four.
struct Cursor { c: u32, q: u32, p: u32 }

fn cursor_at(k: u32, ch: u32, kw: u32) -> Cursor {
    let pq = k / ch;
    return Cursor(k % ch, pq % kw, pq / kw);
}

fn cursor_add(at: Cursor, by: u32, ch: u32, kw: u32) -> Cursor {
    var r = at;
    if (ch == 0u) { return r; }
    r.c = r.c + by;
    while (r.c >= ch) {
        r.c = r.c - ch;
        r.q = r.q + 1u;
        if (r.q == kw) {
            r.q = 0u;
            r.p = r.p + 1u;
        }
    }
    return r;
}

// ---- forward -----------------------------------------------------------------------------

@group(0) @binding(0) var<storage, read> f_x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> f_w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> f_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> f_y: array<f32>;
@group(0) @binding(4) var<uniform> p4: Params;

fn fx(i: u32) -> f32 { return f_x[i >> 2u][i & 3u]; }
fn fw(i: u32) -> f32 { return f_w[i >> 2u][i & 3u]; }

fn fwd_epilogue(v: f32, oc: u32, q: Params) -> f32 {
    var z = v;
    if (q.has_bias == 1u) { z = z + f_b[oc]; }
    return activate(z, q.act);
}

@compute @workgroup_size(16, 16, 1)
fn conv2d_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p4;
    let g = wid.z;
    let mt = q.n * q.oh * q.ow;
    let kt = q.kh * q.kw * q.cg;
    let tm = tmv();
    let tn = tnv();
    let ea = tm / 4u;
    let eb = tn / 4u;
    let row0 = wid.y * tm * 4u;
    let col0 = wid.x * tn * 4u;
    let t = lid.y * 16u + lid.x;
    let tx = t % tn;
    let ty = t / tn;
    let ocol = g * q.og;
    // This invocation stages row `am` of the X slice (k = ak .. ak + ea - 1) and k row
    // `bk` of the W slice (columns bn .. bn + eb - 1). Its row's window origin is fixed
    // over the loop.
    let am = t / (16u / ea);
    let ak = (t % (16u / ea)) * ea;
    let bk = t / 16u;
    let bn = (t % 16u) * eb;
    let gm = row0 + am;
    let row_ok = gm < mt;
    var ih0 = 0;
    var iw0 = 0;
    var xbase = 0u;
    if (row_ok) {
        let ohw = q.oh * q.ow;
        let r = gm % ohw;
        ih0 = i32((r / q.ow) * q.sh) - i32(q.pt);
        iw0 = i32((r % q.ow) * q.sw) - i32(q.pl);
        xbase = (gm / ohw) * q.h * q.w * q.c + g * q.cg;
    }
    var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var kc = cursor_at(ak, q.cg, q.kw);  // the tap of k = k0 + ak
    for (var k0 = 0u; k0 < kt; k0 = k0 + TK) {
        var tp = kc;
        if (VEC_X == 1u) {
            for (var e4 = 0u; e4 < ea; e4 = e4 + 4u) {
                var v = vec4<f32>(0.0);
                if (row_ok && k0 + ak + e4 < kt) {
                    let ih = ih0 + i32(tp.p * q.dh);
                    let iw = iw0 + i32(tp.q * q.dw);
                    if (inside(ih, iw, q)) { v = f_x[(xbase + (u32(ih) * q.w + u32(iw)) * q.c + tp.c) >> 2u]; }
                }
                for (var e = 0u; e < 4u; e = e + 1u) { As[(ak + e4 + e) * tm + am / 4u][am % 4u] = v[e]; }
                tp = cursor_add(tp, 4u, q.cg, q.kw);
            }
        } else {
            for (var e = 0u; e < ea; e = e + 1u) {
                var v = 0.0;
                if (row_ok && k0 + ak + e < kt) {
                    let ih = ih0 + i32(tp.p * q.dh);
                    let iw = iw0 + i32(tp.q * q.dw);
                    if (inside(ih, iw, q)) { v = fx(xbase + (u32(ih) * q.w + u32(iw)) * q.c + tp.c); }
                }
                As[(ak + e) * tm + am / 4u][am % 4u] = v;
                tp = cursor_add(tp, 1u, q.cg, q.kw);
            }
        }
        kc = cursor_add(kc, TK, q.cg, q.kw);
        let kb = k0 + bk;
        if (VEC_O == 1u && eb == 4u) {
            var v = vec4<f32>(0.0);
            if (kb < kt && col0 + bn < q.og) { v = f_w[(kb * q.o + ocol + col0 + bn) >> 2u]; }
            Bs[bk * tn + bn / 4u] = v;
        } else {
            for (var e = 0u; e < eb; e = e + 1u) {
                var v = 0.0;
                if (kb < kt && col0 + bn + e < q.og) { v = fw(kb * q.o + ocol + col0 + bn + e); }
                Bs[bk * tn + (bn + e) / 4u][(bn + e) % 4u] = v;
            }
        }
        workgroupBarrier();
        tile_step(tx, ty, &acc);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let r = row0 + ty * 4u + i;
        if (r >= mt) { break; }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = col0 + tx * 4u + j;
            if (col < q.og) { f_y[r * q.o + ocol + col] = fwd_epilogue(acc[i][j], ocol + col, q); }
        }
    }
}

@compute @workgroup_size(WG)
fn conv2d_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p4;
    let idx = flat_id(wid, nwg, lid);
    if (idx >= q.total) { return; }
    let oc = idx % q.o;
    let m = idx / q.o;
    let ohw = q.oh * q.ow;
    let r = m % ohw;
    let ih0 = i32((r / q.ow) * q.sh) - i32(q.pt);
    let iw0 = i32((r % q.ow) * q.sw) - i32(q.pl);
    let xbase = (m / ohw) * q.h * q.w * q.c + (oc / q.og) * q.cg;
    var acc = 0.0;
    for (var p = 0u; p < q.kh; p = p + 1u) {
        let ih = ih0 + i32(p * q.dh);
        for (var qq = 0u; qq < q.kw; qq = qq + 1u) {
            let iw = iw0 + i32(qq * q.dw);
            if (!inside(ih, iw, q)) { continue; }
            let xo = xbase + (u32(ih) * q.w + u32(iw)) * q.c;
            let wo = (p * q.kw + qq) * q.cg * q.o + oc;
            for (var c = 0u; c < q.cg; c = c + 1u) { acc = fma(fx(xo + c), fw(wo + c * q.o), acc); }
        }
    }
    f_y[idx] = fwd_epilogue(acc, oc, q);
}

// ---- input gradient (a gather over the outputs whose windows cover each input) ----------

@group(0) @binding(0) var<storage, read> gi_gy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gi_y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gi_w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gi_gx: array<f32>;

fn gi_g(i: u32, act: u32) -> f32 { return dact(gi_gy[i >> 2u][i & 3u], gi_y[i >> 2u][i & 3u], act); }
fn giw(i: u32) -> f32 { return gi_w[i >> 2u][i & 3u]; }

// The output row (i or j) whose window covers padded coordinate `hp` at tap offset `off`
// (= p d), or -1 when none does (off past hp, stride does not divide, past the last output).
fn covering(hp: i32, off: i32, s: u32, out: u32) -> i32 {
    let t = hp - off;
    if (t < 0 || t % i32(s) != 0) { return -1; }
    let i = t / i32(s);
    return select(-1, i, i < i32(out));
}

@compute @workgroup_size(16, 16, 1)
fn conv2d_backward_input_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p4;
    let g = wid.z;
    let mt = q.n * q.h * q.w;
    let kt = q.kh * q.kw * q.og;
    let tm = tmv();
    let tn = tnv();
    let ea = tm / 4u;
    let eb = tn / 4u;
    let row0 = wid.y * tm * 4u;
    let col0 = wid.x * tn * 4u;
    let t = lid.y * 16u + lid.x;
    let tx = t % tn;
    let ty = t / tn;
    let ocol = g * q.og;
    let am = t / (16u / ea);
    let ak = (t % (16u / ea)) * ea;
    let bk = t / 16u;
    let bn = (t % 16u) * eb;
    let gm = row0 + am;
    let row_ok = gm < mt;
    var hp = 0;
    var wp = 0;
    var gbase = 0u;
    if (row_ok) {
        let hw = q.h * q.w;
        let r = gm % hw;
        hp = i32(r / q.w + q.pt);
        wp = i32(r % q.w + q.pl);
        gbase = (gm / hw) * q.oh * q.ow * q.o + ocol;
    }
    var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var kc = cursor_at(ak, q.og, q.kw);  // (oc, q, p) of k' = k0 + ak
    var bc = cursor_at(bk, q.og, q.kw);  // (oc, q, p) of k' = k0 + bk
    for (var k0 = 0u; k0 < kt; k0 = k0 + TK) {
        // G slice: k' = (p KW + q) OG + oc.
        var tp = kc;
        if (VEC_O == 1u) {
            for (var e4 = 0u; e4 < ea; e4 = e4 + 4u) {
                var v = vec4<f32>(0.0);
                if (row_ok && k0 + ak + e4 < kt) {
                    let i = covering(hp, i32(tp.p * q.dh), q.sh, q.oh);
                    let j = covering(wp, i32(tp.q * q.dw), q.sw, q.ow);
                    if (i >= 0 && j >= 0) {
                        let gi = (gbase + (u32(i) * q.ow + u32(j)) * q.o + tp.c) >> 2u;
                        v = dact4(gi_gy[gi], gi_y[gi], q.act);
                    }
                }
                for (var e = 0u; e < 4u; e = e + 1u) { As[(ak + e4 + e) * tm + am / 4u][am % 4u] = v[e]; }
                tp = cursor_add(tp, 4u, q.og, q.kw);
            }
        } else {
            for (var e = 0u; e < ea; e = e + 1u) {
                var v = 0.0;
                if (row_ok && k0 + ak + e < kt) {
                    let i = covering(hp, i32(tp.p * q.dh), q.sh, q.oh);
                    let j = covering(wp, i32(tp.q * q.dw), q.sw, q.ow);
                    if (i >= 0 && j >= 0) { v = gi_g(gbase + (u32(i) * q.ow + u32(j)) * q.o + tp.c, q.act); }
                }
                As[(ak + e) * tm + am / 4u][am % 4u] = v;
                tp = cursor_add(tp, 1u, q.og, q.kw);
            }
        }
        kc = cursor_add(kc, TK, q.og, q.kw);
        // W' slice: W'[k', cc] = w[p, q, cc, g OG + oc].
        let kb = k0 + bk;
        let wbase = (bc.p * q.kw + bc.q) * q.cg * q.o + ocol + bc.c;
        bc = cursor_add(bc, TK, q.og, q.kw);
        for (var e = 0u; e < eb; e = e + 1u) {
            let cc = col0 + bn + e;
            var v = 0.0;
            if (kb < kt && cc < q.cg) { v = giw(wbase + cc * q.o); }
            Bs[bk * tn + (bn + e) / 4u][(bn + e) % 4u] = v;
        }
        workgroupBarrier();
        tile_step(tx, ty, &acc);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let r = row0 + ty * 4u + i;
        if (r >= mt) { break; }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let cc = col0 + tx * 4u + j;
            if (cc < q.cg) { gi_gx[r * q.c + g * q.cg + cc] = acc[i][j]; }
        }
    }
}

@compute @workgroup_size(WG)
fn conv2d_backward_input_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p4;
    let idx = flat_id(wid, nwg, lid);
    if (idx >= q.total) { return; }
    let ch = idx % q.c;
    let r = (idx / q.c) % (q.h * q.w);
    let nn = idx / (q.c * q.h * q.w);
    let g = ch / q.cg;
    let cc = ch % q.cg;
    let hp = i32(r / q.w + q.pt);
    let wp = i32(r % q.w + q.pl);
    let gbase = nn * q.oh * q.ow * q.o + g * q.og;
    var acc = 0.0;
    for (var p = 0u; p < q.kh; p = p + 1u) {
        let i = covering(hp, i32(p * q.dh), q.sh, q.oh);
        if (i < 0) { continue; }
        for (var qq = 0u; qq < q.kw; qq = qq + 1u) {
            let j = covering(wp, i32(qq * q.dw), q.sw, q.ow);
            if (j < 0) { continue; }
            let go = gbase + (u32(i) * q.ow + u32(j)) * q.o;
            let wo = ((p * q.kw + qq) * q.cg + cc) * q.o + g * q.og;
            for (var oc = 0u; oc < q.og; oc = oc + 1u) { acc = fma(gi_g(go + oc, q.act), giw(wo + oc), acc); }
        }
    }
    gi_gx[idx] = acc;
}

// ---- filter and bias gradients (reductions over N*OH*OW) ---------------------------------

@group(0) @binding(0) var<storage, read> gw_x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gw_gy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gw_y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gw_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> gw_b: array<f32>;
@group(0) @binding(5) var<uniform> p5: Params;

fn gwx(i: u32) -> f32 { return gw_x[i >> 2u][i & 3u]; }
fn gw_g(i: u32, act: u32) -> f32 { return dact(gw_gy[i >> 2u][i & 3u], gw_y[i >> 2u][i & 3u], act); }

// Writes partial sums: gw_w[s K O + k O + o] and gw_b[s O + o] for split s (s = 0 and the
// final gradients themselves when there is one split).
@compute @workgroup_size(16, 16, 1)
fn conv2d_backward_filter_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p5;
    let g = wid.z / q.splits;
    let s = wid.z % q.splits;
    let mt = q.n * q.oh * q.ow;
    let kt = q.kh * q.kw * q.cg;
    let m_lo = s * q.chunk;
    let m_hi = min(m_lo + q.chunk, mt);
    let tm = tmv();
    let tn = tnv();
    let ea = tm / 4u;
    let eb = tn / 4u;
    let row0 = wid.y * tm * 4u;   // rows: k
    let col0 = wid.x * tn * 4u;   // cols: output channel within the group
    let t = lid.y * 16u + lid.x;
    let tx = t % tn;
    let ty = t / tn;
    let ocol = g * q.og;
    // Both slices are staged as (m row mm, ea consecutive k at ar / eb consecutive o at
    // bn). The k side of the gather (tap offsets, channel) is fixed per invocation,
    // computed once here.
    let mm = t / 16u;
    let ar = (t % 16u) * ea;
    let bn = (t % 16u) * eb;
    var tap_h: array<i32, 8>;
    var tap_w: array<i32, 8>;
    var tap_c: array<u32, 8>;
    var tap_ok: array<bool, 8>;
    for (var e = 0u; e < ea; e = e + 1u) {
        let k = row0 + ar + e;
        let pq = k / q.cg;
        tap_ok[e] = k < kt;
        tap_h[e] = i32((pq / q.kw) * q.dh) - i32(q.pt);
        tap_w[e] = i32((pq % q.kw) * q.dw) - i32(q.pl);
        tap_c[e] = g * q.cg + k % q.cg;
    }
    var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var bsum = vec4<f32>(0.0);
    var mc = cursor_at(m_lo + mm, q.ow, q.oh);  // (j, i, n) of output m = m0 + mm
    for (var m0 = m_lo; m0 < m_hi; m0 = m0 + TK) {
        let m = m0 + mm;
        let m_ok = m < m_hi;
        let ih0 = i32(mc.q * q.sh);
        let iw0 = i32(mc.c * q.sw);
        let xn = mc.p * q.h * q.w * q.c;
        mc = cursor_add(mc, TK, q.ow, q.oh);
        if (VEC_X == 1u) {
            for (var e4 = 0u; e4 < ea; e4 = e4 + 4u) {
                let ih = ih0 + tap_h[e4];
                let iw = iw0 + tap_w[e4];
                var xv = vec4<f32>(0.0);
                if (m_ok && tap_ok[e4] && inside(ih, iw, q)) { xv = gw_x[(xn + (u32(ih) * q.w + u32(iw)) * q.c + tap_c[e4]) >> 2u]; }
                As[mm * tm + (ar + e4) / 4u] = xv;
            }
        } else {
            for (var e = 0u; e < ea; e = e + 1u) {
                let ih = ih0 + tap_h[e];
                let iw = iw0 + tap_w[e];
                var xv = 0.0;
                if (m_ok && tap_ok[e] && inside(ih, iw, q)) { xv = gwx(xn + (u32(ih) * q.w + u32(iw)) * q.c + tap_c[e]); }
                As[mm * tm + (ar + e) / 4u][(ar + e) % 4u] = xv;
            }
        }
        let go = m * q.o + ocol + col0 + bn;
        if (VEC_O == 1u && eb == 4u) {
            var gv = vec4<f32>(0.0);
            if (m_ok && col0 + bn < q.og) { gv = dact4(gw_gy[go >> 2u], gw_y[go >> 2u], q.act); }
            Bs[mm * tn + bn / 4u] = gv;
        } else {
            for (var e = 0u; e < eb; e = e + 1u) {
                var gv = 0.0;
                if (m_ok && col0 + bn + e < q.og) { gv = gw_g(go + e, q.act); }
                Bs[mm * tn + (bn + e) / 4u][(bn + e) % 4u] = gv;
            }
        }
        workgroupBarrier();
        tile_step(tx, ty, &acc);
        if (wid.y == 0u && ty == 0u) {
            for (var kk = 0u; kk < TK; kk = kk + 1u) { bsum = bsum + Bs[kk * tn + tx]; }
        }
        workgroupBarrier();
    }
    let ko = kt * q.o;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let k = row0 + ty * 4u + i;
        if (k >= kt) { break; }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = col0 + tx * 4u + j;
            if (col < q.og) { gw_w[s * ko + k * q.o + ocol + col] = acc[i][j]; }
        }
    }
    if (wid.y == 0u && ty == 0u) {
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = col0 + tx * 4u + j;
            if (col < q.og) { gw_b[s * q.o + ocol + col] = bsum[j]; }
        }
    }
}

// One workgroup per weight (k, o), then one per bias entry: its invocations stride over
// the N*OH*OW outputs and combine in a tree. For narrow groups (depthwise), where a
// 64x64 tile would be mostly empty.
@compute @workgroup_size(WG)
fn conv2d_backward_filter_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p5;
    let e = wid.y * nwg.x + wid.x;
    let kt = q.kh * q.kw * q.cg;
    let ko = kt * q.o;
    if (e >= ko + q.o) { return; }
    let is_w = e < ko;
    let oc = select(e - ko, e % q.o, is_w);
    let k = e / q.o;
    let pq = k / q.cg;
    let tap_h = i32((pq / q.kw) * q.dh) - i32(q.pt);
    let tap_w = i32((pq % q.kw) * q.dw) - i32(q.pl);
    let ch = (oc / q.og) * q.cg + k % q.cg;
    let mt = q.n * q.oh * q.ow;
    let ohw = q.oh * q.ow;
    var acc = 0.0;
    for (var m = lid.x; m < mt; m = m + WG) {
        let gv = gw_g(m * q.o + oc, q.act);
        if (is_w) {
            let r = m % ohw;
            let ih = i32((r / q.ow) * q.sh) + tap_h;
            let iw = i32((r % q.ow) * q.sw) + tap_w;
            if (inside(ih, iw, q)) { acc = fma(gwx(((m / ohw) * q.h * q.w + u32(ih) * q.w + u32(iw)) * q.c + ch), gv, acc); }
        } else {
            acc = acc + gv;
        }
    }
    red[lid.x] = acc;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
        if (lid.x < st) { red[lid.x] = red[lid.x] + red[lid.x + st]; }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        if (is_w) { gw_w[e] = red[0]; } else { gw_b[oc] = red[0]; }
    }
}

// The tiled filter gradient's split partial sums, added in split order.
@group(0) @binding(0) var<storage, read> rd_pw: array<f32>;
@group(0) @binding(1) var<storage, read> rd_pb: array<f32>;
@group(0) @binding(2) var<storage, read_write> rd_gw: array<f32>;
@group(0) @binding(3) var<storage, read_write> rd_gb: array<f32>;

@compute @workgroup_size(WG)
fn conv2d_backward_filter_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p4;
    let idx = flat_id(wid, nwg, lid);
    let ko = q.kh * q.kw * q.cg * q.o;
    if (idx >= ko + q.o) { return; }
    var acc = 0.0;
    if (idx < ko) {
        for (var s = 0u; s < q.splits; s = s + 1u) { acc = acc + rd_pw[s * ko + idx]; }
        rd_gw[idx] = acc;
    } else {
        let oc = idx - ko;
        for (var s = 0u; s < q.splits; s = s + 1u) { acc = acc + rd_pb[s * q.o + oc]; }
        rd_gb[oc] = acc;
    }
}
