//! The typed QIX engine API (placeholder docs, rewritten below).

mod float;
mod generated;
mod wire;

pub use float::Float64;
pub use generated::*;
