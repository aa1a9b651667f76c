//! Tags into the files' own metadata (`mstag tag --write-tags`), with [lofty]: the top tags
//! above a threshold, as `tag:score` values of one multi-value field, [`FIELD`]:
//!
//! | format | where |
//! |---|---|
//! | MP3, WAV, AIFF | an ID3v2.4 `TXXX` frame described `MSTAG_TAGS`, values separated by NUL (ID3v2.4's multi-value form) |
//! | FLAC, Ogg Vorbis, Opus | one Vorbis comment `MSTAG_TAGS=...` per value |
//! | MP4, M4A | a freeform atom `----:com.apple.iTunes:MSTAG_TAGS` with one string per value |
//!
//! With `--genre-field` and `--mood-field` the file's own genre and mood fields (ID3 `TCON` and
//! `TMOO`, Vorbis `GENRE` and `MOOD`, MP4 `©gen` and a `MOOD` freeform atom; see [`Field`])
//! get the names of its best genre and mood tags, as the table `models/tag_fields.json`
//! ([`FieldTable`]) maps them.
//!
//! A field written before is replaced; nothing else in the file changes. **Nothing
//! is lost**: the file is copied next to itself, the copy is tagged, decoded and compared with
//! the original sample for sample, and only then renamed over it (keeping its permissions). A
//! read-only file, a format without a place for the field, or a file that changed since it was
//! analysed is refused with a reason and left as it was.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use lofty::config::{ParseOptions, WriteOptions};
use lofty::file::{AudioFile, FileType};
use lofty::flac::FlacFile;
use lofty::id3::v2::{Frame, FrameId, Id3v2Tag, TextInformationFrame};
use lofty::iff::aiff::AiffFile;
use lofty::iff::wav::WavFile;
use lofty::mp4::{Atom, AtomData, AtomIdent, Ilst, Mp4File};
use lofty::mpeg::MpegFile;
use lofty::ogg::tag::VorbisComments;
use lofty::ogg::{OpusFile, VorbisFile};
use lofty::TextEncoding;

use crate::error::{Error, Result};
use crate::output::FileStamp;
use crate::synonyms::SynonymGroups;

/// The field mstag writes its tags to.
pub const FIELD: &str = "MSTAG_TAGS";

/// A field mstag writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// [`FIELD`], its own: `tag:score` values.
    Tags,
    /// The file's genre: ID3 `TCON`, Vorbis `GENRE`, MP4 `©gen`.
    Genre,
    /// The file's mood: ID3v2.4 `TMOO`, Vorbis `MOOD`, MP4 `----:com.apple.iTunes:MOOD`.
    Mood,
}

impl Field {
    /// The name people see (`MSTAG_TAGS`, `GENRE`, `MOOD`; also the Vorbis comment's key).
    pub fn name(self) -> &'static str {
        match self {
            Field::Tags => FIELD,
            Field::Genre => "GENRE",
            Field::Mood => "MOOD",
        }
    }

    /// The ID3v2 text frame (`None`: a `TXXX` frame described [`FIELD`]).
    fn id3_frame(self) -> Option<FrameId<'static>> {
        match self {
            Field::Tags => None,
            Field::Genre => Some(FrameId::Valid(Cow::Borrowed("TCON"))),
            Field::Mood => Some(FrameId::Valid(Cow::Borrowed("TMOO"))),
        }
    }

    fn mp4_atom(self) -> AtomIdent<'static> {
        match self {
            Field::Tags => freeform(FIELD),
            Field::Genre => AtomIdent::Fourcc(*b"\xa9gen"),
            Field::Mood => freeform("MOOD"),
        }
    }
}

/// Which tags count as genres and moods, and the names written for them: the table kept in
/// `models/tag_fields.json`, built into the library.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct FieldTable {
    /// Tag → genre name.
    pub genre: BTreeMap<String, String>,
    /// Tag → mood name.
    pub mood: BTreeMap<String, String>,
}

/// The most genre (or mood) names written to one file.
pub const MAX_FIELD_VALUES: usize = 3;

impl FieldTable {
    /// The table in `models/tag_fields.json`.
    ///
    /// # Examples
    /// ```
    /// use mstag::metadata::{Field, FieldTable};
    /// let t = FieldTable::bundled();
    /// let names: Vec<String> = ["rock", "classic", "classical", "quiet"].map(String::from).into();
    /// let scores = [0.5, 0.3, 0.4, 0.6];
    /// assert_eq!(t.values(Field::Genre, &names, &scores, 0.25), ["Rock", "Classical"]);
    /// assert_eq!(t.values(Field::Mood, &names, &scores, 0.25), ["Quiet"]);
    /// assert!(t.values(Field::Genre, &names, &scores, 0.9).is_empty());
    /// ```
    pub fn bundled() -> FieldTable {
        // Checked by the test below and by tests/write_tags.rs against the models' tags.
        serde_json::from_str(include_str!("../models/tag_fields.json")).unwrap_or_default()
    }

    /// The names `field` gets for a song with these scores: its table's tags scoring at least
    /// `threshold`, best first, each name once (with its best score), at most
    /// [`MAX_FIELD_VALUES`]. Empty for [`Field::Tags`], which is not in the table.
    pub fn values(
        &self,
        field: Field,
        names: &[String],
        scores: &[f32],
        threshold: f32,
    ) -> Vec<String> {
        let table = match field {
            Field::Tags => return Vec::new(),
            Field::Genre => &self.genre,
            Field::Mood => &self.mood,
        };
        let mut best: Vec<(&str, f32)> = Vec::new();
        for (name, &score) in names.iter().zip(scores) {
            let Some(value) = table.get(name) else {
                continue;
            };
            // NaN scores never count.
            if score.is_nan() || score < threshold {
                continue;
            }
            match best.iter_mut().find(|(v, _)| *v == value.as_str()) {
                Some(b) => b.1 = b.1.max(score),
                None => best.push((value, score)),
            }
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1));
        best.into_iter()
            .take(MAX_FIELD_VALUES)
            .map(|(v, _)| v.to_string())
            .collect()
    }
}

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
    read_field(path, Field::Tags)
}

/// The values of `field` in the file at `path` (empty when there is none).
///
/// # Errors
/// As [`read_values`].
pub fn read_field(path: &Path, field: Field) -> Result<Vec<String>> {
    let mut f = File::open(path).map_err(|e| refuse(path, e.to_string()))?;
    let opts = ParseOptions::new();
    let kind = file_type(&mut f, path)?;
    let bad = |e: lofty::error::FileParseError| refuse(path, format!("cannot read its tags: {e}"));
    let id3 = |t: Option<&Id3v2Tag>| {
        let text = match field.id3_frame() {
            Some(id) => t.and_then(|t| t.get_text(&id)),
            None => t.and_then(|t| t.get_user_text(FIELD)),
        };
        text.map(|v| v.split('\0').map(String::from).collect())
            .unwrap_or_default()
    };
    let vorbis = |t: Option<&VorbisComments>| {
        t.map(|t| t.get_all(field.name()).map(String::from).collect())
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
            .and_then(|i| i.get(&field.mp4_atom()))
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

fn freeform(name: &'static str) -> AtomIdent<'static> {
    AtomIdent::Freeform {
        mean: "com.apple.iTunes".into(),
        name: name.into(),
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

/// Puts each field's values into `f` (the copy), replacing what the field held.
fn put_values(
    f: &mut File,
    kind: FileType,
    fields: &[(Field, Vec<String>)],
    path: &Path,
) -> Result<()> {
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
        for (field, values) in fields {
            // ID3v2.4 keeps several values of one frame apart with NUL.
            let joined = values.join("\0");
            match field.id3_frame() {
                Some(id) => {
                    let _ = tag.remove(&id).count();
                    let frame = TextInformationFrame::new(id, TextEncoding::UTF8, joined);
                    let _ = tag.insert(Frame::Text(frame));
                }
                None => {
                    tag.remove_user_text(FIELD);
                    tag.insert_user_text(FIELD.into(), joined);
                }
            }
        }
    };
    let vorbis = |t: &mut VorbisComments| {
        for (field, values) in fields {
            let _ = t.remove(field.name()).count();
            for v in values {
                t.push(field.name().into(), v.clone());
            }
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
            let put = |ilst: &mut Ilst| {
                for (field, values) in fields {
                    let _ = ilst.remove(&field.mp4_atom()).count();
                    let data = values.iter().map(|v| AtomData::UTF8(v.clone())).collect();
                    if let Some(a) = Atom::from_collection(field.mp4_atom(), data) {
                        ilst.insert(a);
                    }
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
    let before = read_values(path)?;
    write_fields(path, &[(Field::Tags, values.to_vec())], analysed)?;
    Ok(before)
}

/// Like [`write_values`], for several fields at once (one checked copy, one rename): each
/// field's values replace what it held.
///
/// # Errors
/// As [`write_values`].
pub fn write_fields(
    path: &Path,
    fields: &[(Field, Vec<String>)],
    analysed: Option<FileStamp>,
) -> Result<()> {
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
        put_values(&mut f, kind, fields, path)?;
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
    Ok(())
}
