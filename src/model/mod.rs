//! Models: the manifest, ONNX Runtime, and the per-scale feature extractors and classifier.

pub mod manifest;
pub mod runtime;
pub mod sessions;

pub use manifest::{default_manifest_path, Manifest};
pub use runtime::Device;
pub use sessions::{Classifier, ModelSet, ScaleModel};
