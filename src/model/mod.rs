//! Models: the manifest, ONNX Runtime, the per-scale feature extractors and classifier, and
//! the traits the pipeline sees them through.

pub mod cuda;
pub mod manifest;
pub mod runtime;
pub mod sessions;
pub mod traits;

pub use manifest::{default_manifest_path, Manifest};
pub use runtime::Device;
pub use sessions::{Classifier, ModelSet, Placement, ScaleModel};
pub use traits::{SegmentModel, TagClassifier};
