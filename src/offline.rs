//! Offline tagging of many files (`mstag tag`): [`Tagger`]s in parallel, and where their
//! timelines go.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::tagger::{SongTags, Tagger};

/// Where `mstag tag --timeline BASE` writes the timelines of `files`, one path per file, all
/// different, checked before any audio is decoded.
///
/// With one file the timeline goes to `BASE` itself; with several, each file's name is added
/// to BASE's (`tl.png` and `song.mp3` give `tl-song.png`), and a name that is taken already
/// (two files `a/t.mp3` and `b/t.mp3`, in any letter case) gets `-2`, `-3`, ... (`tl-t-2.png`).
///
/// # Errors
/// [`Error::Output`] naming BASE when its extension is not `.png` or `.svg`, when it is a
/// folder, or when its folder does not exist or cannot be written to.
#[cfg(feature = "timeline")]
pub fn timeline_paths(base: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    crate::output::timeline::check_output_path(base)?;
    crate::output::timeline::ImageFormat::from_path(base)?;
    if files.len() <= 1 {
        return Ok(vec![base.to_path_buf(); files.len()]);
    }
    let lossy = |s: Option<&std::ffi::OsStr>| s.map(|s| s.to_string_lossy().into_owned());
    let stem = lossy(base.file_stem()).unwrap_or_default();
    let ext = lossy(base.extension()).unwrap_or_default();
    let mut taken = std::collections::HashSet::new();
    Ok(files
        .iter()
        .map(|f| {
            let name = lossy(f.file_stem())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "audio".to_string());
            let mut candidate = format!("{stem}-{name}.{ext}");
            let mut k = 2;
            while !taken.insert(candidate.to_lowercase()) {
                candidate = format!("{stem}-{name}-{k}.{ext}");
                k += 1;
            }
            base.with_file_name(candidate)
        })
        .collect())
}

/// Tags many files in parallel, `jobs` at a time (0 = one per core), each worker with a
/// [`Tagger`] of its own (`first`, then clones of it); results in input order. `progress` is
/// called once per finished file.
///
/// Each file's own failure is its entry in the result, as is a worker whose models could not
/// be loaded again. [`tag_each`] hands each result over as soon as its file is done instead.
///
/// # Errors
/// [`Error::EngineStopped`] when the thread pool cannot start.
pub fn tag_files(
    first: Tagger,
    files: &[PathBuf],
    jobs: usize,
    progress: &(dyn Fn(&Path) + Sync),
) -> Result<Vec<Result<SongTags>>> {
    let slots: Vec<parking_lot::Mutex<Option<Result<SongTags>>>> = files
        .iter()
        .map(|_| parking_lot::Mutex::new(None))
        .collect();
    tag_each(first, files, jobs, &|i, r| {
        progress(&files[i]);
        *slots[i].lock() = Some(r);
    })?;
    Ok(slots
        .into_iter()
        .zip(files)
        .map(|(slot, path)| {
            slot.into_inner().unwrap_or_else(|| {
                Err(Error::EngineStopped("the file was never tagged".into()).for_file(path))
            })
        })
        .collect())
}

/// Files handed to one [`Tagger::tag_paths`] call on CUDA: as many as it decodes side by side,
/// so results come out in small groups (a killed run keeps what was done).
const CUDA_GROUP: usize = 8;

/// Tags many files in parallel like [`tag_files`], calling `done(i, result)` for file `i` as
/// soon as it is finished (from the worker's thread, in the order files finish): what a
/// streaming output (`mstag tag --format jsonl`) writes from.
///
/// On CUDA each worker takes groups of up to 8 files through [`Tagger::tag_paths`], which
/// batches segments across files (a GPU wants them together); on the CPU each worker takes
/// one file at a time.
///
/// # Errors
/// [`Error::EngineStopped`] when the thread pool cannot start.
pub fn tag_each(
    first: Tagger,
    files: &[PathBuf],
    jobs: usize,
    done: &(dyn Fn(usize, Result<SongTags>) + Sync),
) -> Result<()> {
    let jobs = if jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        jobs
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.min(files.len().max(1)))
        .build()
        .map_err(|e| Error::EngineStopped(format!("thread pool: {e}")))?;
    let cuda = first.placement().device == crate::model::Device::Cuda;
    // Loads no models itself: clones of it load theirs when a worker needs one.
    let template = first.blueprint();
    let spares = parking_lot::Mutex::new(vec![first]);
    let make = || -> Result<Tagger> {
        if let Some(t) = spares.lock().pop() {
            return Ok(t);
        }
        template.try_clone()
    };
    let group = if cuda { CUDA_GROUP } else { 1 };
    let indexed: Vec<(usize, &PathBuf)> = files.iter().enumerate().collect();
    pool.install(|| {
        indexed.par_chunks(group).for_each(|chunk| match make() {
            Ok(mut tagger) => {
                let paths: Vec<&PathBuf> = chunk.iter().map(|(_, p)| *p).collect();
                let results = tagger.tag_many(&paths, |_| {});
                for ((i, _), r) in chunk.iter().zip(results) {
                    done(*i, r);
                }
                spares.lock().push(tagger);
            }
            Err(e) => {
                let why = crate::error::report(&e);
                for (i, path) in chunk {
                    done(
                        *i,
                        Err(Error::EngineStopped(format!("models: {why}")).for_file(path)),
                    );
                }
            }
        })
    });
    Ok(())
}

#[cfg(all(test, feature = "timeline"))]
mod tests {
    use super::*;

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn timeline_paths_are_unique_per_file() {
        let dir = std::env::temp_dir();
        let base = dir.join("tl.png");
        let files = paths(&["t.mp3", "sub/t.mp3", "t-2.wav", "other/T.flac", "x.ogg"]);
        let got = timeline_paths(&base, &files).expect("paths");
        let names: Vec<String> = got
            .iter()
            .map(|p| {
                assert_eq!(p.parent(), Some(dir.as_path()));
                p.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "tl-t.png",
                "tl-t-2.png",
                "tl-t-2-2.png",
                "tl-T-3.png",
                "tl-x.png"
            ]
        );
        // One file: the path as given.
        assert_eq!(timeline_paths(&base, &files[..1]).unwrap(), vec![base]);
    }

    #[test]
    fn timeline_paths_check_the_output_before_any_work() {
        let files = paths(&["a.wav", "b.wav"]);
        let cases = [
            ("tl.jpg", "unsupported extension \".jpg\""),
            ("no-such-folder-mstag/tl.png", "does not exist"),
        ];
        for (base, needle) in cases {
            let base = std::env::temp_dir().join(base);
            let e = timeline_paths(&base, &files).expect_err(base.to_str().unwrap());
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg}");
            assert!(msg.contains(&base.display().to_string()), "{msg}");
        }
        let e = timeline_paths(&std::env::temp_dir(), &files).expect_err("a folder");
        assert!(e.to_string().contains(".svg or .png"), "{e}");
    }
}
