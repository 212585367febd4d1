//! The fetcher's download cache: a URI fetched with `cache: true` is downloaded once per
//! user and copied from the cache into later sandboxes. Bounded by `--fetcher_cache_size`;
//! the least recently used downloads are dropped first. Like Mesos's, the cache starts empty
//! each time the agent starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Downloads kept under one directory, with their sizes and last use.
#[derive(Debug)]
pub struct FetcherCache {
    dir: PathBuf,
    capacity: u64,
    index: Mutex<Index>,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, Entry>,
    used: u64,
    clock: u64,
    next_file: u64,
}

#[derive(Debug)]
struct Entry {
    file: PathBuf,
    size: u64,
    last_used: u64,
}

impl FetcherCache {
    /// A cache in `dir` (emptied now) holding at most `capacity` bytes.
    pub fn new(dir: &Path, capacity: u64) -> std::io::Result<FetcherCache> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(FetcherCache {
            dir: dir.to_path_buf(),
            capacity,
            index: Mutex::new(Index::default()),
        })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(user: &str, uri: &str) -> String {
        format!("{user}\n{uri}")
    }

    /// The cached download of `uri` for `user`, if there is one (it counts as a use).
    pub fn lookup(&self, user: &str, uri: &str) -> Option<PathBuf> {
        let mut index = self.index();
        index.clock += 1;
        let clock = index.clock;
        let entry = index.entries.get_mut(&Self::key(user, uri))?;
        entry.last_used = clock;
        Some(entry.file.clone())
    }

    /// Keeps a copy of `downloaded` as the cached `uri` for `user`, dropping the least
    /// recently used downloads to make room. A file larger than the whole cache is not kept.
    pub fn insert(&self, user: &str, uri: &str, downloaded: &Path) -> std::io::Result<()> {
        let size = std::fs::metadata(downloaded)?.len();
        if size > self.capacity {
            return Ok(());
        }
        let file = {
            let mut index = self.index();
            index.next_file += 1;
            self.dir.join(format!("{}.download", index.next_file))
        };
        let partial = file.with_extension("partial");
        std::fs::copy(downloaded, &partial)?;
        std::fs::rename(&partial, &file)?;
        let mut index = self.index();
        let key = Self::key(user, uri);
        if let Some(old) = index.entries.remove(&key) {
            index.used -= old.size;
            let _ = std::fs::remove_file(&old.file);
        }
        while index.used + size > self.capacity {
            let Some(oldest) = index
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = index.entries.remove(&oldest) {
                index.used -= e.size;
                let _ = std::fs::remove_file(&e.file);
            }
        }
        index.clock += 1;
        let last_used = index.clock;
        index.used += size;
        index.entries.insert(
            key,
            Entry {
                file,
                size,
                last_used,
            },
        );
        Ok(())
    }

    /// Bytes held.
    pub fn used(&self) -> u64 {
        self.index().used
    }
}

/// Parses Mesos's byte sizes: `2GB`, `512MB`, `64KB`, `100B` or a bare number of bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size like 2GB"))?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        other => return Err(format!("unknown size unit '{other}' in '{text}'")),
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((number * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_mesos_writes_them() {
        assert_eq!(parse_bytes("2GB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("5XB").is_err());
    }

    #[test]
    fn least_recently_used_downloads_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FetcherCache::new(&dir.path().join("cache"), 10).unwrap();
        let file = |name: &str, size: usize| {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![b'x'; size]).unwrap();
            p
        };
        cache.insert("u", "http://a", &file("a", 4)).unwrap();
        cache.insert("u", "http://b", &file("b", 4)).unwrap();
        assert!(cache.lookup("u", "http://a").is_some());
        cache.insert("u", "http://c", &file("c", 4)).unwrap();
        assert!(
            cache.lookup("u", "http://b").is_none(),
            "b was least recently used"
        );
        assert!(cache.lookup("u", "http://a").is_some());
        assert!(cache.lookup("u", "http://c").is_some());
        assert!(cache.lookup("other", "http://a").is_none(), "per user");
        assert_eq!(cache.used(), 8);
        cache.insert("u", "http://huge", &file("huge", 11)).unwrap();
        assert!(cache.lookup("u", "http://huge").is_none());
    }
}
