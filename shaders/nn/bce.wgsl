// Elementwise binary cross-entropy of sigmoid(z) against y, from logits, and its backward.

struct Params { n: u32, p0: u32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> gz: array<f32>;
@group(0) @binding(4) var<uniform> pb: Params;

@compute @workgroup_size(WG)
fn sigmoid_bce(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.n) { return; }
    let v = z[i];
    // log1p(e) for e = exp(-|v|) in [0, 1]: log(1 + e) loses nothing that matters at f32 here
    // except for tiny e, where the series e - e^2/2 is exact to rounding.
    let e = exp(-abs(v));
    var lp = log(1.0 + e);
    if (e < 1e-4) { lp = e - 0.5 * e * e; }
    out[i] = max(v, 0.0) - v * y[i] + lp;
}

@compute @workgroup_size(WG)
fn sigmoid_bce_backward(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= pb.n) { return; }
    gz[i] = g[i] * (sigmoid_stable(z[i]) - y[i]);
}
