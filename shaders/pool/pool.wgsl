// 2-D max and average pooling of NHWC inputs and their gradients (Backend.max_pool2d,
// average_pool2d and their backward passes). Windows (KH, KW) move by strides (sh, sw)
// over the input padded by (pt, pl) at the top and left (the bottom and right padding only
// shape OH and OW). Padding never wins a max (it is -inf) and is not counted by the mean.
//
// Forward: one invocation per output. argmax is the row-major window position p KW + q
// of the first maximum (NaN wins, as numpy's argmax), counted over the padded window.
// Backward: one invocation per input element gathering from the outputs whose windows
// cover it (for row h: the i with i sh <= h + pt < i sh + KH), so overlapping windows
// accumulate without atomics.

struct Params {
    n: u32, h: u32, w: u32, c: u32,
    oh: u32, ow: u32, kh: u32, kw: u32,
    sh: u32, sw: u32, pt: u32, pl: u32,
    total: u32, p0: u32, p1: u32, p2: u32,
}

// Output (n, i, j, ch) of invocation idx, as (input offset of (n, 0, 0, ch), i sh - pt, j sw - pl).
fn window_origin(idx: u32, q: Params) -> vec3<i32> {
    let ch = idx % q.c;
    let r = idx / q.c;
    let j = r % q.ow;
    let i = (r / q.ow) % q.oh;
    let nn = r / (q.ow * q.oh);
    return vec3<i32>(i32(nn * q.h * q.w * q.c + ch), i32(i * q.sh) - i32(q.pt), i32(j * q.sw) - i32(q.pl));
}

// The number of the window's rows (or columns) inside the input.
fn inside_count(start: i32, k: u32, size: u32) -> f32 {
    return f32(min(start + i32(k), i32(size)) - max(start, 0));
}

// The outputs along one axis whose windows cover padded coordinate hp: [lo, hi].
fn covering_range(hp: u32, k: u32, s: u32, out: u32) -> vec2<i32> {
    var lo = 0u;
    if (hp + 1u > k) { lo = (hp + 1u - k + s - 1u) / s; }
    let hi = min(hp / s, out - 1u);
    return vec2<i32>(i32(lo), i32(hi));
}

// ---- max pool ------------------------------------------------------------------------------

@group(0) @binding(0) var<storage, read> mx_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mx_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> mx_arg: array<i32>;
@group(0) @binding(2) var<uniform> p2: Params;
@group(0) @binding(3) var<uniform> p3: Params;

struct WindowMax { v: f32, at: u32 }

// The maximum of output idx's window and the first position holding it.
fn window_max(idx: u32, q: Params) -> WindowMax {
    let o = window_origin(idx, q);
    var best = bitcast<f32>(0xff800000u);
    var at = 0u;
    for (var p = 0u; p < q.kh; p = p + 1u) {
        let ih = o.y + i32(p);
        if (ih < 0 || ih >= i32(q.h)) { continue; }
        for (var qq = 0u; qq < q.kw; qq = qq + 1u) {
            let iw = o.z + i32(qq);
            if (iw < 0 || iw >= i32(q.w)) { continue; }
            let v = mx_x[u32(o.x) + (u32(ih) * q.w + u32(iw)) * q.c];
            if (is_nan_f32(best)) { continue; }
            if (v > best || is_nan_f32(v)) {
                best = v;
                at = p * q.kw + qq;
            }
        }
    }
    return WindowMax(best, at);
}

@compute @workgroup_size(WG)
fn max_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p2;
    let idx = flat_id(wid, nwg, lid);
    if (idx >= q.total) { return; }
    mx_y[idx] = window_max(idx, q).v;
}

@compute @workgroup_size(WG)
fn max_pool2d_argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p3;
    let idx = flat_id(wid, nwg, lid);
    if (idx >= q.total) { return; }
    let r = window_max(idx, q);
    mx_y[idx] = r.v;
    mx_arg[idx] = i32(r.at);
}

// ---- max pool gradient ---------------------------------------------------------------------

@group(0) @binding(0) var<storage, read> mb_arg: array<i32>;
@group(0) @binding(1) var<storage, read> mb_gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> mb_gx: array<f32>;

@compute @workgroup_size(WG)
fn max_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p3;
    let idx = flat_id(wid, nwg, lid);
    if (idx >= q.total) { return; }
    let ch = idx % q.c;
    let hp = (idx / q.c) / q.w % q.h + q.pt;
    let wp = (idx / q.c) % q.w + q.pl;
    let nn = idx / (q.c * q.w * q.h);
    let ri = covering_range(hp, q.kh, q.sh, q.oh);
    let rj = covering_range(wp, q.kw, q.sw, q.ow);
    var acc = 0.0;
    for (var i = ri.x; i <= ri.y; i = i + 1) {
        let p = hp - u32(i) * q.sh;
        for (var j = rj.x; j <= rj.y; j = j + 1) {
            let at = p * q.kw + (wp - u32(j) * q.sw);
            let o = ((nn * q.oh + u32(i)) * q.ow + u32(j)) * q.c + ch;
            if (mb_arg[o] == i32(at)) { acc = acc + mb_gy[o]; }
        }
    }
    mb_gx[idx] = acc;
}

// ---- average pool and its gradient ---------------------------------------------------------

@group(0) @binding(0) var<storage, read> av_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> av_y: array<f32>;

@compute @workgroup_size(WG)
fn average_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p2;
    let idx = flat_id(wid, nwg, lid);
    if (idx >= q.total) { return; }
    let o = window_origin(idx, q);
    var acc = 0.0;
    for (var p = 0u; p < q.kh; p = p + 1u) {
        let ih = o.y + i32(p);
        if (ih < 0 || ih >= i32(q.h)) { continue; }
        for (var qq = 0u; qq < q.kw; qq = qq + 1u) {
            let iw = o.z + i32(qq);
            if (iw < 0 || iw >= i32(q.w)) { continue; }
            acc = acc + av_x[u32(o.x) + (u32(ih) * q.w + u32(iw)) * q.c];
        }
    }
    av_y[idx] = acc / (inside_count(o.y, q.kh, q.h) * inside_count(o.z, q.kw, q.w));
}

@group(0) @binding(0) var<storage, read> ab_gy: array<f32>;
@group(0) @binding(1) var<storage, read_write> ab_gx: array<f32>;

@compute @workgroup_size(WG)
fn average_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = p2;
    let idx = flat_id(wid, nwg, lid);
    if (idx >= q.total) { return; }
    let ch = idx % q.c;
    let hp = (idx / q.c) / q.w % q.h + q.pt;
    let wp = (idx / q.c) % q.w + q.pl;
    let nn = idx / (q.c * q.w * q.h);
    let ri = covering_range(hp, q.kh, q.sh, q.oh);
    let rj = covering_range(wp, q.kw, q.sw, q.ow);
    var acc = 0.0;
    for (var i = ri.x; i <= ri.y; i = i + 1) {
        let ch_rows = inside_count(i * i32(q.sh) - i32(q.pt), q.kh, q.h);
        for (var j = rj.x; j <= rj.y; j = j + 1) {
            let cnt = ch_rows * inside_count(j * i32(q.sw) - i32(q.pl), q.kw, q.w);
            acc = acc + ab_gy[((nn * q.oh + u32(i)) * q.ow + u32(j)) * q.c + ch] / cnt;
        }
    }
    ab_gx[idx] = acc;
}
