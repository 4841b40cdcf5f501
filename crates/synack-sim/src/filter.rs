//! The test hook that drops or rewrites chosen packets.

use synack::Instant;

use crate::{Direction, HostId, LinkId};

/// What the filter sees about a packet entering a link. The bytes themselves
/// are the filter's second argument, which it may rewrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterCtx {
    /// The current virtual time.
    pub now: Instant,
    /// The sending host.
    pub from: HostId,
    /// The receiving host.
    pub to: HostId,
    /// The link the packet entered.
    pub link: LinkId,
    /// The direction it entered.
    pub direction: Direction,
    /// Position of the packet among all packets that entered this direction,
    /// starting at 0 (so "the 3rd packet from b to a" is index 2).
    pub index: u64,
}

/// The filter's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterAction {
    /// Carry on (possibly with rewritten bytes) through the link's impairments.
    Pass,
    /// Drop it, recorded as [`DropReason::Filter`](crate::DropReason::Filter).
    Drop,
}

/// A filter installed by [`Sim::set_filter`](crate::Sim::set_filter). It runs on
/// every packet entering a link, before the MTU check and every impairment, and
/// may rewrite the bytes in place (length included).
///
/// ```
/// use synack_sim::{Direction, Filter, FilterAction};
///
/// // Drop the 3rd packet going from b to a.
/// let f: Filter = Box::new(|ctx, _bytes| {
///     if ctx.direction == Direction::BtoA && ctx.index == 2 {
///         FilterAction::Drop
///     } else {
///         FilterAction::Pass
///     }
/// });
/// # drop(f);
/// ```
pub type Filter = Box<dyn FnMut(&FilterCtx, &mut Vec<u8>) -> FilterAction>;
