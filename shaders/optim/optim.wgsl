// Fused in-place optimizer updates with Keras 3 semantics (twins of kernels/optim.rs).
//
// Bindings: the gradient (read-only), then the parameter and the optimizer slots
// (read_write), then the uniform parameters. Entry points with different numbers of slots
// put their uniform at different bindings; each entry point uses only its own variables.
// Step-dependent factors (bias corrections, Nadam's momentum cache) are computed on the
// host in float64 and passed in `k*`. Every entry first applies Keras's decoupled weight
// decay p -= p * decay (decay = weight_decay * lr; skipped when 0), as kernels/optim.rs.

fn decayed(p: f32, decay: f32) -> f32 {
    if (decay == 0.0) { return p; }
    return p - p * decay;
}

struct SgdParams { n: u32, nesterov: u32, lr: f32, momentum: f32, decay: f32 }
struct AdamParams { n: u32, p0: u32, lr_t: f32, one_b1: f32, one_b2: f32, eps: f32, decay: f32, p2: u32 }
// Generic parameters of the rest of the catalogue: the element count, then float factors
// whose meaning each entry point documents.
struct OptParams { n: u32, pad: u32, k0: f32, k1: f32, k2: f32, k3: f32, k4: f32, k5: f32, k6: f32, decay: f32, pad3: u32, pad4: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> s1: array<f32>;
@group(0) @binding(3) var<storage, read_write> s2: array<f32>;
@group(0) @binding(4) var<storage, read_write> s3: array<f32>;
@group(0) @binding(2) var<uniform> sgd_p: SgdParams;
@group(0) @binding(3) var<uniform> sgdm_p: SgdParams;
@group(0) @binding(4) var<uniform> adam_p: AdamParams;
@group(0) @binding(3) var<uniform> op3: OptParams;
@group(0) @binding(4) var<uniform> op4: OptParams;
@group(0) @binding(5) var<uniform> op5: OptParams;

// p -= lr g
@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= sgd_p.n) { return; }
    param[i] = decayed(param[i], sgd_p.decay) - sgd_p.lr * g[i];
}

// v = momentum v - lr g; p += v (or, Nesterov, p += momentum v - lr g)
@compute @workgroup_size(WG)
fn sgd_momentum(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= sgdm_p.n) { return; }
    let v = sgdm_p.momentum * s1[i] - sgdm_p.lr * g[i];
    s1[i] = v;
    if (sgdm_p.nesterov == 1u) {
        param[i] = decayed(param[i], sgdm_p.decay) + sgdm_p.momentum * v - sgdm_p.lr * g[i];
    } else {
        param[i] = decayed(param[i], sgdm_p.decay) + v;
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
    param[i] = decayed(param[i], adam_p.decay) - adam_p.lr_t * m / (sqrt(v) + adam_p.eps);
}

// AMSGrad: as adam, then vhat = max(vhat, v) replaces v in the denominator.
// k0 = lr_t, k1 = 1 - b1, k2 = 1 - b2, k3 = eps.
@compute @workgroup_size(WG)
fn adam_amsgrad(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op5.n) { return; }
    let gi = g[i];
    let m = s1[i] + (gi - s1[i]) * op5.k1;
    let v = s2[i] + (gi * gi - s2[i]) * op5.k2;
    let vh = max(s3[i], v);
    s1[i] = m;
    s2[i] = v;
    s3[i] = vh;
    param[i] = decayed(param[i], op5.decay) - op5.k0 * m / (sqrt(vh) + op5.k3);
}

// RMSprop, k0 = lr, k1 = rho, k2 = 1 - rho, k3 = momentum, k4 = eps (inside the root).
// s1 = velocity; the centered and momentum variants add the average gradient and the
// momentum slot in s2 (and s3).
fn rms_inc(i: u32, v_old: f32, lr: f32, rho: f32, one_rho: f32, eps: f32) -> f32 {
    let gi = g[i];
    let v = rho * v_old + one_rho * (gi * gi);
    s1[i] = v;
    return lr * gi / sqrt(v + eps);
}

@compute @workgroup_size(WG)
fn rmsprop(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op3.n) { return; }
    param[i] = decayed(param[i], op3.decay) - rms_inc(i, s1[i], op3.k0, op3.k1, op3.k2, op3.k4);
}

@compute @workgroup_size(WG)
fn rmsprop_momentum(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op4.n) { return; }
    let inc = rms_inc(i, s1[i], op4.k0, op4.k1, op4.k2, op4.k4);
    let mo = op4.k3 * s2[i] + inc;
    s2[i] = mo;
    param[i] = decayed(param[i], op4.decay) - mo;
}

fn rms_centered_inc(i: u32, lr: f32, rho: f32, one_rho: f32, eps: f32) -> f32 {
    let gi = g[i];
    let v = rho * s1[i] + one_rho * (gi * gi);
    let a = rho * s2[i] + one_rho * gi;
    s1[i] = v;
    s2[i] = a;
    return lr * gi / sqrt(v - a * a + eps);
}

@compute @workgroup_size(WG)
fn rmsprop_centered(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op4.n) { return; }
    param[i] = decayed(param[i], op4.decay) - rms_centered_inc(i, op4.k0, op4.k1, op4.k2, op4.k4);
}

@compute @workgroup_size(WG)
fn rmsprop_centered_momentum(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op5.n) { return; }
    let inc = rms_centered_inc(i, op5.k0, op5.k1, op5.k2, op5.k4);
    let mo = op5.k3 * s3[i] + inc;
    s3[i] = mo;
    param[i] = decayed(param[i], op5.decay) - mo;
}

// Adagrad, k0 = lr, k1 = eps: acc += g^2; p -= lr g / sqrt(acc + eps).
@compute @workgroup_size(WG)
fn adagrad(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op3.n) { return; }
    let gi = g[i];
    let a = s1[i] + gi * gi;
    s1[i] = a;
    param[i] = decayed(param[i], op3.decay) - op3.k0 * gi / sqrt(a + op3.k1);
}

// Adadelta, k0 = lr, k1 = rho, k2 = 1 - rho, k3 = eps: Eg = rho Eg + (1 - rho) g^2;
// d = -sqrt(Ed + eps) g / sqrt(Eg + eps); Ed = rho Ed + (1 - rho) d^2; p += lr d.
@compute @workgroup_size(WG)
fn adadelta(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op4.n) { return; }
    let gi = g[i];
    let eg = op4.k1 * s1[i] + op4.k2 * (gi * gi);
    s1[i] = eg;
    let d = -(sqrt(s2[i] + op4.k3) * gi) / sqrt(eg + op4.k3);
    s2[i] = op4.k1 * s2[i] + op4.k2 * (d * d);
    param[i] = decayed(param[i], op4.decay) + op4.k0 * d;
}

// Adamax, k0 = lr, k1 = 1 - b1, k2 = b2, k3 = eps, k4 = 1 - b1^t:
// m += (g - m)(1 - b1); u = max(b2 u, |g|); p -= lr m / ((1 - b1^t)(u + eps)).
@compute @workgroup_size(WG)
fn adamax(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op4.n) { return; }
    let gi = g[i];
    let m = s1[i] + (gi - s1[i]) * op4.k1;
    let u = max(op4.k2 * s2[i], abs(gi));
    s1[i] = m;
    s2[i] = u;
    param[i] = decayed(param[i], op4.decay) - op4.k0 * m / (op4.k4 * (u + op4.k3));
}

// Nadam, k0 = lr, k1 = 1 - b1, k2 = 1 - b2, k3 = eps, k4 = u_{t+1} / (1 - P_t u_{t+1}),
// k5 = (1 - u_t) / (1 - P_t), k6 = 1 / (1 - b2^t): mhat = k4 m + k5 g; vhat = k6 v;
// p -= lr mhat / (sqrt(vhat) + eps).
@compute @workgroup_size(WG)
fn nadam(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= op4.n) { return; }
    let gi = g[i];
    let m = s1[i] + (gi - s1[i]) * op4.k1;
    let v = s2[i] + (gi * gi - s2[i]) * op4.k2;
    s1[i] = m;
    s2[i] = v;
    let mhat = op4.k4 * m + op4.k5 * gi;
    let vhat = v * op4.k6;
    param[i] = decayed(param[i], op4.decay) - op4.k0 * mhat / (sqrt(vhat) + op4.k3);
}
