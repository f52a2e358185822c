// out[i] = the 32-bit pattern p0 (a float32 or an int32 value).

struct Params { n: u32, bits: u32, p1: u32, p2: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, n, l);
    if (i >= params.n) { return; }
    out[i] = params.bits;
}
