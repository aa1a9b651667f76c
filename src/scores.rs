//! Tag scores, the three views of the aggregate, and ranking: the bottom of the crate, imported
//! by `model`, `aggregate`, `engine` and `output` alike. Published scores are fixed-size and
//! `Copy`, so publishing never allocates.

/// Upper bound on the number of tags a manifest may declare (validated at load time).
pub const MAX_TAGS: usize = 64;

/// Upper bound on the labels of all heads of your own together ([`crate::head::HeadSet`]),
/// scored beside the tags in every update.
pub const MAX_HEAD_LABELS: usize = 64;

/// One view of the aggregate: which average the scores come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// Mean over every segment of the session (the paper's song-level aggregate).
    Session,
    /// Mean over the segments of the last N seconds.
    Window,
    /// Exponential moving average of the segment features.
    Ema,
}

impl View {
    /// The three views, in this order: session, window, EMA.
    pub const ALL: [View; 3] = [View::Session, View::Window, View::Ema];
    /// The view's name as JSON output and OSC spell it: `session`, `window` or `ema`.
    pub fn name(self) -> &'static str {
        match self {
            View::Session => "session",
            View::Window => "window",
            View::Ema => "ema",
        }
    }

    /// The view's place in [`View::ALL`] (0, 1, 2), e.g. the row of [`Scores::heads`].
    pub fn index(self) -> usize {
        match self {
            View::Session => 0,
            View::Window => 1,
            View::Ema => 2,
        }
    }
}

/// The labels of one head of your own, in score order: what outputs need to name its scores
/// ([`crate::head::HeadSet::labels`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeadLabels {
    /// The head's name.
    pub name: String,
    /// Its labels, in score order.
    pub labels: Vec<String>,
}

/// Tag scores in manifest tag order for the three views, plus bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Seconds of audio consumed (at the input rate) when these scores were made.
    pub t: f64,
    /// Number of valid entries in each score array.
    pub n_tags: usize,
    /// Scores of the session mean, each in 0..1; only the first `n_tags` are valid.
    pub session: [f32; MAX_TAGS],
    /// Scores of the sliding-window mean, each in 0..1; only the first `n_tags` are valid.
    pub window: [f32; MAX_TAGS],
    /// Scores of the exponential moving average, each in 0..1; only the first `n_tags` are valid.
    pub ema: [f32; MAX_TAGS],
    /// Frames dropped by the audio side so far.
    pub dropped: u64,
    /// Segments analysed so far, summed over scales.
    pub segments: u64,
    /// Monotonic update counter (0 = nothing published yet).
    pub seq: u64,
    /// True when the input is (digitally) silent and the scores are being held.
    pub silent: bool,
    /// True when some scale's aggregate holds a segment made by looping a clip shorter than
    /// that scale's segment (a one-shot tagged at the end of its stream).
    pub looped: bool,
    /// Number of valid entries in each row of `heads`: the labels of all heads together.
    pub n_head: usize,
    /// The scores of heads of your own, one row per view (in [`View::ALL`] order), each head's
    /// labels after the previous head's; only the first `n_head` are valid. Made from the same
    /// aggregate as the tags, at the same moment.
    pub heads: [[f32; MAX_HEAD_LABELS]; 3],
}

impl Default for Scores {
    fn default() -> Self {
        Scores {
            t: 0.0,
            n_tags: 0,
            session: [0.0; MAX_TAGS],
            window: [0.0; MAX_TAGS],
            ema: [0.0; MAX_TAGS],
            dropped: 0,
            segments: 0,
            seq: 0,
            silent: false,
            looped: false,
            n_head: 0,
            heads: [[0.0; MAX_HEAD_LABELS]; 3],
        }
    }
}

impl Scores {
    /// The `n_tags` valid scores of one view, in manifest tag order.
    pub fn view(&self, v: View) -> &[f32] {
        match v {
            View::Session => &self.session[..self.n_tags],
            View::Window => &self.window[..self.n_tags],
            View::Ema => &self.ema[..self.n_tags],
        }
    }

    /// The `n_head` valid head scores of one view: every head's labels, in the order of the
    /// [`crate::head::HeadSet`] the engine runs (empty without heads).
    pub fn head_view(&self, v: View) -> &[f32] {
        &self.heads[v.index()][..self.n_head]
    }

    pub(crate) fn view_mut(&mut self, v: View) -> &mut [f32] {
        let n = self.n_tags;
        match v {
            View::Session => &mut self.session[..n],
            View::Window => &mut self.window[..n],
            View::Ema => &mut self.ema[..n],
        }
    }

    /// Indices of the `k` highest scores of a view, best first.
    pub fn top(&self, v: View, k: usize) -> Vec<usize> {
        top_k(self.view(v), k)
    }
}

/// Each head with its scores, cut out of `scores` laid out head after head (as in
/// [`Scores::heads`]); a head past the end of `scores` gets fewer scores, or none.
///
/// # Examples
/// ```
/// use mstag::scores::{per_head, HeadLabels};
/// let heads = [
///     HeadLabels { name: "a".into(), labels: vec!["x".into(), "y".into()] },
///     HeadLabels { name: "b".into(), labels: vec!["z".into()] },
/// ];
/// let cut: Vec<(&str, &[f32])> =
///     per_head(&heads, &[0.1, 0.9, 0.5]).map(|(h, s)| (h.name.as_str(), s)).collect();
/// assert_eq!(cut, [("a", &[0.1, 0.9][..]), ("b", &[0.5][..])]);
/// ```
pub fn per_head<'a>(
    heads: &'a [HeadLabels],
    scores: &'a [f32],
) -> impl Iterator<Item = (&'a HeadLabels, &'a [f32])> + 'a {
    let mut start = 0;
    heads.iter().map(move |h| {
        let end = (start + h.labels.len()).min(scores.len());
        let mine = &scores[start.min(end)..end];
        start = end;
        (h, mine)
    })
}

/// Indices of the `k` highest values, best first (ties keep manifest order).
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}
