//! The parser's state across files: what supervisord's one `ConfigParser` holds after
//! it has read the main file and each included one.
//!
//! As in supervisord (`strict=False`), a section met again, in the same file or
//! another, is the same section: its keys are added, a repeated key replaces the value
//! and keeps its place. `[DEFAULT]` gives every section the keys it does not set. A
//! section belongs to the file that first opened it (errors about the section name
//! that file); each value keeps its own file and line.

use crate::ini::Section;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The key, lowercased.
    pub key: String,
    /// The text, as the lexer joined it.
    pub text: String,
    /// Index of its file in [`Store::files`].
    pub file: usize,
    /// Its line.
    pub line: usize,
}

/// A section across all files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The name, as written.
    pub name: String,
    /// Index of the file that first opened it.
    pub file: usize,
    /// Line of that first header.
    pub line: usize,
    /// Its values, each key once, in the order first set.
    pub values: Vec<Value>,
}

impl Stored {
    fn set(&mut self, value: Value) {
        match self.values.iter_mut().find(|v| v.key == value.key) {
            Some(old) => *old = value,
            None => self.values.push(value),
        }
    }

    fn own(&self, key: &str) -> Option<&Value> {
        self.values.iter().find(|v| v.key == key)
    }
}

/// Every section read so far.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// The files read, the main one first.
    pub files: Vec<PathBuf>,
    sections: Vec<Stored>,
    index: HashMap<String, usize>,
    defaults: Vec<Value>,
    /// Each header that opened a section again: the section's index, the file and
    /// the line of that header.
    pub reopened: Vec<(usize, usize, usize)>,
}

/// The section name that holds defaults for all others.
const DEFAULT: &str = "DEFAULT";

impl Store {
    /// Adds one file's sections.
    pub fn add(&mut self, file: &Path, sections: Vec<Section>) {
        let id = self.files.len();
        self.files.push(file.to_path_buf());
        for section in sections {
            self.add_section(id, section);
        }
    }

    fn add_section(&mut self, file: usize, section: Section) {
        let values = section.entries.into_iter().map(|e| Value {
            key: e.key,
            text: e.value,
            file,
            line: e.line,
        });
        if section.name == DEFAULT {
            for value in values {
                set_in(&mut self.defaults, value);
            }
            return;
        }
        if let Some(&first) = self.index.get(&section.name) {
            self.reopened.push((first, file, section.line));
        }
        let at = *self.index.entry(section.name.clone()).or_insert_with(|| {
            self.sections.push(Stored {
                name: section.name,
                file,
                line: section.line,
                values: Vec::new(),
            });
            self.sections.len() - 1
        });
        for value in values {
            self.sections[at].set(value);
        }
    }

    /// The sections, `[DEFAULT]` aside, in the order first opened.
    pub fn sections(&self) -> &[Stored] {
        &self.sections
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Stored> {
        self.index.get(name).map(|&i| &self.sections[i])
    }

    /// The value of `key` in `section`, or in `[DEFAULT]`.
    pub fn get<'a>(&'a self, section: &'a Stored, key: &str) -> Option<&'a Value> {
        section
            .own(key)
            .or_else(|| self.defaults.iter().find(|v| v.key == key))
    }

    /// The path of file `id`.
    pub fn file(&self, id: usize) -> &Path {
        self.files.get(id).map_or(Path::new(""), PathBuf::as_path)
    }

    /// supervisord's `expand_here`: in every section, every value (a default
    /// included, which then becomes the section's own) that holds the literal text
    /// `%(here)s` gets `here` in its place.
    pub fn expand_here(&mut self, here: &str) {
        const HERE: &str = "%(here)s";
        for section in &mut self.sections {
            for value in &mut section.values {
                value.text = value.text.replace(HERE, here);
            }
            let inherited = self.defaults.iter().filter(|d| d.text.contains(HERE));
            let inherited: Vec<Value> = inherited
                .filter(|d| section.own(&d.key).is_none())
                .cloned()
                .collect();
            for mut value in inherited {
                value.text = value.text.replace(HERE, here);
                section.values.push(value);
            }
        }
    }
}

fn set_in(values: &mut Vec<Value>, value: Value) {
    match values.iter_mut().find(|v| v.key == value.key) {
        Some(old) => *old = value,
        None => values.push(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::config::lexer;

    fn store(files: &[(&str, &str)]) -> Store {
        let mut s = Store::default();
        for (name, text) in files {
            s.add(
                Path::new(name),
                lexer::parse(text, Path::new(name)).unwrap(),
            );
        }
        s
    }

    fn text<'a>(s: &'a Store, section: &str, key: &str) -> Option<&'a str> {
        let sect = s.section(section)?;
        s.get(sect, key).map(|v| v.text.as_str())
    }

    #[test]
    fn a_section_met_again_is_merged_last_key_winning() {
        let s = store(&[
            ("a.conf", "[p]\nk=1\nj=x\n[p]\nk=2\n"),
            ("b.conf", "[p]\nk=3\nm=4\n"),
        ]);
        assert_eq!(s.sections().len(), 1);
        let p = s.section("p").unwrap();
        assert_eq!((p.file, p.line), (0, 1));
        let keys: Vec<_> = p
            .values
            .iter()
            .map(|v| (v.key.as_str(), v.file, v.line))
            .collect();
        assert_eq!(keys, [("k", 1, 2), ("j", 0, 3), ("m", 1, 3)]);
        assert_eq!(text(&s, "p", "k"), Some("3"));
        assert_eq!(s.reopened, [(0, 0, 4), (0, 1, 1)]);
    }

    #[test]
    fn defaults_fill_what_a_section_does_not_set() {
        let s = store(&[("a.conf", "[DEFAULT]\nk=d\nl=d\n[p]\nk=own\n")]);
        assert_eq!(text(&s, "p", "k"), Some("own"));
        assert_eq!(text(&s, "p", "l"), Some("d"));
        assert!(s.section("DEFAULT").is_none());
    }

    #[test]
    fn here_is_replaced_literally_in_what_holds_it() {
        let mut s = store(&[(
            "/etc/a.conf",
            "[DEFAULT]\nd=%(here)s/d\n[p]\nk=%(here)s/x %(here)s\nl=%%(here)s\n",
        )]);
        s.expand_here("/etc");
        assert_eq!(text(&s, "p", "k"), Some("/etc/x /etc"));
        // Literal replacement, as supervisord does: `%%(here)s` is hit too.
        assert_eq!(text(&s, "p", "l"), Some("%/etc"));
        assert_eq!(text(&s, "p", "d"), Some("/etc/d"));
        s.add(
            Path::new("/srv/b.conf"),
            lexer::parse("[q]\nk=%(here)s\n", Path::new("b")).unwrap(),
        );
        s.expand_here("/srv");
        assert_eq!(text(&s, "q", "k"), Some("/srv"));
        assert_eq!(text(&s, "q", "d"), Some("/srv/d"));
        assert_eq!(text(&s, "p", "k"), Some("/etc/x /etc"));
    }
}
