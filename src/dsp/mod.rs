//! Signal processing on the inference thread: downmix, resampling, STFT and the log-mel
//! filterbank. Nothing here runs on an audio thread.

pub mod downmix;
pub mod mel;
pub mod polyphase;
pub mod resample;

pub use downmix::Downmixer;
pub use mel::{FrontendConfig, MelFrontEnd};
pub use resample::StreamResampler;
