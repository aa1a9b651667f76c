//! `mstag embed`: the song-level feature vector of each file (the paper's aggregate, the
//! input of the tag classifier and of heads of your own), as JSON lines, CSV or `.npy`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use ndarray::Array2;
use serde::Serialize;

use mstag::output::json::Floats;
use mstag::{SongTags, Tagger, TaggerConfig};

use super::ModelArgs;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EmbedFormat {
    /// One JSON object per line and file: {"file", "duration_s", "features": [...]}
    Jsonl,
    /// A header (file, kind, start_s, end_s, then one column per feature) and a row per vector
    Csv,
    /// A float32 matrix, a row per vector, and OUT.rows.csv naming each row (needs --out)
    Npy,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Audio files (WAV, FLAC, OGG, MP3)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write here (through a temporary file and a rename) instead of standard output; the
    /// extension (.jsonl, .csv, .npy) chooses the format unless --format does
    #[arg(long, short, value_name = "OUT")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub format: Option<EmbedFormat>,
    /// Also one vector per S seconds: the mean over the segments of each S-second window, as
    /// the window view (rows of kind "window" with their start and end)
    #[arg(long, value_name = "S", value_parser = super::positive_seconds,
          allow_negative_numbers = true)]
    pub window: Option<f64>,
    /// Files analysed in parallel (0 = all cores; at most 1024)
    #[arg(long, short, default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub jobs: u16,
    /// Segments of a scale run in one model call (1 to 1024)
    #[arg(long, default_value_t = mstag::DEFAULT_BATCH as u16, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub batch: u16,
    /// No progress bar
    #[arg(long, short)]
    pub quiet: bool,
    /// Model manifest (default: $MSTAG_MODELS/manifest.json, models/ beside the executable,
    /// or the source tree's models/)
    #[arg(long, value_name = "PATH")]
    pub models: Option<PathBuf>,
    /// Where inference runs: cpu, cuda (fails if unavailable) or auto (CUDA, else CPU)
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: super::DeviceArg,
    /// Aggregate digitally silent segments too (by default they are left out)
    #[arg(long)]
    pub no_silence_gate: bool,
}

impl EmbedArgs {
    /// The format: --format, else the extension of --out, else JSON lines.
    pub fn format(&self) -> Result<EmbedFormat> {
        if let Some(f) = self.format {
            if f == EmbedFormat::Npy && self.out.is_none() {
                bail!("--format npy writes a file: add --out FILE.npy");
            }
            return Ok(f);
        }
        let Some(out) = &self.out else {
            return Ok(EmbedFormat::Jsonl);
        };
        let ext = out
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("jsonl") | Some("json") | Some("ndjson") => Ok(EmbedFormat::Jsonl),
            Some("csv") => Ok(EmbedFormat::Csv),
            Some("npy") => Ok(EmbedFormat::Npy),
            _ => bail!(
                "{}: say the format with --format jsonl|csv|npy (or end the name in .jsonl, .csv or .npy)",
                out.display()
            ),
        }
    }
}

/// One vector of the output: a song, or one window of it.
struct Row<'a> {
    file: &'a str,
    kind: &'static str,
    start_s: f64,
    end_s: f64,
    features: &'a [f32],
}

fn rows<'a>(file: &'a str, song: &'a SongTags) -> Vec<Row<'a>> {
    let mut v = vec![Row {
        file,
        kind: "song",
        start_s: 0.0,
        end_s: song.duration_s(),
        features: song.features(),
    }];
    if let Some(w) = song.window_s() {
        v.extend(song.windows().iter().map(|(t, f)| Row {
            file,
            kind: "window",
            start_s: (t - w).max(0.0),
            end_s: *t,
            features: f,
        }));
    }
    v
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// A file's line in JSON lines.
#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    duration_s: f64,
    features: Floats<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    windows: Option<Vec<Window<'a>>>,
}

#[derive(Serialize)]
struct Window<'a> {
    start_s: f64,
    end_s: f64,
    features: Floats<'a>,
}

fn jsonl_line(file: &str, song: &SongTags) -> String {
    let all = rows(file, song);
    let line = Line {
        file,
        duration_s: round4(song.duration_s()),
        features: Floats(song.features()),
        window_s: song.window_s(),
        windows: song.window_s().map(|_| {
            all.iter()
                .skip(1)
                .map(|r| Window {
                    start_s: round4(r.start_s),
                    end_s: round4(r.end_s),
                    features: Floats(r.features),
                })
                .collect()
        }),
    };
    // Strings and finite numbers (or null) cannot fail to serialise.
    serde_json::to_string(&line).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(names: &[String], tagged: &[(String, SongTags)]) -> String {
    let mut out = String::from("file,kind,start_s,end_s");
    for n in names {
        out.push(',');
        out.push_str(n);
    }
    out.push('\n');
    for (file, song) in tagged {
        for r in rows(file, song) {
            out.push_str(&format!(
                "{},{},{},{}",
                csv_field(r.file),
                r.kind,
                round4(r.start_s),
                round4(r.end_s)
            ));
            for x in r.features {
                out.push(',');
                out.push_str(&x.to_string());
            }
            out.push('\n');
        }
    }
    out
}

/// Writes `bytes` to `path` through a temporary file in its folder and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    // Readable by others, as files written without a temporary would be.
    use std::os::unix::fs::PermissionsExt as _;
    let _ = tmp
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644));
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `OUT.npy` (rows × features, float32) and `OUT.rows.csv` (which file and window each row is).
fn write_npy(out: &Path, dim: usize, tagged: &[(String, SongTags)]) -> Result<()> {
    let all: Vec<Row> = tagged.iter().flat_map(|(f, s)| rows(f, s)).collect();
    let mut m = Array2::<f32>::zeros((all.len(), dim));
    let mut index = String::from("row,file,kind,start_s,end_s\n");
    for (i, r) in all.iter().enumerate() {
        m.row_mut(i)
            .iter_mut()
            .zip(r.features)
            .for_each(|(d, &x)| *d = x);
        index.push_str(&format!(
            "{i},{},{},{},{}\n",
            csv_field(r.file),
            r.kind,
            round4(r.start_s),
            round4(r.end_s)
        ));
    }
    let mut bytes = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&m, &mut bytes).context("encoding the .npy matrix")?;
    write_atomic(out, &bytes)?;
    write_atomic(&rows_path(out), index.as_bytes())
}

/// `x.npy` → `x.rows.csv`.
pub fn rows_path(npy: &Path) -> PathBuf {
    npy.with_extension("rows.csv")
}

/// Returns Ok(false) when some file failed (the others are still written).
pub fn run(a: &EmbedArgs) -> Result<bool> {
    let format = a.format()?;
    let model = ModelArgs {
        models: a.models.clone(),
        device: a.device,
        window: a.window.unwrap_or(10.0),
        ema_tau: 5.0,
        no_silence_gate: a.no_silence_gate,
    };
    let manifest_path = model.manifest_path();
    let config = TaggerConfig {
        manifest: manifest_path.clone(),
        device: model.device(),
        intra_threads: 1,
        pipeline: model.pipeline(),
        timeline: None,
        windows: a.window,
        batch: a.batch.into(),
    };
    let tagger = Tagger::new(config)
        .with_context(|| format!("loading the models of {}", manifest_path.display()))?;
    super::say_placement(tagger.placement());
    let names = tagger.manifest().feature_names();
    let dim = tagger.feature_dim();
    let bar = super::progress_bar(a.files.len(), a.quiet, "embedding");
    let results = mstag::offline::tag_files(tagger, &a.files, a.jobs.into(), &|_| bar.inc(1))?;
    bar.finish_and_clear();
    let mut tagged = Vec::new();
    let mut failed = Vec::new();
    for (path, r) in a.files.iter().zip(results) {
        let name = path.display().to_string();
        match r {
            Ok(song) => tagged.push((name, song)),
            Err(e) => {
                let msg = super::messages::describe(&e);
                if msg.contains(&name) {
                    eprintln!("mstag: {msg}");
                } else {
                    eprintln!("mstag: {name}: {msg}");
                }
                failed.push(name);
            }
        }
    }
    match (format, &a.out) {
        (EmbedFormat::Jsonl, out) => {
            let mut text = String::new();
            for (f, s) in &tagged {
                text.push_str(&jsonl_line(f, s));
                text.push('\n');
            }
            match out {
                Some(p) => write_atomic(p, text.as_bytes())?,
                None => print!("{text}"),
            }
        }
        (EmbedFormat::Csv, out) => {
            let text = csv(&names, &tagged);
            match out {
                Some(p) => write_atomic(p, text.as_bytes())?,
                None => print!("{text}"),
            }
        }
        (EmbedFormat::Npy, Some(p)) => write_npy(p, dim, &tagged)?,
        (EmbedFormat::Npy, None) => bail!("--format npy writes a file: add --out FILE.npy"),
    }
    if let Some(p) = &a.out {
        if !a.quiet {
            eprintln!(
                "mstag: {} vectors of {dim} features from {} files written to {}{}",
                tagged.iter().map(|(f, s)| rows(f, s).len()).sum::<usize>(),
                tagged.len(),
                p.display(),
                if format == EmbedFormat::Npy {
                    format!(" (rows named in {})", rows_path(p).display())
                } else {
                    String::new()
                }
            );
        }
    }
    if !failed.is_empty() {
        eprintln!(
            "mstag: {} of {} files could not be embedded: {}",
            failed.len(),
            a.files.len(),
            failed.join(", ")
        );
    }
    Ok(failed.is_empty())
}
