// dx = dy * op'(x), given y = op(x). Entry points unary_backward_<op>.
// At kinks the derivative follows TensorFlow (relu'(0) = 0, abs'(0) = 0), as on the CPU.

struct Params { n: u32, p0: u32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn unary_backward_neg(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } gx[i] = -gy[i];
}
@compute @workgroup_size(WG)
fn unary_backward_abs(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    var s = 0.0; if (x[i] > 0.0) { s = 1.0; } else if (x[i] < 0.0) { s = -1.0; }
    gx[i] = gy[i] * s;
}
@compute @workgroup_size(WG)
fn unary_backward_exp(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } gx[i] = gy[i] * y[i];
}
@compute @workgroup_size(WG)
fn unary_backward_log(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } gx[i] = gy[i] / x[i];
}
@compute @workgroup_size(WG)
fn unary_backward_sqrt(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } gx[i] = gy[i] * 0.5 / y[i];
}
@compute @workgroup_size(WG)
fn unary_backward_square(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } gx[i] = 2.0 * x[i] * gy[i];
}
@compute @workgroup_size(WG)
fn unary_backward_relu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = select(0.0, gy[i], x[i] > 0.0);
}
@compute @workgroup_size(WG)
fn unary_backward_sigmoid(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } gx[i] = gy[i] * y[i] * (1.0 - y[i]);
}
@compute @workgroup_size(WG)
fn unary_backward_tanh(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } gx[i] = gy[i] * (1.0 - y[i] * y[i]);
}
