//! Saved mappings: one JSON file per mapping, in a folder per connection
//! (`<root>/<connection id>/<slug>.json`), in the file format of [`Mapping::to_json_pretty`].

use crate::model::Mapping;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What the mapping list shows without opening the editor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MappingEntry {
    pub name: String,
    /// File name inside the connection's folder; the mapping's id.
    pub file: String,
    pub object: String,
    pub table: String,
    pub fields: u32,
    pub to_hubspot: bool,
}

pub struct MappingLibrary {
    root: PathBuf,
}

/// A file name for a mapping name: lowercase letters, digits and dashes.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

impl MappingLibrary {
    pub fn new(root: impl Into<PathBuf>) -> MappingLibrary {
        MappingLibrary { root: root.into() }
    }

    fn folder(&self, connection_id: &str) -> PathBuf {
        self.root.join(slug(connection_id))
    }

    fn path(&self, connection_id: &str, file: &str) -> Result<PathBuf> {
        let stem = slug(file.trim_end_matches(".json"));
        if stem.is_empty() {
            return Err(Error::File {
                action: "find",
                path: file.to_owned(),
                reason: "a mapping needs a name with at least one letter or digit".to_owned(),
            });
        }
        Ok(self.folder(connection_id).join(format!("{stem}.json")))
    }

    /// Saves `mapping` under its name; returns its entry.
    pub fn save(&self, connection_id: &str, mapping: &Mapping) -> Result<MappingEntry> {
        let path = self.path(connection_id, &mapping.name)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::File {
                action: "create the folder for",
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        mapping.write_file(&path)?;
        Ok(entry(&path, mapping))
    }

    pub fn load(&self, connection_id: &str, file: &str) -> Result<Mapping> {
        Mapping::read_file(&self.path(connection_id, file)?)
    }

    pub fn delete(&self, connection_id: &str, file: &str) -> Result<()> {
        let path = self.path(connection_id, file)?;
        std::fs::remove_file(&path).map_err(|e| Error::File {
            action: "delete",
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Every readable mapping of the connection, by name. Files that no longer parse are left
    /// out of the list (and stay on disk for the admin to fix).
    pub fn list(&self, connection_id: &str) -> Result<Vec<MappingEntry>> {
        let dir = self.folder(connection_id);
        let read = match std::fs::read_dir(&dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::File { action: "list", path: dir.display().to_string(), reason: e.to_string() })
            }
        };
        let mut out: Vec<MappingEntry> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| Mapping::read_file(&p).ok().map(|m| entry(&p, &m)))
            .collect();
        out.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()));
        Ok(out)
    }
}

fn entry(path: &Path, m: &Mapping) -> MappingEntry {
    MappingEntry {
        name: m.name.clone(),
        file: path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        object: m.object.clone(),
        table: m.destination.table().to_owned(),
        fields: m.fields.len() as u32,
        to_hubspot: m.fields.iter().any(|f| f.direction.outbound()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_safe() {
        assert_eq!(slug("Contacts → CRM (prod)"), "contacts-crm-prod");
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
        assert_eq!(slug("  "), "");
    }

    #[test]
    fn save_list_load_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let lib = MappingLibrary::new(dir.path());
        let text = include_str!("../docs/example-mapping.json");
        let mapping = Mapping::from_json_str(text).unwrap();
        let saved = lib.save("conn-1", &mapping).unwrap();
        assert_eq!(saved.name, mapping.name);
        assert_eq!(lib.list("conn-1").unwrap(), vec![saved.clone()]);
        assert!(lib.list("conn-2").unwrap().is_empty());
        assert_eq!(lib.load("conn-1", &saved.file).unwrap(), mapping);
        lib.delete("conn-1", &saved.file).unwrap();
        assert!(lib.list("conn-1").unwrap().is_empty());
        assert!(lib.save("conn-1", &Mapping { name: "!!".into(), ..mapping }).is_err());
    }
}
