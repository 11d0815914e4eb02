// Package pgxtrace counts what a pgx connection sends to PostgreSQL, each
// a round trip: for the round-trip pins of pgxstore's tests and the
// figures of cmd/deviceauth-load. Set a *RoundTrips as a connection
// config's Tracer.
package pgxtrace

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// RoundTrips counts each query (Query, QueryRow, Exec), each batch (one
// pipelined round trip) and each explicit prepare. It is safe for
// concurrent use; the zero value is ready.
type RoundTrips struct {
	Queries, Batches, Prepares atomic.Int64
}

// Total is every round trip counted so far.
func (r *RoundTrips) Total() int64 { return r.Queries.Load() + r.Batches.Load() + r.Prepares.Load() }

// TraceQueryStart counts a query.
func (r *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.Queries.Add(1)
	return ctx
}

// TraceQueryEnd does nothing.
func (r *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch.
func (r *RoundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.Batches.Add(1)
	return ctx
}

// TraceBatchQuery does nothing: the batch is one round trip.
func (r *RoundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd does nothing.
func (r *RoundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TracePrepareStart counts a prepare (once per statement and connection).
func (r *RoundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	r.Prepares.Add(1)
	return ctx
}

// TracePrepareEnd does nothing.
func (r *RoundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}
