// Package pqstmt keeps the statements a connection to Postgres runs
// prepared, so that running one again is one round trip (Bind, Execute,
// Sync) instead of two (Parse and Describe, then Bind and Execute), and
// Postgres parses it once per connection instead of once per run.
//
// lib/pq runs a query with arguments as an unnamed statement, prepared and
// thrown away each time. Connector wraps a lib/pq connector: on each of its
// connections, a query or exec with arguments uses a named statement
// prepared the first time that SQL text runs there and kept while the
// connection lives (at most MaxStatements of them). Queries without
// arguments, which lib/pq sends in one round trip already, and everything
// else pass through unchanged. Named statements live in a server session,
// so a transaction-pooling proxy between Tidings and Postgres (PgBouncer in
// transaction mode before 1.21) must not be used with it.
package pqstmt

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// MaxStatements bounds the statements a connection keeps prepared. Tidings
// runs a few hundred distinct SQL texts; when a connection has this many it
// closes them all and starts again, which costs one more preparation of each
// text in use.
const MaxStatements = 512

// Connector returns a connector to the Postgres database at dsn (a lib/pq
// URL or key=value string) whose connections keep their statements prepared.
func Connector(dsn string) (driver.Connector, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &connector{c: c}, nil
}

type connector struct{ c *pq.Connector }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newConn(cn)
}

func (c *connector) Driver() driver.Driver { return c.c.Driver() }

// pqConn is what a lib/pq connection offers database/sql; conn offers the
// same, so database/sql treats it as it treats lib/pq's own.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// conn is one connection with its prepared statements, by SQL text.
// database/sql uses a connection from one goroutine at a time, so it needs
// no lock.
type conn struct {
	pqConn
	stmts map[string]stmt
}

// stmt is what lib/pq's prepared statements offer.
type stmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

func newConn(cn driver.Conn) (*conn, error) {
	pc, ok := cn.(pqConn)
	if !ok {
		cn.Close()
		return nil, errors.New("pqstmt: lib/pq connection lacks an interface database/sql uses")
	}
	return &conn{pqConn: pc, stmts: map[string]stmt{}}, nil
}

// prepared returns the statement of query on this connection, preparing it
// the first time. A query that fails to prepare is not kept.
func (c *conn) prepared(ctx context.Context, query string) (stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if len(c.stmts) >= MaxStatements {
		for q, st := range c.stmts {
			st.Close()
			delete(c.stmts, q)
		}
	}
	ds, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(stmt)
	if !ok {
		ds.Close()
		return nil, errors.New("pqstmt: lib/pq statement lacks QueryContext or ExecContext")
	}
	c.stmts[query] = st
	return st, nil
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	c.forgetStale(query, err)
	return rows, err
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args)
	c.forgetStale(query, err)
	return res, err
}

// forgetStale drops the statement of query when err says its plan no longer
// fits the tables (a migration changed them: "cached plan must not change
// result type", feature_not_supported), so that the next run prepares it
// again.
func (c *conn) forgetStale(query string, err error) {
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "0A000" {
		if st, ok := c.stmts[query]; ok {
			st.Close()
			delete(c.stmts, query)
		}
	}
}

// Close closes the connection; its statements go with its session.
func (c *conn) Close() error {
	clear(c.stmts)
	return c.pqConn.Close()
}
