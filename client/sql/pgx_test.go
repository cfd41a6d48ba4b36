package sql

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability/observabilitytest"
)

func TestPgxTracer(t *testing.T) {
	dsn := postgresDSN(t)
	kit := observabilitytest.New(t)
	tracer, err := NewPgxTracer(WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	table := uniqueName("patron_pgx")

	ctx, end := parent(t, kit)
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id int primary key, name text)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(t.Context(), "DROP TABLE IF EXISTS "+table) })
	if _, err := pool.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, 'pgx-secret')", 1); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT id FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue("INSERT INTO "+table+" VALUES ($1, $2)", 2, "x")
	b.Queue("INSERT INTO "+table+" VALUES ($1, $2)", 3, "y")
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO "+table+" VALUES (1, 'dup-secret')"); err == nil {
		t.Fatal("want duplicate key error")
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "name"}, pgx.CopyFromRows([][]any{{4, "z"}})); err != nil {
		t.Fatal(err)
	}
	end()

	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	assertNoSecret(t, spans, "pgx-secret", "dup-secret")
	common := []attribute.KeyValue{semconv.DBSystemNamePostgreSQL, semconv.DBNamespace("test"), semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(5432)}
	client := trace.SpanKindClient
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "CONNECT", Kind: client},
		{Name: "CREATE " + table, Kind: client, Attrs: common},
		{Name: "INSERT " + table, Kind: client, Attrs: append(common,
			semconv.DBQueryText("INSERT INTO "+table+" VALUES ($1, ?)"), semconv.DBOperationName("INSERT"))},
		{Name: "BEGIN", Kind: client},
		{Name: "SELECT " + table, Kind: client, Attrs: []attribute.KeyValue{semconv.DBCollectionName(table)}},
		{Name: "COMMIT", Kind: client},
		{Name: "BATCH INSERT " + table, Kind: client, Attrs: []attribute.KeyValue{
			semconv.DBOperationBatchSize(2), semconv.DBOperationName("BATCH INSERT")}},
		{Name: "INSERT " + table, Error: true, Attrs: []attribute.KeyValue{semconv.DBResponseStatusCode("23505")}},
		{Name: "COPY " + `"` + table + `"`, Kind: client},
	}})
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBOperationName("INSERT"), semconv.DBCollectionName(table)); n < 2 {
		t.Errorf("INSERT duration count = %v, want >= 2", n)
	}
}
