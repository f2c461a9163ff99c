//! 32-byte addresses: text form bech32m with hrp `tt`, also accepted as 0x-hex.
//!
//! An account's address is the tagged hash of its ed25519 public key; a contract's is the tagged
//! hash of (deployer, deployer nonce). The home shard of an address is
//! `u64::from_le_bytes(addr[0..8]) % num_shards` and never changes.

use alloc::string::String;
use core::{fmt, str::FromStr};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{Nonce, ShardId, hash::hash_encoded, tags};

/// The bech32m human-readable part of addresses.
pub const HRP: &str = "tt";

/// A 32-byte account or contract address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "scale-info", derive(scale_info::TypeInfo))]
pub struct Address(pub [u8; 32]);

/// Why a text address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// The 0x-hex form did not hold 64 hex digits.
    BadHex,
    /// The bech32m form did not decode (bad checksum, characters or variant).
    BadBech32(String),
    /// The human-readable part was not `tt`.
    WrongHrp(String),
    /// The payload was not 32 bytes.
    WrongLength(usize),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::BadHex => write!(f, "a 0x address must have exactly 64 hex digits"),
            AddressError::BadBech32(e) => write!(f, "not a valid bech32m address: {e}"),
            AddressError::WrongHrp(h) => write!(f, "address prefix is `{h}`, expected `{HRP}`"),
            AddressError::WrongLength(n) => write!(f, "address holds {n} bytes, expected 32"),
        }
    }
}

impl core::error::Error for AddressError {}

impl Address {
    /// The address of the account controlled by an ed25519 public key.
    pub fn from_public_key(pk: &[u8; 32]) -> Address {
        Address(hash_encoded(tags::ACCOUNT_ADDRESS, pk).0)
    }

    /// The address of the contract deployed by `deployer` with its transaction nonce `nonce`:
    /// the deployer's first 8 bytes (the ones [`Address::home_shard`] reads), then 24 bytes of the
    /// hash of (deployer, nonce). So a contract lives on its deployer's shard, whatever the number
    /// of shards, and a deploy never has to cross shards.
    pub fn for_contract(deployer: &Address, nonce: Nonce) -> Address {
        let h = hash_encoded(tags::CONTRACT_ADDRESS, &(deployer, nonce)).0;
        let mut a = [0u8; 32];
        a[..8].copy_from_slice(&deployer.0[..8]);
        a[8..].copy_from_slice(&h[..24]);
        Address(a)
    }

    /// The shard that holds this address's state.
    pub fn home_shard(&self, num_shards: u32) -> ShardId {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        (u64::from_le_bytes(b) % u64::from(num_shards.max(1))) as ShardId
    }

    /// The 0x-hex form.
    pub fn to_hex(&self) -> String {
        let mut s = String::from("0x");
        s.push_str(&hex::encode(self.0));
        s
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = bech32::Hrp::parse_unchecked(HRP);
        bech32::encode_lower_to_fmt::<bech32::Bech32m, _>(f, hrp, &self.0).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).map_err(|_| AddressError::BadHex)?;
            return Ok(Address(out));
        }
        let checked = bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32m>(s)
            .map_err(|e| AddressError::BadBech32(alloc::format!("{e}")))?;
        if checked.hrp().as_str() != HRP {
            return Err(AddressError::WrongHrp(String::from(checked.hrp().as_str())));
        }
        let bytes: alloc::vec::Vec<u8> = checked.byte_iter().collect();
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::WrongLength(bytes.len()))?;
        Ok(Address(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn bech32m_round_trip_and_hex() {
        let a = Address([7; 32]);
        let s = a.to_string();
        assert!(s.starts_with("tt1"), "{s}");
        assert_eq!(s.parse::<Address>().unwrap(), a);
        assert_eq!(a.to_hex().parse::<Address>().unwrap(), a);
    }

    #[test]
    fn bad_text_is_refused_with_a_reason() {
        let good = Address([7; 32]).to_string();
        let mut bad = good.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'q' { b'p' } else { b'q' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(matches!(bad.parse::<Address>(), Err(AddressError::BadBech32(_))));
        assert_eq!("0x12".parse::<Address>(), Err(AddressError::BadHex));
        let other_hrp = {
            let hrp = bech32::Hrp::parse("xx").unwrap();
            bech32::encode::<bech32::Bech32m>(hrp, &[1u8; 32]).unwrap()
        };
        assert_eq!(other_hrp.parse::<Address>(), Err(AddressError::WrongHrp("xx".into())));
        let short = bech32::encode::<bech32::Bech32m>(bech32::Hrp::parse("tt").unwrap(), &[1u8; 20]).unwrap();
        assert_eq!(short.parse::<Address>(), Err(AddressError::WrongLength(20)));
        // bech32 (not m) checksum is refused.
        let legacy = bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("tt").unwrap(), &[1u8; 32]).unwrap();
        assert!(legacy.parse::<Address>().is_err());
    }

    #[test]
    fn home_shard_uses_first_eight_bytes_le() {
        let mut a = [0u8; 32];
        a[0] = 5;
        assert_eq!(Address(a).home_shard(4), 1);
        assert_eq!(Address(a).home_shard(1), 0);
        a[0] = 0;
        a[1] = 1; // 256
        assert_eq!(Address(a).home_shard(3), 256 % 3);
    }

    #[test]
    fn contract_addresses_differ_by_nonce_and_deployer() {
        let d = Address([1; 32]);
        assert_ne!(Address::for_contract(&d, 0), Address::for_contract(&d, 1));
        assert_ne!(
            Address::for_contract(&d, 0),
            Address::for_contract(&Address([2; 32]), 0)
        );
    }

    #[test]
    fn a_contract_lives_on_its_deployers_shard_for_any_number_of_shards() {
        for seed in 0..50u8 {
            let d = Address([seed.wrapping_mul(37); 32]);
            for nonce in 0..5 {
                let c = Address::for_contract(&d, nonce);
                for shards in [1, 2, 3, 4, 7, 64] {
                    assert_eq!(c.home_shard(shards), d.home_shard(shards));
                }
            }
        }
    }
}
