//! Synonym groups among the tag names, so that top-N views do not spend slots on one idea.
//!
//! MagnaTagATune's 50 tags hold several names for one thing (`no vocal`, `no vocals`,
//! `no voice`; `classical`, `classic`; ...). A view that shows the top N tags groups them by
//! default: a group shows under its first member's name that is present in the manifest
//! (e.g. `no vocals`), with the highest score of its members. Machine outputs (JSON, CSV,
//! OSC) keep every tag; this module is only for views that people read.
//!
//! # Examples
//! ```
//! use mstag::synonyms::SynonymGroups;
//! let tags: Vec<String> = ["no vocal", "rock", "no vocals", "classic", "classical"]
//!     .iter().map(|s| s.to_string()).collect();
//! let groups = SynonymGroups::new(&tags);
//! let top = groups.top(&[0.2, 0.5, 0.7, 0.1, 0.3], 2);
//! assert_eq!(top, vec![("no vocals".to_string(), 0.7), ("rock".to_string(), 0.5)]);
//! // Ungrouped: every tag is its own entry.
//! let all = SynonymGroups::ungrouped(&tags);
//! assert_eq!(all.top(&[0.2, 0.5, 0.7, 0.1, 0.3], 2)[1].0, "rock");
//! ```

/// The synonym groups, each listed under the name it is shown as (its first member).
/// Names missing from a manifest are simply skipped.
pub const GROUPS: &[&[&str]] = &[
    &["no vocals", "no vocal", "no voice"],
    &["vocals", "vocal", "voice", "singing"],
    &["female vocal", "female", "woman", "female voice"],
    &["male vocal", "male", "man", "male voice"],
    &["classical", "classic"],
    &["choir", "choral"],
    &["beats", "beat"],
];

/// One displayed entry: a name and the tag indices (manifest order) it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The name shown for the group.
    pub name: String,
    /// Indices into the manifest's tag list; the first is the shown name's.
    pub members: Vec<usize>,
}

/// A partition of a manifest's tags into displayed entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynonymGroups {
    groups: Vec<Group>,
}

impl SynonymGroups {
    /// Groups `tags` by [`GROUPS`]; every tag outside a group is an entry of its own. Entries
    /// keep the manifest order of their first member.
    pub fn new(tags: &[String]) -> Self {
        let mut group_of: Vec<Option<usize>> = vec![None; tags.len()];
        let mut groups: Vec<Group> = Vec::new();
        for (i, tag) in tags.iter().enumerate() {
            if group_of[i].is_some() {
                continue;
            }
            let family = GROUPS.iter().find(|g| g.contains(&tag.as_str()));
            let members: Vec<usize> = match family {
                Some(family) => {
                    // Members in the order the family lists them, so the shown name is stable.
                    let mut m: Vec<usize> = family
                        .iter()
                        .filter_map(|name| tags.iter().position(|t| t == name))
                        .collect();
                    m.dedup();
                    m
                }
                None => vec![i],
            };
            let name = tags[members[0]].clone();
            for &m in &members {
                group_of[m] = Some(groups.len());
            }
            groups.push(Group { name, members });
        }
        SynonymGroups { groups }
    }

    /// Every tag an entry of its own (the views' "show all" setting).
    pub fn ungrouped(tags: &[String]) -> Self {
        SynonymGroups {
            groups: tags
                .iter()
                .enumerate()
                .map(|(i, t)| Group {
                    name: t.clone(),
                    members: vec![i],
                })
                .collect(),
        }
    }

    /// [`SynonymGroups::new`] or [`SynonymGroups::ungrouped`].
    pub fn with(tags: &[String], grouped: bool) -> Self {
        if grouped {
            Self::new(tags)
        } else {
            Self::ungrouped(tags)
        }
    }

    /// The entries, in manifest order of their first member.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Score of each entry: the highest score among its members (`scores` in manifest order;
    /// missing or non-finite scores count as 0).
    pub fn scores(&self, scores: &[f32]) -> Vec<f32> {
        self.groups
            .iter()
            .map(|g| {
                g.members
                    .iter()
                    .map(|&i| {
                        scores
                            .get(i)
                            .copied()
                            .filter(|s| s.is_finite())
                            .unwrap_or(0.0)
                    })
                    .fold(0.0f32, f32::max)
            })
            .collect()
    }

    /// The `n` highest entries, best first (ties keep manifest order).
    pub fn top(&self, scores: &[f32], n: usize) -> Vec<(String, f32)> {
        let s = self.scores(scores);
        let mut order: Vec<usize> = (0..s.len()).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        order
            .into_iter()
            .take(n)
            .map(|i| (self.groups[i].name.clone(), s[i]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mtt() -> Vec<String> {
        // The 50 MagnaTagATune tags in the shipped manifest's order.
        "guitar,classical,slow,techno,strings,drums,electronic,rock,fast,piano,ambient,beat,violin,vocal,synth,female,indian,opera,male,singing,vocals,no vocals,harpsichord,loud,quiet,flute,woman,male vocal,no vocal,pop,soft,sitar,solo,man,classic,choir,voice,new age,dance,male voice,female vocal,beats,harp,cello,no voice,weird,country,metal,female voice,choral"
            .split(',')
            .map(String::from)
            .collect()
    }

    #[test]
    fn every_tag_belongs_to_exactly_one_entry() {
        let tags = mtt();
        let g = SynonymGroups::new(&tags);
        let mut seen = vec![0; tags.len()];
        for e in g.groups() {
            for &m in &e.members {
                seen[m] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
        // 50 tags, 7 groups holding 21 names: 50 - 21 + 7 entries.
        assert_eq!(g.len(), 36);
        let no_vocals = g.groups().iter().find(|e| e.name == "no vocals").unwrap();
        let names: Vec<&str> = no_vocals
            .members
            .iter()
            .map(|&i| tags[i].as_str())
            .collect();
        assert_eq!(names, ["no vocals", "no vocal", "no voice"]);
    }

    #[test]
    fn top_takes_the_best_member_and_never_repeats_a_group() {
        let tags = mtt();
        let mut s = vec![0.0f32; tags.len()];
        let idx = |n: &str| tags.iter().position(|t| t == n).unwrap();
        s[idx("no vocal")] = 0.9;
        s[idx("no vocals")] = 0.8;
        s[idx("no voice")] = 0.85;
        s[idx("classic")] = 0.6;
        s[idx("rock")] = 0.7;
        let top = SynonymGroups::new(&tags).top(&s, 3);
        assert_eq!(
            top,
            vec![
                ("no vocals".to_string(), 0.9),
                ("rock".to_string(), 0.7),
                ("classical".to_string(), 0.6)
            ]
        );
        let all = SynonymGroups::ungrouped(&tags).top(&s, 3);
        assert_eq!(
            all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["no vocal", "no voice", "no vocals"]
        );
    }

    #[test]
    fn unknown_manifests_and_bad_scores_are_handled() {
        let tags: Vec<String> = vec!["x".into(), "voice".into()];
        let g = SynonymGroups::new(&tags);
        assert_eq!(g.len(), 2);
        assert_eq!(g.groups()[1].name, "voice");
        assert_eq!(g.scores(&[f32::NAN]), vec![0.0, 0.0]);
    }
}
