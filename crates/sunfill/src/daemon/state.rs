//! The state file: each loadpoint's running session, written atomically (temporary file and
//! rename) when a session starts or ends, once a minute while one runs, and at shutdown.

use super::energy::Saved;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the state file holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Sessions by loadpoint name.
    pub sessions: BTreeMap<String, Saved>,
}

/// Where the state file of a store lives: next to it, `<store>.state.json`.
pub fn path_for(store: &Path) -> PathBuf {
    let mut name = store
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "sunfill".into());
    name.push(".state.json");
    store.with_file_name(name)
}

/// Reads the state file; a missing file is an empty state, a broken one is reported and
/// ignored (sessions then start afresh; the box's counter still has all the energy).
pub fn load(path: &Path) -> State {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(
                "ignoring the state file {}: {e}; running sessions start afresh",
                path.display()
            );
            State::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => {
            tracing::warn!("cannot read the state file {}: {e}", path.display());
            State::default()
        }
    }
}

/// Writes the state file atomically.
pub fn save(path: &Path, state: &State) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_for(&dir.path().join("sunfill.db"));
        assert!(p.ends_with("sunfill.db.state.json"));
        assert_eq!(load(&p), State::default());
        let mut s = State::default();
        s.sessions.insert(
            "garage".into(),
            Saved {
                start_wh: Some(5),
                active: true,
                solar_wh: 1.5,
                end_wh: None,
            },
        );
        save(&p, &s).unwrap();
        assert_eq!(load(&p), s);
        std::fs::write(&p, "{broken").unwrap();
        assert_eq!(load(&p), State::default());
    }
}
