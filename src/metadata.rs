//! Tags into the files' own metadata (`mstag tag --write-tags`), with [lofty]: the top tags
//! above a threshold, as `tag:score` values of one multi-value field, [`FIELD`]:
//!
//! | format | where |
//! |---|---|
//! | MP3, WAV, AIFF | an ID3v2.4 `TXXX` frame described `MSTAG_TAGS`, values separated by NUL (ID3v2.4's multi-value form) |
//! | FLAC, Ogg Vorbis, Opus | one Vorbis comment `MSTAG_TAGS=...` per value |
//! | MP4, M4A | a freeform atom `----:com.apple.iTunes:MSTAG_TAGS` with one string per value |
//!
//! A field written before by mstag is replaced; nothing else in the file changes. **Nothing
//! is lost**: the file is copied next to itself, the copy is tagged, decoded and compared with
//! the original sample for sample, and only then renamed over it (keeping its permissions). A
//! read-only file, a format without a place for the field, or a file that changed since it was
//! analysed is refused with a reason and left as it was.

use std::fs::File;
use std::path::Path;

use lofty::config::{ParseOptions, WriteOptions};
use lofty::file::{AudioFile, FileType};
use lofty::flac::FlacFile;
use lofty::id3::v2::Id3v2Tag;
use lofty::iff::aiff::AiffFile;
use lofty::iff::wav::WavFile;
use lofty::mp4::{Atom, AtomData, AtomIdent, Ilst, Mp4File};
use lofty::mpeg::MpegFile;
use lofty::ogg::tag::VorbisComments;
use lofty::ogg::{OpusFile, VorbisFile};

use crate::error::{Error, Result};
use crate::output::FileStamp;
use crate::synonyms::SynonymGroups;

/// The field mstag writes its tags to.
pub const FIELD: &str = "MSTAG_TAGS";

/// What to write: the song's best tags (synonyms as one, under the group's name, with its
/// best score), at least `threshold`, at most `top`, best first, as `tag:score` with two
/// decimals.
///
/// # Examples
/// ```
/// let names: Vec<String> = ["rock", "piano", "no vocal", "no vocals"].map(String::from).into();
/// let values = mstag::metadata::tag_values(&names, &[0.62, 0.1, 0.4, 0.55], 0.3, 5);
/// assert_eq!(values, ["rock:0.62", "no vocals:0.55"]);
/// ```
pub fn tag_values(names: &[String], scores: &[f32], threshold: f32, top: usize) -> Vec<String> {
    SynonymGroups::new(names)
        .top(scores, top)
        .into_iter()
        .filter(|(_, s)| *s >= threshold)
        .map(|(name, s)| format!("{name}:{s:.2}"))
        .collect()
}

fn refuse(path: &Path, reason: impl Into<String>) -> Error {
    Error::Output {
        what: path.display().to_string(),
        reason: reason.into(),
    }
}

/// The values of [`FIELD`] in the file at `path` (empty when there is none).
///
/// # Errors
/// [`Error::Output`] naming the file when it cannot be read as a tagged audio file.
pub fn read_values(path: &Path) -> Result<Vec<String>> {
    let mut f = File::open(path).map_err(|e| refuse(path, e.to_string()))?;
    let opts = ParseOptions::new();
    let kind = file_type(&mut f, path)?;
    let bad = |e: lofty::error::FileParseError| refuse(path, format!("cannot read its tags: {e}"));
    let id3 = |t: Option<&Id3v2Tag>| {
        t.and_then(|t| t.get_user_text(FIELD))
            .map(|v| v.split('\0').map(String::from).collect())
            .unwrap_or_default()
    };
    let vorbis = |t: Option<&VorbisComments>| {
        t.map(|t| t.get_all(FIELD).map(String::from).collect())
            .unwrap_or_default()
    };
    Ok(match kind {
        FileType::Mpeg => id3(MpegFile::read_from(&mut f, opts).map_err(bad)?.id3v2()),
        FileType::Wav => id3(WavFile::read_from(&mut f, opts).map_err(bad)?.id3v2()),
        FileType::Aiff => id3(AiffFile::read_from(&mut f, opts).map_err(bad)?.id3v2()),
        FileType::Flac => vorbis(
            FlacFile::read_from(&mut f, opts)
                .map_err(bad)?
                .vorbis_comments(),
        ),
        FileType::Vorbis => vorbis(Some(
            VorbisFile::read_from(&mut f, opts)
                .map_err(bad)?
                .vorbis_comments(),
        )),
        FileType::Opus => vorbis(Some(
            OpusFile::read_from(&mut f, opts)
                .map_err(bad)?
                .vorbis_comments(),
        )),
        FileType::Mp4 => Mp4File::read_from(&mut f, opts)
            .map_err(bad)?
            .ilst()
            .and_then(|i| i.get(&freeform()))
            .map(|a| {
                a.data()
                    .filter_map(|d| match d {
                        AtomData::UTF8(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        other => return Err(refuse(path, format!("{other:?} files are not supported"))),
    })
}

fn freeform() -> AtomIdent<'static> {
    AtomIdent::Freeform {
        mean: "com.apple.iTunes".into(),
        name: FIELD.into(),
    }
}

fn file_type(f: &mut File, path: &Path) -> Result<FileType> {
    let probe = lofty::probe::Probe::new(std::io::BufReader::new(&mut *f))
        .guess_file_type()
        .map_err(|e| refuse(path, e.to_string()))?;
    let kind = probe.file_type();
    drop(probe);
    use std::io::Seek as _;
    f.rewind().map_err(|e| refuse(path, e.to_string()))?;
    kind.ok_or_else(|| refuse(path, "not an audio file lofty can tag"))
}

/// Puts `values` into `f` (the copy) as [`FIELD`], replacing an earlier one.
fn put_values(f: &mut File, kind: FileType, values: &[String], path: &Path) -> Result<()> {
    let opts = ParseOptions::new();
    let w = WriteOptions::default();
    let bad = |e: lofty::error::FileParseError| refuse(path, format!("cannot read its tags: {e}"));
    let bad_w =
        |e: lofty::error::FileEncodingError| refuse(path, format!("cannot write its tags: {e}"));
    let id3 = |t: &mut Option<&mut Id3v2Tag>, fresh: &mut Id3v2Tag| {
        let tag = match t.as_deref_mut() {
            Some(t) => t,
            None => fresh,
        };
        tag.remove_user_text(FIELD);
        tag.insert_user_text(FIELD.into(), values.join("\0"));
    };
    let vorbis = |t: &mut VorbisComments| {
        let _ = t.remove(FIELD).count();
        for v in values {
            t.push(FIELD.into(), v.clone());
        }
    };
    macro_rules! with_id3 {
        ($ty:ty) => {{
            let mut file = <$ty>::read_from(f, opts).map_err(bad)?;
            let mut fresh = Id3v2Tag::new();
            id3(&mut file.id3v2_mut(), &mut fresh);
            if file.id3v2().is_none() {
                file.set_id3v2(fresh);
            }
            file
        }};
    }
    use std::io::Seek as _;
    match kind {
        FileType::Mpeg => {
            let file = with_id3!(MpegFile);
            f.rewind().map_err(|e| refuse(path, e.to_string()))?;
            file.save_to(f, w).map_err(bad_w)
        }
        FileType::Wav => {
            let file = with_id3!(WavFile);
            f.rewind().map_err(|e| refuse(path, e.to_string()))?;
            file.save_to(f, w).map_err(bad_w)
        }
        FileType::Aiff => {
            let file = with_id3!(AiffFile);
            f.rewind().map_err(|e| refuse(path, e.to_string()))?;
            file.save_to(f, w).map_err(bad_w)
        }
        FileType::Flac => {
            let mut file = FlacFile::read_from(f, opts).map_err(bad)?;
            match file.vorbis_comments_mut() {
                Some(t) => vorbis(t),
                None => {
                    let mut t = VorbisComments::new();
                    vorbis(&mut t);
                    file.set_vorbis_comments(t);
                }
            }
            f.rewind().map_err(|e| refuse(path, e.to_string()))?;
            file.save_to(f, w).map_err(bad_w)
        }
        FileType::Vorbis => {
            let mut file = VorbisFile::read_from(f, opts).map_err(bad)?;
            vorbis(file.vorbis_comments_mut());
            f.rewind().map_err(|e| refuse(path, e.to_string()))?;
            file.save_to(f, w).map_err(bad_w)
        }
        FileType::Opus => {
            let mut file = OpusFile::read_from(f, opts).map_err(bad)?;
            vorbis(file.vorbis_comments_mut());
            f.rewind().map_err(|e| refuse(path, e.to_string()))?;
            file.save_to(f, w).map_err(bad_w)
        }
        FileType::Mp4 => {
            let mut file = Mp4File::read_from(f, opts).map_err(bad)?;
            let data = values.iter().map(|v| AtomData::UTF8(v.clone())).collect();
            let atom = Atom::from_collection(freeform(), data);
            let put = |ilst: &mut Ilst| {
                let _ = ilst.remove(&freeform()).count();
                if let Some(a) = atom.clone() {
                    ilst.insert(a);
                }
            };
            match file.ilst_mut() {
                Some(i) => put(i),
                None => {
                    let mut i = Ilst::new();
                    put(&mut i);
                    file.set_ilst(i);
                }
            }
            f.rewind().map_err(|e| refuse(path, e.to_string()))?;
            file.save_to(f, w).map_err(bad_w)
        }
        other => Err(refuse(path, format!("{other:?} files are not supported"))),
    }
}

/// Writes `values` into [`FIELD`] of the file at `path`, as the module says: through a
/// checked copy and a rename. `analysed` is the file's stamp when its audio was analysed: a
/// file that changed since is refused. Returns the values the file held before.
///
/// # Errors
/// [`Error::Output`] naming the file, with the reason, when it is read-only, of a format
/// that cannot hold the field, changed since it was analysed, or when its tagged copy would
/// not decode to the same samples; the file is then untouched.
pub fn write_values(
    path: &Path,
    values: &[String],
    analysed: Option<FileStamp>,
) -> Result<Vec<String>> {
    let meta = std::fs::metadata(path).map_err(|e| refuse(path, e.to_string()))?;
    if meta.permissions().readonly() {
        return Err(refuse(
            path,
            "the file is read-only; its tags were not written",
        ));
    }
    if analysed.is_some() && FileStamp::of(path) != analysed {
        return Err(refuse(
            path,
            "the file changed after it was analysed; its tags were not written (run again)",
        ));
    }
    let before = read_values(path)?;
    let (original, rate, channels) = crate::decode::decode_all(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".mstag-")
        .tempfile_in(dir)
        .map_err(|e| refuse(path, format!("cannot write next to it: {e}")))?;
    std::fs::copy(path, tmp.path()).map_err(|e| refuse(path, format!("cannot copy it: {e}")))?;
    {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tmp.path())
            .map_err(|e| refuse(path, e.to_string()))?;
        let kind = file_type(&mut f, path)?;
        put_values(&mut f, kind, values, path)?;
        f.sync_all().map_err(|e| refuse(path, e.to_string()))?;
    }
    let (after, rate2, channels2) = crate::decode::decode_all(tmp.path())?;
    let same = rate == rate2
        && channels == channels2
        && original.len() == after.len()
        && original
            .iter()
            .zip(&after)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    if !same {
        return Err(refuse(
            path,
            "its audio would not decode the same after tagging; nothing was written",
        ));
    }
    if analysed.is_some() && FileStamp::of(path) != analysed {
        return Err(refuse(
            path,
            "the file changed while its tags were written; it was left as it was (run again)",
        ));
    }
    std::fs::set_permissions(tmp.path(), meta.permissions())
        .map_err(|e| refuse(path, e.to_string()))?;
    tmp.persist(path)
        .map_err(|e| refuse(path, format!("cannot replace it: {}", e.error)))?;
    Ok(before)
}
