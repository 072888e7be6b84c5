//! Queries: `SELECT` statements, common table expressions, set operations (`UNION`, ...), the
//! select list, `WHERE`/`GROUP BY`/`HAVING`, `ORDER BY` with `TOP`/`OFFSET`, and the SQL Server
//! type of each result column.

use super::expr::literal_number;
use super::functions::is_niladic;
use super::{common_type, unsupported, Cte, Emitted, Frame, OutColumn, Plan, PlanKind, Translator};
use crate::sql::catalog::{display_name, quote};
use crate::sql::errors::{self, SqlError};
use crate::sql::types::TypeInfo;
use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, LimitClause, OrderBy, OrderByKind, OrderBySort, Query, Select,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, SetOperator, SetQuantifier, TopQuantity,
    Value as AstValue,
};

impl<'a> Translator<'a> {
    /// A `SELECT` statement.
    pub(crate) fn select_statement(mut self, q: &Query) -> Result<Plan, SqlError> {
        let e = self.query(q, true)?;
        let kind = PlanKind::Query {
            columns: e.columns,
            top_percent: e.top_percent,
            assign: e.assign,
        };
        Ok(self.finish(e.sql, kind))
    }

    #[recursive::recursive]
    pub(super) fn query(&mut self, q: &Query, top_level: bool) -> Result<Emitted, SqlError> {
        if q.for_clause.is_some() {
            return Err(unsupported("FOR XML / FOR JSON"));
        }
        if !q.locks.is_empty() {
            return Err(unsupported("FOR UPDATE"));
        }
        let cte_mark = self.ctes.len();
        let result = self.query_inner(q, top_level);
        self.ctes.truncate(cte_mark);
        result
    }

    pub(super) fn query_inner(&mut self, q: &Query, top_level: bool) -> Result<Emitted, SqlError> {
        let mut sql = String::new();
        if let Some(with) = &q.with {
            let mut parts = Vec::new();
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.clone();
                let sql_name = self.fresh("cte");
                // A recursive CTE refers to itself: make it visible with its anchor's columns.
                if let SetExpr::SetOperation { left, .. } = &*cte.query.body {
                    if let Ok(anchor) = self.set_expr_probe(left) {
                        let columns = self.name_cte_columns(&name, &cte.alias.columns, anchor)?;
                        self.ctes.push(Cte {
                            name: name.clone(),
                            sql_name: sql_name.clone(),
                            columns,
                        });
                    }
                }
                let inner = self.query(&cte.query, false)?;
                let columns = self.name_cte_columns(&name, &cte.alias.columns, inner.columns)?;
                if let Some(existing) = self.ctes.iter_mut().rev().find(|c| c.sql_name == sql_name)
                {
                    existing.columns = columns.clone();
                } else {
                    self.ctes.push(Cte {
                        name,
                        sql_name: sql_name.clone(),
                        columns: columns.clone(),
                    });
                }
                let names: Vec<String> = columns.iter().map(|(n, _)| quote(n)).collect();
                parts.push(format!(
                    "{sql_name}({}) AS ({})",
                    names.join(", "),
                    inner.sql
                ));
            }
            sql.push_str("WITH RECURSIVE ");
            sql.push_str(&parts.join(", "));
            sql.push(' ');
        }

        let mut top_percent = None;
        let mut limit: Option<String> = None;
        let (body_sql, columns, assign, order_sql) = match &*q.body {
            SetExpr::Select(s) => {
                let (select_sql, columns, top, assign) = self.select(s)?;
                let order = match &q.order_by {
                    Some(ob) => Some(self.order_by(ob, &columns, true)?),
                    None => None,
                };
                self.frames.pop();
                if let Some((quantity, percent)) = top {
                    if percent {
                        if !top_level {
                            return Err(unsupported("TOP ... PERCENT in a subquery"));
                        }
                        top_percent = Some(quantity.parse::<f64>().unwrap_or(100.0));
                    } else {
                        limit = Some(quantity);
                    }
                }
                (select_sql, columns, assign, order)
            }
            other => {
                let (body, columns) = self.set_expr(other)?;
                let order = match &q.order_by {
                    Some(ob) => Some(self.order_by(ob, &columns, false)?),
                    None => None,
                };
                (body, columns, None, order)
            }
        };
        sql.push_str(&body_sql);
        if let Some(o) = order_sql {
            sql.push_str(" ORDER BY ");
            sql.push_str(&o);
        }
        let mut offset: Option<String> = None;
        if let Some(lc) = &q.limit_clause {
            match lc {
                LimitClause::LimitOffset {
                    limit: l,
                    offset: o,
                    limit_by,
                } => {
                    if !limit_by.is_empty() || l.is_some() {
                        return Err(unsupported("LIMIT"));
                    }
                    if let Some(o) = o {
                        self.frames.push(Frame::default());
                        let v = self.expr(&o.value);
                        self.frames.pop();
                        offset = Some(v?.sql);
                    }
                }
                LimitClause::OffsetCommaLimit { .. } => return Err(unsupported("LIMIT")),
            }
        }
        if let Some(f) = &q.fetch {
            if f.with_ties || f.percent {
                return Err(unsupported("FETCH ... WITH TIES / PERCENT"));
            }
            if let Some(quantity) = &f.quantity {
                self.frames.push(Frame::default());
                let v = self.expr(quantity);
                self.frames.pop();
                let v = v?.sql;
                limit = Some(match limit {
                    Some(l) => format!("min({l}, {v})"),
                    None => v,
                });
            }
        }
        match (limit, offset) {
            (Some(l), Some(o)) => sql.push_str(&format!(" LIMIT {l} OFFSET {o}")),
            (Some(l), None) => sql.push_str(&format!(" LIMIT {l}")),
            (None, Some(o)) => sql.push_str(&format!(" LIMIT -1 OFFSET {o}")),
            (None, None) => {}
        }
        Ok(Emitted {
            sql,
            columns,
            top_percent,
            assign,
        })
    }

    pub(super) fn name_cte_columns(
        &self,
        name: &str,
        aliases: &[sqlparser::ast::TableAliasColumnDef],
        columns: Vec<OutColumn>,
    ) -> Result<Vec<(String, TypeInfo)>, SqlError> {
        if !aliases.is_empty() && aliases.len() != columns.len() {
            return Err(errors::NOT_SUPPORTED.with(&[&format!(
                "'{name}' has {} column names for {} columns",
                aliases.len(),
                columns.len()
            )]));
        }
        columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let n = aliases
                    .get(i)
                    .map(|a| a.name.value.clone())
                    .unwrap_or(c.name);
                if n.is_empty() {
                    Err(errors::NO_COLUMN_NAME.with(&[&(i + 1).to_string(), name]))
                } else {
                    Ok((n, c.info))
                }
            })
            .collect()
    }

    /// The columns of a set-expression member, for a recursive CTE's anchor (no side effects on
    /// the plan are kept).
    pub(super) fn set_expr_probe(&mut self, e: &SetExpr) -> Result<Vec<OutColumn>, SqlError> {
        let (params, specs, checks, counter) = (
            self.params.len(),
            self.specs.len(),
            self.checks.len(),
            self.counter,
        );
        let r = self.set_expr(e).map(|(_, c)| c);
        self.params.truncate(params);
        self.specs.truncate(specs);
        self.checks.truncate(checks);
        self.counter = counter;
        r
    }

    /// A `UNION`/`EXCEPT`/`INTERSECT` member or a whole set operation, with its columns.
    #[recursive::recursive]
    pub(super) fn set_expr(&mut self, e: &SetExpr) -> Result<(String, Vec<OutColumn>), SqlError> {
        match e {
            SetExpr::Select(s) => {
                let (sql, columns, top, assign) = self.select(s)?;
                self.frames.pop();
                if assign.is_some() {
                    return Err(unsupported("variable assignment in a UNION"));
                }
                match top {
                    Some((_, true)) => Err(unsupported("TOP ... PERCENT in a UNION")),
                    Some((n, false)) => Ok((format!("SELECT * FROM ({sql} LIMIT {n})"), columns)),
                    None => Ok((sql, columns)),
                }
            }
            SetExpr::Query(q) => {
                let inner = self.query(q, false)?;
                Ok((format!("SELECT * FROM ({})", inner.sql), inner.columns))
            }
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let (l, lc) = self.set_expr(left)?;
                let (r, rc) = self.set_expr(right)?;
                if lc.len() != rc.len() {
                    return Err(errors::NOT_SUPPORTED.with(&[
                        "All queries combined using a UNION, INTERSECT or EXCEPT operator must have an equal number of expressions in their target lists",
                    ]));
                }
                let op = match op {
                    SetOperator::Union => "UNION",
                    SetOperator::Except | SetOperator::Minus => "EXCEPT",
                    SetOperator::Intersect => "INTERSECT",
                };
                let quantifier = match set_quantifier {
                    SetQuantifier::All => " ALL",
                    SetQuantifier::None | SetQuantifier::Distinct => "",
                    _ => return Err(unsupported("BY NAME")),
                };
                let columns = lc
                    .iter()
                    .zip(&rc)
                    .map(|(a, b)| OutColumn {
                        name: a.name.clone(),
                        info: common_type(&[&a.info, &b.info]),
                    })
                    .collect();
                Ok((format!("{l} {op}{quantifier} {r}"), columns))
            }
            SetExpr::Values(v) => {
                self.frames.push(Frame::default());
                let mut rows = Vec::new();
                let mut types: Vec<TypeInfo> = Vec::new();
                for row in &v.rows {
                    let mut cells = Vec::new();
                    for (k, e) in row.iter().enumerate() {
                        let x = self.expr(e)?;
                        match types.get_mut(k) {
                            Some(t) => *t = common_type(&[t, &x.ty]),
                            None => types.push(x.ty.clone()),
                        }
                        cells.push(x.sql);
                    }
                    rows.push(format!("({})", cells.join(", ")));
                }
                self.frames.pop();
                let columns = types
                    .into_iter()
                    .map(|info| OutColumn {
                        name: String::new(),
                        info,
                    })
                    .collect();
                Ok((format!("VALUES {}", rows.join(", ")), columns))
            }
            _ => Err(unsupported("this kind of query")),
        }
    }

    /// A `SELECT` core; leaves its frame pushed so `ORDER BY` can see its sources. Returns the
    /// SQL, the columns, the `TOP` (quantity, percent) and the variables it assigns.
    #[allow(clippy::type_complexity)]
    pub(super) fn select(
        &mut self,
        s: &Select,
    ) -> Result<
        (
            String,
            Vec<OutColumn>,
            Option<(String, bool)>,
            Option<Vec<(String, TypeInfo)>>,
        ),
        SqlError,
    > {
        if s.into.is_some() {
            return Err(unsupported("SELECT INTO"));
        }
        if !s.lateral_views.is_empty() || s.qualify.is_some() || !s.named_window.is_empty() {
            return Err(unsupported("this SELECT clause"));
        }
        self.frames.push(Frame::default());
        let mut from_parts = Vec::new();
        for twj in &s.from {
            from_parts.push(self.table_with_joins(twj)?);
        }
        let where_sql = match &s.selection {
            Some(w) => Some(self.expr(w)?.sql),
            None => None,
        };
        let group_sql = match &s.group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return Err(unsupported("GROUP BY ... WITH ROLLUP / CUBE"));
                }
                let mut parts = Vec::new();
                for e in exprs {
                    parts.push(self.expr(e)?.sql);
                }
                parts
            }
            GroupByExpr::All(_) => return Err(unsupported("GROUP BY ALL")),
        };
        let having_sql = match &s.having {
            Some(h) => Some(self.expr(h)?.sql),
            None => None,
        };
        let mut items = Vec::new();
        let mut columns = Vec::new();
        let mut assign: Vec<(String, TypeInfo)> = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let x = self.expr(e)?;
                    let name = match e {
                        Expr::Identifier(i)
                            if !(i.value.starts_with('@')
                                || (i.quote_style.is_none() && is_niladic(&i.value))) =>
                        {
                            i.value.clone()
                        }
                        Expr::CompoundIdentifier(parts) => {
                            parts.last().map(|i| i.value.clone()).unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    items.push(x.sql);
                    columns.push(OutColumn { name, info: x.ty });
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let x = self.expr(expr)?;
                    if alias.value.starts_with('@') {
                        let var = alias.value.to_lowercase();
                        let ty = self
                            .vars
                            .get(&var)
                            .cloned()
                            .ok_or_else(|| errors::UNDECLARED_VARIABLE.with(&[&alias.value]))?;
                        assign.push((var, ty));
                    }
                    items.push(x.sql);
                    columns.push(OutColumn {
                        name: alias.value.clone(),
                        info: x.ty,
                    });
                }
                SelectItem::Wildcard(_) => {
                    let frame = self
                        .frames
                        .last()
                        .map(|f| f.sources.clone())
                        .unwrap_or_default();
                    if frame.is_empty() {
                        return Err(errors::NOT_SUPPORTED.with(&["SELECT * with no tables"]));
                    }
                    for source in frame {
                        for (name, info) in source.columns {
                            items.push(format!("{}.{}", source.sql_alias, quote(&name)));
                            columns.push(OutColumn { name, info });
                        }
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let qualifier = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(n) => n.clone(),
                        SelectItemQualifiedWildcardKind::Expr(e) => {
                            return Err(unsupported(&format!("{e}.*")))
                        }
                    };
                    let source = self.find_source(&qualifier).ok_or_else(|| {
                        errors::MULTIPART_NOT_BOUND
                            .with(&[&format!("{}.*", display_name(&qualifier))])
                    })?;
                    for (name, info) in source.columns {
                        items.push(format!("{}.{}", source.sql_alias, quote(&name)));
                        columns.push(OutColumn { name, info });
                    }
                }
                SelectItem::ExprWithAliases { .. } => return Err(unsupported("multiple aliases")),
            }
        }
        if !assign.is_empty() && assign.len() != columns.len() {
            return Err(errors::NOT_SUPPORTED.with(&[
                "A SELECT statement that assigns a value to a variable must not be combined with data-retrieval operations",
            ]));
        }
        let mut sql = String::from("SELECT ");
        match &s.distinct {
            Some(Distinct::Distinct) => sql.push_str("DISTINCT "),
            Some(Distinct::All) | None => {}
            Some(Distinct::On(_)) => return Err(unsupported("DISTINCT ON")),
        }
        let projected: Vec<String> = items
            .iter()
            .zip(&columns)
            .enumerate()
            .map(|(i, (sql, c))| {
                if c.name.is_empty() {
                    format!("{sql} AS \"__c{}\"", i + 1)
                } else {
                    format!("{sql} AS {}", quote(&c.name))
                }
            })
            .collect();
        sql.push_str(&projected.join(", "));
        if !from_parts.is_empty() {
            sql.push_str(" FROM ");
            sql.push_str(&from_parts.join(", "));
        }
        if let Some(w) = where_sql {
            sql.push_str(" WHERE ");
            sql.push_str(&w);
        }
        if !group_sql.is_empty() {
            sql.push_str(" GROUP BY ");
            sql.push_str(&group_sql.join(", "));
        }
        if let Some(h) = having_sql {
            sql.push_str(" HAVING ");
            sql.push_str(&h);
        }
        let top = match &s.top {
            None => None,
            Some(t) => {
                if t.with_ties {
                    return Err(unsupported("TOP ... WITH TIES"));
                }
                let quantity = match &t.quantity {
                    Some(TopQuantity::Constant(n)) => n.to_string(),
                    Some(TopQuantity::Expr(e)) => {
                        let x = self.expr(e)?;
                        if t.percent {
                            match literal_number(e) {
                                Some(p) if (0.0..=100.0).contains(&p) => p.to_string(),
                                Some(_) => return Err(errors::TOP_PERCENT_RANGE.plain()),
                                None => return Err(unsupported("TOP (expression) PERCENT")),
                            }
                        } else {
                            x.sql
                        }
                    }
                    None => return Err(errors::SYNTAX.with(&["TOP"])),
                };
                if t.percent {
                    if let Ok(p) = quantity.parse::<f64>() {
                        if !(0.0..=100.0).contains(&p) {
                            return Err(errors::TOP_PERCENT_RANGE.plain());
                        }
                    }
                }
                Some((quantity, t.percent))
            }
        };
        let assign = (!assign.is_empty()).then_some(assign);
        Ok((sql, columns, top, assign))
    }

    pub(super) fn order_by(
        &mut self,
        ob: &OrderBy,
        columns: &[OutColumn],
        in_scope: bool,
    ) -> Result<String, SqlError> {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return Err(unsupported("ORDER BY ALL"));
        };
        let mut parts = Vec::new();
        for o in exprs {
            let mut term = match &o.expr {
                Expr::Value(v) if matches!(v.value, AstValue::Number(_, _)) => {
                    let n: usize = v.value.to_string().parse().unwrap_or(0);
                    if n == 0 || n > columns.len() {
                        return Err(errors::ORDER_BY_POSITION.with(&[&n.to_string()]));
                    }
                    n.to_string()
                }
                Expr::Identifier(i)
                    if columns
                        .iter()
                        .any(|c| c.name.eq_ignore_ascii_case(&i.value)) =>
                {
                    let position = columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(&i.value))
                        .unwrap_or(0);
                    if in_scope {
                        quote(&columns[position].name)
                    } else {
                        (position + 1).to_string()
                    }
                }
                other if in_scope => self.expr(other)?.sql,
                other => {
                    return Err(errors::ORDER_BY_NOT_IN_UNION.with(&[&other.to_string()]));
                }
            };
            match o.options.sort {
                Some(OrderBySort::Desc) => term.push_str(" DESC"),
                Some(OrderBySort::Asc) | None => {}
                Some(_) => return Err(unsupported("ORDER BY USING")),
            }
            parts.push(term);
        }
        Ok(parts.join(", "))
    }
}
