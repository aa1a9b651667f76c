//! The engine: the shared feature pipeline, the live inference thread and what it publishes.

pub mod live;
mod no_scores;
pub mod pipeline;
mod wait_plan;
mod worker;

pub use crate::scores::{HeadLabels, Scores, View, MAX_HEAD_LABELS, MAX_TAGS};
pub use live::{
    min_ring_seconds, Delivery, Engine, EngineBuilder, EngineConfig, EngineHooks, EngineSummary,
    InputFormat, Latest, PublishHook, Tap, Wake,
};
pub use no_scores::{min_duration_s, no_scores_reason, NoScores};
pub use pipeline::{FeaturePipeline, PipelineConfig, Scorer};
