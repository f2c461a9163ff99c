//! What a validator last signed, kept on disk so a restart never double-signs.
//!
//! A record belongs to one (shard, epoch): the FBFT core runs per (shard, epoch), and a validator
//! that moves to another shard starts a new record there ([`path`]: one file per pair), so its
//! positions on one shard can never permit or block a signature on another.
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
use tutti_primitives::{Hash, Height, ShardId};

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
    /// The shard this record signs on.
    pub shard: ShardId,
    /// The epoch this record signs in.
    pub epoch: u64,
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
const VERSION: u8 = 2;
/// Version 1 held the same fields without the shard and epoch (always shard 0, epoch 0).
const VERSION_1: u8 = 1;

/// The version-1 body.
#[derive(Decode)]
struct RecordV1 {
    height: Height,
    view: u64,
    announce: Option<Hash>,
    prepare: Option<Hash>,
    commit: Option<Hash>,
    prepared: Option<QuorumCert>,
    blocks: Vec<Proposal>,
}

/// The file of the record for (`shard`, `epoch`) in the directory `dir`.
pub fn path(dir: &Path, shard: ShardId, epoch: u64) -> std::path::PathBuf {
    dir.join(format!("shard-{shard}-epoch-{epoch}.sgn"))
}
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
    /// The file holds the record of another (shard, epoch).
    #[error("signing record {path} is for shard {found_shard} epoch {found_epoch}, not shard {shard} epoch {epoch}")]
    Mismatch {
        /// The file.
        path: String,
        /// The pair asked for.
        shard: ShardId,
        /// The pair asked for.
        epoch: u64,
        /// The pair in the file.
        found_shard: ShardId,
        /// The pair in the file.
        found_epoch: u64,
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
    let version = bytes[8];
    if version != VERSION && version != VERSION_1 {
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
    let record = if version == VERSION_1 {
        let v1 = RecordV1::decode(&mut body).map_err(|_| "undecodable")?;
        SignRecord {
            shard: 0,
            epoch: 0,
            height: v1.height,
            view: v1.view,
            announce: v1.announce,
            prepare: v1.prepare,
            commit: v1.commit,
            prepared: v1.prepared,
            blocks: v1.blocks,
        }
    } else {
        SignRecord::decode(&mut body).map_err(|_| "undecodable")?
    };
    if !body.is_empty() {
        return Err("trailing bytes");
    }
    Ok(record)
}

/// Reads the record of (`shard`, `epoch`) from the directory `dir`; `None` if there is none (a
/// validator that never signed there).
pub fn load_for(dir: &Path, shard: ShardId, epoch: u64) -> Result<Option<SignRecord>, RecordError> {
    let file = path(dir, shard, epoch);
    let record = load(&file)?;
    if let Some(r) = &record
        && (r.shard, r.epoch) != (shard, epoch)
    {
        return Err(RecordError::Mismatch {
            path: file.display().to_string(),
            shard,
            epoch,
            found_shard: r.shard,
            found_epoch: r.epoch,
        });
    }
    Ok(record)
}

/// Moves a record written by an older version as the single file `legacy` (shard 0, epoch 0)
/// into the directory `dir`, unless `dir` already holds that pair's record.
pub fn migrate_legacy(legacy: &Path, dir: &Path) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: dir.display().to_string(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    let target = path(dir, 0, 0);
    if !legacy.is_file() || target.exists() {
        return Ok(());
    }
    if let Some(record) = load(legacy)? {
        save(&target, &record)?;
    }
    fs::remove_file(legacy).map_err(io)
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

    #[test]
    fn records_are_per_shard_and_epoch_and_version_1_files_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = SignRecord {
            shard: 1,
            epoch: 3,
            ..SignRecord::default()
        };
        r.sign(9, 0, Slot::Prepare, Hash([4; 32]));
        save(&path(dir.path(), 1, 3), &r).unwrap();
        assert_eq!(load_for(dir.path(), 1, 3).unwrap(), Some(r.clone()));
        // Another shard or epoch has its own (empty) record.
        assert_eq!(load_for(dir.path(), 0, 3).unwrap(), None);
        assert_eq!(load_for(dir.path(), 1, 4).unwrap(), None);
        // A file holding another pair's record is refused, not used.
        std::fs::copy(path(dir.path(), 1, 3), path(dir.path(), 2, 3)).unwrap();
        assert!(matches!(
            load_for(dir.path(), 2, 3),
            Err(RecordError::Mismatch { found_shard: 1, .. })
        ));

        // A version-1 file (no shard, no epoch) reads as shard 0, epoch 0 and migrates.
        let legacy = dir.path().join("signing-record");
        let v1_body = (
            9u64,
            0u64,
            None::<Hash>,
            Some(Hash([4; 32])),
            None::<Hash>,
            None::<QuorumCert>,
            Vec::<Proposal>::new(),
        )
            .encode();
        let mut file = MAGIC.to_vec();
        file.push(VERSION_1);
        file.extend_from_slice(&(v1_body.len() as u32).to_le_bytes());
        file.extend_from_slice(&v1_body);
        let sum = blake3::hash(&file);
        file.extend_from_slice(sum.as_bytes());
        std::fs::write(&legacy, file).unwrap();
        let records = dir.path().join("signing");
        migrate_legacy(&legacy, &records).unwrap();
        assert!(!legacy.exists());
        let migrated = load_for(&records, 0, 0).unwrap().unwrap();
        assert_eq!((migrated.shard, migrated.epoch, migrated.height), (0, 0, 9));
        assert!(
            !migrated.permits(9, 0, Slot::Prepare, &Hash([5; 32])),
            "the migrated vote still binds"
        );
        // Nothing to migrate: a no-op.
        migrate_legacy(&legacy, &records).unwrap();
    }
}
