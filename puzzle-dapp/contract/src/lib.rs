//! Puzzle: a staked game whose moves are verified on chain.
//!
//! `play` (payable, at least `min_stake`) starts a game whose level seed comes from the block's
//! randomness. `submit(game, level, moves)` replays the moves on that level's board and accepts
//! only a solution of the next unsolved level; each newly solved level pays a quarter of the stake
//! from the contract's balance (the prize pool), never more than the pool holds, and adds one
//! period to the game's time. A game lasts one period (15 s worth of blocks, set at deploy) plus
//! one per solved level; it ends when its time runs out, when all 100 levels are solved, or when
//! the player calls `end`. A top-10 leaderboard keeps each player's best level and the moves that
//! solved it.
//!
//! Events: `GameStarted`, `LevelSolved`, `GameEnded`, `NewBest`, `PoolFunded` (payloads in
//! `tutti_puzzle_core::types`).
//!
//! What the chain's randomness means here: the seed is fixed by the block that includes `play`,
//! so a player cannot pick a board; a block producer who is also a player could choose among the
//! seeds of blocks it might produce, which buys it an easier board, not money it was not owed.
#![cfg_attr(target_arch = "wasm32", no_std)]

use tutti_puzzle_core::{
    EndReason, Game, GameEnded, GameStarted, LEADERBOARD_SIZE, LEVELS, LeaderEntry, LevelSolved, MAX_MOVES, NewBest,
    PAYOUT_DIVISOR, PoolFunded, verify,
};
use tutti_sdk::prelude::*;

pub use tutti_puzzle_core::Config;

const CONFIG: Item<Config> = Item::new(b"c");
const LAST_ID: Item<u64> = Item::new(b"n");
const GAMES: Map<u64, Game> = Map::new(b"g");
const CURRENT: Map<Address, u64> = Map::new(b"p");
const LEADERS: Item<Vec<LeaderEntry>> = Item::new(b"l");

fn config() -> Config {
    CONFIG
        .get()
        .unwrap_or_else(|| env::panic_str("the puzzle contract is not initialized"))
}

fn load(id: u64) -> Game {
    GAMES
        .get(&id)
        .unwrap_or_else(|| env::panic_string(format!("there is no game {id}")))
}

fn finish(game: &mut Game, reason: EndReason) {
    game.ended = Some(reason);
    GAMES.insert(&game.id, game);
    env::emit(
        "GameEnded",
        &GameEnded {
            game: game.id,
            player: game.player,
            solved: game.solved(),
            paid: game.paid,
            reason,
        },
    );
}

fn emit_funded(amount: Amount) {
    env::emit(
        "PoolFunded",
        &PoolFunded {
            from: env::caller(),
            amount,
        },
    );
}

/// Puts the player's new best on the board; returns its rank (1-based) if it made the board.
fn record_best(entry: LeaderEntry) -> Option<u32> {
    let mut board = LEADERS.get().unwrap_or_default();
    if let Some(i) = board.iter().position(|e| e.player == entry.player) {
        if board[i].level >= entry.level {
            return None;
        }
        board.remove(i);
    }
    // Higher level first; on equal levels whoever got there first.
    let at = board.iter().position(|e| e.level < entry.level).unwrap_or(board.len());
    if at >= LEADERBOARD_SIZE {
        return None;
    }
    board.insert(at, entry);
    board.truncate(LEADERBOARD_SIZE);
    LEADERS.set(&board);
    Some(at as u32 + 1)
}

/// The puzzle contract.
pub struct Puzzle;

#[contract(events(
    GameStarted: GameStarted,
    LevelSolved: LevelSolved,
    NewBest: NewBest,
    GameEnded: GameEnded,
    PoolFunded: PoolFunded
))]
impl Puzzle {
    /// Sets the period (blocks per 15 s) and the minimum stake. Tokens attached at deploy seed the
    /// prize pool.
    #[init(payable)]
    pub fn init(period_blocks: u64, min_stake: Amount) {
        require!(period_blocks > 0, "period_blocks must be at least 1");
        require!(
            min_stake >= PAYOUT_DIVISOR,
            "min_stake must be at least {PAYOUT_DIVISOR} units so a level pays something"
        );
        CONFIG.set(&Config {
            period_blocks,
            min_stake,
        });
        let amount = env::attached_value();
        if amount > 0 {
            emit_funded(amount);
        }
    }

    /// Adds the attached tokens to the prize pool.
    #[call(payable)]
    pub fn fund() {
        let amount = env::attached_value();
        require!(amount > 0, "attach the tokens to add to the pool");
        emit_funded(amount);
    }

    /// Starts a game for the caller with the attached stake; returns the game.
    #[call(payable)]
    pub fn play() -> Game {
        let cfg = config();
        let stake = env::attached_value();
        require!(
            stake >= cfg.min_stake,
            "the stake must be at least {} (attached {stake})",
            cfg.min_stake
        );
        let player = env::caller();
        let height = env::block_height();
        if let Some(prev) = CURRENT.get(&player) {
            let mut prev = load(prev);
            require!(
                !prev.is_active(height),
                "game {} is still running until block {}; finish it or call end first",
                prev.id,
                prev.deadline
            );
            if prev.ended.is_none() {
                finish(&mut prev, EndReason::TimeUp);
            }
        }
        let id = LAST_ID.get().unwrap_or(0) + 1;
        LAST_ID.set(&id);
        let mut material = Vec::with_capacity(72);
        material.extend_from_slice(&env::randomness());
        material.extend_from_slice(&player.0);
        material.extend_from_slice(&id.to_le_bytes());
        let seed = env::blake3(&material);
        let game = Game {
            id,
            player,
            seed,
            stake,
            level: 1,
            started: height,
            deadline: height.saturating_add(cfg.period_blocks),
            paid: 0,
            ended: None,
        };
        GAMES.insert(&id, &game);
        CURRENT.insert(&player, &id);
        env::emit(
            "GameStarted",
            &GameStarted {
                game: id,
                player,
                stake,
                seed,
                deadline: game.deadline,
            },
        );
        game
    }

    /// Submits the moves (bytes: 0 left, 1 up, 2 right, 3 down) that solve `level` of `game`.
    /// Returns the amount paid for it.
    #[call]
    pub fn submit(game: u64, level: u32, moves: Vec<u8>) -> Amount {
        let cfg = config();
        let mut g = load(game);
        require!(
            g.player == env::caller(),
            "game {game} belongs to {}, not to the caller",
            g.player
        );
        let height = env::block_height();
        require!(g.ended.is_none(), "game {game} has ended");
        require!(
            height <= g.deadline,
            "game {game} ran out of time at block {} (now {height})",
            g.deadline
        );
        require!(
            level == g.level,
            "level {level} was submitted but level {} is the next to solve",
            g.level
        );
        require!(moves.len() <= MAX_MOVES, "at most {MAX_MOVES} moves");
        if let Err(e) = verify(&g.seed, level, &moves) {
            env::panic_string(format!("level {level} not solved: {e}"));
        }
        let pool = env::balance();
        let paid = (g.stake / PAYOUT_DIVISOR).min(pool);
        if paid > 0 {
            env::transfer(&g.player, paid);
        }
        g.paid = g.paid.saturating_add(paid);
        g.level = level + 1;
        g.deadline = g.deadline.saturating_add(cfg.period_blocks);
        GAMES.insert(&game, &g);
        env::emit(
            "LevelSolved",
            &LevelSolved {
                game,
                player: g.player,
                level,
                paid,
                deadline: g.deadline,
            },
        );
        let entry = LeaderEntry {
            player: g.player,
            level,
            game,
            seed: g.seed,
            moves,
            height,
        };
        if let Some(rank) = record_best(entry) {
            env::emit(
                "NewBest",
                &NewBest {
                    player: g.player,
                    level,
                    rank,
                },
            );
        }
        if level == LEVELS {
            finish(&mut g, EndReason::Completed);
        }
        paid
    }

    /// Ends the caller's game `game` now.
    #[call]
    pub fn end(game: u64) {
        let mut g = load(game);
        require!(
            g.player == env::caller(),
            "game {game} belongs to {}, not to the caller",
            g.player
        );
        require!(g.ended.is_none(), "game {game} has already ended");
        let reason = if env::block_height() > g.deadline {
            EndReason::TimeUp
        } else {
            EndReason::Quit
        };
        finish(&mut g, reason);
    }

    /// A game by id.
    #[view]
    pub fn game(id: u64) -> Option<Game> {
        GAMES.get(&id)
    }

    /// The player's latest game.
    #[view]
    pub fn game_of(player: Address) -> Option<Game> {
        CURRENT.get(&player).and_then(|id| GAMES.get(&id))
    }

    /// The top 10: best level first, earlier first on ties.
    #[view]
    pub fn leaderboard() -> Vec<LeaderEntry> {
        LEADERS.get().unwrap_or_default()
    }

    /// The prize pool (the contract's balance).
    #[view]
    pub fn pool() -> Amount {
        env::balance()
    }

    /// The deploy settings.
    #[view]
    pub fn settings() -> Config {
        config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_puzzle_core::{level as board_of, solve};
    use tutti_sdk::testing;

    const ALICE: Address = Address([1; 32]);
    const BOB: Address = Address([2; 32]);
    const TOKEN: u128 = 1_000_000_000_000_000_000;
    const PERIOD: u64 = 15;

    fn setup(pool: u128) {
        testing::reset();
        testing::set_caller(ALICE);
        Puzzle::init(PERIOD, 20 * TOKEN);
        testing::with(|e| e.balance = pool);
        testing::set_block_height(100);
        testing::set_randomness([9; 32]);
    }

    fn play_as(who: Address, stake: u128) -> Game {
        testing::set_caller(who);
        testing::attach(stake);
        let g = Puzzle::play();
        testing::attach(0);
        g
    }

    fn solution(g: &Game, level: u32) -> Vec<u8> {
        let b = board_of(&g.seed, level).unwrap();
        solve(&b).unwrap().iter().map(|m| m.byte()).collect()
    }

    fn event_names() -> Vec<String> {
        testing::take_events().into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn fund_adds_to_the_pool_and_refuses_nothing_attached() {
        setup(0);
        testing::set_caller(BOB);
        testing::attach(7 * TOKEN);
        Puzzle::fund();
        assert_eq!(Puzzle::pool(), 7 * TOKEN);
        let ev = testing::take_events();
        assert_eq!(ev[0].0, "PoolFunded");
        assert_eq!(
            PoolFunded::decode(&mut &ev[0].1[..]).unwrap(),
            PoolFunded {
                from: BOB,
                amount: 7 * TOKEN
            }
        );
        testing::attach(0);
        let msg = testing::expect_panic(Puzzle::fund);
        assert!(msg.contains("attach the tokens"), "{msg}");
    }

    #[test]
    fn stake_below_minimum_is_refused() {
        setup(1_000 * TOKEN);
        testing::set_caller(ALICE);
        testing::attach(20 * TOKEN - 1);
        let msg = testing::expect_panic(Puzzle::play);
        assert!(msg.contains("at least 20000000000000000000"), "{msg}");
        assert_eq!(Puzzle::game_of(ALICE), None);
    }

    #[test]
    fn play_starts_a_game_seeded_by_randomness_player_and_id() {
        setup(1_000 * TOKEN);
        let a = play_as(ALICE, 20 * TOKEN);
        assert_eq!((a.id, a.level, a.started, a.deadline), (1, 1, 100, 115));
        let ev = testing::take_events();
        assert_eq!(ev[0].0, "GameStarted");
        let started = GameStarted::decode(&mut &ev[0].1[..]).unwrap();
        assert_eq!(started.seed, a.seed);
        let b = play_as(BOB, 20 * TOKEN);
        assert_ne!(a.seed, b.seed, "players in one block get different seeds");
        testing::set_caller(ALICE);
        testing::attach(20 * TOKEN);
        let msg = testing::expect_panic(Puzzle::play);
        assert!(msg.contains("still running until block 115"), "{msg}");
    }

    #[test]
    fn solving_levels_pays_a_quarter_each_and_extends_the_time() {
        setup(1_000 * TOKEN);
        let g = play_as(ALICE, 40 * TOKEN);
        testing::take_events();
        testing::take_transfers();
        for level in 1..=5 {
            let g = Puzzle::game(g.id).unwrap();
            assert_eq!(Puzzle::submit(g.id, level, solution(&g, level)), 10 * TOKEN);
        }
        assert_eq!(testing::take_transfers(), vec![(ALICE, 10 * TOKEN); 5]);
        let g = Puzzle::game(g.id).unwrap();
        assert_eq!((g.level, g.paid, g.deadline), (6, 50 * TOKEN, 115 + 5 * PERIOD));
        let names = event_names();
        assert_eq!(names.iter().filter(|n| *n == "LevelSolved").count(), 5);
        assert!(names.contains(&"NewBest".to_string()));
    }

    #[test]
    fn cheating_fails_and_changes_nothing() {
        setup(1_000 * TOKEN);
        let a = play_as(ALICE, 20 * TOKEN);
        testing::set_randomness([3; 32]);
        let b = play_as(BOB, 20 * TOKEN);
        testing::set_caller(ALICE);
        Puzzle::submit(a.id, 1, solution(&a, 1));
        testing::set_caller(BOB);
        Puzzle::submit(b.id, 1, solution(&b, 1));
        let before = testing::with(|e| e.storage.clone());

        testing::set_caller(ALICE);
        // A wrong sequence, an illegal move, a move that is not a move.
        let msg = testing::expect_panic(|| Puzzle::submit(a.id, 2, vec![2, 3]));
        assert!(msg.contains("not solved"), "{msg}");
        let msg = testing::expect_panic(|| Puzzle::submit(a.id, 2, vec![7]));
        assert!(msg.contains("byte 7"), "{msg}");
        // Bob's solution of level 2 on Alice's board (another seed).
        let bobs = solution(&b, 2);
        assert_ne!(a.seed, b.seed);
        if verify(&a.seed, 2, &bobs).is_err() {
            let msg = testing::expect_panic(|| Puzzle::submit(a.id, 2, bobs.clone()));
            assert!(msg.contains("level 2 not solved"), "{msg}");
        }
        // A skipped level and a replayed one.
        let msg = testing::expect_panic(|| Puzzle::submit(a.id, 3, solution(&a, 3)));
        assert!(msg.contains("level 2 is the next"), "{msg}");
        let msg = testing::expect_panic(|| Puzzle::submit(a.id, 1, solution(&a, 1)));
        assert!(msg.contains("level 2 is the next"), "{msg}");
        // A move on someone else's game, even with the right solution.
        let msg = testing::expect_panic(|| Puzzle::submit(b.id, 2, solution(&b, 2)));
        assert!(msg.contains("not to the caller"), "{msg}");
        let msg = testing::expect_panic(|| Puzzle::end(b.id));
        assert!(msg.contains("not to the caller"), "{msg}");
        // No such game; too many moves.
        let msg = testing::expect_panic(|| Puzzle::submit(99, 1, vec![]));
        assert!(msg.contains("no game 99"), "{msg}");
        let msg = testing::expect_panic(|| Puzzle::submit(a.id, 2, vec![0; MAX_MOVES + 1]));
        assert!(msg.contains("at most"), "{msg}");
        assert_eq!(testing::with(|e| e.storage.clone()), before);
    }

    #[test]
    fn a_solution_replayed_for_another_seed_fails() {
        // Level 2 boards differ between seeds; find a pair where one's solution fails the other.
        let mut refused = 0;
        for r in 0..20u8 {
            setup(1_000 * TOKEN);
            testing::set_randomness([r; 32]);
            let a = play_as(ALICE, 20 * TOKEN);
            testing::set_randomness([r.wrapping_add(100); 32]);
            let b = play_as(BOB, 20 * TOKEN);
            testing::set_caller(ALICE);
            Puzzle::submit(a.id, 1, solution(&a, 1));
            if verify(&a.seed, 2, &solution(&b, 2)).is_err() {
                let msg = testing::expect_panic(|| Puzzle::submit(a.id, 2, solution(&b, 2)));
                assert!(msg.contains("not solved") || msg.contains("leaves the board"), "{msg}");
                refused += 1;
            }
        }
        assert!(refused >= 15, "only {refused} of 20 foreign solutions were refused");
    }

    #[test]
    fn time_runs_out_in_blocks() {
        setup(1_000 * TOKEN);
        let g = play_as(ALICE, 20 * TOKEN);
        testing::set_block_height(g.deadline + 1);
        let msg = testing::expect_panic(|| Puzzle::submit(g.id, 1, solution(&g, 1)));
        assert!(msg.contains("ran out of time at block 115"), "{msg}");
        // The next play records the old game as timed out.
        testing::take_events();
        let g2 = play_as(ALICE, 20 * TOKEN);
        assert_eq!(Puzzle::game(g.id).unwrap().ended, Some(EndReason::TimeUp));
        assert_eq!(event_names(), vec!["GameEnded", "GameStarted"]);
        assert_eq!(Puzzle::game_of(ALICE).unwrap().id, g2.id);
    }

    #[test]
    fn end_stops_the_game() {
        setup(1_000 * TOKEN);
        let g = play_as(ALICE, 20 * TOKEN);
        Puzzle::end(g.id);
        assert_eq!(Puzzle::game(g.id).unwrap().ended, Some(EndReason::Quit));
        let msg = testing::expect_panic(|| Puzzle::submit(g.id, 1, solution(&g, 1)));
        assert!(msg.contains("has ended"), "{msg}");
        let msg = testing::expect_panic(|| Puzzle::end(g.id));
        assert!(msg.contains("already ended"), "{msg}");
        play_as(ALICE, 20 * TOKEN);
    }

    #[test]
    fn payouts_never_exceed_the_pool() {
        // The pool is only the stake: 4 levels repay it, the fifth pays nothing.
        setup(0);
        let g = play_as(ALICE, 20 * TOKEN);
        let mut paid = 0;
        for level in 1..=6 {
            let g = Puzzle::game(g.id).unwrap();
            paid += Puzzle::submit(g.id, level, solution(&g, level));
        }
        assert_eq!(paid, 20 * TOKEN);
        assert_eq!(Puzzle::pool(), 0);
        // With an odd stake the fifth level gets only the dust left in the pool.
        setup(0);
        let g = play_as(ALICE, 20 * TOKEN + 3);
        let paid: Vec<u128> = (1..=5)
            .map(|level| {
                let g = Puzzle::game(g.id).unwrap();
                Puzzle::submit(g.id, level, solution(&g, level))
            })
            .collect();
        assert_eq!(paid, vec![5 * TOKEN, 5 * TOKEN, 5 * TOKEN, 5 * TOKEN, 3]);
        assert_eq!(Puzzle::pool(), 0);
    }

    #[test]
    fn all_hundred_levels_complete_the_game() {
        setup(0);
        testing::reset();
        testing::set_caller(ALICE);
        Puzzle::init(1_000, 20 * TOKEN);
        let g = play_as(ALICE, 20 * TOKEN);
        for level in 1..=LEVELS {
            let g = Puzzle::game(g.id).unwrap();
            Puzzle::submit(g.id, level, solution(&g, level));
        }
        let g = Puzzle::game(g.id).unwrap();
        assert_eq!((g.ended, g.solved()), (Some(EndReason::Completed), 100));
        assert_eq!(Puzzle::leaderboard()[0].level, 100);
    }

    #[test]
    fn leaderboard_keeps_the_ten_best_with_their_moves() {
        setup(1_000_000 * TOKEN);
        // Player k solves k levels (1..=12): the board keeps players 12..3, best first.
        for k in 1..=12u8 {
            let who = Address([k + 10; 32]);
            testing::set_randomness([k; 32]);
            let g = play_as(who, 20 * TOKEN);
            for level in 1..=u32::from(k) {
                let g = Puzzle::game(g.id).unwrap();
                Puzzle::submit(g.id, level, solution(&g, level));
            }
        }
        let board = Puzzle::leaderboard();
        assert_eq!(board.len(), 10);
        let levels: Vec<u32> = board.iter().map(|e| e.level).collect();
        assert_eq!(levels, (3..=12).rev().collect::<Vec<_>>());
        for e in &board {
            assert_eq!(verify(&e.seed, e.level, &e.moves), Ok(()), "recorded moves replay");
        }
        // A tie ranks after the earlier entry; a worse result does not replace a better one.
        let late = Address([99; 32]);
        testing::set_block_height(500);
        let g = play_as(late, 20 * TOKEN);
        for level in 1..=12 {
            let g = Puzzle::game(g.id).unwrap();
            Puzzle::submit(g.id, level, solution(&g, level));
        }
        let board = Puzzle::leaderboard();
        assert_eq!((board[0].player, board[1].player), (Address([22; 32]), late));
        assert_eq!(board.last().unwrap().level, 4);
    }
}
