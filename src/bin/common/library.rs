//! `mstag tag` at library scale: folders walked for audio (`--recursive`), results streamed as
//! JSON lines, and `--resume OUT.jsonl` to carry on a run that was stopped.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mstag::output::FileStamp;

/// What the command line names, expanded: the files to tag, in order, and what was left out.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Folders named without `--recursive`: kept among the files (each fails, as a folder is
    /// no audio file) and named in a hint.
    pub folders: Vec<PathBuf>,
    /// Files to tag: named ones as given, then each folder's audio files sorted by path.
    pub files: Vec<PathBuf>,
    /// Files inside folders that are not audio by their name (skipped).
    pub not_audio: usize,
    /// Entries of folders that could not be read (permission, a link loop), with the reason.
    pub unreadable: Vec<String>,
}

/// Expands `args`: a file is taken as named (the decoder says if it is not audio); a folder
/// gives every audio file under it ([`mstag::decode::is_audio_path`]), following links,
/// sorted, with `recursive`; without it, it stays in the list as it is (it fails like any
/// unreadable file, and the others are still tagged) and is named in
/// [`Inputs::folders`]. A file found in a folder is not tagged again when it was named or found before.
pub fn expand(args: &[PathBuf], recursive: bool) -> Result<Inputs> {
    let mut inputs = Inputs::default();
    let mut seen = HashSet::new();
    for arg in args {
        if !arg.is_dir() || !recursive {
            if arg.is_dir() {
                inputs.folders.push(arg.clone());
            }
            // Named on the command line: tagged as often as named (one row each).
            seen.insert(arg.clone());
            inputs.files.push(arg.clone());
            continue;
        }
        let walk = walkdir::WalkDir::new(arg)
            .follow_links(true)
            .sort_by_file_name();
        for entry in walk {
            match entry {
                Ok(e) if e.file_type().is_dir() => {}
                Ok(e) if mstag::decode::is_audio_path(e.path()) => {
                    if seen.insert(e.path().to_path_buf()) {
                        inputs.files.push(e.into_path());
                    }
                }
                Ok(_) => inputs.not_audio += 1,
                Err(e) => inputs.unreadable.push(e.to_string()),
            }
        }
    }
    Ok(inputs)
}

/// The JSON-lines file of `--resume`: what it holds already, opened for appending.
pub struct ResumeFile {
    /// The file, positioned at its end.
    out: File,
    path: PathBuf,
}

/// What [`ResumeFile::open`] found.
pub struct Resumed {
    pub file: ResumeFile,
    /// The files still to tag, in order.
    pub to_do: Vec<PathBuf>,
    /// Files skipped because OUT has them, unchanged since.
    pub already: usize,
    /// Lines dropped: a line cut short by a stop, and those of files tagged again (changed
    /// since, or failed before).
    pub dropped: usize,
}

/// One line of an earlier run: its file and the stamp it was tagged at (None for failures).
fn parse_line(line: &str) -> Option<(String, Option<FileStamp>)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let file = v.get("file")?.as_str()?.to_string();
    let ok = v.get("tags").is_some() && v.get("error").is_none();
    let stamp = match (v.get("size"), v.get("mtime_ns")) {
        (Some(s), Some(m)) if ok => Some(FileStamp {
            size: s.as_u64()?,
            mtime_ns: m.as_u64()?,
        }),
        _ => None,
    };
    Some((file, stamp))
}

impl ResumeFile {
    /// Opens (or creates) `path` for `files`: a file whose line is there, tagged without error
    /// and unchanged since (size and modification time), is skipped; the lines of the others
    /// (changed, or failed) are dropped, as is a last line cut short by a stop, so that every
    /// file ends up in OUT exactly once. When lines are dropped OUT is rewritten through a
    /// temporary file and a rename; then lines are only appended.
    pub fn open(path: &Path, files: &[PathBuf]) -> Result<Resumed> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes)
                .with_context(|| format!("--resume {}: not a JSON-lines file", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut lines: Vec<(&str, String, Option<FileStamp>)> = Vec::new();
        let mut dropped = 0;
        let n_lines = text.lines().count();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Some((file, stamp)) => lines.push((line, file, stamp)),
                // Only the last line may be cut short (a run stopped while writing it).
                None if i + 1 == n_lines && !text.ends_with('\n') => dropped += 1,
                None => bail!(
                    "--resume {}: line {} is not a line of `mstag tag --format jsonl`; \
                     refusing to add to it",
                    path.display(),
                    i + 1
                ),
            }
        }
        let mut done: HashMap<&str, Option<FileStamp>> = HashMap::new();
        for (_, file, stamp) in &lines {
            done.insert(file.as_str(), *stamp);
        }
        let mut to_do = Vec::new();
        let mut again = HashSet::new();
        let mut already = 0;
        for f in files {
            let name = f.display().to_string();
            match done.get(name.as_str()) {
                Some(Some(stamp)) if FileStamp::of(f) == Some(*stamp) => already += 1,
                Some(_) => {
                    again.insert(name);
                    to_do.push(f.clone());
                }
                None => to_do.push(f.clone()),
            }
        }
        // Keep one line per file: the last, unless the file is tagged again now.
        let mut kept = Vec::new();
        let mut last_of: HashMap<&str, usize> = HashMap::new();
        for (k, (_, file, _)) in lines.iter().enumerate() {
            last_of.insert(file.as_str(), k);
        }
        for (k, (line, file, _)) in lines.iter().enumerate() {
            if last_of.get(file.as_str()) == Some(&k) && !again.contains(file) {
                kept.push(*line);
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            rewrite(path, &kept)?;
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {} to append to it", path.display()))?;
        Ok(Resumed {
            file: ResumeFile {
                out,
                path: path.to_path_buf(),
            },
            to_do,
            already,
            dropped,
        })
    }

    /// Appends one line (with its newline, in one write) and hands it to the OS at once.
    pub fn append(&mut self, line: &str) -> Result<()> {
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        self.out
            .write_all(buf.as_bytes())
            .and_then(|_| self.out.flush())
            .with_context(|| format!("writing to {}", self.path.display()))
    }

    /// Makes what was written durable.
    pub fn finish(self) -> Result<()> {
        self.out
            .sync_all()
            .with_context(|| format!("writing to {}", self.path.display()))
    }
}

/// Replaces `path` with `lines` through a temporary file in its folder and a rename.
fn rewrite(path: &Path, lines: &[&str]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing next to {}", path.display()))?;
    for l in lines {
        writeln!(tmp, "{l}").with_context(|| format!("rewriting {}", path.display()))?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("rewriting {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("rewriting {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_earlier_runs_read_back() {
        let (f, st) = parse_line(r#"{"file":"a.wav","tags":{},"size":3,"mtime_ns":7}"#).unwrap();
        assert_eq!(f, "a.wav");
        assert_eq!(
            st,
            Some(FileStamp {
                size: 3,
                mtime_ns: 7
            })
        );
        // A failure is never taken as done; a cut line is not a line.
        assert_eq!(
            parse_line(r#"{"file":"b.wav","error":"x"}"#).unwrap().1,
            None
        );
        assert!(parse_line(r#"{"file":"c.wav","ta"#).is_none());
    }
}
