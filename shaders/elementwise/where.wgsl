// numpy.where(cond, x, y) with broadcasting (the twin of kernels::index::where). WGSL
// reserves the word `where`, so the entry point is `where_select`. cond is nonzero = true
// by bit pattern (NaN is true, -0.0 false, as in numpy).

struct Params {
    n: u32, ndim: u32, p0: u32, p1: u32,
    shape: array<vec4<u32>, 2>,
    sc: array<vec4<u32>, 2>,
    sx: array<vec4<u32>, 2>,
    sy: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> c: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn where_select(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.n) { return; }
    var rem = i;
    var oc = 0u;
    var ox = 0u;
    var oy = 0u;
    for (var d = i32(p.ndim) - 1; d >= 0; d = d - 1) {
        let s = p.shape[d / 4][d % 4];
        let k = rem % s;
        rem = rem / s;
        oc = oc + k * p.sc[d / 4][d % 4];
        ox = ox + k * p.sx[d / 4][d % 4];
        oy = oy + k * p.sy[d / 4][d % 4];
    }
    out[i] = select(y[oy], x[ox], (bitcast<u32>(c[oc]) & 0x7fffffffu) != 0u);
}
