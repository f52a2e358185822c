// Fused in-place optimizer updates with Keras 3 semantics (twins of kernels/optim.rs).

struct SgdParams { n: u32, nesterov: u32, lr: f32, momentum: f32 }
struct AdamParams { n: u32, p0: u32, lr_t: f32, one_b1: f32, one_b2: f32, eps: f32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> s1: array<f32>;
@group(0) @binding(3) var<storage, read_write> s2: array<f32>;
@group(0) @binding(2) var<uniform> sgd_p: SgdParams;
@group(0) @binding(3) var<uniform> sgdm_p: SgdParams;
@group(0) @binding(4) var<uniform> adam_p: AdamParams;

// p -= lr g
@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= sgd_p.n) { return; }
    param[i] = param[i] - sgd_p.lr * g[i];
}

// v = momentum v - lr g; p += v (or, Nesterov, p += momentum v - lr g)
@compute @workgroup_size(WG)
fn sgd_momentum(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= sgdm_p.n) { return; }
    let v = sgdm_p.momentum * s1[i] - sgdm_p.lr * g[i];
    s1[i] = v;
    if (sgdm_p.nesterov == 1u) {
        param[i] = param[i] + sgdm_p.momentum * v - sgdm_p.lr * g[i];
    } else {
        param[i] = param[i] + v;
    }
}

// m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); p -= lr_t m / (sqrt(v) + eps),
// lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) computed on the host in float64.
@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= adam_p.n) { return; }
    let gi = g[i];
    let m = s1[i] + (gi - s1[i]) * adam_p.one_b1;
    let v = s2[i] + (gi * gi - s2[i]) * adam_p.one_b2;
    s1[i] = m;
    s2[i] = v;
    param[i] = param[i] - adam_p.lr_t * m / (sqrt(v) + adam_p.eps);
}
