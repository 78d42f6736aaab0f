//! Where resting orders live: one slab of order nodes, threaded into one doubly linked
//! FIFO list per price level, and an id index into the slab.
//!
//! A slab with intrusive links (rather than a `VecDeque` per level) makes a cancel from the
//! middle of a queue O(1) without tombstones, keeps nodes in one allocation that freed
//! slots are reused from, and lets the book move an order between levels without copying
//! it. This module knows queues, not prices or matching rules.

use std::collections::HashMap;

use crate::hash::IdBuildHasher;
use crate::types::{OrderId, OwnerId, Price, SelfTradePrevention, Seq, Side, Timestamp};

/// "No node": the end of a list.
const NIL: usize = usize::MAX;

/// A resting order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub id: OrderId,
    pub owner: OwnerId,
    pub side: Side,
    pub price: Price,
    /// Open quantity; a node with zero open quantity is never left linked.
    pub open: u64,
    pub priority: Seq,
    pub entered_at: Timestamp,
    pub post_only: bool,
    pub stp: SelfTradePrevention,
    prev: usize,
    next: usize,
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub(crate) const fn new(
        id: OrderId,
        owner: OwnerId,
        side: Side,
        price: Price,
        open: u64,
        priority: Seq,
        entered_at: Timestamp,
        post_only: bool,
        stp: SelfTradePrevention,
    ) -> Self {
        Self {
            id,
            owner,
            side,
            price,
            open,
            priority,
            entered_at,
            post_only,
            stp,
            prev: NIL,
            next: NIL,
        }
    }
}

/// One price level: a FIFO of nodes and its aggregates, kept in step by [`Arena`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    head: usize,
    tail: usize,
    /// Sum of the open quantity of the level's orders.
    pub total: u64,
    /// Number of orders in the level.
    pub count: usize,
}

impl Level {
    pub(crate) const EMPTY: Self = Self {
        head: NIL,
        tail: NIL,
        total: 0,
        count: 0,
    };

    /// The oldest order, the next to trade.
    pub(crate) const fn head(&self) -> Option<usize> {
        if self.head == NIL {
            None
        } else {
            Some(self.head)
        }
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

/// The slab of nodes and the id index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    free: Vec<usize>,
    index: HashMap<OrderId, usize, IdBuildHasher>,
}

impl Arena {
    /// Number of live orders.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn find(&self, id: OrderId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    pub(crate) fn contains(&self, id: OrderId) -> bool {
        self.index.contains_key(&id)
    }

    pub(crate) fn node(&self, idx: usize) -> &Node {
        &self.nodes[idx]
    }

    pub(crate) fn node_mut(&mut self, idx: usize) -> &mut Node {
        &mut self.nodes[idx]
    }

    /// Stores a node (unlinked) and indexes it by id; the caller has checked the id is free.
    pub(crate) fn alloc(&mut self, node: Node) -> usize {
        let idx = match self.free.pop() {
            Some(idx) => {
                self.nodes[idx] = node;
                idx
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.index.insert(node.id, idx);
        idx
    }

    /// Forgets an unlinked node; its slot is reused by the next `alloc`.
    pub(crate) fn release(&mut self, idx: usize) {
        self.index.remove(&self.nodes[idx].id);
        self.free.push(idx);
    }

    /// Links an unlinked node at the back of `level`.
    pub(crate) fn push_back(&mut self, level: &mut Level, idx: usize) {
        let tail = level.tail;
        let node = &mut self.nodes[idx];
        node.prev = tail;
        node.next = NIL;
        level.total += node.open;
        level.count += 1;
        if tail == NIL {
            level.head = idx;
        } else {
            self.nodes[tail].next = idx;
        }
        level.tail = idx;
    }

    /// Unlinks a node from `level`, wherever it is in the queue.
    pub(crate) fn unlink(&mut self, level: &mut Level, idx: usize) {
        let Node {
            prev, next, open, ..
        } = self.nodes[idx];
        if prev == NIL {
            level.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            level.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        level.total -= open;
        level.count -= 1;
        let node = &mut self.nodes[idx];
        node.prev = NIL;
        node.next = NIL;
    }

    /// Takes `qty` (at most the node's open quantity) off a linked node; returns what is
    /// left open.
    pub(crate) fn reduce(&mut self, level: &mut Level, idx: usize, qty: u64) -> u64 {
        let node = &mut self.nodes[idx];
        node.open -= qty;
        level.total -= qty;
        node.open
    }

    /// The level's nodes, oldest first.
    pub(crate) fn iter(&self, level: &Level) -> LevelIter<'_> {
        LevelIter {
            arena: self,
            at: level.head,
        }
    }
}

/// Walks one level's queue from the front.
pub(crate) struct LevelIter<'a> {
    arena: &'a Arena,
    at: usize,
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = &'a Node;

    fn next(&mut self) -> Option<&'a Node> {
        let node = self.arena.nodes.get(self.at)?;
        self.at = node.next;
        Some(node)
    }
}
