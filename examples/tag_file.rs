//! Prints the top tags of an audio file, as `mstag tag --top 5` does.
//!
//! ```sh
//! cargo run --release --example tag_file -- models/demo/demo.wav
//! ```

use mstag::output::{to_table, FileResult};
use mstag::{Tagger, TaggerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        return Err("usage: tag_file AUDIO_FILE".into());
    };
    let mut tagger = Tagger::new(TaggerConfig::default())?;
    let song = tagger.tag_path(&path)?;

    // The five lines above are all it takes; the rest prints the table `mstag tag` prints.
    let row = FileResult::ok(path, Some(song.duration_s()), song.scores().to_vec());
    print!("{}", to_table(&[row], tagger.tags(), 5, true));
    Ok(())
}
