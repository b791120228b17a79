//! mosquitto.conf `user`: a broker started as root runs as this user (and its group) once its listeners are
//! open and its store is open, as Mosquitto does. Started as anyone else, there is nothing to drop.

use std::ffi::CString;
use std::path::Path;

use anyhow::{bail, Context};
use nix::unistd::{self, Gid, Uid, User};
use tracing::info;

/// Switches to `name` if running as root. The store directory is handed to that user first: the engine
/// creates new files in it as it runs.
pub fn drop_to(name: &str, store: Option<&Path>) -> anyhow::Result<()> {
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let Some(user) = User::from_name(name).with_context(|| format!("looking up user {name:?}"))? else {
        bail!("cannot drop privileges to {name:?}: no such user");
    };
    if let Some(dir) = store {
        chown_tree(dir, user.uid, user.gid)
            .with_context(|| format!("handing the store {} to {name}", dir.display()))?;
    }
    let cname = CString::new(name).context("user name")?;
    unistd::initgroups(&cname, user.gid).context("initgroups")?;
    unistd::setgid(user.gid).context("setgid")?;
    unistd::setuid(user.uid).context("setuid")?;
    info!("Running as user {name} (uid {}, gid {}).", user.uid, user.gid);
    Ok(())
}

fn chown_tree(path: &Path, uid: Uid, gid: Gid) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
