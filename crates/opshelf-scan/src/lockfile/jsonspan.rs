//! Line spans of JSON objects and arrays, for Trivy's `Locations` (a package's object from the
//! line of its `{` to the line of its `}`). serde_json keeps no positions, so this is a small
//! scanner over text that serde_json has already accepted; it never panics on any input.

use std::collections::HashMap;

use super::Location;

/// The span of every object and array in a document, keyed by its path from the root (object
/// keys, array indexes as decimal strings).
#[derive(Debug, Default)]
pub(super) struct Spans {
    map: HashMap<Vec<String>, Location>,
}

enum Frame {
    Object {
        path: Vec<String>,
        start: usize,
        expect_key: bool,
        key: Option<String>,
    },
    Array {
        path: Vec<String>,
        start: usize,
        index: usize,
    },
}

impl Frame {
    fn path(&self) -> &[String] {
        match self {
            Frame::Object { path, .. } | Frame::Array { path, .. } => path,
        }
    }
}

impl Spans {
    pub(super) fn of(content: &str) -> Spans {
        let bytes = content.as_bytes();
        let mut map = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut line = 1;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => line += 1,
                b'"' => {
                    let begin = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        if bytes[i] == b'\\' {
                            i += 1;
                        } else if bytes[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    let end = (i + 1).min(bytes.len());
                    if let Some(Frame::Object {
                        expect_key: expect_key @ true,
                        key,
                        ..
                    }) = stack.last_mut()
                    {
                        let raw = content.get(begin..end).unwrap_or("");
                        *key = Some(
                            serde_json::from_str::<String>(raw)
                                .unwrap_or_else(|_| raw.trim_matches('"').to_string()),
                        );
                        *expect_key = false;
                    }
                }
                open @ (b'{' | b'[') => {
                    let mut path = stack.last().map(|f| f.path().to_vec()).unwrap_or_default();
                    match stack.last() {
                        Some(Frame::Object { key, .. }) => {
                            path.push(key.clone().unwrap_or_default());
                        }
                        Some(Frame::Array { index, .. }) => path.push(index.to_string()),
                        None => {}
                    }
                    stack.push(if open == b'{' {
                        Frame::Object {
                            path,
                            start: line,
                            expect_key: true,
                            key: None,
                        }
                    } else {
                        Frame::Array {
                            path,
                            start: line,
                            index: 0,
                        }
                    });
                }
                b'}' | b']' => {
                    if let Some(
                        Frame::Object { path, start, .. } | Frame::Array { path, start, .. },
                    ) = stack.pop()
                    {
                        map.insert(
                            path,
                            Location {
                                start_line: start,
                                end_line: line,
                            },
                        );
                    }
                }
                b',' => match stack.last_mut() {
                    Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                    Some(Frame::Array { index, .. }) => *index += 1,
                    None => {}
                },
                _ => {}
            }
            i += 1;
        }
        Spans { map }
    }

    /// The span of the object or array at `path`.
    pub(super) fn get(&self, path: &[&str]) -> Option<Location> {
        let key: Vec<String> = path.iter().map(|s| (*s).to_string()).collect();
        self.map.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_array_elements_have_their_lines() {
        let doc = "{\n  \"a\": {\n    \"x\": [1, {\"y\": 2}]\n  },\n  \"b\\\"q\": [\n    {},\n    {\n    }\n  ]\n}\n";
        let s = Spans::of(doc);
        let at = |start_line, end_line| {
            Some(Location {
                start_line,
                end_line,
            })
        };
        assert_eq!(s.get(&[]), at(1, 10));
        assert_eq!(s.get(&["a"]), at(2, 4));
        assert_eq!(s.get(&["a", "x"]), at(3, 3));
        assert_eq!(s.get(&["a", "x", "1"]), at(3, 3));
        assert_eq!(s.get(&["b\"q", "0"]), at(6, 6));
        assert_eq!(s.get(&["b\"q", "1"]), at(7, 8));
        assert_eq!(s.get(&["c"]), None);
    }

    #[test]
    fn strings_with_brackets_do_not_open_anything() {
        let s = Spans::of("{\"k\": \"{[\\\"]}\", \"o\": {}}");
        assert_eq!(s.get(&["o"]).map(|l| l.start_line), Some(1));
        assert_eq!(s.get(&["k"]), None);
    }

    #[test]
    fn never_panics_on_garbage() {
        for doc in [
            "",
            "\"",
            "\\",
            "}}]]",
            "{\"a\":",
            "[[[",
            "{\"\u{e9}\\",
            "\"\\u12",
        ] {
            let _ = Spans::of(doc);
        }
    }
}
