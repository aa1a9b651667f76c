//! `mstag learn LABELS.csv --out DIR`: a head of your own (logistic regression on the
//! song-level features, through linfa), chosen and reported by cross-validation grouped by
//! file, written as `DIR/head.json` (see `mstag::head`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use linfa::prelude::*;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2};
use ndarray_linfa as ndarray;

use mstag::head::{FeatureModels, Head, HeadKind};
use mstag::{Tagger, TaggerConfig};

use super::{DeviceArg, ModelArgs};

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// CSV with a header and rows `file,label` (paths relative to the CSV; a file on several
    /// rows has several labels)
    pub labels: PathBuf,
    /// Folder to write the head to (head.json)
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// The head's name in outputs (default: the folder's name)
    #[arg(long)]
    pub name: Option<String>,
    /// Several labels per file (a sigmoid each), even if every file has one
    #[arg(long)]
    pub multi_label: bool,
    /// Training rows: the song vector and one per this many seconds of each file
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = super::positive_seconds,
          allow_negative_numbers = true)]
    pub window: f64,
    /// Files analysed in parallel (0 = all cores)
    #[arg(long, short, default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub jobs: u16,
    /// No progress bar
    #[arg(long, short)]
    pub quiet: bool,
    /// Model manifest (default: the bundled models)
    #[arg(long, value_name = "PATH")]
    pub models: Option<PathBuf>,
    /// Where inference runs: cpu, cuda or auto
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
}

/// The labelled files of LABELS.csv, checked.
#[derive(Debug)]
pub struct Labelled {
    pub files: Vec<PathBuf>,
    /// Label indices per file.
    pub labels: Vec<BTreeSet<usize>>,
    pub names: Vec<String>,
}

/// Reads and checks LABELS.csv: header, rows `file,label`, files that exist, no duplicate
/// rows, at least two labels with at least two files each.
pub fn read_labels(csv_path: &Path) -> Result<Labelled> {
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("cannot read {}", csv_path.display()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut per_file: Vec<BTreeSet<String>> = Vec::new();
    let mut seen: BTreeMap<(PathBuf, String), u64> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.with_context(|| format!("{}: row {line}", csv_path.display()))?;
        if rec.len() != 2 || rec[0].is_empty() || rec[1].is_empty() {
            bail!(
                "{}: row {line}: expected `file,label`, found {} field(s)",
                csv_path.display(),
                rec.len()
            );
        }
        let file = base.join(&rec[0]);
        let label = rec[1].to_string();
        if !file.is_file() {
            bail!(
                "{}: row {line}: {} is not a readable file",
                csv_path.display(),
                file.display()
            );
        }
        if let Some(first) = seen.insert((file.clone(), label.clone()), line) {
            bail!(
                "{}: row {line} repeats row {first} ({}, {label})",
                csv_path.display(),
                &rec[0]
            );
        }
        match files.iter().position(|f| *f == file) {
            Some(k) => {
                per_file[k].insert(label);
            }
            None => {
                files.push(file);
                per_file.push(BTreeSet::from([label]));
            }
        }
    }
    let names: Vec<String> = per_file
        .iter()
        .flatten()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.len() < 2 {
        bail!(
            "{}: {} label{} found; a head needs at least two (e.g. `drop` and `verse`)",
            csv_path.display(),
            names.len(),
            if names.len() == 1 { "" } else { "s" }
        );
    }
    for n in &names {
        let count = per_file.iter().filter(|l| l.contains(n)).count();
        if count < 2 {
            bail!(
                "{}: label {n:?} has {count} example; every label needs at least 2 files",
                csv_path.display()
            );
        }
    }
    let labels = per_file
        .iter()
        .map(|l| {
            l.iter()
                .map(|n| names.binary_search(n).unwrap_or(0))
                .collect()
        })
        .collect();
    Ok(Labelled {
        files,
        labels,
        names,
    })
}

/// One training row: which file it came from and its features.
struct Rows {
    x: Array2<f64>,
    file: Vec<usize>,
    /// Row index of each file's song vector.
    song_row: Vec<usize>,
}

/// Standardisation: mean and scale per feature (scale 1 where a feature never varies).
fn standardise(x: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let n = x.nrows().max(1) as f64;
    let mean: Vec<f64> = x.columns().into_iter().map(|c| c.sum() / n).collect();
    let scale = x
        .columns()
        .into_iter()
        .zip(&mean)
        .map(|(c, m)| {
            let v = c.iter().map(|a| (a - m).powi(2)).sum::<f64>() / n;
            if v.sqrt() > 1e-9 {
                v.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

fn apply_std(x: &Array2<f64>, mean: &[f64], scale: &[f64]) -> Array2<f64> {
    let mut y = x.clone();
    for mut row in y.rows_mut() {
        for ((v, m), s) in row.iter_mut().zip(mean).zip(scale) {
            *v = (*v - m) / s;
        }
    }
    y
}

/// A trained linear head in standardised space: weights `[labels][dim]`, bias `[labels]`.
struct Linear {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
}

fn fit(
    x: &Array2<f64>,
    y: &[BTreeSet<usize>],
    n_labels: usize,
    kind: HeadKind,
    alpha: f64,
) -> Result<Linear> {
    match kind {
        HeadKind::Single => {
            let t: Array1<usize> = y.iter().map(|l| *l.iter().next().unwrap_or(&0)).collect();
            let ds = Dataset::new(x.clone(), t);
            let m = MultiLogisticRegression::default()
                .alpha(alpha)
                .max_iterations(300)
                .fit(&ds)
                .context("logistic regression")?;
            let mut w = vec![vec![0.0; x.ncols()]; n_labels];
            let mut b = vec![-1e3; n_labels];
            for (k, &c) in m.classes().iter().enumerate() {
                w[c] = m.params().column(k).to_vec();
                b[c] = m.intercept()[k];
            }
            Ok(Linear { w, b })
        }
        HeadKind::Multi => {
            let mut w = Vec::new();
            let mut b = Vec::new();
            for k in 0..n_labels {
                let t: Array1<bool> = y.iter().map(|l| l.contains(&k)).collect();
                let ds = Dataset::new(x.clone(), t);
                let m = LogisticRegression::default()
                    .alpha(alpha)
                    .max_iterations(300)
                    .fit(&ds)
                    .context("logistic regression")?;
                // The model's probability is that of its "positive" class.
                let sign = if m.labels().pos.class { 1.0 } else { -1.0 };
                w.push(m.params().iter().map(|v| sign * v).collect());
                b.push(sign * m.intercept());
            }
            Ok(Linear { w, b })
        }
    }
}

fn predict(l: &Linear, x: &[f64], kind: HeadKind) -> Vec<f64> {
    let z: Vec<f64> =
        l.w.iter()
            .zip(&l.b)
            .map(|(w, b)| w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + b)
            .collect();
    match kind {
        HeadKind::Multi => z.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
        HeadKind::Single => {
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        }
    }
}

/// Folds by file, each label's files spread round-robin over `k` folds.
fn folds(labels: &[BTreeSet<usize>], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by_key(|&f| (labels[f].iter().next().copied(), f));
    let mut fold = vec![0; labels.len()];
    for (i, &f) in order.iter().enumerate() {
        fold[f] = i % k;
    }
    fold
}

/// Held-out predictions (song vectors of the held-out files) with `alpha`.
fn cross_validate(
    rows: &Rows,
    y: &[BTreeSet<usize>],
    n: usize,
    kind: HeadKind,
    alpha: f64,
    fold: &[usize],
    k: usize,
) -> Result<Vec<Vec<f64>>> {
    let mut out = vec![Vec::new(); y.len()];
    for f in 0..k {
        let train: Vec<usize> = (0..rows.x.nrows())
            .filter(|&r| fold[rows.file[r]] != f)
            .collect();
        let xt = rows.x.select(ndarray::Axis(0), &train);
        let yt: Vec<BTreeSet<usize>> = train.iter().map(|&r| y[rows.file[r]].clone()).collect();
        let (mean, scale) = standardise(&xt);
        let lin = fit(&apply_std(&xt, &mean, &scale), &yt, n, kind, alpha)?;
        for (file, &row) in rows.song_row.iter().enumerate() {
            if fold[file] == f {
                let x: Vec<f64> = rows
                    .x
                    .row(row)
                    .iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect();
                out[file] = predict(&lin, &x, kind);
            }
        }
    }
    Ok(out)
}

/// Chosen labels of a prediction: the best (single) or those above 0.5 (multi).
fn chosen(p: &[f64], kind: HeadKind) -> BTreeSet<usize> {
    match kind {
        HeadKind::Single => p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| BTreeSet::from([i]))
            .unwrap_or_default(),
        HeadKind::Multi => p
            .iter()
            .enumerate()
            .filter(|(_, &v)| v >= 0.5)
            .map(|(i, _)| i)
            .collect(),
    }
}

/// Fraction of (file, label) decisions that are right.
fn accuracy(pred: &[Vec<f64>], y: &[BTreeSet<usize>], n: usize, kind: HeadKind) -> f64 {
    match kind {
        HeadKind::Single => {
            let right = pred
                .iter()
                .zip(y)
                .filter(|(p, t)| chosen(p, kind) == **t)
                .count();
            right as f64 / y.len().max(1) as f64
        }
        HeadKind::Multi => {
            let mut right = 0;
            for (p, t) in pred.iter().zip(y) {
                let c = chosen(p, kind);
                right += (0..n).filter(|k| c.contains(k) == t.contains(k)).count();
            }
            right as f64 / (y.len() * n).max(1) as f64
        }
    }
}

/// The cross-validated report: accuracy, per-label precision and recall, and (one label per
/// file) the confusion matrix.
fn report(
    pred: &[Vec<f64>],
    y: &[BTreeSet<usize>],
    names: &[String],
    kind: HeadKind,
    alpha: f64,
    k: usize,
) -> String {
    let n = names.len();
    let mut s = format!(
        "cross-validated over {} files ({k} folds by file, L2 alpha {alpha}): accuracy {:.3}\n",
        y.len(),
        accuracy(pred, y, n, kind)
    );
    let width = names.iter().map(|n| n.len()).max().unwrap_or(5).max(5);
    s += &format!("  {:<width$}  precision  recall  files\n", "label");
    for (k, name) in names.iter().enumerate() {
        let (mut tp, mut fp, mut fneg) = (0, 0, 0);
        for (p, t) in pred.iter().zip(y) {
            let c = chosen(p, kind).contains(&k);
            match (c, t.contains(&k)) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fneg += 1,
                _ => {}
            }
        }
        let prec = tp as f64 / (tp + fp).max(1) as f64;
        let rec = tp as f64 / (tp + fneg).max(1) as f64;
        s += &format!(
            "  {name:<width$}  {prec:>9.3}  {rec:>6.3}  {:>5}\n",
            tp + fneg
        );
    }
    if kind == HeadKind::Single {
        s += &format!(
            "confusion (rows: true label, columns: predicted)\n  {:<width$}",
            ""
        );
        for k in 0..n {
            s += &format!(" {:>4}", k + 1);
        }
        s.push('\n');
        for (i, name) in names.iter().enumerate() {
            s += &format!("  {name:<width$}");
            for j in 0..n {
                let c = pred
                    .iter()
                    .zip(y)
                    .filter(|(p, t)| t.contains(&i) && chosen(p, kind).contains(&j))
                    .count();
                s += &format!(" {c:>4}");
            }
            s += &format!("   ({})\n", i + 1);
        }
    }
    s
}

pub fn run(a: &LearnArgs) -> Result<bool> {
    let data = read_labels(&a.labels)?;
    let kind = if a.multi_label || data.labels.iter().any(|l| l.len() > 1) {
        HeadKind::Multi
    } else {
        HeadKind::Single
    };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => a
            .out
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "head".into()),
    };
    let model = ModelArgs {
        models: a.models.clone(),
        device: a.device,
        window: a.window,
        ema_tau: 5.0,
        no_silence_gate: false,
    };
    let manifest_path = model.manifest_path();
    let tagger = Tagger::new(TaggerConfig {
        manifest: manifest_path.clone(),
        device: model.device(),
        pipeline: model.pipeline(),
        windows: Some(a.window),
        ..TaggerConfig::default()
    })
    .with_context(|| format!("loading the models of {}", manifest_path.display()))?;
    super::say_placement(tagger.placement());
    let feature_models = FeatureModels::of(tagger.manifest());
    let dim = tagger.feature_dim();
    let bar = super::progress_bar(data.files.len(), a.quiet, "features of");
    let songs = mstag::offline::tag_files(tagger, &data.files, a.jobs.into(), &|_| bar.inc(1))?;
    bar.finish_and_clear();
    let mut values = Vec::new();
    let (mut file_of, mut song_row) = (Vec::new(), Vec::new());
    for (i, (path, r)) in data.files.iter().zip(songs).enumerate() {
        let song = r
            .map_err(|e| anyhow::anyhow!(super::messages::describe(&e)))
            .with_context(|| format!("{}: {}", a.labels.display(), path.display()))?;
        song_row.push(file_of.len());
        for v in
            std::iter::once(song.features()).chain(song.windows().iter().map(|(_, f)| f.as_slice()))
        {
            values.extend(v.iter().map(|&x| x as f64));
            file_of.push(i);
        }
    }
    let rows = Rows {
        x: Array2::from_shape_vec((file_of.len(), dim), values).context("feature rows")?,
        file: file_of,
        song_row,
    };
    let n = data.names.len();
    let min_per_label = (0..n)
        .map(|k| data.labels.iter().filter(|l| l.contains(&k)).count())
        .min()
        .unwrap_or(2);
    let k = min_per_label.clamp(2, 5);
    let fold = folds(&data.labels, k);
    let mut best: Option<(f64, f64, Vec<Vec<f64>>)> = None;
    for alpha in [100.0, 10.0, 1.0, 0.1, 0.01] {
        let pred = cross_validate(&rows, &data.labels, n, kind, alpha, &fold, k)?;
        let acc = accuracy(&pred, &data.labels, n, kind);
        if best.as_ref().is_none_or(|(b, _, _)| acc > *b + 1e-12) {
            best = Some((acc, alpha, pred));
        }
    }
    let Some((_, alpha, pred)) = best else {
        bail!("no regularisation was tried");
    };
    let text = report(&pred, &data.labels, &data.names, kind, alpha, k);
    print!("{text}");
    // The head: every row of every file, at the chosen alpha.
    let (mean, scale) = standardise(&rows.x);
    let y: Vec<BTreeSet<usize>> = rows.file.iter().map(|&f| data.labels[f].clone()).collect();
    let lin = fit(&apply_std(&rows.x, &mean, &scale), &y, n, kind, alpha)?;
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let head = Head {
        format: 1,
        name,
        kind,
        labels: data.names.clone(),
        feature_dim: dim,
        feature_models,
        mean: f32s(&mean),
        scale: f32s(&scale),
        weights: lin.w.iter().map(|w| f32s(w)).collect(),
        bias: f32s(&lin.b),
        training: serde_json::json!({
            "labels_csv": a.labels.display().to_string(),
            "files": data.files.len(),
            "rows": rows.x.nrows(),
            "window_s": a.window,
            "alpha": alpha,
            "folds": k,
            "cv_accuracy": accuracy(&pred, &data.labels, n, kind),
            "optimiser": "linfa-logistic 0.8 (L-BFGS), L2",
        }),
    };
    let path = head.save(&a.out)?;
    eprintln!(
        "mstag: head {:?} ({} labels, {}) written to {}",
        head.name,
        n,
        if kind == HeadKind::Single {
            "one per file"
        } else {
            "several per file"
        },
        path.display()
    );
    Ok(true)
}
