//! Formatting the offline results of `mstag tag`: JSON, CSV, or a human-readable table.
//!
//! All three take the per-file results in input order plus the manifest's tag names, and
//! return text ending in a newline (ready for `print!` or a file). Scores are in manifest
//! order; a score without a name (more scores than names) is called `tag<i>`.

use serde::Serialize;

use crate::output::json::{finite, TagMap};

use crate::synonyms::SynonymGroups;

/// The outcome of tagging one file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileResult {
    /// The file as the user named it.
    pub file: String,
    /// Length of the decoded audio in seconds, when known.
    pub duration_s: Option<f64>,
    /// Song-level tag scores in manifest order, when tagging succeeded.
    pub tags: Option<Vec<f32>>,
    /// Why the file could not be tagged; takes precedence over `tags`.
    pub error: Option<String>,
    /// Segment lengths (frames) of the scales filled by looping a clip shorter than them
    /// ([`crate::SongTags::looped_scales`]); empty for longer files.
    pub looped_scales: Vec<usize>,
    /// Where the models ran (`cpu`, `cuda`), when known.
    pub device: Option<&'static str>,
    /// The scores of heads of your own ([`crate::head::Head`]), in the order given.
    pub heads: Vec<HeadScores>,
    /// The file's size and modification time when it was tagged, for `--resume`: written by
    /// [`to_json_line`] only.
    pub stamp: Option<FileStamp>,
}

/// What identifies the version of a file that was tagged: its size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when unknown).
    pub mtime_ns: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now; None when its metadata cannot be read.
    pub fn of(path: &std::path::Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64);
        Some(FileStamp {
            size: m.len(),
            mtime_ns,
        })
    }
}

/// One head's scores for one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeadScores {
    /// The head's name.
    pub name: String,
    /// Its labels, in score order.
    pub labels: Vec<String>,
    /// Its scores.
    pub scores: Vec<f32>,
}

/// `{head: {label: score}}` in the order given.
struct HeadMaps<'a>(&'a [HeadScores]);

impl HeadMaps<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for HeadMaps<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for h in self.0 {
            map.serialize_entry(&h.name, &TagMap::new(&h.labels, &h.scores))?;
        }
        map.end()
    }
}

impl FileResult {
    /// A successfully tagged file.
    pub fn ok(file: impl Into<String>, duration_s: Option<f64>, tags: Vec<f32>) -> Self {
        FileResult {
            file: file.into(),
            duration_s,
            tags: Some(tags),
            error: None,
            looped_scales: Vec::new(),
            device: None,
            heads: Vec::new(),
            stamp: None,
        }
    }

    /// Marks a short clip: the scales (segment frames) its segment was looped to fill.
    pub fn with_looped_scales(mut self, looped_scales: Vec<usize>) -> Self {
        self.looped_scales = looped_scales;
        self
    }

    /// Adds the scores of heads of your own.
    pub fn with_heads(mut self, heads: Vec<HeadScores>) -> Self {
        self.heads = heads;
        self
    }

    /// Records where the models ran ([`crate::SongTags::device`]).
    pub fn with_device(mut self, device: &'static str) -> Self {
        self.device = Some(device);
        self
    }

    /// A file that failed, with the error message to report.
    pub fn failed(file: impl Into<String>, error: impl Into<String>) -> Self {
        FileResult {
            file: file.into(),
            duration_s: None,
            tags: None,
            error: Some(error.into()),
            looped_scales: Vec::new(),
            device: None,
            heads: Vec::new(),
            stamp: None,
        }
    }

    /// Records the file's size and modification time (written by [`to_json_line`]).
    pub fn with_stamp(mut self, stamp: Option<FileStamp>) -> Self {
        self.stamp = stamp;
        self
    }

    /// The error to report for this file, if any: its `error`, or a note when it has
    /// neither error nor tags.
    fn failure(&self) -> Option<&str> {
        match (&self.error, &self.tags) {
            (Some(e), _) => Some(e.as_str()),
            (None, None) => Some(NO_TAGS),
            (None, Some(_)) => None,
        }
    }
}

/// Reported for a result that has neither tags nor an error.
const NO_TAGS: &str = "no tags were produced";

fn tag_name(tag_names: &[String], i: usize) -> String {
    match tag_names.get(i) {
        Some(n) => n.clone(),
        None => format!("tag{i}"),
    }
}

/// The results as a pretty-printed JSON array, one object per file, in order.
///
/// A tagged file is `{"file": …, "duration_s": …, "device": "cpu", "tags": {"<tag>": score,
/// …}}` with the tags in manifest order (`duration_s` is `null` when unknown; `device`, where
/// the models ran, only when known); a failed one is
/// `{"file": …, "error": "…"}`. Non-finite numbers become `null`.
///
pub fn to_json(results: &[FileResult], tag_names: &[String]) -> String {
    let records: Vec<FileRecord> = results.iter().map(|r| record(r, tag_names)).collect();
    // Serialising strings and numbers into a String cannot fail; say so rather than panic.
    let mut s = serde_json::to_string_pretty(&records)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    s.push('\n');
    s
}

/// One file as one line of JSON (`mstag tag --format jsonl`): the object [`to_json`] writes
/// for it, on one line, plus `size` and `mtime_ns` when the result has a [`FileStamp`]. No
/// newline at the end.
pub fn to_json_line(r: &FileResult, tag_names: &[String]) -> String {
    // Serialised directly (not through a `Value`), so scores keep their shortest f32 form.
    let mut line = serde_json::to_string(&record(r, tag_names))
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    if let (Some(st), Some(open)) = (r.stamp, line.strip_suffix('}')) {
        line = format!("{open},\"size\":{},\"mtime_ns\":{}}}", st.size, st.mtime_ns);
    }
    line
}

fn record<'a>(r: &'a FileResult, tag_names: &'a [String]) -> FileRecord<'a> {
    match (r.failure(), &r.tags) {
        (None, Some(tags)) => FileRecord::Tagged {
            file: &r.file,
            duration_s: r.duration_s.and_then(finite),
            looped_scales: &r.looped_scales,
            device: r.device,
            tags: TagMap::new(tag_names, tags),
            heads: HeadMaps(&r.heads),
        },
        (failure, _) => FileRecord::Failed {
            file: &r.file,
            error: failure.unwrap_or(NO_TAGS),
        },
    }
}

/// One file in `mstag tag --format json`.
#[derive(Serialize)]
#[serde(untagged)]
enum FileRecord<'a> {
    Tagged {
        file: &'a str,
        duration_s: Option<f64>,
        #[serde(skip_serializing_if = "<[usize]>::is_empty")]
        looped_scales: &'a [usize],
        #[serde(skip_serializing_if = "Option::is_none")]
        device: Option<&'static str>,
        tags: TagMap<'a>,
        #[serde(skip_serializing_if = "HeadMaps::is_empty")]
        heads: HeadMaps<'a>,
    },
    Failed {
        file: &'a str,
        error: &'a str,
    },
}

/// Quotes a CSV field (RFC 4180) when it holds a comma, quote, line break, or
/// leading/trailing space; quotes inside are doubled.
fn csv_field(s: &str) -> String {
    let needs = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The results as CSV: header `file,duration_s,error,<tag1>,…`, then one row per file.
/// When some file is a short clip, a last column `looped_scales` lists the scales it was
/// looped to fill (segment frames separated by spaces, e.g. `27 54`).
///
/// Durations have 3 decimals, scores their shortest exact decimal form; an unknown or
/// non-finite value is an empty field, and a failed file has empty score fields. The tag
/// columns follow `tag_names` (extra scores get `tag<i>` columns). Lines end in `\n`.
pub fn to_csv(results: &[FileResult], tag_names: &[String]) -> String {
    let n_cols = results
        .iter()
        .filter_map(|r| r.tags.as_ref().map(Vec::len))
        .max()
        .unwrap_or(0)
        .max(tag_names.len());
    let looped = results.iter().any(|r| !r.looped_scales.is_empty());
    let mut out = String::from("file,duration_s,error");
    for i in 0..n_cols {
        out.push(',');
        out.push_str(&csv_field(&tag_name(tag_names, i)));
    }
    // Head columns `<head>/<label>`, from the first file that has each head.
    let mut head_cols: Vec<(String, String)> = Vec::new();
    for h in results.iter().flat_map(|r| &r.heads) {
        for l in &h.labels {
            let col = (h.name.clone(), l.clone());
            if !head_cols.contains(&col) {
                head_cols.push(col);
            }
        }
    }
    for (h, l) in &head_cols {
        out.push(',');
        out.push_str(&csv_field(&format!("{h}/{l}")));
    }
    if looped {
        out.push_str(",looped_scales");
    }
    out.push('\n');

    for r in results {
        out.push_str(&csv_field(&r.file));
        out.push(',');
        if let Some(d) = r.duration_s.filter(|d| d.is_finite()) {
            out.push_str(&format!("{d:.3}"));
        }
        out.push(',');
        let failure = r.failure();
        if let Some(e) = failure {
            out.push_str(&csv_field(e));
        }
        let tags = if failure.is_none() {
            r.tags.as_deref()
        } else {
            None
        };
        for i in 0..n_cols {
            out.push(',');
            if let Some(x) = tags.and_then(|t| t.get(i)).filter(|x| x.is_finite()) {
                out.push_str(&format!("{x}"));
            }
        }
        for (h, l) in &head_cols {
            out.push(',');
            let v = r
                .heads
                .iter()
                .find(|x| &x.name == h)
                .and_then(|x| {
                    x.labels
                        .iter()
                        .position(|y| y == l)
                        .and_then(|i| x.scores.get(i))
                })
                .filter(|x| x.is_finite() && failure.is_none());
            if let Some(x) = v {
                out.push_str(&format!("{x}"));
            }
        }
        if looped {
            out.push(',');
            out.push_str(&scale_list(&r.looped_scales, " "));
        }
        out.push('\n');
    }
    out
}

fn scale_list(frames: &[usize], sep: &str) -> String {
    let names: Vec<String> = frames.iter().map(usize::to_string).collect();
    names.join(sep)
}

/// `m:ss.s` for a duration, `?` when unknown.
fn format_duration(d: Option<f64>) -> String {
    match d.filter(|d| d.is_finite() && *d >= 0.0) {
        Some(d) => {
            let tenths = (d * 10.0).round() as u64;
            format!(
                "{}:{:02}.{}",
                tenths / 600,
                (tenths % 600) / 10,
                tenths % 10
            )
        }
        None => "?".to_string(),
    }
}

/// The results for people: per file a line with its name and duration, then its `top`
/// best tags (name, score with 3 decimals, and a small bar), or its error; files are
/// separated by a blank line.
///
/// With `grouped`, synonyms share one entry ([`SynonymGroups`]: `no vocal`, `no vocals` and
/// `no voice` show once, as `no vocals`, with the highest of their scores), so they do not
/// take several of the `top` places; without it every tag is an entry of its own. An entry
/// whose scores are all missing or not finite shows `-` and ranks last.
///
/// ```text
/// song.mp3  (3:02.4)
///   rock      0.912  #########
///   guitar    0.803  ########
///
/// broken.wav  error: unsupported audio format
/// ```
pub fn to_table(results: &[FileResult], tag_names: &[String], top: usize, grouped: bool) -> String {
    let mut out = String::new();
    // Names for every score, `tag<i>` beyond the manifest's names.
    let n_scores = results
        .iter()
        .filter_map(|r| r.tags.as_ref().map(Vec::len))
        .max()
        .unwrap_or(0)
        .max(tag_names.len());
    let names: Vec<String> = (0..n_scores).map(|i| tag_name(tag_names, i)).collect();
    let groups = SynonymGroups::with(&names, grouped);
    for (k, r) in results.iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        if let Some(e) = r.failure() {
            // Keep a multi-line message indented under its file.
            let e = e.replace('\n', "\n    ");
            out.push_str(&format!("{}  error: {e}\n", r.file));
            continue;
        }
        let looped = match r.looped_scales.as_slice() {
            [] => String::new(),
            l => format!(", looped for the {}-frame scales", scale_list(l, ", ")),
        };
        out.push_str(&format!(
            "{}  ({}{looped})\n",
            r.file,
            format_duration(r.duration_s)
        ));
        let tags = r.tags.as_deref().unwrap_or(&[]);
        // Entries with no finite score rank below every real score (even 0) and show `-`.
        let entries = groups.groups();
        let values = groups.scores(tags);
        let key = |k: usize| {
            let known = entries[k]
                .members
                .iter()
                .any(|&i| tags.get(i).is_some_and(|x| x.is_finite()));
            if known {
                values[k]
            } else {
                -1.0
            }
        };
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
        let best: Vec<(&str, f32)> = order
            .into_iter()
            .take(top)
            .map(|k| (entries[k].name.as_str(), key(k)))
            .collect();
        let width = best
            .iter()
            .map(|(name, _)| name.chars().count())
            .max()
            .unwrap_or(0);
        for (name, x) in best {
            let (value, bar) = if x >= 0.0 {
                let n = (x.clamp(0.0, 1.0) * 10.0).round() as usize;
                (format!("{x:.3}"), "#".repeat(n))
            } else {
                ("  -  ".to_string(), String::new())
            };
            let line = format!("  {name:<width$}  {value}  {bar}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for h in &r.heads {
            let mut order: Vec<usize> = (0..h.scores.len()).collect();
            order.sort_by(|&a, &b| h.scores[b].total_cmp(&h.scores[a]).then(a.cmp(&b)));
            let shown: Vec<String> = order
                .iter()
                .take(top)
                .map(|&i| {
                    format!(
                        "{} {:.3}",
                        h.labels.get(i).map_or("?", String::as_str),
                        h.scores[i]
                    )
                })
                .collect();
            out.push_str(&format!("  [{}] {}\n", h.name, shown.join(", ")));
        }
    }
    if results.is_empty() {
        out.push_str("(no files)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn names() -> Vec<String> {
        ["rock", "jazz", "guitar", "piano"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn sample() -> Vec<FileResult> {
        vec![
            FileResult::ok("a.mp3", Some(183.456), vec![0.7, 0.1, 0.9, 0.05]),
            FileResult::failed("b,\"odd\".wav", "unsupported audio format: \"aiff\", sorry"),
            FileResult::ok("c.flac", None, vec![0.2, 0.6, f32::NAN, 0.3]),
        ]
    }

    #[test]
    fn json_parses_back_and_keeps_tag_order() {
        // Manifest order deliberately not alphabetical.
        let names: Vec<String> = ["zeta", "alpha", "mid", "beta"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let text = to_json(&sample(), &names);
        assert!(text.ends_with('\n'));
        let v: Value = serde_json::from_str(&text).expect("valid JSON");
        let arr = v.as_array().expect("array");
        assert_eq!(arr.len(), 3);

        assert_eq!(arr[0]["file"], "a.mp3");
        assert_eq!(arr[0]["duration_s"], 183.456);
        let tags = arr[0]["tags"].as_object().expect("tags object");
        let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
        assert_eq!(keys, ["zeta", "alpha", "mid", "beta"]);
        assert_eq!(tags["zeta"], 0.7, "shortest decimal form of the f32");
        assert_eq!(tags["mid"], 0.9);

        assert_eq!(arr[1]["file"], "b,\"odd\".wav");
        assert_eq!(arr[1]["error"], "unsupported audio format: \"aiff\", sorry");
        assert!(arr[1].get("tags").is_none());

        assert!(arr[2]["duration_s"].is_null());
        assert!(arr[2]["tags"]["mid"].is_null(), "NaN becomes null");
        // Object keys in file order too.
        let obj_keys: Vec<&str> = arr[0]
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(obj_keys, ["file", "duration_s", "tags"]);
    }

    #[test]
    fn a_json_line_is_the_json_object_on_one_line_with_its_stamp() {
        let rows = sample();
        let all: Value = serde_json::from_str(&to_json(&rows, &names())).unwrap();
        for (i, r) in rows.iter().enumerate() {
            let line = to_json_line(r, &names());
            assert!(!line.contains('\n'));
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v, all[i]);
        }
        let stamped = rows[0].clone().with_stamp(Some(FileStamp {
            size: 12,
            mtime_ns: 1_700_000_000_123_456_789,
        }));
        let line = to_json_line(&stamped, &names());
        assert!(
            line.ends_with(r#","size":12,"mtime_ns":1700000000123456789}"#),
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["file"], all[0]["file"]);
    }

    #[test]
    fn json_empty_and_missing_result() {
        assert_eq!(to_json(&[], &names()).trim(), "[]");
        let r = FileResult {
            file: "x".into(),
            ..FileResult::default()
        };
        let v: Value = serde_json::from_str(&to_json(&[r], &names())).expect("valid JSON");
        assert_eq!(v[0]["error"], NO_TAGS);
    }

    #[test]
    fn csv_header_rows_and_quoting() {
        let text = to_csv(&sample(), &names());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "file,duration_s,error,rock,jazz,guitar,piano");
        assert_eq!(lines[1], "a.mp3,183.456,,0.7,0.1,0.9,0.05");
        assert_eq!(
            lines[2],
            "\"b,\"\"odd\"\".wav\",,\"unsupported audio format: \"\"aiff\"\", sorry\",,,,"
        );
        assert_eq!(lines[3], "c.flac,,,0.2,0.6,,0.3");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn csv_quotes_tag_names_and_newlines() {
        let names = vec!["a,b".to_string(), "plain".to_string()];
        let rows = [FileResult::failed("x.wav", "line1\nline2")];
        let text = to_csv(&rows, &names);
        assert!(
            text.starts_with("file,duration_s,error,\"a,b\",plain\n"),
            "{text}"
        );
        assert!(text.contains("x.wav,,\"line1\nline2\",,\n"), "{text:?}");
    }

    #[test]
    fn csv_field_rules() {
        assert_eq!(csv_field("plain.wav"), "plain.wav");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(" lead"), "\" lead\"");
    }

    #[test]
    fn table_lists_top_tags_or_error() {
        let text = to_table(&sample(), &names(), 2, true);
        let expected = "\
a.mp3  (3:03.5)
  guitar  0.900  #########
  rock    0.700  #######

b,\"odd\".wav  error: unsupported audio format: \"aiff\", sorry

c.flac  (?)
  jazz   0.600  ######
  piano  0.300  ###
";
        assert_eq!(text, expected);
    }

    #[test]
    fn short_clips_are_marked_in_json_csv_and_table() {
        let rows = [
            FileResult::ok("hit.wav", Some(0.6), vec![0.5, 0.1, 0.2, 0.3])
                .with_looped_scales(vec![27, 54]),
            sample().remove(0),
        ];
        let v: Value = serde_json::from_str(&to_json(&rows, &names())).expect("valid JSON");
        assert_eq!(v[0]["looped_scales"], serde_json::json!([27, 54]));
        assert!(v[1].get("looped_scales").is_none(), "{}", v[1]);
        let csv = to_csv(&rows, &names());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines,
            [
                "file,duration_s,error,rock,jazz,guitar,piano,looped_scales",
                "hit.wav,0.600,,0.5,0.1,0.2,0.3,27 54",
                "a.mp3,183.456,,0.7,0.1,0.9,0.05,",
            ]
        );
        let table = to_table(&rows, &names(), 1, true);
        assert!(
            table.starts_with("hit.wav  (0:00.6, looped for the 27, 54-frame scales)\n"),
            "{table}"
        );
        assert!(table.contains("a.mp3  (3:03.5)\n"), "{table}");
    }

    #[test]
    fn table_groups_synonyms_unless_all_tags_are_asked_for() {
        let names: Vec<String> = [
            "no vocal",
            "rock",
            "no vocals",
            "classic",
            "no voice",
            "classical",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rows = [FileResult::ok(
            "a.wav",
            Some(2.0),
            vec![0.9, 0.5, 0.8, 0.7, 0.85, f32::NAN],
        )];
        let grouped = to_table(&rows, &names, 3, true);
        assert_eq!(
            grouped,
            "\
a.wav  (0:02.0)
  no vocals  0.900  #########
  classical  0.700  #######
  rock       0.500  #####
"
        );
        let all = to_table(&rows, &names, 3, false);
        assert_eq!(
            all,
            "\
a.wav  (0:02.0)
  no vocal   0.900  #########
  no voice   0.850  #########
  no vocals  0.800  ########
"
        );
        // A group whose scores are all unknown shows `-`, last.
        let unknown = [FileResult::ok("b.wav", None, vec![f32::NAN, 0.0, f32::NAN])];
        let text = to_table(&unknown, &names[..3], 5, true);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            ["b.wav  (?)", "  rock       0.000", "  no vocals    -"]
        );
    }

    #[test]
    fn table_nan_ranks_last_and_prints_no_nan() {
        let text = to_table(&sample()[2..], &names(), 10, true);
        assert!(!text.to_lowercase().contains("nan"), "{text}");
        assert!(
            text.lines()
                .last()
                .unwrap_or_default()
                .starts_with("  guitar"),
            "{text}"
        );
        assert_eq!(to_table(&[], &names(), 5, true), "(no files)\n");
    }
}
