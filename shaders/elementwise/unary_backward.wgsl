// dx = dy * op'(x), given y = op(x). Entry points unary_backward_<op>.
// At kinks the derivative follows Keras 3 on JAX, as on the CPU: relu'(0) = abs'(0) = 0,
// relu6'(0) = relu6'(6) = 0, leaky_relu'(0) = 1, elu'(0) = alpha, selu'(0) = scale * alpha;
// step's gradient is zero. At +-inf the derivatives are their limits (not inf * 0).

struct Params { n: u32, alpha: f32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const SELU_ALPHA: f32 = 1.6732632423543772;
const SELU_SCALE: f32 = 1.0507009873554805;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_TANH_COEF: f32 = 0.044715;
const FRAC_1_SQRT_2PI: f32 = 0.3989422804014327;

// Past |x| = 100 every smooth activation here has reached its limiting slope in f32.
fn limit_slope(v: f32) -> f32 { return select(0.0, 1.0, v > 0.0); }

fn d_gelu(v: f32) -> f32 {
    if (abs(v) > 100.0) { return limit_slope(v); }
    return normal_cdf_f32(v) + v * FRAC_1_SQRT_2PI * exp(-0.5 * v * v);
}

fn d_gelu_tanh(v: f32) -> f32 {
    if (abs(v) > 100.0) { return limit_slope(v); }
    let u = SQRT_2_OVER_PI * (v + GELU_TANH_COEF * v * v * v);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * v * v);
    let s = sigmoid_stable(2.0 * u);
    return s + 2.0 * v * s * sigmoid_stable(-2.0 * u) * du;
}

fn d_silu(v: f32) -> f32 {
    if (abs(v) > 100.0) { return limit_slope(v); }
    return sigmoid_stable(v) * (1.0 + v * sigmoid_stable(-v));
}

// tanh(sp) + x sigmoid(x) sech^2(sp), sech^2 = 4e / (1 + e)^2 with e = exp(-2 sp).
fn d_mish(v: f32) -> f32 {
    if (abs(v) > 100.0) { return limit_slope(v); }
    let sp = softplus_f32(v);
    let e = exp(-2.0 * sp);
    return tanh_f32(sp) + v * sigmoid_stable(v) * (4.0 * e / ((1.0 + e) * (1.0 + e)));
}

fn d_softsign(v: f32) -> f32 {
    let d = 1.0 + abs(v);
    return 1.0 / (d * d);
}

@compute @workgroup_size(WG)
fn unary_backward_neg(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = -gy[i];
}

@compute @workgroup_size(WG)
fn unary_backward_abs(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    var s = 0.0; if (x[i] > 0.0) { s = 1.0; } else if (x[i] < 0.0) { s = -1.0; }
    gx[i] = gy[i] * s;
}

@compute @workgroup_size(WG)
fn unary_backward_exp(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * y[i];
}

@compute @workgroup_size(WG)
fn unary_backward_log(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] / x[i];
}

@compute @workgroup_size(WG)
fn unary_backward_sqrt(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * 0.5 / y[i];
}

@compute @workgroup_size(WG)
fn unary_backward_square(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = 2.0 * x[i] * gy[i];
}

@compute @workgroup_size(WG)
fn unary_backward_relu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = select(0.0, gy[i], x[i] > 0.0);
}

@compute @workgroup_size(WG)
fn unary_backward_sigmoid(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * y[i] * (1.0 - y[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_tanh(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * (1.0 - y[i] * y[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_relu6(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = select(0.0, gy[i], x[i] > 0.0 && x[i] < 6.0);
}

@compute @workgroup_size(WG)
fn unary_backward_hard_sigmoid(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    let z = x[i] + 3.0; gx[i] = select(0.0, gy[i] / 6.0, z > 0.0 && z < 6.0);
}

@compute @workgroup_size(WG)
fn unary_backward_step(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = 0.0;
}

@compute @workgroup_size(WG)
fn unary_backward_leaky_relu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = select(params.alpha * gy[i], gy[i], x[i] >= 0.0);
}

@compute @workgroup_size(WG)
fn unary_backward_elu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = select(gy[i] * params.alpha * exp(x[i]), gy[i], x[i] > 0.0);
}

@compute @workgroup_size(WG)
fn unary_backward_selu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * select(SELU_SCALE, SELU_SCALE * SELU_ALPHA * exp(x[i]), x[i] <= 0.0);
}

@compute @workgroup_size(WG)
fn unary_backward_gelu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * d_gelu(x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_gelu_tanh(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * d_gelu_tanh(x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_silu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * d_silu(x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_softplus(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * sigmoid_stable(x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_softsign(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * d_softsign(x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_mish(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * d_mish(x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_log1p(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] / (1.0 + x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_expm1(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * (y[i] + 1.0);
}

@compute @workgroup_size(WG)
fn unary_backward_erf(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = gy[i] * 1.1283791670955126 * exp(-x[i] * x[i]);
}

@compute @workgroup_size(WG)
fn unary_backward_rsqrt(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = -0.5 * gy[i] * y[i] * y[i] * y[i];
}

@compute @workgroup_size(WG)
fn unary_backward_floor(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = 0.0;
}

@compute @workgroup_size(WG)
fn unary_backward_ceil(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = 0.0;
}

@compute @workgroup_size(WG)
fn unary_backward_round(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = 0.0;
}

@compute @workgroup_size(WG)
fn unary_backward_sign(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; }
    gx[i] = 0.0;
}
