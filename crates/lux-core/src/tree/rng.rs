//! [`RngState`]: a random number generator that can live in a [`Tree`](crate::Tree).

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng, TryRng};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;

/// A random number generator stored as a leaf of a state tree (Lux keeps an
/// RNG in the state of `Dropout` and friends).
///
/// A newtype around [`Xoshiro256PlusPlus`], the generator Lux uses by default
/// (`Xoshiro`): small, fast, cloneable, comparable and serialisable, so state
/// trees holding it can be copied, compared and saved. It implements
/// [`rand::Rng`], so it can be passed wherever an `rng` is expected.
///
/// Cloning copies the state: the clone produces the same stream (Lux's
/// `replicate`).
///
/// ```
/// use lux_core::RngState;
/// use rand::RngExt;
/// let mut a = RngState::seed_from_u64(42);
/// let mut b = a.clone();
/// let x: f64 = a.random();
/// assert_eq!(x, b.random::<f64>());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RngState(Xoshiro256PlusPlus);

impl RngState {
    /// A generator seeded from a `u64` (the same seed always gives the same stream).
    ///
    /// ```
    /// use lux_core::RngState;
    /// assert_eq!(RngState::seed_from_u64(3), RngState::seed_from_u64(3));
    /// assert_ne!(RngState::seed_from_u64(3), RngState::seed_from_u64(4));
    /// ```
    pub fn seed_from_u64(seed: u64) -> RngState {
        RngState(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// A generator seeded with random bits drawn from `rng` (advances `rng`).
    ///
    /// ```
    /// use lux_core::RngState;
    /// let mut parent = RngState::seed_from_u64(0);
    /// let a = RngState::from_rng(&mut parent);
    /// assert_ne!(RngState::from_rng(&mut parent), a); // `parent` has advanced
    /// assert_eq!(RngState::from_rng(&mut RngState::seed_from_u64(0)), a);
    /// ```
    pub fn from_rng(rng: &mut dyn Rng) -> RngState {
        RngState(Xoshiro256PlusPlus::from_rng(rng))
    }

    /// The generator inside.
    ///
    /// ```
    /// use lux_core::RngState;
    /// use rand::Rng;
    /// let r = RngState::seed_from_u64(5);
    /// let mut copy = r.inner().clone();
    /// assert_eq!(copy.next_u64(), RngState::seed_from_u64(5).next_u64());
    /// ```
    pub fn inner(&self) -> &Xoshiro256PlusPlus {
        &self.0
    }

    /// Unwraps the generator inside.
    ///
    /// ```
    /// use lux_core::RngState;
    /// use rand::{SeedableRng, rngs::Xoshiro256PlusPlus};
    /// let raw = RngState::seed_from_u64(9).into_inner();
    /// assert_eq!(raw, Xoshiro256PlusPlus::seed_from_u64(9));
    /// assert_eq!(RngState::from(raw), RngState::seed_from_u64(9));
    /// ```
    pub fn into_inner(self) -> Xoshiro256PlusPlus {
        self.0
    }
}

impl From<Xoshiro256PlusPlus> for RngState {
    fn from(rng: Xoshiro256PlusPlus) -> Self {
        RngState(rng)
    }
}

impl TryRng for RngState {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl SeedableRng for RngState {
    type Seed = <Xoshiro256PlusPlus as SeedableRng>::Seed;

    fn from_seed(seed: Self::Seed) -> Self {
        RngState(Xoshiro256PlusPlus::from_seed(seed))
    }

    fn seed_from_u64(seed: u64) -> Self {
        RngState::seed_from_u64(seed)
    }
}
