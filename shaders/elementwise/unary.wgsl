// y = op(x), elementwise. Entry points unary_<op>; one name per op across the stack
// (rust/src/kernels/unary.rs holds the same forms; see its notes on numerics).
// `params.alpha` is the parameter of the parametric ops (leaky_relu's negative slope,
// elu's alpha). NaN propagates; +-inf give the limits.

struct Params { n: u32, alpha: f32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const SELU_ALPHA: f32 = 1.6732632423543772;
const SELU_SCALE: f32 = 1.0507009873554805;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_TANH_COEF: f32 = 0.044715;

fn relu_nan(v: f32) -> f32 {
    // NaN propagates, as in the CPU kernel and numpy.
    if (v > 0.0 || is_nan_f32(v)) { return v; }
    return 0.0;
}

fn act_relu6(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    return clamp(v, 0.0, 6.0);
}

// Keras 3: relu6(x + 3) / 6.
fn act_hard_sigmoid(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    return clamp(v + 3.0, 0.0, 6.0) / 6.0;
}

// Heaviside, 1 at 0 (perceptrons).
fn act_step(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    return select(0.0, 1.0, v >= 0.0);
}

fn act_leaky_relu(v: f32, a: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    return select(a * v, v, v > 0.0);
}

fn act_elu(v: f32, a: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    return select(a * expm1_f32(v), v, v > 0.0);
}

fn act_selu(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    return SELU_SCALE * select(SELU_ALPHA * expm1_f32(v), v, v > 0.0);
}

fn act_gelu(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    if (is_inf_f32(v)) { return max(v, 0.0); }
    return v * normal_cdf_f32(v);
}

// 0.5 x (1 + tanh(u)) written as x * sigmoid(2u): no cancellation in the left tail.
fn act_gelu_tanh(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    if (is_inf_f32(v)) { return max(v, 0.0); }
    let u = SQRT_2_OVER_PI * (v + GELU_TANH_COEF * v * v * v);
    return v * sigmoid_stable(2.0 * u);
}

fn act_silu(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    if (is_inf_f32(v)) { return max(v, 0.0); }
    return v * sigmoid_stable(v);
}

fn act_softsign(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    if (is_inf_f32(v)) { return sign(v); }
    return v / (1.0 + abs(v));
}

fn act_mish(v: f32) -> f32 {
    if (is_nan_f32(v)) { return v; }
    if (is_inf_f32(v)) { return max(v, 0.0); }
    return v * tanh_f32(softplus_f32(v));
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

@compute @workgroup_size(WG)
fn unary_relu6(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_relu6(x[i]);
}

@compute @workgroup_size(WG)
fn unary_hard_sigmoid(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_hard_sigmoid(x[i]);
}

@compute @workgroup_size(WG)
fn unary_step(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_step(x[i]);
}

@compute @workgroup_size(WG)
fn unary_leaky_relu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_leaky_relu(x[i], params.alpha);
}

@compute @workgroup_size(WG)
fn unary_elu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_elu(x[i], params.alpha);
}

@compute @workgroup_size(WG)
fn unary_selu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_selu(x[i]);
}

@compute @workgroup_size(WG)
fn unary_gelu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_gelu(x[i]);
}

@compute @workgroup_size(WG)
fn unary_gelu_tanh(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_gelu_tanh(x[i]);
}

@compute @workgroup_size(WG)
fn unary_silu(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_silu(x[i]);
}

@compute @workgroup_size(WG)
fn unary_softplus(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = softplus_f32(x[i]);
}

@compute @workgroup_size(WG)
fn unary_softsign(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_softsign(x[i]);
}

@compute @workgroup_size(WG)
fn unary_mish(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = act_mish(x[i]);
}

// 0, -0 and NaN stay themselves (numpy's sign).
fn sign_nan(v: f32) -> f32 {
    if (v > 0.0) { return 1.0; }
    if (v < 0.0) { return -1.0; }
    return v;
}

@compute @workgroup_size(WG)
fn unary_log1p(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = log1p_f32(x[i]);
}

@compute @workgroup_size(WG)
fn unary_expm1(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = expm1_f32(x[i]);
}

@compute @workgroup_size(WG)
fn unary_erf(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = erf_f32(x[i]);
}

@compute @workgroup_size(WG)
fn unary_rsqrt(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = 1.0 / sqrt(x[i]);
}

@compute @workgroup_size(WG)
fn unary_floor(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = floor(x[i]);
}

@compute @workgroup_size(WG)
fn unary_ceil(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = ceil(x[i]);
}

@compute @workgroup_size(WG)
fn unary_round(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = round(x[i]);
}

@compute @workgroup_size(WG)
fn unary_sign(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l); if (i >= params.n) { return; } y[i] = sign_nan(x[i]);
}
