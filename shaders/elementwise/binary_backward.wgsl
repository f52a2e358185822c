// Full-shape gradients of binary ops w.r.t. a or b (summed to the operand's shape
// afterwards by the reduce family). Ties in maximum/minimum go to a, as on the CPU.
struct Params {
    n: u32, ndim: u32, p0: u32, p1: u32,
    shape: array<vec4<u32>, 2>,
    sa: array<vec4<u32>, 2>,
    sb: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> xa: array<f32>;
@group(0) @binding(1) var<storage, read> xb: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gfull: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Offsets into a and b of flat output index i (numpy broadcasting through strides).
fn offsets(i: u32) -> vec2<u32> {
    var rem = i;
    var o = vec2<u32>(0u, 0u);
    for (var d = i32(params.ndim) - 1; d >= 0; d = d - 1) {
        let s = params.shape[d / 4][d % 4];
        let idx = rem % s;
        rem = rem / s;
        o = o + idx * vec2<u32>(params.sa[d / 4][d % 4], params.sb[d / 4][d % 4]);
    }
    return o;
}


@compute @workgroup_size(WG)
fn binary_backward_add_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = g;
}

@compute @workgroup_size(WG)
fn binary_backward_add_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = g;
}

@compute @workgroup_size(WG)
fn binary_backward_sub_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = g;
}

@compute @workgroup_size(WG)
fn binary_backward_sub_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = -g;
}

@compute @workgroup_size(WG)
fn binary_backward_mul_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = g * b;
}

@compute @workgroup_size(WG)
fn binary_backward_mul_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = g * a;
}

@compute @workgroup_size(WG)
fn binary_backward_div_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = g / b;
}

@compute @workgroup_size(WG)
fn binary_backward_div_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = -g * a / (b * b);
}

@compute @workgroup_size(WG)
fn binary_backward_pow_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = select(g * b * pow_signed(a, b - 1.0), 0.0, b == 0.0);
}

@compute @workgroup_size(WG)
fn binary_backward_pow_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = select(g * pow_signed(a, b) * log(a), 0.0, a == 0.0);
}

@compute @workgroup_size(WG)
fn binary_backward_maximum_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = select(0.0, g, a >= b);
}

@compute @workgroup_size(WG)
fn binary_backward_maximum_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = select(g, 0.0, a >= b);
}

@compute @workgroup_size(WG)
fn binary_backward_minimum_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = select(0.0, g, a <= b);
}

@compute @workgroup_size(WG)
fn binary_backward_minimum_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = select(g, 0.0, a <= b);
}

@compute @workgroup_size(WG)
fn binary_backward_equal_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_equal_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_not_equal_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_not_equal_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_less_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_less_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_less_equal_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_less_equal_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_greater_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_greater_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_greater_equal_a(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}

@compute @workgroup_size(WG)
fn binary_backward_greater_equal_b(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= params.n) { return; }
    let o = offsets(i);
    let a = xa[o.x];
    let b = xb[o.y];
    let g = gy[i];
    gfull[i] = 0.0;
}
