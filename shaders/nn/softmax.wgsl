// softmax / log_softmax along one axis of an (outer, len, inner) array: one invocation
// per lane, max-subtracted so large logits never overflow. log = 1 selects log_softmax.

struct Params { outer: u32, len: u32, inner: u32, log: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<uniform> pb: Params;

@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let lane = flat_id(w, nw, l);
    if (lane >= p.outer * p.inner) { return; }
    let base = (lane / p.inner) * p.len * p.inner + lane % p.inner;
    var m = bitcast<f32>(0xff800000u);
    for (var j = 0u; j < p.len; j = j + 1u) {
        let v = x[base + j * p.inner];
        if (v > m || is_nan_f32(v)) { m = v; }
    }
    var s = 0.0;
    for (var j = 0u; j < p.len; j = j + 1u) { s = s + exp(x[base + j * p.inner] - m); }
    if (p.log == 1u) {
        let ls = log(s);
        for (var j = 0u; j < p.len; j = j + 1u) { y[base + j * p.inner] = x[base + j * p.inner] - m - ls; }
    } else {
        let inv = 1.0 / s;
        for (var j = 0u; j < p.len; j = j + 1u) { y[base + j * p.inner] = exp(x[base + j * p.inner] - m) * inv; }
    }
}

// Backward given y (bound as x): softmax gx = y (gy - sum(gy y)); log_softmax gx = gy - exp(y) sum(gy).
@compute @workgroup_size(WG)
fn softmax_backward(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let lane = flat_id(w, nw, l);
    if (lane >= pb.outer * pb.inner) { return; }
    let base = (lane / pb.inner) * pb.len * pb.inner + lane % pb.inner;
    var s = 0.0;
    for (var j = 0u; j < pb.len; j = j + 1u) {
        let k = base + j * pb.inner;
        if (pb.log == 1u) { s = s + gy[k]; } else { s = s + gy[k] * x[k]; }
    }
    for (var j = 0u; j < pb.len; j = j + 1u) {
        let k = base + j * pb.inner;
        if (pb.log == 1u) { gx[k] = gy[k] - exp(x[k]) * s; } else { gx[k] = x[k] * (gy[k] - s); }
    }
}
