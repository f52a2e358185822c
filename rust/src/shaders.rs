//! The WGSL shaders, embedded at build time by `build.rs`.
//!
//! `source(name)` returns the shared prelude (`shaders/common.wgsl`) followed by the
//! family file, which is exactly what the webgpu backend compiles and what `cargo test`
//! validates with naga.

include!(concat!(env!("OUT_DIR"), "/shaders.rs"));

pub const PRELUDE: &str = "common";

/// Names of the shader families (every file but the prelude).
pub fn names() -> Vec<&'static str> {
    SHADERS.iter().map(|(n, _)| *n).filter(|n| *n != PRELUDE).collect()
}

fn raw(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Prelude + family source, or None for an unknown name.
pub fn source(name: &str) -> Option<String> {
    let body = raw(name)?;
    let prelude = raw(PRELUDE).unwrap_or("");
    Some(format!("{prelude}\n{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_validates_with_naga() {
        assert!(!names().is_empty(), "no shaders embedded");
        for name in names() {
            let src = source(name).unwrap();
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
            let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty());
            v.validate(&module).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
        }
    }

    #[test]
    fn unknown_name_is_none() {
        assert!(source("no/such").is_none());
    }
}
