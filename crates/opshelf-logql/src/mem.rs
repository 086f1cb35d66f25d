//! An in-memory [`Source`] (the `.logqltest` harness and tests use it).

use crate::engine::{Direction, LogRow, RowIter, SelectRequest, Source, SourceError};
use crate::labels::{LabelMatcher, Labels};

type Entry = (i64, String, Vec<(String, String)>);

/// Streams held in memory, in first-appearance order.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    streams: Vec<(Labels, Vec<Entry>)>,
}

impl MemorySource {
    /// An empty source.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn stream(&mut self, labels: &Labels) -> &mut Vec<Entry> {
        let idx = if let Some(i) = self.streams.iter().position(|(l, _)| l == labels) {
            i
        } else {
            self.streams.push((labels.clone(), Vec::new()));
            self.streams.len() - 1
        };
        &mut self.streams[idx].1
    }

    /// Appends an entry.
    pub fn push(&mut self, labels: &Labels, ts_ns: i64, line: &str, metadata: &[(String, String)]) {
        self.stream(labels)
            .push((ts_ns, line.to_owned(), metadata.to_vec()));
    }

    /// Appends an entry unless the stream already holds the same timestamp, line and metadata.
    pub fn push_dedup(
        &mut self,
        labels: &Labels,
        ts_ns: i64,
        line: &str,
        metadata: &[(String, String)],
    ) {
        let s = self.stream(labels);
        if !s
            .iter()
            .any(|(t, l, m)| *t == ts_ns && l == line && m == metadata)
        {
            s.push((ts_ns, line.to_owned(), metadata.to_vec()));
        }
    }
}

impl Source for MemorySource {
    fn select(&self, req: &SelectRequest) -> Result<RowIter<'_>, SourceError> {
        let mut rows: Vec<LogRow> = Vec::new();
        for (l, entries) in &self.streams {
            if !req.matchers.iter().all(|m| m.matches_labels(l)) {
                continue;
            }
            for (ts, line, md) in entries {
                if *ts >= req.from_ns && *ts < req.to_ns {
                    rows.push(LogRow {
                        ts_ns: *ts,
                        labels: l.clone(),
                        metadata: md.clone(),
                        line: line.clone(),
                    });
                }
            }
        }
        rows.sort_by_key(|r| r.ts_ns);
        if req.direction == Direction::Backward {
            rows.reverse();
        }
        Ok(Box::new(rows.into_iter().map(Ok)))
    }

    fn series(
        &self,
        matchers: &[Vec<LabelMatcher>],
        _from: i64,
        _to: i64,
    ) -> Result<Vec<Labels>, SourceError> {
        Ok(self
            .streams
            .iter()
            .filter(|(l, _)| {
                matchers
                    .iter()
                    .any(|ms| ms.iter().all(|m| m.matches_labels(l)))
            })
            .map(|(l, _)| l.clone())
            .collect())
    }
}
