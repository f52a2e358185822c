// float32 <-> int32 conversions (truncation toward zero, as numpy's astype).

struct Params { n: u32, p0: u32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn cast_f32_to_i32(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l);
    if (i >= params.n) { return; }
    dst[i] = bitcast<u32>(i32(bitcast<f32>(src[i])));
}

@compute @workgroup_size(WG)
fn cast_i32_to_f32(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l);
    if (i >= params.n) { return; }
    dst[i] = bitcast<u32>(f32(bitcast<i32>(src[i])));
}
