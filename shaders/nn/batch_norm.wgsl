// Fused training-mode batch normalization of x viewed as (rows, ch), the twin of
// rust/src/kernels/normalization.rs. Per-channel statistics are one invocation per
// channel looping over the rows (consecutive invocations read consecutive addresses);
// the elementwise passes are one invocation per element.
//
//   batch_norm_stats:          mean[c], var[c] (biased; two passes)
//   batch_norm_apply:          y = (x - mean) * inverseSqrt(var + eps) * gamma + beta
//   batch_norm_backward_sums:  dbeta[c] = sum_r g, dgamma[c] = sum_r g * x_hat
//   batch_norm_backward_apply: gx = inv_std * gamma * (g - dbeta / rows - x_hat * dgamma / rows)

struct Params { rows: u32, ch: u32, has_gamma: u32, has_beta: u32, eps: f32, p0: u32, p1: u32, p2: u32 }

// -- statistics ------------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read> s_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> s_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_var: array<f32>;
@group(0) @binding(3) var<uniform> s_p: Params;

@compute @workgroup_size(WG)
fn batch_norm_stats(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let c = flat_id(w, nw, l);
    if (c >= s_p.ch) { return; }
    var sum = 0.0;
    for (var r = 0u; r < s_p.rows; r = r + 1u) { sum = sum + s_x[r * s_p.ch + c]; }
    let mean = sum / f32(s_p.rows);
    var ss = 0.0;
    for (var r = 0u; r < s_p.rows; r = r + 1u) {
        let d = s_x[r * s_p.ch + c] - mean;
        ss = ss + d * d;
    }
    s_mean[c] = mean;
    s_var[c] = ss / f32(s_p.rows);
}

// -- normalize, scale, shift -----------------------------------------------------------------
@group(0) @binding(0) var<storage, read> a_x: array<f32>;
@group(0) @binding(1) var<storage, read> a_mean: array<f32>;
@group(0) @binding(2) var<storage, read> a_var: array<f32>;
@group(0) @binding(3) var<storage, read> a_gamma: array<f32>;
@group(0) @binding(4) var<storage, read> a_beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> a_y: array<f32>;
@group(0) @binding(6) var<uniform> a_p: Params;

@compute @workgroup_size(WG)
fn batch_norm_apply(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= a_p.rows * a_p.ch) { return; }
    let c = i % a_p.ch;
    var v = (a_x[i] - a_mean[c]) * (1.0 / sqrt(a_var[c] + a_p.eps));
    if (a_p.has_gamma == 1u) { v = v * a_gamma[c]; }
    if (a_p.has_beta == 1u) { v = v + a_beta[c]; }
    a_y[i] = v;
}

// -- backward: per-channel sums --------------------------------------------------------------
@group(0) @binding(0) var<storage, read> b_x: array<f32>;
@group(0) @binding(1) var<storage, read> b_mean: array<f32>;
@group(0) @binding(2) var<storage, read> b_var: array<f32>;
@group(0) @binding(3) var<storage, read> b_g: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_dgamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_dbeta: array<f32>;
@group(0) @binding(6) var<uniform> b_p: Params;

@compute @workgroup_size(WG)
fn batch_norm_backward_sums(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let c = flat_id(w, nw, l);
    if (c >= b_p.ch) { return; }
    let inv = 1.0 / sqrt(b_var[c] + b_p.eps);
    var sg = 0.0;
    var sgx = 0.0;
    for (var r = 0u; r < b_p.rows; r = r + 1u) {
        let i = r * b_p.ch + c;
        let g = b_g[i];
        sg = sg + g;
        sgx = sgx + g * ((b_x[i] - b_mean[c]) * inv);
    }
    b_dbeta[c] = sg;
    b_dgamma[c] = sgx;
}

// -- backward: input gradient ----------------------------------------------------------------
@group(0) @binding(0) var<storage, read> d_x: array<f32>;
@group(0) @binding(1) var<storage, read> d_mean: array<f32>;
@group(0) @binding(2) var<storage, read> d_var: array<f32>;
@group(0) @binding(3) var<storage, read> d_g: array<f32>;
@group(0) @binding(4) var<storage, read> d_gamma: array<f32>;
@group(0) @binding(5) var<storage, read> d_dgamma: array<f32>;
@group(0) @binding(6) var<storage, read> d_dbeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_gx: array<f32>;
@group(0) @binding(8) var<uniform> d_p: Params;

@compute @workgroup_size(WG)
fn batch_norm_backward_apply(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= d_p.rows * d_p.ch) { return; }
    let c = i % d_p.ch;
    let inv = 1.0 / sqrt(d_var[c] + d_p.eps);
    let n = f32(d_p.rows);
    let xhat = (d_x[i] - d_mean[c]) * inv;
    var scale = inv;
    if (d_p.has_gamma == 1u) { scale = scale * d_gamma[c]; }
    d_gx[i] = scale * (d_g[i] - d_dbeta[c] / n - xhat * (d_dgamma[c] / n));
}
