//! Which `$ref`s are circular: those from which following references (and the values
//! they point at) leads back to a node that contains the reference itself. The
//! official parser leaves such references as written and so does the resolved document
//! here; every other reference is replaced by what it points at.
//!
//! References are the nodes of a graph with an edge from one reference to each reference
//! written inside its target; a reference is circular when it lies on a cycle of that
//! graph (a reference into its own ancestor is a cycle of one).

use std::collections::HashSet;

use serde_json::Value;

use crate::resolve::{ref_of, NodeId, Resolver};

/// Every `$ref` of every loaded file: where it is written, and the node it names (one
/// hop: a reference to a reference names the second reference).
struct References {
    /// Sorted by location, so the references inside a node are one contiguous run.
    at: Vec<NodeId>,
    target: Vec<Option<NodeId>>,
}

/// The locations of the circular references of the document and the files it loaded.
pub(super) fn circular_refs(r: &Resolver) -> HashSet<NodeId> {
    let mut locations = Vec::new();
    for root in r.roots() {
        if let Some(value) = r.get(&root) {
            collect(&root, value, &mut locations);
        }
    }
    locations.sort();
    let target = locations
        .iter()
        .map(|at| {
            let reference = r.get(at).and_then(ref_of)?;
            r.target(at, reference).ok().map(|(t, _)| t)
        })
        .collect();
    let refs = References {
        at: locations,
        target,
    };
    let edges: Vec<Vec<usize>> = (0..refs.at.len()).map(|i| refs.inside_target(i)).collect();
    on_cycles(&edges)
        .into_iter()
        .map(|i| refs.at[i].clone())
        .collect()
}

fn collect(id: &NodeId, value: &Value, out: &mut Vec<NodeId>) {
    match value {
        Value::Object(map) => {
            if ref_of(value).is_some() {
                out.push(id.clone());
                return;
            }
            for (key, child) in map {
                collect(&id.child(key), child, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(&id.index(i), item, out);
            }
        }
        _ => {}
    }
}

impl References {
    /// The references written inside the target of reference `i`.
    fn inside_target(&self, i: usize) -> Vec<usize> {
        let Some(target) = &self.target[i] else {
            return Vec::new();
        };
        let start = self.at.partition_point(|at| at < target);
        self.at[start..]
            .iter()
            .take_while(|at| at.file == target.file && at.pointer.starts_with(&target.pointer))
            .enumerate()
            .filter(|(_, at)| {
                matches!(
                    at.pointer.as_bytes().get(target.pointer.len()),
                    None | Some(b'/')
                )
            })
            .map(|(offset, _)| start + offset)
            .collect()
    }
}

/// The nodes of `edges` that lie on a cycle (Tarjan's strongly connected components,
/// iterative: a document may hold thousands of references).
fn on_cycles(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNVISITED: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut found = Vec::new();
    for start in 0..n {
        if index[start] != UNVISITED {
            continue;
        }
        // (node, position of the next edge to look at)
        let mut calls = vec![(start, 0)];
        while let Some(&mut (node, ref mut edge)) = calls.last_mut() {
            if *edge == 0 && index[node] == UNVISITED {
                index[node] = next_index;
                low[node] = next_index;
                next_index += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&next) = edges[node].get(*edge) {
                *edge += 1;
                if index[next] == UNVISITED {
                    calls.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                let cyclic = component.len() > 1 || edges[node].contains(&node);
                if cyclic {
                    found.extend(component);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::on_cycles;

    #[test]
    fn finds_the_nodes_on_cycles_and_only_those() {
        // 0 → 1 → 2 → 0 is a cycle, 3 → 3 a cycle of one, 4 → 0 leads into one.
        let edges = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        let mut found = on_cycles(&edges);
        found.sort();
        assert_eq!(found, vec![0, 1, 2, 3]);
    }
}
