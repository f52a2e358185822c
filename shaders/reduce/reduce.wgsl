// Reductions of the middle axis of a contiguous (outer, r, inner) array.
//
// reduce_<op>_rows (inner == 1): one workgroup per output, its invocations stride over
// the row and combine in workgroup memory (a tree). reduce_<op>_cols: one invocation per
// output walks r values `inner` apart. argmax/argmin write int32 indices (first extremum,
// NaN wins, as numpy).

struct Params { outer: u32, r: u32, inner: u32, p0: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> out_idx: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> sv: array<f32, 256>;
var<workgroup> si: array<u32, 256>;

fn is_nan(v: f32) -> bool { return is_nan_f32(v); }

// Whether (v, iv) should replace (a, ia) for max (sign = 1) or min (sign = -1).
fn better(v: f32, iv: u32, a: f32, ia: u32, sign: f32) -> bool {
    if (is_nan(a)) { return is_nan(v) && iv < ia; }
    if (is_nan(v)) { return true; }
    if (v * sign > a * sign) { return true; }
    return v == a && iv < ia;
}

@compute @workgroup_size(256)
fn reduce_sum_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let row = w.y * nw.x + w.x;
    if (row >= p.outer) { return; }
    var acc = 0.0;
    for (var j = l.x; j < p.r; j = j + WG) { acc = acc + x[row * p.r + j]; }
    sv[l.x] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (l.x < s) { sv[l.x] = sv[l.x] + sv[l.x + s]; }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[row] = sv[0]; }
}

@compute @workgroup_size(WG)
fn reduce_sum_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * p.inner) { return; }
    let o = i / p.inner;
    let c = i % p.inner;
    var acc = 0.0;
    for (var j = 0u; j < p.r; j = j + 1u) { acc = acc + x[(o * p.r + j) * p.inner + c]; }
    out[i] = acc;
}

@compute @workgroup_size(256)
fn reduce_mean_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let row = w.y * nw.x + w.x;
    if (row >= p.outer) { return; }
    var acc = 0.0;
    for (var j = l.x; j < p.r; j = j + WG) { acc = acc + x[row * p.r + j]; }
    sv[l.x] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (l.x < s) { sv[l.x] = sv[l.x] + sv[l.x + s]; }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[row] = sv[0] / f32(p.r); }
}

@compute @workgroup_size(WG)
fn reduce_mean_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * p.inner) { return; }
    let o = i / p.inner;
    let c = i % p.inner;
    var acc = 0.0;
    for (var j = 0u; j < p.r; j = j + 1u) { acc = acc + x[(o * p.r + j) * p.inner + c]; }
    out[i] = acc / f32(p.r);
}

@compute @workgroup_size(256)
fn reduce_max_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let row = w.y * nw.x + w.x;
    if (row >= p.outer) { return; }
    var a = x[row * p.r];
    var ia = 0u;
    for (var j = l.x; j < p.r; j = j + WG) {
        let v = x[row * p.r + j];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (l.x < s && better(sv[l.x + s], si[l.x + s], sv[l.x], si[l.x], 1.0)) {
            sv[l.x] = sv[l.x + s];
            si[l.x] = si[l.x + s];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[row] = sv[0]; }
}

@compute @workgroup_size(WG)
fn reduce_max_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * p.inner) { return; }
    let o = i / p.inner;
    let c = i % p.inner;
    var a = x[o * p.r * p.inner + c];
    var ia = 0u;
    for (var j = 1u; j < p.r; j = j + 1u) {
        let v = x[(o * p.r + j) * p.inner + c];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    out[i] = a;
}

@compute @workgroup_size(256)
fn reduce_min_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let row = w.y * nw.x + w.x;
    if (row >= p.outer) { return; }
    var a = x[row * p.r];
    var ia = 0u;
    for (var j = l.x; j < p.r; j = j + WG) {
        let v = x[row * p.r + j];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (l.x < s && better(sv[l.x + s], si[l.x + s], sv[l.x], si[l.x], -1.0)) {
            sv[l.x] = sv[l.x + s];
            si[l.x] = si[l.x + s];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[row] = sv[0]; }
}

@compute @workgroup_size(WG)
fn reduce_min_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * p.inner) { return; }
    let o = i / p.inner;
    let c = i % p.inner;
    var a = x[o * p.r * p.inner + c];
    var ia = 0u;
    for (var j = 1u; j < p.r; j = j + 1u) {
        let v = x[(o * p.r + j) * p.inner + c];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    out[i] = a;
}

@compute @workgroup_size(256)
fn reduce_argmax_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let row = w.y * nw.x + w.x;
    if (row >= p.outer) { return; }
    var a = x[row * p.r];
    var ia = 0u;
    for (var j = l.x; j < p.r; j = j + WG) {
        let v = x[row * p.r + j];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (l.x < s && better(sv[l.x + s], si[l.x + s], sv[l.x], si[l.x], 1.0)) {
            sv[l.x] = sv[l.x + s];
            si[l.x] = si[l.x + s];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out_idx[row] = i32(si[0]); }
}

@compute @workgroup_size(WG)
fn reduce_argmax_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * p.inner) { return; }
    let o = i / p.inner;
    let c = i % p.inner;
    var a = x[o * p.r * p.inner + c];
    var ia = 0u;
    for (var j = 1u; j < p.r; j = j + 1u) {
        let v = x[(o * p.r + j) * p.inner + c];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    out_idx[i] = i32(ia);
}

@compute @workgroup_size(256)
fn reduce_argmin_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let row = w.y * nw.x + w.x;
    if (row >= p.outer) { return; }
    var a = x[row * p.r];
    var ia = 0u;
    for (var j = l.x; j < p.r; j = j + WG) {
        let v = x[row * p.r + j];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (l.x < s && better(sv[l.x + s], si[l.x + s], sv[l.x], si[l.x], -1.0)) {
            sv[l.x] = sv[l.x + s];
            si[l.x] = si[l.x + s];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out_idx[row] = i32(si[0]); }
}

@compute @workgroup_size(WG)
fn reduce_argmin_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * p.inner) { return; }
    let o = i / p.inner;
    let c = i % p.inner;
    var a = x[o * p.r * p.inner + c];
    var ia = 0u;
    for (var j = 1u; j < p.r; j = j + 1u) {
        let v = x[(o * p.r + j) * p.inner + c];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    out_idx[i] = i32(ia);
}
