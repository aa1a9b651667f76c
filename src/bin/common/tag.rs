//! `mstag tag`: song-level tags of files and folders, as a table, JSON, JSON lines or CSV.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};

use super::library::{expand, ResumeFile};
use super::ViewArg;
use mstag::head::HeadSet;
use mstag::model::Manifest;
use mstag::offline::{tag_each, tag_files};
use mstag::output::{self, FileResult, FileStamp, Timeline};
use mstag::{SongTags, TaggerConfig, TimelineOptions};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// The top tags of each file, for people
    Table,
    /// One JSON array, written when every file is done
    Json,
    /// One JSON object per line, written as each file is done (a stopped run keeps them)
    Jsonl,
    /// A header and one row per file
    Csv,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Audio files (WAV, FLAC, OGG, MP3, M4A, ...), or folders with --recursive
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Tag the audio files in folders and their sub-folders (by extension; other files are
    /// skipped and counted)
    #[arg(long, short)]
    recursive: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Carry on a run into OUT.jsonl: files it holds, tagged and unchanged since (size and
    /// modification time), are skipped; the rest are tagged and appended as JSON lines
    #[arg(long, value_name = "OUT.jsonl")]
    resume: Option<PathBuf>,
    /// Entries listed per file in the table format (1 to 64)
    #[arg(long, default_value_t = 10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    top: u16,
    /// Table format: list every tag. By default synonyms (no vocal, no vocals, no voice;
    /// classic, classical; ...) share one entry, shown under the group's first name with the
    /// group's highest score. JSON and CSV always have every tag
    #[arg(long)]
    all_tags: bool,
    /// Draw tag scores over time as a heat map (.png or .svg). With several files each gets
    /// its own, named after OUT and the file (tl.png, song.mp3: tl-song.png; -2, -3, ... are
    /// added when names repeat)
    #[arg(long, value_name = "OUT")]
    timeline: Option<PathBuf>,
    /// What a timeline column shows: the tags of the last `--window` seconds (window), of an
    /// exponential moving average with time constant `--ema` (ema), or of everything from the
    /// start (session)
    #[arg(long, value_enum, default_value = "window", requires = "timeline")]
    timeline_view: super::ViewArg,
    /// Seconds between timeline columns
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true,
          value_parser = super::positive_seconds, requires = "timeline")]
    timeline_step: f64,
    /// Files tagged in parallel (0 = all cores; at most 1024)
    #[arg(long, short, default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(0..=1024))]
    jobs: u16,
    /// No progress bar
    #[arg(long, short)]
    quiet: bool,
    /// Write the best tags into each file's metadata (MSTAG_TAGS: an ID3v2.4 TXXX frame, a
    /// Vorbis comment or an MP4 freeform atom; values like rock:0.62), through a checked copy
    /// and a rename: the audio stays bit-identical
    #[arg(long)]
    write_tags: bool,
    /// With --write-tags: only say what would be written
    #[arg(long, requires = "write_tags")]
    dry_run: bool,
    /// With --write-tags: the lowest score written
    #[arg(long, default_value_t = 0.25, value_name = "SCORE", requires = "write_tags",
          value_parser = unit_score)]
    tag_threshold: f32,
    /// With --write-tags: also put the best genre tags' names (at most 3, above
    /// --tag-threshold) into the file's genre field (ID3 TCON, Vorbis GENRE, MP4 ©gen); which
    /// tags are genres, and their names, is the table models/tag_fields.json
    #[arg(long, requires = "write_tags")]
    genre_field: bool,
    /// With --write-tags: the same for moods, into the mood field (ID3v2.4 TMOO, Vorbis MOOD,
    /// an MP4 MOOD freeform atom)
    #[arg(long, requires = "write_tags")]
    mood_field: bool,
    /// With --write-tags: the most tags written per file (synonyms count once)
    #[arg(long, default_value_t = 5, value_name = "N", requires = "write_tags",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    tag_top: u16,
    /// A head of your own (a folder made by `mstag learn`), its scores beside the tags;
    /// repeat for several
    #[arg(long = "head", value_name = "DIR")]
    heads: Vec<PathBuf>,
    /// Segments of a scale run in one model call (1 to 1024): hundreds suit a GPU; scores
    /// equal those of one segment at a time within 1e-5
    #[arg(long, default_value_t = mstag::DEFAULT_BATCH as u16, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    batch: u16,
    #[command(flatten)]
    model: super::ModelArgs,
}

/// `--window` and `--ema` shape views that `mstag tag` shows only in a timeline: refuse them
/// where they would change nothing.
pub fn check_view_options(a: &TagArgs, m: &ArgMatches) -> Result<(), String> {
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    let shown = a.timeline.as_ref().map(|_| a.timeline_view);
    let song = "(the song-level tags are the mean over the whole file, whatever the views)";
    if given("ema_tau") && shown != Some(ViewArg::Ema) {
        return Err(format!(
            "--ema sets the time constant of the EMA view, which `mstag tag` draws only in a \
             timeline: add `--timeline OUT.png --timeline-view ema` {song}"
        ));
    }
    if given("window") && shown != Some(ViewArg::Window) {
        return Err(format!(
            "--window sets the length of the sliding-window view, which `mstag tag` draws only \
             in a timeline: add `--timeline OUT.png` (its columns are that view unless \
             `--timeline-view` says otherwise) {song}"
        ));
    }
    Ok(())
}

/// The timeline's line under the title: what each column shows.
fn timeline_subtitle(a: &TagArgs) -> String {
    let what = match a.timeline_view {
        ViewArg::Window => format!("tags of the last {} s (--window)", a.model.window),
        ViewArg::Ema => format!(
            "tags of an exponential moving average, time constant {} s (--ema)",
            a.model.ema_tau
        ),
        ViewArg::Session => "tags of everything from the start (session)".to_string(),
    };
    format!("each column: {what}, every {} s", a.timeline_step)
}

/// The message for a file that failed, naming it once.
fn file_error(e: &mstag::Error, name: &str) -> String {
    let msg = super::messages::describe(e);
    // Errors name the file already when they come from decoding.
    if msg.contains(name) {
        msg
    } else {
        format!("{name}: {msg}")
    }
}

/// One line for stderr about the files that failed (their errors are in the output).
fn failure_summary(failed: &[String], total: usize) -> Option<String> {
    const SHOWN: usize = 5;
    if failed.is_empty() {
        return None;
    }
    let mut names = failed
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if failed.len() > SHOWN {
        names.push_str(&format!(" and {} more", failed.len() - SHOWN));
    }
    Some(format!(
        "{} of {total} file{} could not be tagged: {names} (the reasons are in the output)",
        failed.len(),
        if total == 1 { "" } else { "s" }
    ))
}

/// Each head's scores for a song's features (as the engine scores them live).
fn head_scores(heads: &mstag::head::HeadSet, features: &[f32]) -> Vec<output::HeadScores> {
    let mut all = vec![0.0; heads.n_labels()];
    heads.score_into(features, &mut all);
    heads
        .heads()
        .iter()
        .enumerate()
        .map(|(i, h)| output::HeadScores {
            name: h.name.clone(),
            labels: h.labels.clone(),
            scores: all[heads.range(i)].to_vec(),
        })
        .collect()
}

/// A score from 0 to 1.
fn unit_score(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s}: a score from 0 to 1")),
    }
}

/// What every file's result is turned into the output with.
struct Finisher<'a> {
    args: &'a TagArgs,
    tags: &'a [String],
    heads: &'a HeadSet,
    timelines: Option<Vec<PathBuf>>,
    subtitle: String,
    /// Each file's size and modification time before it was analysed (for --write-tags).
    stamps: Vec<Option<FileStamp>>,
}

impl Finisher<'_> {
    /// File `k`'s row (and its timeline and metadata, written now); the row's error says why
    /// it failed. Returns whether writing its timeline or its metadata failed.
    fn row(&self, k: usize, path: &Path, r: mstag::Result<SongTags>) -> (FileResult, bool) {
        let name = path.display().to_string();
        let t = match r {
            Ok(t) => t,
            Err(e) => {
                return (
                    FileResult::failed(name.clone(), file_error(&e, &name)),
                    false,
                )
            }
        };
        let mut timeline_failed = false;
        if let Some(out) = self.timelines.as_ref().and_then(|v| v.get(k)) {
            let tl = Timeline {
                hop_s: self.args.timeline_step,
                tag_names: self.tags.to_vec(),
                frames: t.timeline().iter().map(|(_, s)| s.clone()).collect(),
                subtitle: Some(self.subtitle.clone()),
            };
            if tl.frames.is_empty() {
                eprintln!("mstag: {name}: too short for a timeline");
            } else if let Err(e) = tl.write(out, None) {
                eprintln!("mstag: {e}");
                timeline_failed = true;
            } else if !self.args.quiet {
                eprintln!("mstag: timeline of {name} written to {}", out.display());
            }
        }
        if self.args.write_tags {
            timeline_failed |= !self.write_tags(k, path, t.scores());
        }
        let row = FileResult::ok(name, Some(t.duration_s()), t.scores().to_vec())
            .with_looped_scales(t.looped_scales().to_vec())
            .with_device(t.device())
            .with_heads(head_scores(self.heads, t.features()));
        (row, timeline_failed)
    }

    /// `--write-tags` for file `k`: says on stderr what it did or would do; false on failure.
    fn write_tags(&self, k: usize, path: &Path, scores: &[f32]) -> bool {
        use mstag::metadata::{read_field, write_fields, Field, FieldTable};
        let a = self.args;
        let mut fields = vec![(
            Field::Tags,
            mstag::metadata::tag_values(self.tags, scores, a.tag_threshold, a.tag_top.into()),
        )];
        let table = FieldTable::bundled();
        for (wanted, field) in [(a.genre_field, Field::Genre), (a.mood_field, Field::Mood)] {
            if !wanted {
                continue;
            }
            let values = table.values(field, self.tags, scores, a.tag_threshold);
            // No genre (or mood) strong enough: the file keeps the one it has.
            if !values.is_empty() {
                fields.push((field, values));
            }
        }
        let shown = |values: &[String]| {
            if values.is_empty() {
                "(none)".to_string()
            } else {
                values.join(", ")
            }
        };
        if a.dry_run {
            for (field, values) in &fields {
                let now = read_field(path, *field)
                    .map(|v| {
                        if v.is_empty() {
                            "nothing".into()
                        } else {
                            v.join(", ")
                        }
                    })
                    .unwrap_or_else(|e| format!("unreadable: {e}"));
                eprintln!(
                    "mstag: {}: would write {} = {} (now {now})",
                    path.display(),
                    field.name(),
                    shown(values)
                );
            }
            return true;
        }
        match write_fields(path, &fields, self.stamps.get(k).copied().flatten()) {
            Ok(()) => {
                if !a.quiet {
                    for (field, values) in &fields {
                        eprintln!(
                            "mstag: {}: {} = {}",
                            path.display(),
                            field.name(),
                            shown(values)
                        );
                    }
                }
                true
            }
            Err(e) => {
                eprintln!("mstag: {}", super::messages::describe(&e));
                false
            }
        }
    }
}

/// Returns Ok(false) when some file or timeline failed (the others are still reported).
pub fn tag(a: &TagArgs) -> Result<bool> {
    let format = if a.resume.is_some() {
        if a.format != Format::Table && a.format != Format::Jsonl {
            anyhow::bail!("--resume writes JSON lines: leave out --format or give --format jsonl");
        }
        Format::Jsonl
    } else {
        a.format
    };
    let inputs = expand(&a.files, a.recursive)?;
    for why in &inputs.unreadable {
        eprintln!("mstag: skipped: {why}");
    }
    for f in &inputs.folders {
        eprintln!(
            "mstag: {} is a folder: add --recursive to tag the audio files in it (and its sub-folders)",
            f.display()
        );
    }
    let mut resumed = match &a.resume {
        Some(out) => Some(ResumeFile::open(out, &inputs.files)?),
        None => None,
    };
    let files: Vec<PathBuf> = match &resumed {
        Some(r) => r.to_do.clone(),
        None => inputs.files.clone(),
    };
    let already = resumed.as_ref().map(|r| r.already);
    let walked = a.recursive || a.resume.is_some();
    if inputs.files.is_empty() {
        anyhow::bail!(
            "no audio files in {} ({} other files skipped)",
            a.files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            inputs.not_audio
        );
    }
    // Every output path is checked before any work.
    let timelines = match &a.timeline {
        Some(base) => Some(mstag::offline::timeline_paths(base, &files)?),
        None => None,
    };
    let manifest_path = a.model.manifest_path();
    let manifest = Manifest::load(&manifest_path)?;
    let heads = HeadSet::load(&a.heads, &manifest)?;
    let config = TaggerConfig {
        manifest: manifest_path.clone(),
        device: a.model.device(),
        intra_threads: 1,
        pipeline: a.model.pipeline(),
        timeline: a.timeline.as_ref().map(|_| TimelineOptions {
            step_s: a.timeline_step,
            view: a.timeline_view.into(),
        }),
        windows: None,
        batch: a.batch.into(),
    };
    let bar = super::progress_bar(files.len(), a.quiet, "tagging");
    let tagger = mstag::Tagger::new(config)
        .with_context(|| format!("loading the models of {}", manifest_path.display()))?;
    super::say_placement(tagger.placement());
    let finisher = Finisher {
        args: a,
        tags: &manifest.tags,
        heads: &heads,
        timelines,
        subtitle: timeline_subtitle(a),
        stamps: files.iter().map(|f| FileStamp::of(f)).collect(),
    };
    let (failed, timelines_ok) = if format == Format::Jsonl {
        let sink = resumed.as_mut().map(|r| &mut r.file);
        let out = stream_lines(&finisher, tagger, &files, sink, &bar)?;
        bar.finish_and_clear();
        out
    } else {
        let results = tag_files(tagger, &files, a.jobs.into(), &|_| bar.inc(1))?;
        bar.finish_and_clear();
        let mut failed = Vec::new();
        let mut timelines_ok = true;
        let mut rows = Vec::new();
        for (k, (path, r)) in files.iter().zip(results).enumerate() {
            let (row, tl_failed) = finisher.row(k, path, r);
            timelines_ok &= !tl_failed;
            if row.error.is_some() {
                failed.push(row.file.clone());
            }
            rows.push(row);
        }
        let text = match format {
            Format::Table => output::to_table(&rows, &manifest.tags, a.top.into(), !a.all_tags),
            Format::Json => output::to_json(&rows, &manifest.tags),
            Format::Csv | Format::Jsonl => output::to_csv(&rows, &manifest.tags),
        };
        print!("{text}");
        (failed, timelines_ok)
    };
    if let Some(r) = resumed {
        r.file.finish()?;
    }
    if let Some(line) = failure_summary(&failed, files.len()) {
        eprintln!("mstag: {line}");
    }
    if walked || format == Format::Jsonl {
        let mut parts = vec![format!("{} tagged", files.len() - failed.len())];
        parts.push(format!("{} failed", failed.len()));
        if inputs.not_audio > 0 || a.recursive {
            parts.push(format!("{} skipped (not audio)", inputs.not_audio));
        }
        if !inputs.unreadable.is_empty() {
            parts.push(format!("{} unreadable", inputs.unreadable.len()));
        }
        if let (Some(out), Some(n)) = (&a.resume, already) {
            parts.push(format!("{n} already in {}", out.display()));
        }
        eprintln!("mstag: {}", parts.join(", "));
    }
    Ok(failed.is_empty() && timelines_ok)
}

/// Tags `files`, writing each one's JSON line as soon as it is done: to `sink` (the resume
/// file) or standard output. Returns the files that failed and whether all timelines were
/// written.
fn stream_lines(
    fin: &Finisher,
    tagger: mstag::Tagger,
    files: &[PathBuf],
    sink: Option<&mut ResumeFile>,
    bar: &indicatif::ProgressBar,
) -> Result<(Vec<String>, bool)> {
    struct State<'s> {
        sink: Option<&'s mut ResumeFile>,
        failed: Vec<String>,
        timelines_ok: bool,
        write_error: Option<anyhow::Error>,
    }
    let state = Mutex::new(State {
        sink,
        failed: Vec::new(),
        timelines_ok: true,
        write_error: None,
    });
    tag_each(tagger, files, fin.args.jobs.into(), &|k, r| {
        let path = &files[k];
        let (row, tl_failed) = fin.row(k, path, r);
        let row = row.with_stamp(FileStamp::of(path));
        let line = output::to_json_line(&row, fin.tags);
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.timelines_ok &= !tl_failed;
        if row.error.is_some() {
            st.failed.push(row.file.clone());
        }
        if st.write_error.is_none() {
            let written = match st.sink.as_mut() {
                Some(f) => f.append(&line),
                None => {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{line}")
                        .and_then(|_| out.flush())
                        .context("writing to standard output")
                }
            };
            if let Err(e) = written {
                st.write_error = Some(e);
            }
        }
        bar.inc(1);
    })?;
    let st = state.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = st.write_error {
        return Err(e);
    }
    Ok((st.failed, st.timelines_ok))
}
