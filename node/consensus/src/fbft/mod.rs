//! FBFT, Harmony's consensus: a committee finalizes each block in one round of ANNOUNCE,
//! PREPARE, PREPARED, COMMIT, COMMITTED with aggregate signatures, and replaces a failed leader by
//! view change. The protocol rules are stated in [`core`]; this module only names the parts.

pub mod committee;
pub mod core;
pub mod crypto;
pub mod message;
pub mod record;

pub use self::core::{CertKind, Config, Core, Head, Input, Output, Status, Timer, verify_certificate};
pub use committee::{Committee, Member};
pub use crypto::{BlsCrypto, Crypto, Sig};
pub use message::{Message, Proposal, QuorumCert, ViewChange, Vote, WireError};
pub use record::SignRecord;
