//! Finds the line of a value in JSON text by its path (`fields[2].property`), so that semantic
//! problems found after parsing can still name the line of the imported file.

use std::collections::BTreeMap;

/// The 1-based line where the value at `path` starts; for a path that is not in the text, the
/// line of its nearest existing parent. `None` if the text is not JSON.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    Lines::new(text)?.line_of(path)
}

/// The lines of every path of one document, for many look-ups.
pub struct Lines(BTreeMap<String, usize>);

impl Lines {
    pub fn new(text: &str) -> Option<Lines> {
        index(text).map(Lines)
    }

    /// See [`line_of`].
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let index = &self.0;
        let mut p = path.to_owned();
        loop {
            if let Some(line) = index.get(&p) {
                return Some(*line);
            }
            match p.rfind(['.', '[']) {
                Some(cut) => p.truncate(cut),
                None => return index.get("").copied(),
            }
        }
    }
}

/// Every path in the document → the line its value starts on.
fn index(text: &str) -> Option<BTreeMap<String, usize>> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        out: BTreeMap::new(),
    };
    scanner.value(String::new())?;
    Some(scanner.out)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    out: BTreeMap<String, usize>,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn value(&mut self, path: String) -> Option<()> {
        self.skip_ws();
        self.out.insert(path.clone(), self.line);
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        b'}' => {
                            self.pos += 1;
                            return Some(());
                        }
                        b',' => self.pos += 1,
                        b'"' => {
                            let key = self.string()?;
                            self.skip_ws();
                            if self.peek()? != b':' {
                                return None;
                            }
                            self.pos += 1;
                            let child = if path.is_empty() {
                                key
                            } else {
                                format!("{path}.{key}")
                            };
                            self.value(child)?;
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut i = 0;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        b',' => self.pos += 1,
                        _ => {
                            self.value(format!("{path}[{i}]"))?;
                            i += 1;
                        }
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
                Some(())
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let start = self.pos + 1;
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    let raw = std::str::from_utf8(&self.bytes[start..self.pos]).ok()?;
                    self.pos += 1;
                    return Some(
                        serde_json::from_str::<String>(&format!("\"{raw}\""))
                            .unwrap_or_else(|_| raw.to_owned()),
                    );
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_nested_paths() {
        let text = "{\n  \"version\": 1,\n  \"fields\": [\n    {\n      \"property\": \"a\"\n    },\n    {\n      \"property\": \"b\",\n      \"inbound\": [{\"op\": \"trim\"}]\n    }\n  ]\n}\n";
        assert_eq!(line_of(text, "version"), Some(2));
        assert_eq!(line_of(text, "fields"), Some(3));
        assert_eq!(line_of(text, "fields[0].property"), Some(5));
        assert_eq!(line_of(text, "fields[1].property"), Some(8));
        assert_eq!(line_of(text, "fields[1].inbound[0]"), Some(9));
        // Missing: the nearest parent.
        assert_eq!(line_of(text, "fields[1].column"), Some(7));
        assert_eq!(line_of(text, "nothing"), Some(1));
        assert_eq!(line_of("not json {", "x"), None);
    }
}
