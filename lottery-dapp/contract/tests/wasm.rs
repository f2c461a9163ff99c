//! The compiled contract on the runtime's local network: real wasm, real host functions
//! (`randomness_at` included), real transfers.

use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};
use tutti_lottery_core::{Outcome, Round, Settled, draw_material, winning_ticket};
use tutti_primitives::{Address, Hash};
use tutti_runtime::{
    Runtime, RuntimeConfig,
    local::{LocalNet, local_randomness},
};

const PRICE: u128 = 1_000_000;
const GAS: u64 = 300_000_000;
const BLOCKS: u64 = 5;

struct Net {
    net: LocalNet,
    lottery: Address,
}

impl Net {
    fn new(fee_bps: u16, house: Address) -> Net {
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
        let mut net = LocalNet::new(runtime, 1);
        let (owner, _) = net.create_account(0, 0);
        let lottery = net
            .deploy(
                0,
                tutti_examples::LOTTERY,
                owner,
                Some(("init", (PRICE, BLOCKS, fee_bps, house).encode())),
            )
            .unwrap();
        Net { net, lottery }
    }

    /// Sends a call, produces a block, returns the call receipt's result.
    fn call(
        &mut self,
        key: &ed25519_dalek::SigningKey,
        method: &str,
        args: Vec<u8>,
        value: u128,
    ) -> Result<Vec<u8>, String> {
        let h = self.net.call(key, self.lottery, method, args, value, GAS).unwrap();
        self.net.produce_block();
        let call = self.net.first_call(&h).expect("a call receipt");
        call.result.clone().map_err(|f| f.message.clone())
    }

    fn view<T: Decode>(&self, method: &str, args: Vec<u8>) -> T {
        let out = self.net.view(&self.lottery, method, args).unwrap();
        T::decode(&mut &out.result.unwrap()[..]).unwrap()
    }
}

#[test]
fn a_round_on_the_runtime_pays_the_owner_of_the_ticket_drawn_from_block_close_plus_1() {
    let mut n = Net::new(500, Address([0x40; 32]));
    let house = Address([0x40; 32]);
    let players: Vec<_> = (0..3).map(|_| n.net.create_account(0, 1_000 * PRICE)).collect();
    for (i, (_, key)) in players.iter().enumerate() {
        let tickets = i as u32 + 1;
        n.call(key, "enter", (tickets,).encode(), PRICE * u128::from(tickets))
            .unwrap();
    }
    let wrong = n.call(&players[0].1, "enter", (2u32,).encode(), PRICE);
    assert!(wrong.unwrap_err().contains("exactly"));
    let round: Round = n.view("round", vec![]);
    assert_eq!(
        (round.id, round.tickets, round.players, round.pot),
        (1, 6, 3, 6 * PRICE)
    );
    let early = n.call(&players[1].1, "draw", vec![], 0);
    assert!(early.unwrap_err().contains("sells tickets until block"));
    while n.net.height() <= round.close + 3 {
        n.net.produce_block();
    }
    let before: Vec<u128> = players.iter().map(|(a, _)| n.net.balance(a)).collect();
    // Drawn a few blocks late, by someone else: still decided by block close + 1.
    let (_, drawer) = n.net.create_account(0, 1_000 * PRICE);
    let settled = Settled::decode(&mut &n.call(&drawer, "draw", vec![], 0).unwrap()[..]).unwrap();
    let Outcome::Won {
        winner,
        ticket,
        prize,
        fee,
        randomness_height,
    } = settled.outcome
    else {
        panic!("three players: a winner")
    };
    assert_eq!(randomness_height, round.close + 1);
    let r: Hash = local_randomness(round.close + 1);
    let digest = *blake3::hash(&draw_material(&r.0, 1)).as_bytes();
    assert_eq!(ticket, winning_ticket(&digest, 6));
    let owner = match ticket {
        0 => 0,
        1..=2 => 1,
        _ => 2,
    };
    assert_eq!(winner, players[owner].0);
    assert_eq!((prize, fee), (5_700_000, 300_000));
    n.net.run_until_idle(5);
    assert_eq!(n.net.balance(&house), fee);
    let after: Vec<u128> = players.iter().map(|(a, _)| n.net.balance(a)).collect();
    for i in 0..3 {
        let expected = if i == owner { prize } else { 0 };
        assert_eq!(after[i] - before[i], expected, "player {i}");
    }
    assert_eq!(n.net.balance(&n.lottery), 0, "the pot left in full");
    let next: Round = n.view("round", vec![]);
    assert_eq!(next.id, 2);
    let owner_of: Option<Address> = n.view("owner_of", (1u64, ticket).encode());
    assert_eq!(owner_of, Some(winner));
}
