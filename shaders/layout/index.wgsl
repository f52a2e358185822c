// Views, gathers and scatters (the twins of rust/src/kernels/index.rs).
//
// Output position i (row-major over `shape`) addresses the source at
//   offset + sum_d c_d * strides[d] + sum_k wrap_k(idx[k * count + sum_d c_d * idx_strides[d]]) * isrc[k]
// Strides are signed (reversed slices) and may be 0 (broadcasts). `gather` and
// `scatter_add` check every index against [-isize[k], isize[k]); a bad one sets check
// slot `slot` of `flags` (see shaders/README.md) and its output is NaN / not written.

struct IndexParams {
    n: u32, ndim: u32, offset: i32, k: u32,
    count: u32, slot: u32, p0: u32, p1: u32,
    shape: array<vec4<u32>, 2>,
    strides: array<vec4<i32>, 2>,
    idx_strides: array<vec4<u32>, 2>,
    isrc: vec4<i32>,
    isize: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> vp: IndexParams;

@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> gout: array<u32>;
@group(0) @binding(2) var<storage, read_write> acc: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> ip: IndexParams;

// (source address of the view, position in the index arrays) of output element i.
fn view_addr(i: u32, p: IndexParams) -> vec2<i32> {
    var rem = i;
    var a = p.offset;
    var b = 0u;
    for (var d = i32(p.ndim) - 1; d >= 0; d = d - 1) {
        let s = p.shape[d / 4][d % 4];
        let c = rem % s;
        rem = rem / s;
        a = a + i32(c) * p.strides[d / 4][d % 4];
        b = b + c * p.idx_strides[d / 4][d % 4];
    }
    return vec2<i32>(a, i32(b));
}

// The full address with the index arrays applied; -1 for an out-of-range index (flagged).
fn indexed_addr(i: u32) -> i32 {
    let ab = view_addr(i, ip);
    var a = ab.x;
    for (var k = 0u; k < ip.k; k = k + 1u) {
        var v = idx[k * ip.count + u32(ab.y)];
        let size = i32(ip.isize[k]);
        if (v < -size || v >= size) {
            atomicMax(&flags[2u * ip.slot], 1u);
            atomicExchange(&flags[2u * ip.slot + 1u], bitcast<u32>(v));
            return -1;
        }
        if (v < 0) { v = v + size; }
        a = a + v * ip.isrc[k];
    }
    return a;
}

// dst[i] = src[view(i)]: slices, reversed slices, transposes, broadcasts (any 32-bit dtype).
@compute @workgroup_size(WG)
fn strided_copy(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= vp.n) { return; }
    dst[i] = src[view_addr(i, vp).x];
}

// In place: dst[view(i)] = src[i] (the view addresses each element at most once).
@compute @workgroup_size(WG)
fn strided_write(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= vp.n) { return; }
    dst[view_addr(i, vp).x] = src[i];
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= ip.n) { return; }
    let a = indexed_addr(i);
    if (a < 0) { gout[i] = 0x7fc00000u; return; }
    gout[i] = src[a];
}

// acc (zero-filled first) += g at the gathered addresses. Repeated addresses accumulate
// through a compare-exchange loop on the float's bits (WGSL has no float atomics).
@compute @workgroup_size(WG)
fn scatter_add(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= ip.n) { return; }
    let a = indexed_addr(i);
    if (a < 0) { return; }
    let v = g[i];
    var old = atomicLoad(&acc[a]);
    loop {
        let r = atomicCompareExchangeWeak(&acc[a], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) { break; }
        old = r.old_value;
    }
}
