//! The order of a restore: pg_dump's sections, then a topological sort over `pg_depend`.
//!
//! Dependencies come from `pg_depend` (normal, automatic and internal rows; pinned and
//! extension rows are not orderings), mapped from catalog rows to the objects that stand for
//! them: a view's rewrite rule stands for the view, a table's row type for the table, an
//! extension's members for the extension. An object that needs a later section's object moves
//! to that section (a view grouping by a primary key is created after the key, as pg_dump
//! does), and a table-tagged post-data statement that needs an untagged one loses its tag. Ties
//! are broken by pg_dump's type priority, then schema and name. A cycle the catalogs allow
//! (rare: a check constraint calling a function whose body reads its table) is broken at the
//! first object by that order, and logged.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use tokio_postgres::Client;
use tokio_postgres::types::Oid;

use super::{Object, Phase, Ref, db_err};
use crate::error::Result;

/// `edges[i]`: the objects object `i` needs first.
pub(super) type Edges = Vec<Vec<usize>>;

/// Map `pg_depend` onto the objects.
pub(super) async fn dependencies(client: &Client, objects: &[Object]) -> Result<Edges> {
    let mut owner: HashMap<Ref, usize> = HashMap::new();
    for (i, object) in objects.iter().enumerate() {
        for r in &object.refs {
            owner.entry(*r).or_insert(i);
        }
    }
    // Extension members stand for their extension; array types for their element type.
    let rows = client
        .query(
            "SELECT d.classid, d.objid, d.refclassid, d.refobjid FROM pg_catalog.pg_depend d \
              WHERE d.deptype = 'e' AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
             UNION ALL \
             SELECT t.tableoid, t.oid, t.tableoid, t.typelem FROM pg_catalog.pg_type t \
              WHERE t.typelem <> 0 AND t.typcategory = 'A' AND t.oid >= 16384",
            &[],
        )
        .await
        .map_err(db_err("reading extension members"))?;
    for row in rows {
        let (member, of): (Ref, Ref) = ((row.get(0), row.get(1)), (row.get(2), row.get(3)));
        if let Some(&i) = owner.get(&of) {
            owner.entry(member).or_insert(i);
        }
    }
    let rows = client
        .query(
            "SELECT classid, objid, refclassid, refobjid, deptype = 'a' FROM pg_catalog.pg_depend \
              WHERE deptype IN ('n', 'a', 'i') AND objid >= 16384 AND refobjid >= 16384",
            &[],
        )
        .await
        .map_err(db_err("reading dependencies"))?;
    let mut edges: Edges = vec![Vec::new(); objects.len()];
    let mut add = |from: Option<&usize>, to: Option<&usize>| {
        if let (Some(&from), Some(&to)) = (from, to)
            && from != to
            && !edges[from].contains(&to)
        {
            edges[from].push(to);
        }
    };
    let is_sequence = |i: Option<&usize>| {
        i.and_then(|&i| objects[i].target.as_ref()).is_some_and(|t| t.keyword == "SEQUENCE")
    };
    for row in rows {
        let (dependent, referenced): (Ref, Ref) =
            ((row.get(0), row.get(1)), (row.get(2), row.get(3)));
        // A sequence's OWNED BY is an object of its own, after the table: the sequence itself
        // need not wait (a default or domain may use it before the table exists).
        if row.get::<_, bool>(4) && is_sequence(owner.get(&dependent)) {
            continue;
        }
        add(owner.get(&dependent), owner.get(&referenced));
    }
    for (i, object) in objects.iter().enumerate() {
        for r in &object.deps {
            add(Some(&i), owner.get(r));
        }
    }
    refresh_order(objects, &owner, &mut edges);
    Ok(edges)
}

/// A materialized view's refresh waits for the refreshes of the materialized views it reads,
/// directly or through views and functions (pg_dump's `buildMatViewRefreshDependencies`).
fn refresh_order(objects: &[Object], owner: &HashMap<Ref, usize>, edges: &mut Edges) {
    let refresh_of: HashMap<usize, usize> = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.priority == super::priority::REFRESH_MATVIEW)
        .filter_map(|(i, o)| o.deps.first().and_then(|r| owner.get(r)).map(|&view| (view, i)))
        .collect();
    let mut added = Vec::new();
    for (&view, &refresh) in &refresh_of {
        let mut seen = std::collections::HashSet::new();
        let mut stack = edges[view].clone();
        while let Some(d) = stack.pop() {
            if !seen.insert(d) {
                continue;
            }
            if let Some(&other) = refresh_of.get(&d)
                && other != refresh
            {
                added.push((refresh, other));
            }
            stack.extend(edges[d].iter().copied());
        }
    }
    for (from, to) in added {
        if !edges[from].contains(&to) {
            edges[from].push(to);
        }
    }
}

/// How an object appears in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// All of it.
    Whole,
    /// Its placeholder only, to break a cycle; [`Step::Replace`] follows.
    Placeholder,
    /// Its statements, replacing the placeholder.
    Replace,
}

/// The restore order: indexes of `objects` (to which split views add their replacements), each
/// with what of it runs there; and what could not be ordered (cycles without a view to stand
/// in, tables needing post-data objects), described.
pub(super) struct Sorted {
    pub order: Vec<(usize, Step)>,
    pub problems: Vec<String>,
}

/// Settle each object's section against its dependencies, then sort.
pub(super) fn sort(objects: &mut Vec<Object>, edges: &mut Edges) -> Sorted {
    let mut problems = Vec::new();
    settle_sections(objects, edges, &mut problems);
    let objects: &[Object] = objects;
    let edges: &Edges = edges;
    let mut waiting_on: Vec<usize> = edges.iter().map(Vec::len).collect();
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); objects.len()];
    for (i, deps) in edges.iter().enumerate() {
        for &d in deps {
            needed_by[d].push(i);
        }
    }
    let key = |i: usize| {
        let o = &objects[i];
        Reverse((o.phase, o.priority, o.schema.clone(), o.name.clone(), i))
    };
    let mut ready: BinaryHeap<_> =
        (0..objects.len()).filter(|&i| waiting_on[i] == 0).map(key).collect();
    // `provided`: dependents may follow (the object or its placeholder exists).
    let mut provided = vec![false; objects.len()];
    let mut done = vec![false; objects.len()];
    let mut order = Vec::with_capacity(objects.len());
    let release = |i: usize, waiting_on: &mut [usize], ready: &mut BinaryHeap<_>| {
        for &n in &needed_by[i] {
            if waiting_on[n] > 0 {
                waiting_on[n] -= 1;
                if waiting_on[n] == 0 {
                    ready.push(key(n));
                }
            }
        }
    };
    while done.iter().any(|d| !d) {
        if let Some(Reverse((.., i))) = ready.pop() {
            if done[i] {
                continue;
            }
            done[i] = true;
            if provided[i] {
                order.push((i, Step::Replace));
            } else {
                provided[i] = true;
                order.push((i, Step::Whole));
                release(i, &mut waiting_on, &mut ready);
            }
            continue;
        }
        // A cycle. Prefer standing in for a view with a placeholder, as pg_dump does; else
        // take the first remaining object in the tie-break order.
        let remaining = (0..objects.len()).filter(|&i| !done[i] && !provided[i]);
        let Some(i) = remaining
            .clone()
            .filter(|&i| objects[i].placeholder.is_some())
            .min_by_key(|&i| key(i).0)
            .or_else(|| remaining.min_by_key(|&i| key(i).0))
        else {
            break;
        };
        if objects[i].placeholder.is_some() {
            provided[i] = true;
            order.push((i, Step::Placeholder));
            release(i, &mut waiting_on, &mut ready);
        } else {
            let stuck: Vec<&str> = (0..objects.len())
                .filter(|&j| !done[j] && !provided[j] && waiting_on[j] > 0)
                .map(|j| objects[j].name.as_str())
                .collect();
            problems.push(format!("dependency cycle among: {}", stuck.join(", ")));
            waiting_on[i] = 0;
            ready.push(key(i));
        }
    }
    Sorted { order, problems }
}

/// Move objects after what they need, to a fixpoint: an object never runs in an earlier
/// section than a dependency, and a tagged post-data statement (run per table, before the
/// untagged ones) never needs an untagged one.
fn settle_sections(objects: &mut Vec<Object>, edges: &mut Edges, problems: &mut Vec<String>) {
    loop {
        let mut changed = false;
        for i in 0..objects.len() {
            let needs_later = edges[i]
                .iter()
                .any(|&d| objects[d].phase > objects[i].phase && objects[i].phase == Phase::Pre);
            if needs_later {
                changed = true;
                if objects[i].placeholder.is_some() {
                    split_view(objects, edges, i);
                } else if objects[i].target.as_ref().is_some_and(|t| t.keyword == "TABLE") {
                    // A table must exist before its data: it cannot move.
                    problems.push(format!(
                        "{} needs an object created after the data",
                        objects[i].name
                    ));
                    edges[i].retain(|&d| objects[d].phase == Phase::Pre);
                } else {
                    objects[i].phase = Phase::Post;
                    objects[i].table = None;
                }
            }
            let untag = objects[i].table.is_some()
                && edges[i].iter().any(|&d| {
                    objects[d].phase == Phase::Post && objects[d].table != objects[i].table
                });
            if untag {
                objects[i].table = None;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// A view that needs a post-data object (it groups by a primary key): its placeholder stays in
/// pre-data, where tables may use its row type, and a new post-data object replaces it with the
/// definition, as pg_dump does.
fn split_view(objects: &mut Vec<Object>, edges: &mut Edges, i: usize) {
    let Some(placeholder) = objects[i].placeholder.take() else { return };
    let mut replace = objects[i].clone();
    replace.refs.clear();
    replace.phase = Phase::Post;
    replace.table = None;
    replace.statements = replace
        .statements
        .iter()
        .map(|s| s.replacen("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
        .collect();
    replace.owner_sql = None;
    replace.comments.clear();
    replace.grants.clear();
    objects[i].statements = vec![placeholder];
    let mut replace_edges = edges[i].clone();
    replace_edges.push(i);
    edges[i].retain(|&d| objects[d].phase == Phase::Pre);
    objects.push(replace);
    edges.push(replace_edges);
}

/// The catalog OID of `pg_class`, for refs built outside a catalog query.
pub(super) async fn pg_class_oid(client: &Client) -> Result<Oid> {
    let row = client
        .query_one("SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid", &[])
        .await
        .map_err(db_err("reading catalog OIDs"))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::*;

    fn object(name: &str, phase: Phase, priority: u8) -> Object {
        Object::new((1, name.len() as Oid), phase, priority, Some("s"), name)
    }

    fn names(objects: &[Object], order: &[(usize, Step)]) -> Vec<String> {
        order
            .iter()
            .map(|&(i, step)| match step {
                Step::Whole => objects[i].name.clone(),
                Step::Placeholder => format!("{} (placeholder)", objects[i].name),
                Step::Replace => format!("{} (replace)", objects[i].name),
            })
            .collect()
    }

    #[test]
    fn dependencies_win_over_priority_and_name() {
        // A view (priority 20) over a function (8) that returns a table's row type (20).
        let mut objects = vec![
            object("b_table", Phase::Pre, 20),
            object("a_view", Phase::Pre, 20),
            object("func", Phase::Pre, 8),
            object("schema", Phase::Pre, 1),
        ];
        let edges = vec![vec![3], vec![2, 3], vec![0], vec![]];
        let order = sort(&mut objects, &mut edges.clone()).order;
        assert_eq!(names(&objects, &order), ["schema", "b_table", "func", "a_view"]);
    }

    #[test]
    fn ties_follow_priority_then_name() {
        let mut objects = vec![
            object("t2", Phase::Pre, 20),
            object("t1", Phase::Pre, 20),
            object("f", Phase::Pre, 8),
        ];
        let order = sort(&mut objects, &mut vec![vec![]; 3]).order;
        assert_eq!(names(&objects, &order), ["f", "t1", "t2"]);
    }

    #[test]
    fn an_object_needing_post_data_moves_there() {
        // A view grouping by a primary key needs the key, which is post-data.
        let mut objects = vec![object("pk", Phase::Post, 30), object("v", Phase::Pre, 20)];
        objects[0].table = Some(("s".into(), "t".into()));
        objects[1].table = None;
        let order = sort(&mut objects, &mut vec![vec![], vec![0]]).order;
        assert_eq!(objects[1].phase, Phase::Post);
        assert_eq!(names(&objects, &order), ["pk", "v"]);
    }

    #[test]
    fn a_view_needing_post_data_keeps_a_placeholder_before_the_data() {
        // holder(x v), v groups by pk: v's placeholder stays pre-data, its definition follows pk.
        let mut objects = vec![
            object("pk", Phase::Post, 30),
            object("v", Phase::Pre, 20),
            object("holder", Phase::Pre, 20),
        ];
        objects[1].placeholder = Some("CREATE VIEW v AS SELECT NULL::int AS a;".into());
        objects[1].statements = vec!["CREATE VIEW v AS SELECT a FROM t GROUP BY id;".into()];
        let sorted = sort(&mut objects, &mut vec![vec![], vec![0], vec![1]]);
        assert!(sorted.problems.is_empty(), "{:?}", sorted.problems);
        assert_eq!(objects.len(), 4, "a replacement object was added");
        assert_eq!(
            (objects[1].phase, objects[2].phase, objects[3].phase),
            (Phase::Pre, Phase::Pre, Phase::Post)
        );
        assert_eq!(objects[1].statements, ["CREATE VIEW v AS SELECT NULL::int AS a;"]);
        assert_eq!(
            objects[3].statements,
            ["CREATE OR REPLACE VIEW v AS SELECT a FROM t GROUP BY id;"]
        );
        let order: Vec<usize> = sorted.order.iter().map(|&(i, _)| i).collect();
        let at = |i| order.iter().position(|&o| o == i);
        assert!(
            at(1) < at(2) && at(0) < at(3),
            "placeholder before holder, pk before the definition: {order:?}"
        );
    }

    #[test]
    fn a_table_needing_post_data_is_a_problem_not_moved() {
        let mut objects = vec![object("pk", Phase::Post, 30), object("t", Phase::Pre, 20)];
        objects[1].target =
            Some(Target { keyword: "TABLE".into(), identity: "s.t".into(), grant_identity: None });
        let sorted = sort(&mut objects, &mut vec![vec![], vec![0]]);
        assert_eq!(objects[1].phase, Phase::Pre);
        assert_eq!(sorted.problems, ["t needs an object created after the data"]);
    }

    #[test]
    fn a_tagged_statement_needing_an_untagged_one_loses_its_tag() {
        let mut objects = vec![object("fk", Phase::Post, 36), object("idx", Phase::Post, 31)];
        objects[1].table = Some(("s".into(), "t".into()));
        sort(&mut objects, &mut vec![vec![], vec![0]]);
        assert_eq!(objects[1].table, None);
    }

    #[test]
    fn a_view_cycle_goes_through_a_placeholder() {
        // v1 -> v2 -> v1, and t needs v1.
        let mut objects = vec![
            object("v1", Phase::Pre, 20),
            object("v2", Phase::Pre, 20),
            object("t", Phase::Pre, 20),
        ];
        objects[0].placeholder = Some("CREATE VIEW v1 AS SELECT NULL::int AS a;".into());
        objects[1].placeholder = Some("CREATE VIEW v2 AS SELECT NULL::int AS a;".into());
        let order = sort(&mut objects, &mut vec![vec![1], vec![0], vec![0]]).order;
        assert_eq!(names(&objects, &order), ["v1 (placeholder)", "t", "v2", "v1 (replace)"]);
    }

    #[test]
    fn a_cycle_is_broken_not_dropped() {
        let mut objects = vec![object("a", Phase::Pre, 20), object("b", Phase::Pre, 20)];
        let sorted = sort(&mut objects, &mut vec![vec![1], vec![0]]);
        assert_eq!(names(&objects, &sorted.order), ["a", "b"]);
        assert_eq!(sorted.problems, ["dependency cycle among: a, b"]);
    }
}
