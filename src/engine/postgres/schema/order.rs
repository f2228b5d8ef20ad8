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
            "SELECT classid, objid, refclassid, refobjid FROM pg_catalog.pg_depend \
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
    for row in rows {
        let (dependent, referenced): (Ref, Ref) =
            ((row.get(0), row.get(1)), (row.get(2), row.get(3)));
        add(owner.get(&dependent), owner.get(&referenced));
    }
    for (i, object) in objects.iter().enumerate() {
        for r in &object.deps {
            add(Some(&i), owner.get(r));
        }
    }
    Ok(edges)
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

/// Settle each object's section against its dependencies, then sort: the indexes of `objects`
/// in restore order, each with what of it runs there.
pub(super) fn sort(objects: &mut [Object], edges: &Edges) -> Vec<(usize, Step)> {
    settle_sections(objects, edges);
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
            tracing::warn!(object = %objects[i].name, "dependency cycle broken here");
            waiting_on[i] = 0;
            ready.push(key(i));
        }
    }
    order
}

/// Move objects after what they need, to a fixpoint: an object never runs in an earlier
/// section than a dependency, and a tagged post-data statement (run per table, before the
/// untagged ones) never needs an untagged one.
fn settle_sections(objects: &mut [Object], edges: &Edges) {
    loop {
        let mut changed = false;
        for (i, deps) in edges.iter().enumerate() {
            for &d in deps {
                if objects[d].phase > objects[i].phase && objects[i].phase == Phase::Pre {
                    objects[i].phase = Phase::Post;
                    objects[i].table = None;
                    changed = true;
                }
                if objects[i].table.is_some()
                    && objects[d].phase == Phase::Post
                    && objects[d].table != objects[i].table
                {
                    objects[i].table = None;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
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
        let order = sort(&mut objects, &edges);
        assert_eq!(names(&objects, &order), ["schema", "b_table", "func", "a_view"]);
    }

    #[test]
    fn ties_follow_priority_then_name() {
        let mut objects = vec![
            object("t2", Phase::Pre, 20),
            object("t1", Phase::Pre, 20),
            object("f", Phase::Pre, 8),
        ];
        let order = sort(&mut objects, &vec![vec![]; 3]);
        assert_eq!(names(&objects, &order), ["f", "t1", "t2"]);
    }

    #[test]
    fn an_object_needing_post_data_moves_there() {
        // A view grouping by a primary key needs the key, which is post-data.
        let mut objects = vec![object("pk", Phase::Post, 30), object("v", Phase::Pre, 20)];
        objects[0].table = Some(("s".into(), "t".into()));
        objects[1].table = None;
        let order = sort(&mut objects, &vec![vec![], vec![0]]);
        assert_eq!(objects[1].phase, Phase::Post);
        assert_eq!(names(&objects, &order), ["pk", "v"]);
    }

    #[test]
    fn a_tagged_statement_needing_an_untagged_one_loses_its_tag() {
        let mut objects = vec![object("fk", Phase::Post, 36), object("idx", Phase::Post, 31)];
        objects[1].table = Some(("s".into(), "t".into()));
        sort(&mut objects, &vec![vec![], vec![0]]);
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
        let order = sort(&mut objects, &vec![vec![1], vec![0], vec![0]]);
        assert_eq!(names(&objects, &order), ["v1 (placeholder)", "t", "v2", "v1 (replace)"]);
    }

    #[test]
    fn a_cycle_is_broken_not_dropped() {
        let mut objects = vec![object("a", Phase::Pre, 20), object("b", Phase::Pre, 20)];
        let order = sort(&mut objects, &vec![vec![1], vec![0]]);
        assert_eq!(names(&objects, &order), ["a", "b"]);
    }
}
