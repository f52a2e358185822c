// y = op(x), elementwise. Entry points unary_<op>.

struct Params { n: u32, p0: u32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn relu_nan(v: f32) -> f32 {
    // NaN propagates, as in the CPU kernel and numpy.
    if (v > 0.0 || is_nan_f32(v)) { return v; }
    return 0.0;
}

@compute @workgroup_size(WG)
fn unary_neg(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = -x[i];
}
@compute @workgroup_size(WG)
fn unary_abs(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = abs(x[i]);
}
@compute @workgroup_size(WG)
fn unary_exp(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = exp(x[i]);
}
@compute @workgroup_size(WG)
fn unary_log(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = log(x[i]);
}
@compute @workgroup_size(WG)
fn unary_sqrt(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = sqrt(x[i]);
}
@compute @workgroup_size(WG)
fn unary_square(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = x[i] * x[i];
}
@compute @workgroup_size(WG)
fn unary_relu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = relu_nan(x[i]);
}
@compute @workgroup_size(WG)
fn unary_sigmoid(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = sigmoid_stable(x[i]);
}
@compute @workgroup_size(WG)
fn unary_tanh(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = tanh_stable(x[i]);
}
