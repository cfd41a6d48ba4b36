package sql

import (
	"context"
	stdsql "database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

type W = observabilitytest.Want

func openTraced(t *testing.T, kit *observabilitytest.Kit, driverName, dsn string, opts ...Option) *stdsql.DB {
	t.Helper()
	opts = append([]Option{WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider)}, opts...)
	db, err := Open(driverName, dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func createTable(t *testing.T, db *stdsql.DB, table, columns string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE "+table+" ("+columns+")"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("drop table %s: %v", table, err)
		}
	})
}

// exercise runs the same calls against any database: exec, query with row
// iteration, a committed and a rolled-back transaction, a prepared statement.
func exercise(t *testing.T, ctx context.Context, db *stdsql.DB, table, ph1, ph2 string) {
	t.Helper()
	if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" (id, name) VALUES ("+ph1+", "+ph2+")", 1, "alice"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT id, name FROM "+table+" WHERE id = "+ph1, 1)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil || n != 1 {
		t.Fatalf("rows: %d, %v", n, err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET name = "+ph1+" WHERE id = "+ph2, "bob", 1); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}

	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = "+ph1, 1); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}

	stmt, err := db.PrepareContext(ctx, "SELECT name FROM "+table+" WHERE id = "+ph1)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer stmt.Close()
	var name string
	if err := stmt.QueryRowContext(ctx, 1).Scan(&name); err != nil || name != "bob" {
		t.Fatalf("stmt query: %q, %v", name, err)
	}
}

func TestPostgresSpans(t *testing.T) {
	dsn := postgresDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "pgx", dsn)
	table := uniqueName("patron_pg")
	createTable(t, db, table, "id int primary key, name text")
	kit.Reset()

	ctx, end := parent(t, kit)
	exercise(t, ctx, db, table, "$1", "$2")
	end()

	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	common := []attribute.KeyValue{
		semconv.DBSystemNamePostgreSQL, semconv.DBNamespace("test"),
		semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(5432),
	}
	client := trace.SpanKindClient
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "INSERT " + table, Kind: client, Attrs: append(common,
			semconv.DBOperationName("INSERT"), semconv.DBCollectionName(table),
			semconv.DBQuerySummary("INSERT "+table),
			semconv.DBQueryText("INSERT INTO "+table+" (id, name) VALUES ($1, $2)"))},
		{Name: "SELECT " + table, Kind: client, Attrs: append(common, semconv.DBOperationName("SELECT")),
			Children: []W{{Name: "FETCH", Kind: client, Attrs: []attribute.KeyValue{semconv.DBOperationName("FETCH")}}}},
		{Name: "BEGIN", Kind: client, Attrs: append(common, semconv.DBOperationName("BEGIN"))},
		{Name: "UPDATE " + table, Kind: client},
		{Name: "COMMIT", Kind: client, Attrs: []attribute.KeyValue{semconv.DBOperationName("COMMIT")}},
		{Name: "DELETE " + table, Kind: client},
		{Name: "ROLLBACK", Kind: client, Attrs: []attribute.KeyValue{semconv.DBOperationName("ROLLBACK")}},
		{Name: "PREPARE SELECT " + table, Kind: client, Attrs: []attribute.KeyValue{semconv.DBOperationName("PREPARE")}},
	}})
	// The prepared statement's execution is a second SELECT span.
	if got := len(observabilitytest.Named(spans, "SELECT "+table)); got != 2 {
		t.Errorf("want 2 SELECT spans (query, prepared), have %d:\n%s", got, observabilitytest.Describe(spans))
	}

	// The duration metric names the statement's operation, not otelsql's method.
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBOperationName("SELECT"), semconv.DBSystemNamePostgreSQL, semconv.DBCollectionName(table)); n < 2 {
		t.Errorf("db.client.operation.duration{SELECT} count = %v, want >= 2", n)
	}
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBOperationName("COMMIT")); n < 1 {
		t.Errorf("db.client.operation.duration{COMMIT} count = %v, want >= 1", n)
	}
	if d, ok := kit.Metric(t, "db.client.operation.duration").Data.(metricdata.Histogram[float64]); ok {
		for _, p := range d.DataPoints {
			if _, found := p.Attributes.Value(operationKey); found {
				t.Errorf("internal attribute %s leaked into the metric", operationKey)
			}
			if v, _ := p.Attributes.Value(semconv.DBOperationNameKey); strings.HasPrefix(v.AsString(), "sql.") {
				t.Errorf("otelsql method %q left as db.operation.name", v.AsString())
			}
		}
	} else {
		t.Errorf("db.client.operation.duration is not a float histogram")
	}
}

func TestPostgresErrorAndSanitising(t *testing.T) {
	dsn := postgresDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "pgx", dsn)
	table := uniqueName("patron_pg_err")
	createTable(t, db, table, "id int primary key, secret text")

	ctx, end := parent(t, kit)
	// Literals inline, as careless code writes them: none may reach a span.
	if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (424242, 'top-secret-value') /* cookie=monster */"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (424242, $$dollar-secret$$)"); err == nil {
		t.Fatal("duplicate key: want an error")
	}
	if _, err := db.QueryContext(ctx, "SELECT * FROM no_such_table_"+table+" WHERE a = 'other-secret'"); err == nil {
		t.Fatal("missing table: want an error")
	}
	end()
	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	assertNoSecret(t, spans, "top-secret", "424242", "dollar-secret", "other-secret", "monster")

	inserts := observabilitytest.Named(spans, "INSERT "+table)
	if len(inserts) != 2 {
		t.Fatalf("want 2 INSERT spans, have:\n%s", observabilitytest.Describe(spans))
	}
	if got := attrString(t, inserts[0], semconv.DBQueryTextKey); got != "INSERT INTO "+table+" VALUES (?, ?)" {
		t.Errorf("db.query.text = %q", got)
	}
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "INSERT " + table, Error: true, Attrs: []attribute.KeyValue{
			semconv.DBResponseStatusCode("23505"), semconv.ErrorTypeKey.String("*pgconn.PgError"),
		}},
		{Name: "SELECT no_such_table_" + table, Error: true, Attrs: []attribute.KeyValue{semconv.DBResponseStatusCode("42P01")}},
	}})
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBResponseStatusCode("42P01")); n != 1 {
		t.Errorf("failed operations with status 42P01 = %v, want 1", n)
	}
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBResponseStatusCode("23505"), semconv.ErrorTypeKey.String("*pgconn.PgError")); n != 1 {
		t.Errorf("duplicate-key failures measured with the span's error.type = %v, want 1", n)
	}
}

// TestTimeoutErrorType: a query cut short by its context's deadline is
// error.type "timeout" on its span and its duration metric alike, as on
// every Patron transport (observability.ErrorType), not otelsql's
// "context.DeadlineExceeded".
func TestTimeoutErrorType(t *testing.T) {
	dsn := postgresDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "pgx", dsn)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := db.ExecContext(ctx, "SELECT pg_sleep(10)"); err == nil {
		t.Fatal("pg_sleep(10) returned within 100ms")
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "SELECT", 1)
	if got := attrString(t, observabilitytest.Named(spans, "SELECT")[0], semconv.ErrorTypeKey); got != "timeout" {
		t.Errorf("span error.type = %q, want timeout", got)
	}
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBOperationName("SELECT"), semconv.ErrorTypeKey.String("timeout")); n != 1 {
		t.Errorf("timed-out operations measured with error.type timeout = %v, want 1", n)
	}
}

func TestRawQueryText(t *testing.T) {
	dsn := postgresDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "pgx", dsn, WithRawQueryText())
	var one int
	if err := db.QueryRowContext(t.Context(), "SELECT 1 WHERE 'x' = 'x'").Scan(&one); err != nil {
		t.Fatal(err)
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "SELECT", 1)
	if got := attrString(t, observabilitytest.Named(spans, "SELECT")[0], semconv.DBQueryTextKey); got != "SELECT 1 WHERE 'x' = 'x'" {
		t.Errorf("raw db.query.text = %q", got)
	}
}

func TestPoolMetrics(t *testing.T) {
	dsn := postgresDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "pgx", dsn, WithPoolName("orders-db"))
	db.SetMaxOpenConns(1)

	ctx := t.Context()
	conn, err := db.Conn(ctx) // holds the only connection
	if err != nil {
		t.Fatal(err)
	}
	pool := semconv.DBClientConnectionPoolName("orders-db")
	if n := kit.Sum(t, "db.client.connection.count", pool, semconv.DBClientConnectionStateUsed); n != 1 {
		t.Errorf("used connections = %v, want 1", n)
	}
	if n := kit.Sum(t, "db.client.connection.max", pool); n != 1 {
		t.Errorf("max connections = %v, want 1", n)
	}
	// A second caller waits for the held connection until it is released.
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "SELECT 1")
		done <- err
	}()
	testenv.WaitFor(t, 10*time.Second, "the second caller to wait for a connection", func() bool { return db.Stats().WaitCount > 0 })
	_ = conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := kit.Sum(t, metricWaitCount, pool); n < 1 {
		t.Errorf("%s = %v, want >= 1", metricWaitCount, n)
	}
	if n := kit.Sum(t, metricWaitDuration, pool); n <= 0 {
		t.Errorf("%s = %v, want > 0", metricWaitDuration, n)
	}
	if n := kit.Sum(t, "db.client.connection.count", pool, semconv.DBClientConnectionStateIdle); n != 1 {
		t.Errorf("idle connections = %v, want 1", n)
	}

	// Closing the DB unregisters the callback: nothing is reported any more.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rm := kit.Collect(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "db.client.connection.count" {
				t.Errorf("pool metrics still reported after Close")
			}
		}
	}
}

func TestDatabaseDown(t *testing.T) {
	addr := closedPort(t)
	for _, tc := range []struct{ driver, dsn string }{
		{"pgx", "postgres://postgres@" + addr + "/test?sslmode=disable"},
		{"mysql", "root@tcp(" + addr + ")/test"},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			kit := observabilitytest.New(t)
			db := openTraced(t, kit, tc.driver, tc.dsn)
			ctx, end := parent(t, kit)
			qctx, qcancel := context.WithTimeout(ctx, 3*time.Second)
			defer qcancel()
			_, err := db.ExecContext(qctx, "SELECT 1")
			end()
			if err == nil {
				t.Fatal("want an error from a closed port")
			}
			spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
			observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{{Name: "CONNECT", Error: true}}})
		})
	}
}

func TestDeadlineIsHonoured(t *testing.T) {
	dsn := postgresDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "pgx", dsn)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := db.ExecContext(ctx, "SELECT pg_sleep(30)")
	if !errors.Is(err, context.DeadlineExceeded) && (err == nil || !strings.Contains(err.Error(), "cancel")) {
		t.Fatalf("want the deadline to cut the query, got %v", err)
	}
	spans := kit.WaitForSpanCount(t, 5*time.Second, "SELECT", 1)
	if s := observabilitytest.Named(spans, "SELECT")[0]; s.Status().Code.String() != "Error" {
		t.Errorf("cancelled query span status %s, want Error", s.Status().Code)
	}
}

func TestOptionValidation(t *testing.T) {
	bad := map[string][]Option{
		"nil option":      {nil},
		"nil tracer":      {WithTracerProvider(nil)},
		"nil meter":       {WithMeterProvider(nil)},
		"nil propagator":  {WithPropagator(nil)},
		"nil logger":      {WithLogger(nil)},
		"wrong system":    {WithSystem(semconv.DBNamespace("x"))},
		"empty namespace": {WithNamespace("")},
		"bad port":        {WithServer("h", 70000)},
		"empty pool":      {WithPoolName("")},
		"bad attribute":   {WithAttributes(attribute.KeyValue{})},
	}
	for name, opts := range bad {
		if db, err := Open("pgx", "postgres://u@127.0.0.1:1/x", opts...); err == nil {
			_ = db.Close()
			t.Errorf("%s: want an error", name)
		}
		if _, err := NewPgxTracer(opts...); err == nil {
			t.Errorf("%s: NewPgxTracer: want an error", name)
		}
	}
	if _, err := Open("no-such-driver", ""); err == nil {
		t.Error("unknown driver: want an error")
	}
	// A malformed DSN fails at Open or at first use, never showing the password.
	db, err := Open("pgx", "postgres://u:hunter2@127.0.0.1:bad/x")
	if err == nil {
		err = db.PingContext(t.Context())
		_ = db.Close()
	}
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("malformed DSN: want an error without the password, got %v", err)
	}
	if _, err := OpenDB(nil); err == nil {
		t.Error("nil connector: want an error")
	}
}

func TestDSNNeverOnSpans(t *testing.T) {
	kit := observabilitytest.New(t)
	addr := closedPort(t)
	db := openTraced(t, kit, "pgx", "postgres://user:hunter2@"+addr+"/test?sslmode=disable")
	_ = db.PingContext(t.Context())
	_, _ = db.ExecContext(t.Context(), "SELECT 1")
	spans := kit.WaitForSpanCount(t, 5*time.Second, "CONNECT", 1)
	assertNoSecret(t, spans, "hunter2")
}
