package sql

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
)

// ReadyCheck returns a readiness check that pings db, for
// patron.WithReadyCheck:
//
//	svc, err := patron.New("svc", "1.0", patron.WithReadyCheck("postgres", sql.ReadyCheck(db)))
//
// The check fails with the driver's error while the server does not answer;
// the service's ready check timeout bounds it. Pings start no spans (otelsql
// traces them only on request), so a check polled every second adds no
// traces.
func ReadyCheck(db *stdsql.DB) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if db == nil {
			return errors.New("sql: ready check of a nil database")
		}
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("sql: ping: %w", err)
		}
		return nil
	}
}
