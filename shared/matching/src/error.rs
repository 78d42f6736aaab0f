//! The crate's one error type: failures of the API itself (a bad market spec, a snapshot
//! that does not describe a valid book).
//!
//! A command the book refuses is not an error: it yields an [`Event::Rejected`] with a
//! [`RejectReason`], because rejections are part of the deterministic event stream the
//! service publishes and replays.
//!
//! [`Event::Rejected`]: crate::Event::Rejected
//! [`RejectReason`]: crate::RejectReason

use crate::event::RejectReason;
use crate::types::{OrderId, Seq};

/// Why a market spec or a snapshot could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchingError {
    /// A market needs a positive tick size.
    #[error("tick size must be positive")]
    ZeroTickSize,
    /// A market needs a positive lot size.
    #[error("lot size must be positive")]
    ZeroLotSize,
    /// A resting order in the snapshot would not pass the book's own validation.
    #[error("snapshot order {id} is invalid: {reason}")]
    SnapshotOrderInvalid {
        /// The offending order.
        id: OrderId,
        /// What is wrong with it.
        reason: RejectReason,
    },
    /// Two resting orders in the snapshot share an id.
    #[error("snapshot holds order {0} twice")]
    SnapshotDuplicateOrder(OrderId),
    /// Two resting orders in the snapshot share a time priority, so queue order is ambiguous.
    #[error("snapshot holds two orders with priority {0}")]
    SnapshotDuplicatePriority(Seq),
    /// A resting order's priority is later than the snapshot's last sequence number.
    #[error("snapshot order {0} has a priority after the last sequence number")]
    SnapshotPriorityAhead(OrderId),
    /// The best bid is at or above the best ask.
    #[error("snapshot book is crossed")]
    SnapshotCrossed,
    /// The quantities on one side do not fit the book's counters.
    #[error("snapshot quantities overflow")]
    SnapshotOverflow,
}
