//! What a validator last signed, kept on disk so a restart never double-signs.
//!
//! Rules:
//! - The record holds the highest (height, view) the validator signed in, which block it
//!   announced, prepared and committed there, and the highest prepared certificate it holds at that
//!   height (its lock, which a VIEWCHANGE must report even after a restart).
//! - The core emits [`super::Output::Persist`] before the message carrying the new signature;
//!   the shell makes it durable ([`save`]) before sending anything after it.
//! - A signature is permitted only at a position above the record, or at the recorded position for
//!   the very block already signed there.
//! - The file is checksummed and replaced atomically. A damaged file stops the node with an error
//!   rather than being treated as empty, which could let it sign twice.

use std::{fs, io::Write, path::Path};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Hash, Height};

use super::message::{Proposal, QuorumCert};

/// The signing slots of one (height, view).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// ANNOUNCE / NEWVIEW proposal (leaders only).
    Announce,
    /// PREPARE.
    Prepare,
    /// COMMIT.
    Commit,
}

/// The record (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct SignRecord {
    /// Height of the last signature.
    pub height: Height,
    /// View of the last signature (for a VIEWCHANGE, the view it moves to).
    pub view: u64,
    /// Block announced at (height, view).
    pub announce: Option<Hash>,
    /// Block prepared at (height, view).
    pub prepare: Option<Hash>,
    /// Block committed at (height, view).
    pub commit: Option<Hash>,
    /// Highest prepared certificate held at `height`.
    pub prepared: Option<QuorumCert>,
    /// The blocks of `prepared` and `prepare` (so a restarted node can still re-propose or hand
    /// them out).
    pub blocks: Vec<Proposal>,
}

impl SignRecord {
    fn slot(&self, slot: Slot) -> Option<Hash> {
        match slot {
            Slot::Announce => self.announce,
            Slot::Prepare => self.prepare,
            Slot::Commit => self.commit,
        }
    }

    /// May `hash` be signed in `slot` at (height, view)?
    pub fn permits(&self, height: Height, view: u64, slot: Slot, hash: &Hash) -> bool {
        match (height, view).cmp(&(self.height, self.view)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => self.slot(slot).is_none_or(|h| h == *hash),
            std::cmp::Ordering::Less => false,
        }
    }

    /// May a VIEWCHANGE to `new_view` be signed at `height`? (Only past every recorded
    /// signature, or again for the same view change.)
    pub fn permits_view_change(&self, height: Height, new_view: u64) -> bool {
        match (height, new_view).cmp(&(self.height, self.view)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => self.announce.is_none() && self.prepare.is_none() && self.commit.is_none(),
            std::cmp::Ordering::Less => false,
        }
    }

    /// Moves the record to (height, view), clearing the slots of an older position (and the lock
    /// of an older height).
    pub fn advance(&mut self, height: Height, view: u64) {
        if (height, view) > (self.height, self.view) {
            if height != self.height {
                self.prepared = None;
                self.blocks.clear();
            }
            self.height = height;
            self.view = view;
            self.announce = None;
            self.prepare = None;
            self.commit = None;
        }
    }

    /// Records a signature (the caller checked [`Self::permits`]).
    pub fn sign(&mut self, height: Height, view: u64, slot: Slot, hash: Hash) {
        self.advance(height, view);
        match slot {
            Slot::Announce => self.announce = Some(hash),
            Slot::Prepare => self.prepare = Some(hash),
            Slot::Commit => self.commit = Some(hash),
        }
    }
}

const MAGIC: &[u8; 8] = b"TUTTISGN";
const VERSION: u8 = 1;
/// Bounds the file (two blocks and a certificate).
const MAX_LEN: usize = 64 << 20;

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file system failed.
    #[error("signing record {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is damaged.
    #[error(
        "signing record {path} is damaged ({reason}); refusing to start, since signing without it could \
         double-sign. Restore it, or remove it only if this key has not signed since the file was written"
    )]
    Damaged {
        /// The file.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The file bytes of a record: magic, version, length, SCALE, `blake3` of everything before.
pub fn encode(record: &SignRecord) -> Vec<u8> {
    let body = record.encode();
    let mut out = Vec::with_capacity(body.len() + 45);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Decodes [`encode`]'s bytes, checking everything.
pub fn decode(bytes: &[u8]) -> Result<SignRecord, &'static str> {
    if bytes.len() < 13 + 32 || &bytes[..8] != MAGIC {
        return Err("not a signing record, or truncated");
    }
    if bytes[8] != VERSION {
        return Err("unknown version");
    }
    let len = u32::from_le_bytes(bytes[9..13].try_into().expect("4 bytes")) as usize;
    if len > MAX_LEN || bytes.len() != 13 + len + 32 {
        return Err("wrong length (truncated?)");
    }
    let (data, sum) = bytes.split_at(13 + len);
    if blake3::hash(data).as_bytes() != sum {
        return Err("checksum mismatch");
    }
    let mut body = &data[13..];
    let record = SignRecord::decode(&mut body).map_err(|_| "undecodable")?;
    if !body.is_empty() {
        return Err("trailing bytes");
    }
    Ok(record)
}

/// Reads the record at `path`; `None` if there is no file (a validator that never signed).
pub fn load(path: &Path) -> Result<Option<SignRecord>, RecordError> {
    let p = path.display().to_string();
    match fs::read(path) {
        Ok(bytes) => decode(&bytes)
            .map(Some)
            .map_err(|reason| RecordError::Damaged { path: p, reason }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RecordError::Io { path: p, source }),
    }
}

/// Writes the record durably: a synced temporary file renamed over `path`, then the directory
/// synced.
pub fn save(path: &Path, record: &SignRecord) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(&encode(record)).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_only_new_positions_or_the_same_block() {
        let mut r = SignRecord::default();
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        assert!(r.permits(5, 0, Slot::Prepare, &a));
        r.sign(5, 0, Slot::Prepare, a);
        assert!(r.permits(5, 0, Slot::Prepare, &a), "the same vote again");
        assert!(!r.permits(5, 0, Slot::Prepare, &b), "a second block at one position");
        assert!(r.permits(5, 0, Slot::Commit, &b));
        assert!(!r.permits(4, 9, Slot::Prepare, &b), "an older height");
        assert!(!r.permits_view_change(5, 0));
        assert!(r.permits_view_change(5, 1));
        r.advance(5, 1);
        assert!(r.permits_view_change(5, 1), "the same view change again");
        assert!(!r.permits(5, 0, Slot::Commit, &a), "back to a left view");
        r.sign(5, 1, Slot::Prepare, b);
        assert!(!r.permits_view_change(5, 1));
        r.prepared = Some(QuorumCert {
            height: 5,
            hash: b,
            cert: tutti_primitives::CommitCertificate {
                view: 1,
                signature: [0; 96],
                signers: vec![7],
            },
        });
        r.advance(5, 2);
        assert!(r.prepared.is_some(), "the lock survives a view change");
        r.advance(6, 0);
        assert!(r.prepared.is_none(), "and is dropped at the next height");
    }

    #[test]
    fn the_file_round_trips_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed");
        assert!(load(&path).unwrap().is_none());
        let mut r = SignRecord::default();
        r.sign(9, 2, Slot::Commit, Hash([3; 32]));
        save(&path, &r).unwrap();
        assert_eq!(load(&path).unwrap(), Some(r.clone()));
        let good = fs::read(&path).unwrap();
        for cut in [0, 5, 13, good.len() - 1] {
            fs::write(&path, &good[..cut]).unwrap();
            assert!(matches!(load(&path), Err(RecordError::Damaged { .. })), "cut at {cut}");
        }
        let mut flipped = good.clone();
        flipped[20] ^= 1;
        fs::write(&path, &flipped).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("checksum") && err.contains("double-sign"), "{err}");
    }
}
