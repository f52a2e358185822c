// Reductions of the middle axis of a contiguous (outer, r, inner) array.
//
// reduce_<op>_rows (inner == 1): one workgroup per output, its invocations stride over
// the row and combine in workgroup memory (a tree). reduce_<op>_cols: one invocation per
// output walks r values `inner` apart. argmax/argmin write int32 indices (first extremum,
// NaN wins, as numpy).
//
// Chunks: each output of a kernel covers only `chunk` consecutive values of the reduced
// axis, so a launch writes (outer, nch, inner) partials, nch = ceil(r / chunk), that the
// host reduces again (reduce.py). This bounds the loop iterations of one invocation:
// lavapipe stops every loop of an invocation after 65,535 iterations in total, and a
// long axis is spread over more invocations on any device. chunk == r is one pass.
// mean divides by `count` (the full axis length; partial passes are sums). For arg
// ops the partials are indices into the axis, combined by reduce_arg*_combine, which
// reads the values they point at in the original x.

struct Params { outer: u32, r: u32, inner: u32, chunk: u32, count: u32, rx: u32, p1: u32, p2: u32 }

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

fn nchunks() -> u32 { return (p.r + p.chunk - 1u) / p.chunk; }

// (output index, first and one-past-last position on the axis) of workgroup g (rows form).
fn row_span(g: u32) -> vec3<u32> {
    let nch = nchunks();
    let row = g / nch;
    let lo = (g % nch) * p.chunk;
    return vec3<u32>(row, lo, min(p.r, lo + p.chunk));
}

// (base address of the output's column, lo, hi) of output i (cols form); stride p.inner.
fn col_span(i: u32) -> vec3<u32> {
    let nch = nchunks();
    let o = i / (nch * p.inner);
    let q = (i / p.inner) % nch;
    let c = i % p.inner;
    let lo = q * p.chunk;
    return vec3<u32>(o * p.r * p.inner + c, lo, min(p.r, lo + p.chunk));
}

@compute @workgroup_size(256)
fn reduce_sum_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let g = w.y * nw.x + w.x;
    if (g >= p.outer * nchunks()) { return; }
    let s = row_span(g);
    let base = s.x * p.r;
    var acc = 0.0;
    for (var j = s.y + l.x; j < s.z; j = j + WG) { acc = acc + x[base + j]; }
    sv[l.x] = acc;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
        if (l.x < st) { sv[l.x] = sv[l.x] + sv[l.x + st]; }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[g] = sv[0]; }
}

@compute @workgroup_size(WG)
fn reduce_sum_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * nchunks() * p.inner) { return; }
    let s = col_span(i);
    var acc = 0.0;
    for (var j = s.y; j < s.z; j = j + 1u) { acc = acc + x[s.x + j * p.inner]; }
    out[i] = acc;
}

@compute @workgroup_size(256)
fn reduce_mean_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let g = w.y * nw.x + w.x;
    if (g >= p.outer * nchunks()) { return; }
    let s = row_span(g);
    let base = s.x * p.r;
    var acc = 0.0;
    for (var j = s.y + l.x; j < s.z; j = j + WG) { acc = acc + x[base + j]; }
    sv[l.x] = acc;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
        if (l.x < st) { sv[l.x] = sv[l.x] + sv[l.x + st]; }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[g] = sv[0] / f32(p.count); }
}

@compute @workgroup_size(WG)
fn reduce_mean_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * nchunks() * p.inner) { return; }
    let s = col_span(i);
    var acc = 0.0;
    for (var j = s.y; j < s.z; j = j + 1u) { acc = acc + x[s.x + j * p.inner]; }
    out[i] = acc / f32(p.count);
}

@compute @workgroup_size(256)
fn reduce_max_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let g = w.y * nw.x + w.x;
    if (g >= p.outer * nchunks()) { return; }
    let s = row_span(g);
    let base = s.x * p.r;
    var a = x[base + s.y];
    var ia = s.y;
    for (var j = s.y + l.x; j < s.z; j = j + WG) {
        let v = x[base + j];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
        if (l.x < st && better(sv[l.x + st], si[l.x + st], sv[l.x], si[l.x], 1.0)) {
            sv[l.x] = sv[l.x + st];
            si[l.x] = si[l.x + st];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[g] = sv[0]; }
}

@compute @workgroup_size(WG)
fn reduce_max_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * nchunks() * p.inner) { return; }
    let s = col_span(i);
    var a = x[s.x + s.y * p.inner];
    var ia = s.y;
    for (var j = s.y + 1u; j < s.z; j = j + 1u) {
        let v = x[s.x + j * p.inner];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    out[i] = a;
}

@compute @workgroup_size(256)
fn reduce_min_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let g = w.y * nw.x + w.x;
    if (g >= p.outer * nchunks()) { return; }
    let s = row_span(g);
    let base = s.x * p.r;
    var a = x[base + s.y];
    var ia = s.y;
    for (var j = s.y + l.x; j < s.z; j = j + WG) {
        let v = x[base + j];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
        if (l.x < st && better(sv[l.x + st], si[l.x + st], sv[l.x], si[l.x], -1.0)) {
            sv[l.x] = sv[l.x + st];
            si[l.x] = si[l.x + st];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out[g] = sv[0]; }
}

@compute @workgroup_size(WG)
fn reduce_min_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * nchunks() * p.inner) { return; }
    let s = col_span(i);
    var a = x[s.x + s.y * p.inner];
    var ia = s.y;
    for (var j = s.y + 1u; j < s.z; j = j + 1u) {
        let v = x[s.x + j * p.inner];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    out[i] = a;
}

@compute @workgroup_size(256)
fn reduce_argmax_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let g = w.y * nw.x + w.x;
    if (g >= p.outer * nchunks()) { return; }
    let s = row_span(g);
    let base = s.x * p.r;
    var a = x[base + s.y];
    var ia = s.y;
    for (var j = s.y + l.x; j < s.z; j = j + WG) {
        let v = x[base + j];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
        if (l.x < st && better(sv[l.x + st], si[l.x + st], sv[l.x], si[l.x], 1.0)) {
            sv[l.x] = sv[l.x + st];
            si[l.x] = si[l.x + st];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out_idx[g] = i32(si[0]); }
}

@compute @workgroup_size(WG)
fn reduce_argmax_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * nchunks() * p.inner) { return; }
    let s = col_span(i);
    var a = x[s.x + s.y * p.inner];
    var ia = s.y;
    for (var j = s.y + 1u; j < s.z; j = j + 1u) {
        let v = x[s.x + j * p.inner];
        if (better(v, j, a, ia, 1.0)) { a = v; ia = j; }
    }
    out_idx[i] = i32(ia);
}

@compute @workgroup_size(256)
fn reduce_argmin_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let g = w.y * nw.x + w.x;
    if (g >= p.outer * nchunks()) { return; }
    let s = row_span(g);
    let base = s.x * p.r;
    var a = x[base + s.y];
    var ia = s.y;
    for (var j = s.y + l.x; j < s.z; j = j + WG) {
        let v = x[base + j];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    sv[l.x] = a;
    si[l.x] = ia;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
        if (l.x < st && better(sv[l.x + st], si[l.x + st], sv[l.x], si[l.x], -1.0)) {
            sv[l.x] = sv[l.x + st];
            si[l.x] = si[l.x + st];
        }
        workgroupBarrier();
    }
    if (l.x == 0u) { out_idx[g] = i32(si[0]); }
}

@compute @workgroup_size(WG)
fn reduce_argmin_cols(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.outer * nchunks() * p.inner) { return; }
    let s = col_span(i);
    var a = x[s.x + s.y * p.inner];
    var ia = s.y;
    for (var j = s.y + 1u; j < s.z; j = j + 1u) {
        let v = x[s.x + j * p.inner];
        if (better(v, j, a, ia, -1.0)) { a = v; ia = j; }
    }
    out_idx[i] = i32(ia);
}

// -- combining arg partials: idx holds (outer, r, inner) indices into x's axis of length
// p.rx; each output keeps the best value they point at (ties: the lower index).
@group(0) @binding(1) var<storage, read> c_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> c_out: array<i32>;
@group(0) @binding(3) var<uniform> c_p: Params;

fn combine(i: u32, sign: f32) -> i32 {
    let nch = (c_p.r + c_p.chunk - 1u) / c_p.chunk;
    let o = i / (nch * c_p.inner);
    let q = (i / c_p.inner) % nch;
    let c = i % c_p.inner;
    let lo = q * c_p.chunk;
    let hi = min(c_p.r, lo + c_p.chunk);
    let xb = o * c_p.rx * c_p.inner + c;
    let ib = o * c_p.r * c_p.inner + c;
    var ia = u32(c_idx[ib + lo * c_p.inner]);
    var a = x[xb + ia * c_p.inner];
    for (var j = lo + 1u; j < hi; j = j + 1u) {
        let iv = u32(c_idx[ib + j * c_p.inner]);
        let v = x[xb + iv * c_p.inner];
        if (better(v, iv, a, ia, sign)) { a = v; ia = iv; }
    }
    return i32(ia);
}

@compute @workgroup_size(WG)
fn reduce_argmax_combine(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= c_p.outer * ((c_p.r + c_p.chunk - 1u) / c_p.chunk) * c_p.inner) { return; }
    c_out[i] = combine(i, 1.0);
}

@compute @workgroup_size(WG)
fn reduce_argmin_combine(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= c_p.outer * ((c_p.r + c_p.chunk - 1u) / c_p.chunk) * c_p.inner) { return; }
    c_out[i] = combine(i, -1.0);
}
