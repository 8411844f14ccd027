//! Files only the service's own user may read: the database (people's movements), the
//! logs (phone numbers, client addresses) and the keys. Whatever the process umask
//! allows, they are created with mode 0600 and their directories with 0700, so another
//! account on the machine cannot read them. Existing files and directories keep the
//! mode they have (an operator may have chosen it).

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Mode of files holding personal data or secrets.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of the directories created for them.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each new one with mode 0700.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Open options whose `create` makes the file with mode 0600 (add `append`, `write`, …).
/// Also usable with tokio: `tokio::fs::OpenOptions::from(private::open_options())`.
pub fn open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates an empty file (mode 0600) at `path` unless one exists, so a library that
/// creates the file itself with its own default mode (SQLite: 0644) finds it there.
pub fn create_file(path: &Path) -> io::Result<()> {
    match open_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_directories_are_the_owners_only_and_existing_files_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("x.log");
        std::fs::write(dir.join("kept.log"), "x").unwrap();
        create_file(&file).unwrap();
        create_file(&dir.join("kept.log")).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(dir.join("kept.log")).unwrap(), "x");
        let appended = open_options()
            .append(true)
            .create(true)
            .open(dir.join("y.log"))
            .unwrap();
        drop(appended);
        assert_eq!(mode(&dir.join("y.log")), 0o600);
    }
}
